package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/revocation"
)

func claim(t *testing.T, s *Store, lease time.Duration) *Job {
	t.Helper()
	j, err := s.ClaimJob(context.Background(), lease, ActorExecutor)
	if err != nil {
		t.Fatalf("ClaimJob: %v", err)
	}
	return j
}

func TestClaimCompleteJob(t *testing.T) {
	ctx := context.Background()
	clk := newTestClock()
	s := openClocked(t, t.TempDir(), clk)
	if _, err := s.UpsertCertificate(ctx, authorize.Certificate{Serial: big.NewInt(0xa1b), IssuerDN: "CN=Our CA", SHA256: "aa"}); err != nil {
		t.Fatal(err)
	}
	if j := claim(t, s, time.Minute); j != nil {
		t.Fatalf("ClaimJob on an empty queue = %+v, want nil", j)
	}
	record(t, s, 1, DispositionProcessed, acceptedReq("0a1b", "pdf1", "form1"))
	record(t, s, 2, DispositionProcessed, acceptedReq("0a1b", "pdf2", "form2")) // found in the ledger

	j := claim(t, s, 5*time.Minute)
	want := Job{ID: 1, RequestID: 1, Serial: "a1b", IssuerDN: "CN=Our CA", Reason: revocation.KeyCompromise,
		State: JobRunning, Attempts: 1, NextAttemptAt: clk.Now().Add(5 * time.Minute), LeaseUntil: clk.Now().Add(5 * time.Minute),
		CreatedAt: clk.Now()}
	if j == nil || *j != want {
		t.Fatalf("ClaimJob = %+v, want %+v", j, want)
	}
	if j2 := claim(t, s, time.Minute); j2 != nil {
		t.Errorf("second ClaimJob while the lease lasts = %+v, want nil", j2)
	}

	clk.Advance(time.Minute)
	done, err := s.CompleteJob(ctx, j.ID, ActorExecutor)
	if err != nil || done {
		t.Fatalf("CompleteJob = %v, %v, want false, nil", done, err)
	}
	reqs, err := s.ListRequests(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		if r.State != revocation.StateExecuted || r.JobState != JobDone {
			t.Errorf("request %d after CompleteJob: state %s, job %s, want executed, done", r.ID, r.State, r.JobState)
		}
	}
	certs, err := s.CertificatesBySerial(ctx, big.NewInt(0xa1b))
	if err != nil || len(certs) != 1 || !certs[0].Revoked || !certs[0].RevokedAt.Equal(clk.Now()) {
		t.Errorf("registry after CompleteJob: %+v, %v, want the certificate revoked now", certs, err)
	}
	if done, err := s.CompleteJob(ctx, j.ID, ActorExecutor); err != nil || !done {
		t.Errorf("CompleteJob again = %v, %v, want true, nil", done, err)
	}
	if j := claim(t, s, time.Minute); j != nil {
		t.Errorf("ClaimJob after done = %+v, want nil", j)
	}
	if _, err := s.CompleteJob(ctx, 99, ActorExecutor); !errors.Is(err, ErrNotFound) {
		t.Errorf("CompleteJob(99) = %v, want ErrNotFound", err)
	}

	// The registry now says revoked: a new request creates no job.
	record(t, s, 3, DispositionProcessed, acceptedReq("0a1b", "pdf3", "form3"))
	if got := count(t, s, "revocation_jobs"); got != 1 {
		t.Errorf("%d jobs after a request for a revoked certificate, want 1", got)
	}

	var actions []string
	log, err := s.AuditLog(ctx, jobSubject(1), requestSubject(1), requestSubject(2))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range log {
		actions = append(actions, r.Subject+" "+r.Action)
	}
	wantActions := "request:1 request.accepted|job:1 job.created|request:2 request.accepted|job:1 job.claimed|" +
		"job:1 job.done|request:1 request.executed|request:2 request.executed"
	if got := strings.Join(actions, "|"); got != wantActions {
		t.Errorf("audit rows:\n got %s\nwant %s", got, wantActions)
	}
}

