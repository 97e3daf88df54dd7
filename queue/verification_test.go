package queue

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func claimVerification(t *testing.T, s *Store, lease time.Duration, only int64) (ArchivedMail, bool) {
	t.Helper()
	m, ok, err := s.ClaimVerification(t.Context(), lease, only)
	if err != nil {
		t.Fatalf("ClaimVerification: %v", err)
	}
	return m, ok
}

func progress(t *testing.T, s *Store, id int64) MailProgress {
	t.Helper()
	p, err := s.Progress(t.Context(), id)
	if err != nil {
		t.Fatalf("Progress(%d): %v", id, err)
	}
	return p
}

// An archived mail is handed to one verifier with its bytes and receipt
// time, to nobody else while the lease runs, and its outcome ends the
// verification.
func TestVerificationHandsOutArchivedMailOnce(t *testing.T) {
	clk := newTestClock()
	s := openClocked(t, filepath.Join(t.TempDir(), "data"), clk)
	id := archive(t, s, 1)
	if p := progress(t, s, id); p.State != mailReceived || p.Verification != statePending {
		t.Fatalf("after ArchiveMail: %+v, want received and a pending verification", p)
	}
	m, ok := claimVerification(t, s, time.Minute, 0)
	if !ok {
		t.Fatal("no mail handed out after ArchiveMail")
	}
	if m.ID != id || m.Key != inbox(1) || !bytes.Equal(m.Raw, rawMail(1)) || m.Attempt != 1 ||
		!m.ReceivedAt.Equal(time.Date(2026, 3, 1, 8, 0, 1, 0, time.UTC)) {
		t.Errorf("handed out %+v, want mail %d, key %s, its bytes, attempt 1, its receipt time", m, id, inbox(1))
	}
	if _, ok := claimVerification(t, s, time.Minute, 0); ok {
		t.Error("the same mail was handed out twice while its lease ran")
	}
	if err := s.RecordOutcome(t.Context(), Outcome{MailID: id, Disposition: DispositionRejected, Requests: []RequestOutcome{rejectedReq("hash_failure", "pdf")}}); err != nil {
		t.Fatal(err)
	}
	if p := progress(t, s, id); !p.Handled() || p.Disposition != DispositionRejected || p.Verification != "done" {
		t.Errorf("after RecordOutcome: %+v, want handled, rejected, verification done", p)
	}
	clk.Advance(time.Hour)
	if _, ok := claimVerification(t, s, time.Minute, 0); ok {
		t.Error("a handled mail was handed out again")
	}
}

// A mail over the size cap has nothing to verify: it gets no verification.
func TestOverCapMailIsNotQueuedForVerification(t *testing.T) {
	s := openClocked(t, filepath.Join(t.TempDir(), "data"), newTestClock())
	id, err := s.ArchiveMail(t.Context(), IncomingMail{Key: inbox(1), Size: 90 << 20, OverCap: true})
	if err != nil {
		t.Fatal(err)
	}
	if p := progress(t, s, id); p.Verification != "" {
		t.Errorf("over-cap mail: verification %q, want none", p.Verification)
	}
	if _, ok := claimVerification(t, s, time.Minute, 0); ok {
		t.Error("an over-cap mail was handed out for verification")
	}
}

