package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// RetryPolicy is how a leased queue (revocation jobs, the outbox) retries an
// item whose attempt failed: the wait after the first failure, doubled after
// each further one up to a ceiling, and the number of attempts after which
// it gives up. The zero value of each field takes the queue's default.
type RetryPolicy struct {
	// MaxAttempts is how many times an item is handed out before a
	// retryable failure, or a lease that ran out, marks it failed.
	MaxAttempts int
	// RetryDelay is the wait after the first failure.
	RetryDelay time.Duration
	// MaxRetryDelay caps the doubled wait.
	MaxRetryDelay time.Duration
}

// withDefaults fills the zero fields of p from def, and raises a ceiling
// below the first delay to it.
func (p RetryPolicy) withDefaults(def RetryPolicy) RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = def.MaxAttempts
	}
	if p.RetryDelay <= 0 {
		p.RetryDelay = def.RetryDelay
	}
	if p.MaxRetryDelay <= 0 {
		p.MaxRetryDelay = def.MaxRetryDelay
	}
	if p.MaxRetryDelay < p.RetryDelay {
		p.MaxRetryDelay = p.RetryDelay
	}
	return p
}

// Backoff returns the wait after the attempts-th failure: RetryDelay
// doubled attempts-1 times, at most MaxRetryDelay.
func (p RetryPolicy) Backoff(attempts int) time.Duration {
	d := p.RetryDelay
	for i := 1; i < attempts && d < p.MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, p.MaxRetryDelay)
}

// FailureKind says what a failed attempt means for the item, after River's
// JobCancel, plain error and JobSnooze.
type FailureKind int

const (
	// Retry: the attempt counts; the item is handed out again after the
	// policy's backoff, or marked failed once it has had MaxAttempts.
	Retry FailureKind = iota
	// Cancel: a permanent failure; the item is marked failed at once.
	Cancel
	// Snooze: not a failure of the item (a dependency is not ready); it is
	// handed out again after the given delay and the attempt is not
	// counted.
	Snooze
)

// Failure is the outcome of a failed attempt.
type Failure struct {
	Kind FailureKind
	// Message is kept as the item's last error (bounded to maxErrorText).
	Message string
	// SnoozeFor is the wait of a Snooze; zero means the policy's
	// RetryDelay.
	SnoozeFor time.Duration
}

// ErrState is wrapped by the errors of leased-queue operations refused
// because of the item's state (failing an item that is not running,
// retrying one that has not failed). ErrJobState and ErrOutboxState are
// the same error.
var ErrState = errors.New("not in a state that allows this")

// The states an item of a leased queue goes through: pending → running →
// pending (retry, snooze) | failed | the queue's final state (done, sent).
const (
	statePending = "pending"
	stateRunning = "running"
	stateFailed  = "failed"
)

// leasedQueue is one table used as a queue of items handed out under a
// lease. Its table has at least the columns id, state, attempts,
// next_attempt_at (while running: the end of the lease, so that an item
// whose holder died is due again and found by the same partial index),
// lease_until, last_error and updated_at, and the column finishedAt names.
//
// The methods run inside the caller's transaction and leave the audit rows
// to the caller, who knows what the item is about.
type leasedQueue struct {
	table string // revocation_jobs, outbox, verifications
	noun  string // "job", "outbox": how errors name an item
	// finalState is the state of an item that succeeded ("done",
	// "sent"); finishedAt the column that records when.
	finalState, finishedAt string
	policy                 RetryPolicy
	// skipLocked is the dialect's clause that passes over rows another
	// transaction has locked.
	skipLocked string
}

// claimed is an item handed out by claim.
type claimed struct {
	id         int64
	attempts   int
	leaseUntil time.Time
}

// claim hands out the next due item for lease: a pending item whose next
// attempt is due, or a running one whose lease ran out (its holder died).
// ok is false when none is due. Items whose lease ran out on their last
// allowed attempt are given up first (returned in abandoned), so that an
// item that crashes its holder is not handed out for ever.
func (q leasedQueue) claim(ctx context.Context, tx *sql.Tx, now time.Time, lease time.Duration) (c claimed, abandoned []claimed, ok bool, err error) {
	return q.claimOnly(ctx, tx, now, lease, 0)
}

