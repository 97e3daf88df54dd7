package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func claimOutbox(t *testing.T, s *Store, lease time.Duration) *OutboxRow {
	t.Helper()
	o, err := s.ClaimOutbox(context.Background(), lease)
	if err != nil {
		t.Fatalf("ClaimOutbox: %v", err)
	}
	return o
}

func outboxStatus(t *testing.T, s *Store, id int64) OutboxStatus {
	t.Helper()
	o, err := s.Outbox(context.Background(), id)
	if err != nil {
		t.Fatalf("Outbox(%d): %v", id, err)
	}
	return o
}

// auditActions lists the actions of the audit rows about mail id.
func auditActions(t *testing.T, s *Store, mailID int64) []string {
	t.Helper()
	recs, err := s.AuditLog(context.Background(), mailSubject(mailID))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.Action)
	}
	return out
}

func TestClaimOutboxAndMarkSent(t *testing.T) {
	ctx := context.Background()
	clk := newTestClock()
	s := openClocked(t, t.TempDir(), clk)
	if o := claimOutbox(t, s, time.Minute); o != nil {
		t.Fatalf("ClaimOutbox on an empty outbox = %+v, want nil", o)
	}
	created := clk.Now()
	mail1 := record(t, s, 1, DispositionRejected, rejectedReq("hash_failure", "pdf1"))
	mail2 := record(t, s, 2, DispositionRejected, rejectedReq("hash_failure", "pdf2"))

	clk.Advance(time.Second)
	o := claimOutbox(t, s, 5*time.Minute)
	want := &OutboxRow{ID: 1, MailID: mail1, RequestID: 1, RequestIDs: []int64{1}, Kind: "acknowledgement", To: "holder@example.fr", Subject: "Accusé de réception",
		Body: "Bonjour", Attempts: 1, LeaseUntil: clk.Now().Add(5 * time.Minute), CreatedAt: created,
		OriginalMessageID: "<1@example.fr>"}
	if diff := cmp.Diff(want, o); diff != "" {
		t.Fatalf("ClaimOutbox (-want +got):\n%s", diff)
	}
	// The first mail is leased: the next claim gets the second.
	if o2 := claimOutbox(t, s, 5*time.Minute); o2 == nil || o2.ID != 2 || o2.MailID != mail2 {
		t.Fatalf("second ClaimOutbox = %+v, want outbox 2 of mail %d", o2, mail2)
	}
	if o3 := claimOutbox(t, s, 5*time.Minute); o3 != nil {
		t.Fatalf("third ClaimOutbox while both leases last = %+v, want nil", o3)
	}
	if st, err := s.OutboxStats(ctx); err != nil || st != (OutboxStats{Pending: 2}) {
		t.Errorf("OutboxStats while leased = %+v, %v, want 2 pending", st, err)
	}

	clk.Advance(time.Second)
	if err := s.MarkSent(ctx, 1); err != nil {
		t.Fatalf("MarkSent(1): %v", err)
	}
	got := outboxStatus(t, s, 1)
	if got.State != OutboxSent || !got.SentAt.Equal(clk.Now()) || got.Attempts != 1 {
		t.Errorf("outbox 1 after MarkSent = %+v, want sent now after 1 attempt", got)
	}
	// A second sender whose lease had expired sends it too: nothing
	// changes, and it is not an error.
	if err := s.MarkSent(ctx, 1); err != nil {
		t.Errorf("MarkSent(1) again: %v", err)
	}
	if err := s.MarkFailed(ctx, 1, "too late", false); !errors.Is(err, ErrOutboxState) {
		t.Errorf("MarkFailed on a sent mail = %v, want ErrOutboxState", err)
	}
	if err := s.MarkSent(ctx, 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("MarkSent(99) = %v, want ErrNotFound", err)
	}
	if err := s.MarkFailed(ctx, 99, "x", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("MarkFailed(99) = %v, want ErrNotFound", err)
	}
	if _, err := s.ClaimOutbox(ctx, 0); err == nil || !strings.Contains(err.Error(), "must be positive") {
		t.Errorf("ClaimOutbox(0) = %v, want a refusal of the lease", err)
	}

	// The store's own view for operators shows the mail sent.
	d, err := s.Request(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Outbox) != 1 || d.Outbox[0].State != OutboxSent || d.Outbox[0].SentAt == nil {
		t.Errorf("Request(1).Outbox = %+v, want one sent mail", d.Outbox)
	}
	wantActions := []string{"mail.received", "mail.handled", "outbox.claimed", "outbox.sent"}
	if diff := cmp.Diff(wantActions, auditActions(t, s, mail1)); diff != "" {
		t.Errorf("audit of mail %d (-want +got):\n%s", mail1, diff)
	}
	if _, err := s.VerifyAudit(ctx); err != nil {
		t.Errorf("VerifyAudit: %v", err)
	}
}

