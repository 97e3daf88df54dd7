package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/notify"
	"github.com/revokd/revokd/queue"
)

// testApp is an app over the queue fixture's store, with a mailbox that
// never connects: enough for the HTTP endpoints.
func testApp(t *testing.T, f *queueFixture) *app {
	t.Helper()
	store, err := queue.Open(context.Background(), f.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	mbox, err := ingest.NewMailbox(ingest.MailboxConfig{Address: "127.0.0.1:1", Security: ingest.SecurityNone, Username: "desk", Password: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return &app{store: store, mailbox: mbox, relay: new(notify.RelayHealth), verifySeconds: newVerifyHistogram()}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestMetrics(t *testing.T) {
	f := newQueueFixture(t)
	a := testApp(t, f)
	a.verifySeconds.Observe(0.03)
	mux := http.NewServeMux()
	a.mount(mux)
	code, out := get(t, mux, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d\n%s", code, out)
	}
	for _, want := range []string{
		"revokd_mails_seen_total 0\n",
		"revokd_imap_reconnects_total 0\n",
		"revokd_imap_auth_failures_total 0\n",
		`revokd_imap_session_state{state="starting"} 1` + "\n",
		"revokd_imap_last_poll_timestamp_seconds 0\n",
		`revokd_requests{reason_code="",state="queued"} 1` + "\n",
		`revokd_requests{reason_code="hash_failure",state="rejected"} 1` + "\n",
		`revokd_requests{reason_code="",state="not_a_request"} 1` + "\n",
		`revokd_revocation_jobs{state="pending"} 1` + "\n",
		`revokd_revocation_jobs{state="failed"} 0` + "\n",
		`revokd_outbox_messages{state="pending"} 1` + "\n",
		`revokd_verifications{state="pending"} 0` + "\n",
		`revokd_verifications{state="failed"} 0` + "\n",
		`revokd_smtp_attempts_total{result="failed"} 0` + "\n",
		"revokd_smtp_relay_up 1\n",
		"revokd_store_up 1\n",
		"revokd_verification_seconds_count 1\n",
		"go_goroutines ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The store holds an e-mail address, a name and a serial: none may
	// reach a label.
	for _, personal := range []string{"@", "helene", "Dupont", "0a1b", "0A1B"} {
		if strings.Contains(strings.ToLower(out), strings.ToLower(personal)) {
			t.Errorf("/metrics contains %q", personal)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", out)
	}
}