// claimOnly is claim restricted to the item id when id is not 0.
func (q leasedQueue) claimOnly(ctx context.Context, tx *sql.Tx, now time.Time, lease time.Duration, id int64) (c claimed, abandoned []claimed, ok bool, err error) {
	if abandoned, err = q.giveUpAbandoned(ctx, tx, now); err != nil {
		return c, nil, false, err
	}
	stamp := formatTime(now)
	c.leaseUntil = now.Add(lease)
	until := formatTime(c.leaseUntil)
	only, args := "", []any{until, until, stamp, stamp}
	if id != 0 {
		only, args = " AND id = ?", append(args, id)
	}
	// One statement: the row chosen is the row updated, so two holders
	// never get the same item.
	err = tx.QueryRowContext(ctx, `UPDATE `+q.table+`
		SET state = 'running', attempts = attempts + 1, lease_until = ?, next_attempt_at = ?, updated_at = ?
		WHERE id = (SELECT id FROM `+q.table+`
			WHERE state IN ('pending', 'running') AND next_attempt_at <= ?`+only+`
			ORDER BY next_attempt_at, id LIMIT 1`+q.skipLocked+`)
		RETURNING id, attempts`, args...).Scan(&c.id, &c.attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return c, abandoned, false, nil
	}
	if err != nil {
		return c, abandoned, false, err
	}
	return c, abandoned, true, nil
}

// abandonedError is the last error of an item whose holder never answered
// on its last attempt.
func (q leasedQueue) abandonedError() string {
	return "lease expired without an answer from the " + map[string]string{"job": "executor", "outbox": "sender", "verification": "verifier"}[q.noun]
}

