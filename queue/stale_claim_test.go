package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// takenOver returns a store whose one job was claimed by executor A
// (attempt 1, one-minute lease), whose lease expired, and then by executor
// B (attempt 2, for an hour): A is slow, not dead, and still holds the id.
func takenOver(t *testing.T) (s *Store, clk *testClock, a, b *Job) {
	t.Helper()
	clk = newTestClock()
	s = openClocked(t, t.TempDir(), clk)
	record(t, s, 1, DispositionProcessed, acceptedReq("0a1b", "pdf1", "form1"))
	a = claim(t, s, time.Minute)
	clk.Advance(2 * time.Minute)
	b = claim(t, s, time.Hour)
	if a == nil || b == nil || b.ID != a.ID || a.Attempts != 1 || b.Attempts != 2 {
		t.Fatalf("claims = %+v then %+v, want the same job at attempts 1 and 2", a, b)
	}
	return s, clk, a, b
}

// A late failure report from the executor whose lease expired must not
// put the job back in the queue while another executor runs it: a third
// one would be handed the same revocation.
func TestStaleFailureReportLeavesTheRunningAttemptAlone(t *testing.T) {
	ctx := context.Background()
	s, clk, a, b := takenOver(t)
	before := count(t, s, "audit")

	_, err := s.FailJob(ctx, a.ID, a.Attempts, "timeout talking to the CA", "executor-A")
	want := "job 1 was handed out again (attempt 2); this report is for attempt 1"
	if !errors.Is(err, ErrJobState) || !strings.Contains(err.Error(), want) {
		t.Fatalf("FailJob(attempt 1) while attempt 2 runs = %v, want ErrJobState with %q", err, want)
	}
	j, err := s.Job(ctx, b.ID)
	if err != nil || j.State != JobRunning || j.Attempts != 2 || !j.LeaseUntil.Equal(b.LeaseUntil) || j.LastError != "" {
		t.Errorf("job after the stale report = %+v, %v, want still running attempt 2 until %s", j, err, b.LeaseUntil)
	}
	if after := count(t, s, "audit"); after != before {
		t.Errorf("a refused report wrote %d audit rows, want 0", after-before)
	}
	clk.Advance(10 * time.Minute) // past any retry delay, well within B's lease
	if c := claim(t, s, time.Hour); c != nil {
		t.Errorf("ClaimJob during B's lease = %+v, want nil", c)
	}

	// B's own report is the one that counts.
	got, err := s.FailJob(ctx, b.ID, b.Attempts, "HSM offline", "executor-B")
	if err != nil || got.State != JobPending || got.Attempts != 2 || got.LastError != "HSM offline" {
		t.Errorf("FailJob(attempt 2) = %+v, %v, want pending after attempt 2", got, err)
	}
}

func TestFailJobAttemptCheck(t *testing.T) {
	tests := []struct {
		name     string
		attempt  int
		wantErr  error
		wantText string // in the error
	}{
		{"ok/current-attempt", 2, nil, ""},
		{"ok/unchecked", 0, nil, ""},
		{"fail/earlier-attempt", 1, ErrJobState, "job 1 was handed out again (attempt 2); this report is for attempt 1"},
		{"fail/attempt-not-yet-made", 3, ErrJobState, "job 1 has had 2 attempts; this report is for attempt 3"},
		{"fail/negative-attempt", -1, nil, "attempt -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _, b := takenOver(t)
			got, err := s.FailJob(context.Background(), b.ID, tt.attempt, "CA down", ActorExecutor)
			if tt.wantText == "" {
				if err != nil || got.State != JobPending {
					t.Errorf("FailJob(attempt %d) = %+v, %v, want the job pending", tt.attempt, got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantText) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("FailJob(attempt %d) = %v, want %v with %q", tt.attempt, err, tt.wantErr, tt.wantText)
			}
			if j, _ := s.Job(context.Background(), b.ID); j.State != JobRunning {
				t.Errorf("job after a refused report is %s, want running", j.State)
			}
		})
	}
}

// The same attempt reported failed twice (a retried call) is refused the
// second time: the job is no longer running it.
func TestFailureReportedTwiceIsRefused(t *testing.T) {
	ctx := context.Background()
	s, _, _, b := takenOver(t)
	if _, err := s.FailJob(ctx, b.ID, b.Attempts, "CA down", ActorExecutor); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FailJob(ctx, b.ID, b.Attempts, "CA down", ActorExecutor); !errors.Is(err, ErrJobState) ||
		!strings.Contains(err.Error(), "job 1 is pending, not running") {
		t.Errorf("second FailJob(attempt 2) = %v, want ErrJobState: pending, not running", err)
	}
}

// The CA's word is final: a late "done" from the executor whose lease
// expired is taken even while another executor runs the job.
func TestStaleDoneReportIsAccepted(t *testing.T) {
	ctx := context.Background()
	s, _, a, _ := takenOver(t)
	if already, err := s.CompleteJob(ctx, a.ID, "executor-A"); err != nil || already {
		t.Fatalf("CompleteJob from A during B's attempt = %v, %v, want done now", already, err)
	}
	if j, err := s.Job(ctx, a.ID); err != nil || j.State != JobDone {
		t.Errorf("job after A's done = %+v, %v, want done", j, err)
	}
	// B then fails its attempt: too late, the certificate is revoked.
	if _, err := s.FailJob(ctx, a.ID, 2, "CA down", "executor-B"); !errors.Is(err, ErrJobState) ||
		!strings.Contains(err.Error(), "job 1 is done, not running") {
		t.Errorf("FailJob after done = %v, want ErrJobState: done, not running", err)
	}
}
