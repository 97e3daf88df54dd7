package queue

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/revokd/revokd/revocation"
)

// listContract is the documented JSON of `revokd queue list --json`, as a
// script outside revokd reads it.
type listContract struct {
	ID         int64  `json:"id"`
	State      string `json:"state"`
	ReasonCode string `json:"reasonCode"`
	Serial     string `json:"serial"`
	MessageID  string `json:"messageId"`
	ReceivedAt string `json:"receivedAt"`
}

func listedStore(t *testing.T) *Store {
	t.Helper()
	ctx := context.Background()
	s := openClocked(t, t.TempDir(), newTestClock())
	record(t, s, 1, DispositionProcessed, acceptedReq("0A1B", "pdf1", "form1"))
	record(t, s, 2, DispositionRejected, rejectedReq("holder_mismatch", "pdf2"))
	id := archive(t, s, 3)
	if err := s.RecordOutcome(ctx, Outcome{MailID: id, Disposition: DispositionProcessed, NotARequest: "auto-reply (Auto-Submitted: auto-replied)"}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestListRequestsJSONContract(t *testing.T) {
	ctx := context.Background()
	s := listedStore(t)
	for _, tt := range []struct {
		name string
		o    ListOptions
		want []listContract
	}{
		{"ok/requests-newest-first", ListOptions{}, []listContract{
			{2, "rejected", "holder_mismatch", "a1b", "<2@example.fr>", "2026-03-01T08:00:02Z"},
			{1, "queued", "", "a1b", "<1@example.fr>", "2026-03-01T08:00:01Z"},
		}},
		{"ok/all-includes-mails-that-are-not-requests", ListOptions{All: true}, []listContract{
			{3, "not_a_request", "", "", "<3@example.fr>", "2026-03-01T08:00:03Z"},
			{2, "rejected", "holder_mismatch", "a1b", "<2@example.fr>", "2026-03-01T08:00:02Z"},
			{1, "queued", "", "a1b", "<1@example.fr>", "2026-03-01T08:00:01Z"},
		}},
		{"ok/by-state", ListOptions{State: revocation.StateQueued}, []listContract{
			{1, "queued", "", "a1b", "<1@example.fr>", "2026-03-01T08:00:01Z"},
		}},
		{"ok/not-a-request-by-state", ListOptions{State: revocation.StateNotARequest}, []listContract{
			{3, "not_a_request", "", "", "<3@example.fr>", "2026-03-01T08:00:03Z"},
		}},
		{"ok/limit", ListOptions{All: true, Limit: 1}, []listContract{
			{3, "not_a_request", "", "", "<3@example.fr>", "2026-03-01T08:00:03Z"},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reqs, err := s.ListRequests(ctx, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(reqs)
			if err != nil {
				t.Fatal(err)
			}
			var got []listContract
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("decoding %s: %v", b, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("queue list JSON (-want +got):\n%s", diff)
			}
			for _, r := range got {
				if _, err := time.Parse(time.RFC3339, r.ReceivedAt); err != nil {
					t.Errorf("receivedAt %q is not RFC 3339: %v", r.ReceivedAt, err)
				}
			}
		})
	}

	// The keys are there even when empty: scripts index them blindly.
	reqs, _ := s.ListRequests(ctx, ListOptions{All: true})
	b, _ := json.Marshal(reqs)
	var raw []map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"id", "state", "reasonCode", "serial", "messageId", "receivedAt", "jobState", "attempts", "jobId"} {
		if _, ok := raw[0][key]; !ok {
			t.Errorf("queue list JSON lacks %q: %s", key, b)
		}
	}
}

func TestRequestDetail(t *testing.T) {
	ctx := context.Background()
	s := listedStore(t)
	d, err := s.Request(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d.State != revocation.StateQueued || d.Job == nil || d.Job.State != JobPending || d.RevocationReason != "keyCompromise" {
		t.Errorf("Request(1) = state %s, job %+v, reason %q, want queued, pending, keyCompromise", d.State, d.Job, d.RevocationReason)
	}
	if d.Report == nil || d.Report.Indication != "TOTAL_PASSED" || len(d.Report.Signatures) != 1 || d.Report.Signatures[0].Signer.Subject != "CN=Hélène Dupont" {
		t.Errorf("Request(1).Report = %+v, want the TOTAL_PASSED report of Hélène Dupont's signature", d.Report)
	}
	if string(d.Decision) != `{"Accepted":true,"Code":""}` {
		t.Errorf("Request(1).Decision = %s", d.Decision)
	}
	if d.Mail.State != "handled" || d.Mail.Disposition != DispositionProcessed || d.Mail.RawSHA256 != sha256Hex(rawMail(1)) {
		t.Errorf("Request(1).Mail = %+v", d.Mail)
	}
	if len(d.Outbox) != 1 || d.Outbox[0].Kind != "acknowledgement" || d.Outbox[0].State != "pending" {
		t.Errorf("Request(1).Outbox = %+v, want one pending acknowledgement", d.Outbox)
	}
	var actions []string
	for _, a := range d.Audit {
		actions = append(actions, a.Action)
	}
	if diff := cmp.Diff([]string{"mail.received", "request.accepted", "job.created", "mail.handled"}, actions); diff != "" {
		t.Errorf("Request(1).Audit actions (-want +got):\n%s", diff)
	}
	if _, err := json.Marshal(d); err != nil {
		t.Errorf("json.Marshal(RequestDetail): %v", err)
	}

	nar, err := s.Request(ctx, 3)
	if err != nil || nar.State != revocation.StateNotARequest || nar.Reason != "auto-reply (Auto-Submitted: auto-replied)" || nar.Job != nil {
		t.Errorf("Request(3) = %+v, %v, want the auto-reply", nar, err)
	}
	if _, err := s.Request(ctx, 42); !errors.Is(err, ErrNotFound) {
		t.Errorf("Request(42) err = %v, want ErrNotFound", err)
	}
}