func TestFailJobBacksOff(t *testing.T) {
	ctx := context.Background()
	clk := newTestClock()
	s := openClocked(t, t.TempDir(), clk)
	record(t, s, 1, DispositionProcessed, acceptedReq("0a1b", "pdf1", "form1"))

	// Default options: 5 attempts, waits of 1, 2, 4 and 8 minutes.
	for attempt, wait := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute} {
		j := claim(t, s, time.Minute)
		if j == nil || j.Attempts != attempt+1 {
			t.Fatalf("attempt %d: ClaimJob = %+v, want the job", attempt+1, j)
		}
		got, err := s.FailJob(ctx, j.ID, j.Attempts, fmt.Sprintf("CA down (%d)", attempt+1), ActorExecutor)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != JobPending || !got.NextAttemptAt.Equal(clk.Now().Add(wait)) || got.LastError != fmt.Sprintf("CA down (%d)", attempt+1) {
			t.Errorf("attempt %d: FailJob = %s next %s (%q), want pending at +%s", attempt+1, got.State, got.NextAttemptAt, got.LastError, wait)
		}
		clk.Advance(wait - time.Second)
		if j := claim(t, s, time.Minute); j != nil {
			t.Errorf("attempt %d: ClaimJob before the wait is over = %+v, want nil", attempt+1, j)
		}
		clk.Advance(time.Second)
	}
	j := claim(t, s, time.Minute)
	if j == nil || j.Attempts != 5 {
		t.Fatalf("fifth ClaimJob = %+v, want the job", j)
	}
	got, err := s.FailJob(ctx, j.ID, j.Attempts, "CA down (5)", ActorExecutor)
	if err != nil || got.State != JobFailed {
		t.Fatalf("fifth FailJob = %+v, %v, want failed", got, err)
	}
	clk.Advance(24 * time.Hour)
	if j := claim(t, s, time.Minute); j != nil {
		t.Errorf("ClaimJob after the last attempt = %+v, want nil", j)
	}
	reqs, _ := s.ListRequests(ctx, ListOptions{})
	if len(reqs) != 1 || reqs[0].State != revocation.StateQueued || reqs[0].JobState != JobFailed ||
		reqs[0].Attempts != 5 || reqs[0].LastError != "CA down (5)" {
		t.Errorf("queue list after failure: %+v, want queued with job failed after 5 attempts", reqs)
	}

	// Only a running job can fail; only a failed job can be retried.
	if _, err := s.FailJob(ctx, j.ID, 0, "again", ActorExecutor); !errors.Is(err, ErrJobState) || !strings.Contains(err.Error(), "is failed, not running") {
		t.Errorf("FailJob of a failed job = %v, want ErrJobState", err)
	}
	if err := s.RetryJob(ctx, j.ID, "operator:alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.RetryJob(ctx, j.ID, "operator:alice"); !errors.Is(err, ErrJobState) || !strings.Contains(err.Error(), "is pending, not failed") {
		t.Errorf("RetryJob of a pending job = %v, want ErrJobState", err)
	}
	if _, err := s.FailJob(ctx, j.ID, 0, "x", ActorExecutor); !errors.Is(err, ErrJobState) {
		t.Errorf("FailJob of a pending job = %v, want ErrJobState", err)
	}
	if j := claim(t, s, time.Minute); j == nil || j.Attempts != 1 {
		t.Errorf("ClaimJob after RetryJob = %+v, want the job at attempt 1", j)
	}
	if _, err := s.FailJob(ctx, 99, 0, "x", ActorExecutor); !errors.Is(err, ErrNotFound) {
		t.Errorf("FailJob(99) = %v, want ErrNotFound", err)
	}
	if err := s.RetryJob(ctx, 99, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RetryJob(99) = %v, want ErrNotFound", err)
	}
}

func TestBackoffCapped(t *testing.T) {
	p := RetryPolicy{RetryDelay: time.Minute, MaxRetryDelay: 10 * time.Minute, MaxAttempts: 100}
	for attempts, want := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 4: 8 * time.Minute, 5: 10 * time.Minute, 60: 10 * time.Minute} {
		if got := p.Backoff(attempts); got != want {
			t.Errorf("backoff(%d) = %s, want %s", attempts, got, want)
		}
	}
}