func TestMarkFailed(t *testing.T) {
	tests := []struct {
		name      string
		failures  int  // temporary failures before the last one
		permanent bool // the last failure
		wantState string
		wantWait  time.Duration // until the next attempt, for a pending mail
	}{
		{"ok/first-temporary-failure-retried-after-a-minute", 0, false, OutboxPending, time.Minute},
		{"ok/third-temporary-failure-waits-four-minutes", 2, false, OutboxPending, 4 * time.Minute},
		{"ok/wait-capped-at-an-hour", 9, false, OutboxPending, time.Hour},
		{"fail/permanent-failure-not-retried", 0, true, OutboxFailed, 0},
		{"fail/permanent-after-temporary-ones", 3, true, OutboxFailed, 0},
		{"fail/last-attempt", OutboxMaxAttempts - 1, false, OutboxFailed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newTestClock()
			s := openClocked(t, t.TempDir(), clk)
			mailID := record(t, s, 1, DispositionRejected, rejectedReq("hash_failure", "pdf1"))
			for i := range tt.failures {
				o := claimOutbox(t, s, time.Minute)
				if o == nil {
					t.Fatalf("claim %d: nothing due", i+1)
				}
				if err := s.MarkFailed(ctx, o.ID, fmt.Sprintf("451 4.3.0 try %d", i+1), false); err != nil {
					t.Fatalf("MarkFailed %d: %v", i+1, err)
				}
				if early := claimOutbox(t, s, time.Minute); early != nil {
					t.Fatalf("claim before the retry delay after failure %d = %+v, want nil", i+1, early)
				}
				clk.Advance(DefaultOutboxRetry.Backoff(i + 1))
			}
			o := claimOutbox(t, s, time.Minute)
			if o == nil || o.Attempts != tt.failures+1 {
				t.Fatalf("last claim = %+v, want attempt %d", o, tt.failures+1)
			}
			reason := "550 5.1.1 <holder@example.fr>: no such user"
			if err := s.MarkFailed(ctx, o.ID, reason, tt.permanent); err != nil {
				t.Fatalf("MarkFailed: %v", err)
			}
			got := outboxStatus(t, s, o.ID)
			if got.State != tt.wantState || got.LastError != reason || got.Attempts != tt.failures+1 {
				t.Errorf("after MarkFailed: %+v, want state %s, last error %q, %d attempts", got, tt.wantState, reason, tt.failures+1)
			}
			if tt.wantState == OutboxPending {
				if wait := got.NextAttemptAt.Sub(clk.Now()); wait != tt.wantWait {
					t.Errorf("next attempt in %v, want %v", wait, tt.wantWait)
				}
				return
			}
			// A failed mail is never handed out again, and failing it
			// again is refused.
			clk.Advance(48 * time.Hour)
			if again := claimOutbox(t, s, time.Minute); again != nil {
				t.Errorf("ClaimOutbox after failure = %+v, want nil", again)
			}
			if err := s.MarkFailed(ctx, o.ID, "again", true); !errors.Is(err, ErrOutboxState) {
				t.Errorf("MarkFailed on a failed mail = %v, want ErrOutboxState", err)
			}
			if st, err := s.OutboxStats(ctx); err != nil || st != (OutboxStats{Failed: 1}) {
				t.Errorf("OutboxStats = %+v, %v, want 1 failed", st, err)
			}
			recs, err := s.AuditLog(ctx, mailSubject(mailID))
			if err != nil {
				t.Fatal(err)
			}
			last := recs[len(recs)-1]
			var details struct {
				Permanent bool   `json:"permanent"`
				Error     string `json:"error"`
			}
			if err := json.Unmarshal(last.Details, &details); err != nil {
				t.Fatal(err)
			}
			if last.Action != "outbox.failed" || last.Actor != ActorNotify || details.Permanent != tt.permanent || details.Error != reason {
				t.Errorf("last audit row = %s by %s %s, want outbox.failed by notify, permanent %v", last.Action, last.Actor, last.Details, tt.permanent)
			}
		})
	}
}

func TestMarkFailedBoundsTheReason(t *testing.T) {
	ctx := context.Background()
	s := openClocked(t, t.TempDir(), newTestClock())
	record(t, s, 1, DispositionRejected, rejectedReq("hash_failure", "pdf1"))
	o := claimOutbox(t, s, time.Minute)
	if err := s.MarkFailed(ctx, o.ID, strings.Repeat("é", maxErrorText), true); err != nil {
		t.Fatal(err)
	}
	if got := outboxStatus(t, s, o.ID).LastError; len(got) > maxErrorText || !strings.HasPrefix(got, "éé") || strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("stored reason of %d bytes, want at most %d bytes of whole characters", len(got), maxErrorText)
	}
}