// A verifier that dies holding a mail loses it when the lease runs out;
// after the policy's attempts the verification fails, audited, and the
// mailbox presenting the mail again makes it due with fresh attempts.
func TestVerificationOfADeadVerifierIsTakenOver(t *testing.T) {
	clk := newTestClock()
	s := openClocked(t, filepath.Join(t.TempDir(), "data"), clk)
	id := archive(t, s, 1)
	for attempt := 1; attempt <= DefaultVerificationRetry.MaxAttempts; attempt++ {
		m, ok := claimVerification(t, s, time.Minute, 0)
		if !ok || m.ID != id || m.Attempt != attempt {
			t.Fatalf("claim %d: %+v, %v; want mail %d, attempt %d", attempt, m, ok, id, attempt)
		}
		clk.Advance(2 * time.Minute)
	}
	if _, ok := claimVerification(t, s, time.Minute, 0); ok {
		t.Fatal("handed out again after its last attempt")
	}
	p := progress(t, s, id)
	if p.Verification != stateFailed || p.LastError == "" {
		t.Fatalf("after %d lost leases: %+v, want failed with a reason", DefaultVerificationRetry.MaxAttempts, p)
	}
	var audited int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM audit WHERE action = 'mail.verification_failed'`).Scan(&audited); err != nil {
		t.Fatal(err)
	}
	if audited != 1 {
		t.Errorf("%d mail.verification_failed audit rows, want 1", audited)
	}
	if again := archive(t, s, 1); again != id {
		t.Fatalf("archived again as %d, want %d", again, id)
	}
	m, ok := claimVerification(t, s, time.Minute, 0)
	if !ok || m.ID != id || m.Attempt != 1 {
		t.Errorf("after the mailbox presented it again: %+v, %v; want mail %d at attempt 1", m, ok, id)
	}
}

// A failed attempt is retried after the backoff, with its error kept; a
// report about an older attempt is refused.
func TestVerificationFailureIsRetriedAfterBackoff(t *testing.T) {
	clk := newTestClock()
	s := openClocked(t, filepath.Join(t.TempDir(), "data"), clk)
	id := archive(t, s, 1)
	m, _ := claimVerification(t, s, time.Minute, 0)
	if err := s.FailVerification(t.Context(), id, m.Attempt, Failure{Kind: Retry, Message: "registry: connection refused"}); err != nil {
		t.Fatal(err)
	}
	if p := progress(t, s, id); p.Verification != statePending || p.LastError != "registry: connection refused" {
		t.Errorf("after a failed attempt: %+v, want pending with the error", p)
	}
	if _, ok := claimVerification(t, s, time.Minute, 0); ok {
		t.Error("handed out again before the backoff")
	}
	clk.Advance(DefaultVerificationRetry.RetryDelay)
	m2, ok := claimVerification(t, s, time.Minute, 0)
	if !ok || m2.Attempt != 2 {
		t.Fatalf("after the backoff: %+v, %v; want attempt 2", m2, ok)
	}
	if err := s.FailVerification(t.Context(), id, m.Attempt, Failure{Kind: Retry, Message: "late"}); !errors.Is(err, ErrState) {
		t.Errorf("report on attempt %d while attempt %d runs: %v, want ErrState", m.Attempt, m2.Attempt, err)
	}
}

// A parked mail's verification sleeps until the parking ends; presented
// again by the mailbox, the mail is received and due at once.
func TestParkedMailIsVerifiedAgain(t *testing.T) {
	clk := newTestClock()
	s := openClocked(t, filepath.Join(t.TempDir(), "data"), clk)
	id := archive(t, s, 1)
	m, _ := claimVerification(t, s, time.Minute, 0)
	if err := s.ParkMail(t.Context(), inbox(1), ParkRevocationUnknown, "OCSP down", clk.Now().Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if p := progress(t, s, id); !p.Parked() || p.Verification != statePending {
		t.Fatalf("after ParkMail: %+v, want parked, verification pending", p)
	}
	if _, ok := claimVerification(t, s, time.Minute, 0); ok {
		t.Error("a parked mail was handed out before its parking ended")
	}
	clk.Advance(5 * time.Minute)
	again, ok := claimVerification(t, s, time.Minute, 0)
	if !ok || again.Attempt != m.Attempt {
		t.Fatalf("after the parking: %+v, %v; want the mail, its attempt not counted (%d)", again, ok, m.Attempt)
	}
	if err := s.ParkMail(t.Context(), inbox(1), ParkRevocationUnknown, "OCSP down", clk.Now().Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	archive(t, s, 1)
	if p := progress(t, s, id); p.State != mailReceived || p.Verification != statePending {
		t.Errorf("presented again: %+v, want received and pending", p)
	}
	if m, ok := claimVerification(t, s, time.Minute, id); !ok || m.ID != id {
		t.Errorf("presented again: not handed out at once (%+v, %v)", m, ok)
	}
	var parkedAudits int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM audit WHERE action = 'mail.parked'`).Scan(&parkedAudits); err != nil {
		t.Fatal(err)
	}
	if parkedAudits != 1 {
		t.Errorf("%d mail.parked audit rows for one cause parked twice, want 1", parkedAudits)
	}
}

// ClaimVerification with a mail's id hands out that mail only.
func TestClaimVerificationOfOneMail(t *testing.T) {
	s := openClocked(t, filepath.Join(t.TempDir(), "data"), newTestClock())
	archive(t, s, 1)
	second := archive(t, s, 2)
	m, ok := claimVerification(t, s, time.Minute, second)
	if !ok || m.ID != second {
		t.Fatalf("claimed %+v, %v; want mail %d", m, ok, second)
	}
	if _, ok := claimVerification(t, s, time.Minute, second); ok {
		t.Error("the mail was handed out twice")
	}
}

// Verifiers of several workers, each on its own store handle, share the
// archived mails: each mail is handed out exactly once.
func TestVerifiersOfSeveralWorkersShareTheMails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	clk := newTestClock()
	first := openClocked(t, dir, clk)
	const mails, workers = 60, 4
	for uid := uint32(1); uid <= mails; uid++ {
		archive(t, first, uid)
	}
	stores := []*Store{first}
	for range workers - 1 {
		stores = append(stores, openClocked(t, dir, clk))
	}
	var (
		mu   sync.Mutex
		seen = map[int64]int{}
		wg   sync.WaitGroup
	)
	for _, s := range stores {
		for range 2 {
			wg.Go(func() {
				for {
					m, ok, err := s.ClaimVerification(context.Background(), time.Minute, 0)
					if err != nil {
						t.Errorf("ClaimVerification: %v", err)
						return
					}
					if !ok {
						return
					}
					mu.Lock()
					seen[m.ID]++
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if len(seen) != mails {
		t.Errorf("%d mails handed out, want %d", len(seen), mails)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("mail %d handed out %d times", id, n)
		}
	}
}

// Progresses reads several mails in one query and leaves unknown ids out;
// a mail is settled once handled, parked, given up, or failed an attempt.
func TestProgressesOfSeveralMails(t *testing.T) {
	clk := newTestClock()
	s := openClocked(t, filepath.Join(t.TempDir(), "data"), clk)
	waiting := archive(t, s, 1)
	handled := record(t, s, 2, DispositionProcessed, acceptedReq("0a1b", "pdf", "form"))
	failing := archive(t, s, 3)
	m, _ := claimVerification(t, s, time.Minute, failing)
	if err := s.FailVerification(t.Context(), failing, m.Attempt, Failure{Kind: Retry, Message: "registry down"}); err != nil {
		t.Fatal(err)
	}
	ps, err := s.Progresses(t.Context(), []int64{waiting, handled, failing, 999})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 {
		t.Fatalf("%d progresses, want 3 (the unknown id left out): %+v", len(ps), ps)
	}
	for id, want := range map[int64]bool{waiting: false, handled: true, failing: true} {
		if got := ps[id].Settled(); got != want {
			t.Errorf("mail %d (%+v): Settled() = %v, want %v", id, ps[id], got, want)
		}
	}
	if _, err := s.Progress(t.Context(), 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Progress(unknown) = %v, want ErrNotFound", err)
	}
}