func TestExpiredLeaseIsClaimedAgain(t *testing.T) {
	ctx := context.Background()
	clk := newTestClock()
	s, err := openBackend(t, t.TempDir(), &Options{Now: clk.Now, Jobs: RetryPolicy{MaxAttempts: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	record(t, s, 1, DispositionProcessed, acceptedReq("0a1b", "pdf1", "form1"))
	first := claim(t, s, time.Minute)
	clk.Advance(time.Minute) // the executor died: its lease ends
	second := claim(t, s, time.Minute)
	if first == nil || second == nil || second.ID != first.ID || second.Attempts != 2 {
		t.Fatalf("claims = %+v then %+v, want the same job, attempt 2", first, second)
	}
	clk.Advance(time.Minute) // died again on its last attempt
	if j := claim(t, s, time.Minute); j != nil {
		t.Errorf("ClaimJob after the last lease expired = %+v, want nil", j)
	}
	j, err := s.Job(ctx, first.ID)
	if err != nil || j.State != JobFailed || !strings.Contains(j.LastError, "lease expired") {
		t.Errorf("job after its last lease expired: %+v, %v, want failed", j, err)
	}
	// The executor of the first lease finally answers: the CA revoked it.
	if done, err := s.CompleteJob(ctx, j.ID, ActorExecutor); err != nil || done {
		t.Errorf("CompleteJob of a failed job = %v, %v, want it done", done, err)
	}
}

func TestClaimUsesThePartialIndex(t *testing.T) {
	onlySQLite(t)
	s := openClocked(t, t.TempDir(), newTestClock())
	rows, err := s.db.Query(`EXPLAIN QUERY PLAN SELECT id FROM revocation_jobs
		WHERE state IN ('pending', 'running') AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1`, "x")
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
	if got := strings.Join(plan, "; "); !strings.Contains(got, "revocation_jobs_claimable") || strings.Contains(got, "TEMP B-TREE") {
		t.Errorf("claim query plan = %q, want a search of revocation_jobs_claimable without sorting", got)
	}
}

// seedJobs queues n jobs directly, faster than through RecordOutcome.
func seedJobs(t testing.TB, s *Store, n int) {
	t.Helper()
	now := formatTime(s.now())
	err := s.inTx(context.Background(), func(tx *sql.Tx) error {
		var mailID int64
		if err := tx.QueryRow(`INSERT INTO mails (mailbox, uidvalidity, uid, message_id, raw_sha256, size, over_cap, sender,
			received_at, state, created_at) VALUES ('INBOX', 1, (SELECT COUNT(*) + 1 FROM mails), '', '', 0, 0, '', ?, 'handled', ?)
			RETURNING id`, now, now).Scan(&mailID); err != nil {
			return err
		}
		for range n {
			var reqID int64
			if err := tx.QueryRow(`INSERT INTO requests (mail_id, state, created_at, updated_at) VALUES (?, 'queued', ?, ?) RETURNING id`,
				mailID, now, now).Scan(&reqID); err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT INTO revocation_jobs (request_id, issuer_dn, serial, reason, no_reason_code, state,
				next_attempt_at, created_at, updated_at) VALUES (?, 'CN=Our CA', ?, 1, 0, 'pending', ?, ?, ?)`,
				reqID, fmt.Sprintf("%x", reqID), now, now, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seeding jobs: %v", err)
	}
}

func TestConcurrentClaims(t *testing.T) {
	ctx := context.Background()
	clk := newTestClock()
	dir := t.TempDir()
	stores := []*Store{openClocked(t, dir, clk), openClocked(t, dir, clk)}
	const jobs = 60
	seedJobs(t, stores[0], jobs)

	claimed := make([][]int64, 4)
	errs := make(chan error, len(claimed))
	var wg sync.WaitGroup
	for w := range claimed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%len(stores)]
			for {
				j, err := s.ClaimJob(ctx, time.Hour, fmt.Sprintf("executor-%d", w))
				if err != nil {
					errs <- err
					return
				}
				if j == nil {
					return
				}
				claimed[w] = append(claimed[w], j.ID)
				if _, err := s.CompleteJob(ctx, j.ID, fmt.Sprintf("executor-%d", w)); err != nil {
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
				t.Errorf("job %d claimed by executors %d and %d", id, other, w)
			}
			seen[id] = w
		}
	}
	if len(seen) != jobs {
		t.Errorf("%d jobs claimed, want %d", len(seen), jobs)
	}
	if _, err := stores[1].VerifyAudit(ctx); err != nil {
		t.Errorf("VerifyAudit after concurrent claims: %v", err)
	}
}

func BenchmarkClaimAndComplete(b *testing.B) {
	ctx := context.Background()
	s, err := openBackend(b, b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// Finished jobs pile up in front of the pending ones, as in a store
	// that has run for a while.
	seedJobs(b, s, 2000)
	for {
		j, err := s.ClaimJob(ctx, time.Hour, ActorExecutor)
		if err != nil {
			b.Fatal(err)
		}
		if j == nil {
			break
		}
		if _, err := s.CompleteJob(ctx, j.ID, ActorExecutor); err != nil {
			b.Fatal(err)
		}
	}
	seedJobs(b, s, b.N)
	b.ResetTimer()
	for range b.N {
		j, err := s.ClaimJob(ctx, time.Hour, ActorExecutor)
		if err != nil || j == nil {
			b.Fatalf("ClaimJob = %v, %v", j, err)
		}
		if _, err := s.CompleteJob(ctx, j.ID, ActorExecutor); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWorkerAndExecutorConcurrently runs the worker's writes and an
// executor's claims on two handles of one database at the same time, as
// `revokd run` and `revokd queue next` do.
func TestWorkerAndExecutorConcurrently(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	worker, executor := openTest(t, dir), openTest(t, dir)
	const mails = 40
	recorded := make(chan struct{}, mails)
	errs := make(chan error, 2)
	go func() {
		for i := range mails {
			uid := uint32(i + 1)
			id, err := worker.ArchiveMail(ctx, IncomingMail{Key: inbox(uid), Raw: rawMail(uid)})
			if err == nil {
				err = worker.RecordOutcome(ctx, Outcome{MailID: id, Disposition: DispositionProcessed,
					Requests: []RequestOutcome{acceptedReq(fmt.Sprintf("%x", 0x1000+i), fmt.Sprint("pdf", i), fmt.Sprint("form", i))}})
			}
			if err != nil {
				errs <- err
				return
			}
			recorded <- struct{}{}
		}
		errs <- nil
	}()
	go func() {
		done := 0
		for done < mails {
			j, err := executor.ClaimJob(ctx, time.Hour, ActorExecutor)
			if err != nil {
				errs <- err
				return
			}
			if j == nil {
				<-recorded // wait for the worker's next commit
				continue
			}
			if _, err := executor.CompleteJob(ctx, j.ID, ActorExecutor); err != nil {
				errs <- err
				return
			}
			done++
		}
		errs <- nil
	}()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	reqs, err := executor.ListRequests(ctx, ListOptions{State: revocation.StateExecuted})
	if err != nil || len(reqs) != mails {
		t.Errorf("%d requests executed, %v, want %d", len(reqs), err, mails)
	}
	if _, err := worker.VerifyAudit(ctx); err != nil {
		t.Errorf("VerifyAudit: %v", err)
	}
}

// The three kinds of failure of the leased queue, on a job's second
// attempt: a retry counts it and waits the backoff, a cancel fails the job
// at once, a snooze waits its own delay and does not count the attempt.
func TestFailureKinds(t *testing.T) {
	for _, tt := range []struct {
		name         string
		f            Failure
		wantState    JobState
		wantAttempts int
		wantWait     time.Duration
	}{
		{"ok/retry-counts-and-backs-off", Failure{Kind: Retry, Message: "CA down"}, JobPending, 2, 2 * DefaultRetryDelay},
		{"ok/cancel-fails-at-once", Failure{Kind: Cancel, Message: "unknown certificate"}, JobFailed, 2, 0},
		{"ok/snooze-waits-without-counting", Failure{Kind: Snooze, Message: "maintenance", SnoozeFor: 10 * time.Minute}, JobPending, 1, 10 * time.Minute},
		{"ok/snooze-default-wait", Failure{Kind: Snooze, Message: "maintenance"}, JobPending, 1, DefaultRetryDelay},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newTestClock()
			s := openClocked(t, t.TempDir(), clk)
			record(t, s, 1, DispositionProcessed, acceptedReq("0a1b", "pdf1", "form1"))
			first := claim(t, s, time.Minute)
			clk.Advance(time.Minute) // the first lease ran out
			j := claim(t, s, time.Minute)
			if first == nil || j == nil || j.Attempts != 2 {
				t.Fatalf("claims = %+v, %+v, want attempt 2", first, j)
			}
			got, err := s.FailJobWith(ctx, j.ID, j.Attempts, tt.f, ActorExecutor)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tt.wantState || got.Attempts != tt.wantAttempts || got.LastError != tt.f.Message {
				t.Errorf("FailJobWith = %s after %d attempts (%q), want %s after %d", got.State, got.Attempts, got.LastError, tt.wantState, tt.wantAttempts)
			}
			if tt.wantState == JobPending && !got.NextAttemptAt.Equal(clk.Now().Add(tt.wantWait)) {
				t.Errorf("next attempt at %s, want now + %s", got.NextAttemptAt, tt.wantWait)
			}
		})
	}
}
