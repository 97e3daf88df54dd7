package main

import (
	"strings"
	"testing"

	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/queue"
)

func TestWriteMetrics(t *testing.T) {
	var b strings.Builder
	writeMetrics(&b, ingest.Stats{Connects: 2, Fetched: 7, Processed: 5, Rejected: 2, Failing: 1}, queue.OutboxStats{Pending: 1, Sent: 9})
	out := b.String()
	for _, want := range []string{
		"revokd_imap_connects_total 2\n",
		"revokd_mails_fetched_total 7\n",
		"revokd_mails_processed_total 5\n",
		"revokd_mails_rejected_total 2\n",
		"revokd_mails_failing 1\n",
		`revokd_outbox_messages{state="pending"} 1` + "\n",
		`revokd_outbox_messages{state="sent"} 9` + "\n",
		`revokd_outbox_messages{state="failed"} 0` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q:\n%s", want, out)
		}
	}
	// Each family's HELP and TYPE come before its samples, once.
	if strings.Count(out, "# TYPE revokd_outbox_messages gauge") != 1 ||
		strings.Index(out, "# TYPE revokd_outbox_messages") > strings.Index(out, "revokd_outbox_messages{") {
		t.Errorf("the outbox family is malformed:\n%s", out)
	}
}