// giveUpAbandoned marks failed the running items whose lease ran out on
// their last allowed attempt.
func (q leasedQueue) giveUpAbandoned(ctx context.Context, tx *sql.Tx, now time.Time) ([]claimed, error) {
	stamp := formatTime(now)
	rows, err := tx.QueryContext(ctx, q.giveUpQuery(), stamp, q.abandonedError(), stamp, q.policy.MaxAttempts)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []claimed
	for rows.Next() {
		var c claimed
		if err := rows.Scan(&c.id, &c.attempts); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// giveUpQuery marks failed the running items due again after their last
// attempt. It repeats the claimable index's condition (state IN ('pending',
// 'running')): SQLite uses a partial index only for a query that names its
// condition, and without it every claim reads the whole table, done items
// included, so that claims slow down as the table grows.
func (q leasedQueue) giveUpQuery() string {
	return `UPDATE ` + q.table + `
		SET state = 'failed', lease_until = NULL, updated_at = ?, last_error = ?
		WHERE state IN ('pending', 'running') AND state = 'running' AND next_attempt_at <= ? AND attempts >= ?
		RETURNING id, attempts`
}

// failed is where an item stands after fail.
type failed struct {
	State         string // pending or failed
	Attempts      int
	NextAttemptAt time.Time // when pending
}

// fail records a failed attempt of a running item. attempt is the attempt
// the report is about (the item's attempts when it was claimed): a holder
// whose lease ran out may report after the item was handed to another, and
// its failure must not cut the other's attempt short, so a report on
// another attempt is refused with ErrState. Attempt 0 skips that check.
func (q leasedQueue) fail(ctx context.Context, tx *sql.Tx, now time.Time, id int64, attempt int, f Failure) (failed, error) {
	var (
		out   failed
		state string
	)
	if attempt < 0 {
		return out, fmt.Errorf("attempt %d is negative", attempt)
	}
	err := tx.QueryRowContext(ctx, `SELECT state, attempts FROM `+q.table+` WHERE id = ?`, id).Scan(&state, &out.Attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return out, fmt.Errorf("%s %d: %w", q.noun, id, ErrNotFound)
	}
	if err != nil {
		return out, err
	}
	switch {
	case attempt != 0 && attempt < out.Attempts:
		return out, fmt.Errorf("%s %d was handed out again (attempt %d); this report is for attempt %d: %w",
			q.noun, id, out.Attempts, attempt, ErrState)
	case attempt > out.Attempts:
		// A retried item starts counting again: this report may be older
		// than the retry, and is not about anything running.
		return out, fmt.Errorf("%s %d has had %d attempts; this report is for attempt %d: %w",
			q.noun, id, out.Attempts, attempt, ErrState)
	case state != stateRunning:
		return out, fmt.Errorf("%s %d is %s, not running: %w", q.noun, id, state, ErrState)
	}
	msg := boundError(f.Message)
	stamp := formatTime(now)
	switch {
	case f.Kind == Cancel || (f.Kind == Retry && out.Attempts >= q.policy.MaxAttempts):
		out.State = stateFailed
		_, err = tx.ExecContext(ctx, `UPDATE `+q.table+` SET state = 'failed', lease_until = NULL, last_error = ?,
			updated_at = ? WHERE id = ?`, msg, stamp, id)
	default:
		wait := q.policy.Backoff(out.Attempts)
		if f.Kind == Snooze {
			wait = f.SnoozeFor
			if wait <= 0 {
				wait = q.policy.RetryDelay
			}
			out.Attempts--
		}
		out.State, out.NextAttemptAt = statePending, now.Add(wait)
		_, err = tx.ExecContext(ctx, `UPDATE `+q.table+` SET state = 'pending', attempts = ?, lease_until = NULL,
			last_error = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?`,
			out.Attempts, msg, formatTime(out.NextAttemptAt), stamp, id)
	}
	return out, err
}

// complete records that an item succeeded, whatever its state: the word of
// the one who did the work is final. It returns the state the item was in;
// an item already in the final state is left as it is.
func (q leasedQueue) complete(ctx context.Context, tx *sql.Tx, now time.Time, id int64) (previous string, err error) {
	err = tx.QueryRowContext(ctx, `SELECT state FROM `+q.table+` WHERE id = ?`, id).Scan(&previous)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%s %d: %w", q.noun, id, ErrNotFound)
	}
	if err != nil || previous == q.finalState {
		return previous, err
	}
	stamp := formatTime(now)
	_, err = tx.ExecContext(ctx, `UPDATE `+q.table+` SET state = ?, lease_until = NULL, `+q.finishedAt+` = ?, updated_at = ?
		WHERE id = ?`, q.finalState, stamp, stamp, id)
	return previous, err
}

// retry puts a failed item back in the queue with a fresh count of
// attempts, for an operator who fixed what made it fail.
func (q leasedQueue) retry(ctx context.Context, tx *sql.Tx, now time.Time, id int64) error {
	var state string
	err := tx.QueryRowContext(ctx, `SELECT state FROM `+q.table+` WHERE id = ?`, id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %d: %w", q.noun, id, ErrNotFound)
	}
	if err != nil {
		return err
	}
	if state != stateFailed {
		return fmt.Errorf("%s %d is %s, not failed: %w", q.noun, id, state, ErrState)
	}
	stamp := formatTime(now)
	_, err = tx.ExecContext(ctx, `UPDATE `+q.table+` SET state = 'pending', attempts = 0, next_attempt_at = ?,
		updated_at = ? WHERE id = ?`, stamp, stamp, id)
	return err
}

// depth counts the items of the queue by state.
func (q leasedQueue) depth(ctx context.Context, db *sql.DB) (map[string]int, error) {
	rows, err := db.QueryContext(ctx, `SELECT state, COUNT(*) FROM `+q.table+` GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			state string
			n     int
		)
		if err := rows.Scan(&state, &n); err != nil {
			return nil, err
		}
		out[state] = n
	}
	return out, rows.Err()
}

// boundError cuts an error text to maxErrorText bytes, on a character
// boundary.
func boundError(s string) string {
	if len(s) > maxErrorText {
		return strings.ToValidUTF8(s[:maxErrorText], "")
	}
	return s
}