// A sender that dies between the claim and the mark leaves the mail to be
// sent again once the lease expires: delivery is at least once.
func TestOutboxLeaseExpiry(t *testing.T) {
	ctx := context.Background()
	clk := newTestClock()
	s := openClocked(t, t.TempDir(), clk)
	mailID := record(t, s, 1, DispositionRejected, rejectedReq("hash_failure", "pdf1"))

	first := claimOutbox(t, s, 2*time.Minute)
	clk.Advance(2*time.Minute - time.Nanosecond)
	if o := claimOutbox(t, s, 2*time.Minute); o != nil {
		t.Fatalf("ClaimOutbox before the lease expired = %+v, want nil", o)
	}
	clk.Advance(time.Nanosecond)
	again := claimOutbox(t, s, 2*time.Minute)
	if again == nil || again.ID != first.ID || again.Attempts != 2 {
		t.Fatalf("ClaimOutbox after the lease expired = %+v, want outbox %d on attempt 2", again, first.ID)
	}

	// A sender that crashes on the mail every time: after the last
	// allowed attempt's lease, the mail is failed, not handed out again.
	for attempt := 3; attempt <= OutboxMaxAttempts; attempt++ {
		clk.Advance(2 * time.Minute)
		if o := claimOutbox(t, s, 2*time.Minute); o == nil || o.Attempts != attempt {
			t.Fatalf("claim after expiry = %+v, want attempt %d", o, attempt)
		}
	}
	clk.Advance(2 * time.Minute)
	if o := claimOutbox(t, s, 2*time.Minute); o != nil {
		t.Fatalf("claim after the last lease = %+v, want nil", o)
	}
	got := outboxStatus(t, s, first.ID)
	if got.State != OutboxFailed || got.LastError != "lease expired without an answer from the sender" {
		t.Errorf("after the last lease: %+v, want failed with %q", got, "lease expired without an answer from the sender")
	}
	actions := auditActions(t, s, mailID)
	if actions[len(actions)-1] != "outbox.failed" {
		t.Errorf("last audit action %q, want outbox.failed", actions[len(actions)-1])
	}
	if _, err := s.VerifyAudit(ctx); err != nil {
		t.Errorf("VerifyAudit: %v", err)
	}
}

func TestOutboxBackoff(t *testing.T) {
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute,
		32 * time.Minute, time.Hour, time.Hour}
	var total time.Duration
	for i, w := range want {
		if got := DefaultOutboxRetry.Backoff(i + 1); got != w {
			t.Errorf("DefaultOutboxRetry.Backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	for i := 1; i < OutboxMaxAttempts; i++ {
		total += DefaultOutboxRetry.Backoff(i)
	}
	// The documented promise: retries span about six hours.
	if total < 5*time.Hour || total > 7*time.Hour {
		t.Errorf("retries span %v, want about six hours", total)
	}
}

func TestConcurrentOutboxClaims(t *testing.T) {
	ctx := context.Background()
	clk := newTestClock()
	dir := t.TempDir()
	stores := []*Store{openClocked(t, dir, clk), openClocked(t, dir, clk)}
	const mails = 30
	for uid := uint32(1); uid <= mails; uid++ {
		record(t, stores[0], uid, DispositionRejected, rejectedReq("hash_failure", fmt.Sprint("pdf", uid)))
	}
	claimed := make([][]int64, 4)
	errs := make(chan error, len(claimed))
	var wg sync.WaitGroup
	for w := range claimed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%len(stores)]
			for {
				o, err := s.ClaimOutbox(ctx, time.Hour)
				if err != nil {
					errs <- err
					return
				}
				if o == nil {
					return
				}
				claimed[w] = append(claimed[w], o.ID)
				if err := s.MarkSent(ctx, o.ID); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent claim: %v", err)
	}
	seen := map[int64]int{}
	for w, ids := range claimed {
		for _, id := range ids {
			if other, dup := seen[id]; dup {
				t.Errorf("outbox %d claimed by senders %d and %d", id, other, w)
			}
			seen[id] = w
		}
	}
	if len(seen) != mails {
		t.Errorf("%d mails claimed, want %d", len(seen), mails)
	}
	if st, err := stores[1].OutboxStats(ctx); err != nil || st != (OutboxStats{Sent: mails}) {
		t.Errorf("OutboxStats = %+v, %v, want %d sent", st, err, mails)
	}
	if _, err := stores[1].VerifyAudit(ctx); err != nil {
		t.Errorf("VerifyAudit after concurrent claims: %v", err)
	}
}

// The claim reads only pending rows through the partial index, however
// many mails were sent before.
func TestClaimOutboxUsesThePartialIndex(t *testing.T) {
	onlySQLite(t)
	s := openClocked(t, t.TempDir(), newTestClock())
	rows, err := s.db.Query(`EXPLAIN QUERY PLAN SELECT id FROM outbox WHERE state IN ('pending', 'running') AND next_attempt_at <= ?
		ORDER BY next_attempt_at, id LIMIT 1`, formatTime(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if got := strings.Join(plan, "; "); !strings.Contains(got, "outbox_claimable") {
		t.Errorf("claim plan %q does not use the index outbox_claimable", got)
	}
}
