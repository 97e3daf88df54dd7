package queue

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// The states of a verification: those of a leased queue, done when its
// outcome is recorded.
const (
	VerificationPending = statePending
	VerificationRunning = stateRunning
	VerificationDone    = "done"
	VerificationFailed  = stateFailed
)

// VerificationStates are the states a verification goes through.
var VerificationStates = []string{VerificationPending, VerificationRunning, VerificationDone, VerificationFailed}

// Default retry policy of verifications. A verification fails only when
// the store or the registry cannot be read (a bad form is an outcome, not
// a failure) or when its verifier dies holding it: three attempts, a few
// seconds apart, ride out a database failover; a mail that kills its
// verifier three times is parked for an operator.
var DefaultVerificationRetry = RetryPolicy{MaxAttempts: 3, RetryDelay: 5 * time.Second, MaxRetryDelay: time.Minute}

// ParkVerificationFailed: the mail's verification failed on every attempt
// (its verifier died holding it, or the store kept failing). It is tried
// again when the mailbox presents it again.
const ParkVerificationFailed = "verification_failed"

// ArchivedMail is an archived mail handed to a verifier: what deciding it
// needs, read back from the store, so that any worker sharing the store
// can decide a mail another worker fetched.
type ArchivedMail struct {
	ID         int64
	Key        MailKey
	Raw        []byte
	Size       int64
	ReceivedAt time.Time
	// Attempt is the verification's attempt number, for FailVerification.
	Attempt int
	// LeaseUntil is when another verifier may take the mail over.
	LeaseUntil time.Time
}

// ClaimVerification hands out the next archived mail due for
// verification, under a lease, or the mail mailID only when it is not 0.
// ok is false when none is due. The outcome is then recorded with
// RecordOutcome (which ends the verification), the mail set aside with
// ParkMail (which snoozes it), or the attempt reported with
// FailVerification.
func (s *Store) ClaimVerification(ctx context.Context, lease time.Duration, mailID int64) (m ArchivedMail, ok bool, err error) {
	// Idle verifiers of every worker ask several times a second: a read
	// answers them without taking the write lock.
	var due int
	err = s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT id FROM verifications
		WHERE state IN ('pending', 'running') AND next_attempt_at <= ? LIMIT 1) d`, formatTime(s.now())).Scan(&due)
	if err != nil {
		return ArchivedMail{}, false, fmt.Errorf("looking for a mail to verify: %w", err)
	}
	if due == 0 {
		return ArchivedMail{}, false, nil
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		c, abandoned, found, err := s.verifications.claimOnly(ctx, tx, now, lease, mailID)
		if err != nil {
			return err
		}
		for _, a := range abandoned {
			if err := appendAudit(ctx, tx, now, ActorWorker, "mail.verification_failed", mailSubject(a.id), map[string]any{
				"attempts": a.attempts, "error": s.verifications.abandonedError(),
			}); err != nil {
				return err
			}
		}
		if !found {
			return nil
		}
		var received string
		m = ArchivedMail{ID: c.id, Attempt: c.attempts, LeaseUntil: c.leaseUntil}
		err = tx.QueryRowContext(ctx, `SELECT m.mailbox, m.uidvalidity, m.uid, m.size, m.received_at, e.bytes
			FROM mails m JOIN evidence e ON e.sha256 = m.raw_sha256 WHERE m.id = ?`, c.id).Scan(
			&m.Key.Mailbox, &m.Key.UIDValidity, &m.Key.UID, &m.Size, &received, &m.Raw)
		if err != nil {
			return fmt.Errorf("reading archived mail %d: %w", c.id, err)
		}
		if m.ReceivedAt, err = parseTime(received); err != nil {
			return fmt.Errorf("reading archived mail %d: %w", c.id, err)
		}
		ok = true
		return nil
	})
	if err != nil {
		return ArchivedMail{}, false, fmt.Errorf("claiming a mail to verify: %w", err)
	}
	return m, ok, nil
}

// FailVerification records a failed attempt at verifying mail id (see
// leasedQueue.fail for attempt); a verification that gives up is audited.
func (s *Store) FailVerification(ctx context.Context, id int64, attempt int, f Failure) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		out, err := s.verifications.fail(ctx, tx, now, id, attempt, f)
		if err != nil || out.State != stateFailed {
			return err
		}
		return appendAudit(ctx, tx, now, ActorWorker, "mail.verification_failed", mailSubject(id), map[string]any{
			"attempts": out.Attempts, "error": boundError(f.Message),
		})
	})
	if err != nil {
		return fmt.Errorf("recording the failed verification of mail %d: %w", id, err)
	}
	return nil
}

// RenewVerification extends the lease on the verification of mail id, if
// attempt is still the one running.
func (s *Store) RenewVerification(ctx context.Context, id int64, attempt int, lease time.Duration) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		until := formatTime(now.Add(lease))
		_, err := tx.ExecContext(ctx, `UPDATE verifications SET lease_until = ?, next_attempt_at = ?, updated_at = ?
			WHERE id = ? AND state = 'running' AND attempts = ?`, until, until, formatTime(now), id, attempt)
		return err
	})
	if err != nil {
		return fmt.Errorf("renewing the verification of mail %d: %w", id, err)
	}
	return nil
}

// MailProgress is where an archived mail stands.
type MailProgress struct {
	// State is received, parked or handled.
	State string
	// Disposition is set once the mail is handled.
	Disposition Disposition
	// Verification is the state of its verification (pending, running,
	// done, failed), "" for a mail that has none; LastError says why its
	// last attempt failed.
	Verification, LastError string
}

// Handled and Parked tell a mail's state.
func (p MailProgress) Handled() bool { return p.State == mailHandled }
func (p MailProgress) Parked() bool  { return p.State == mailParked }

// Progress reports where the archived mail id stands.
func (s *Store) Progress(ctx context.Context, id int64) (MailProgress, error) {
	ps, err := s.Progresses(ctx, []int64{id})
	if err != nil {
		return MailProgress{}, err
	}
	p, ok := ps[id]
	if !ok {
		return p, fmt.Errorf("mail %d: %w", id, ErrNotFound)
	}
	return p, nil
}

// Progresses reports where the archived mails ids stand, in one query; an
// unknown id is left out.
func (s *Store) Progresses(ctx context.Context, ids []int64) (map[int64]MailProgress, error) {
	out := make(map[int64]MailProgress, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.db.QueryContext(ctx, `SELECT m.id, m.state, m.disposition, COALESCE(v.state, ''), COALESCE(v.last_error, '')
		FROM mails m LEFT JOIN verifications v ON v.id = m.id WHERE m.id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the progress of %d mails: %w", len(ids), err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id   int64
			p    MailProgress
			disp string
		)
		if err := rows.Scan(&id, &p.State, &disp, &p.Verification, &p.LastError); err != nil {
			return nil, fmt.Errorf("reading the progress of %d mails: %w", len(ids), err)
		}
		p.Disposition = Disposition(disp)
		out[id] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the progress of %d mails: %w", len(ids), err)
	}
	return out, nil
}

// Settled reports whether the mail needs no more waiting by the mailbox
// reader: handled, parked, given up, or back in the queue after a failed
// attempt (the reader reports that failure).
func (p MailProgress) Settled() bool {
	return p.Handled() || p.Parked() || p.Verification == stateFailed ||
		(p.Verification == statePending && p.LastError != "")
}

// enqueueVerification (in the caller's transaction) makes the archived
// mail id due for verification now: a new one, or one presented again by
// the mailbox while not handled. A verification another worker is running
// is left to it; a snoozed or failed one is due again at once, with a
// fresh count of attempts.
func enqueueVerification(ctx context.Context, tx *sql.Tx, id int64, now time.Time) error {
	stamp := formatTime(now)
	_, err := tx.ExecContext(ctx, `INSERT INTO verifications (id, state, next_attempt_at, created_at, updated_at)
		VALUES (?, 'pending', ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET state = 'pending', attempts = 0, next_attempt_at = excluded.next_attempt_at,
			lease_until = NULL, last_error = '', updated_at = excluded.updated_at
		WHERE verifications.state IN ('pending', 'failed')`, id, stamp, stamp, stamp)
	if err != nil {
		return fmt.Errorf("queueing mail %d for verification: %w", id, err)
	}
	return nil
}

// endVerification (in the caller's transaction) marks the verification of
// mail id done, if it has one.
func endVerification(ctx context.Context, tx *sql.Tx, id int64, now time.Time) error {
	stamp := formatTime(now)
	_, err := tx.ExecContext(ctx, `UPDATE verifications SET state = 'done', lease_until = NULL, done_at = ?, updated_at = ?
		WHERE id = ? AND state <> 'done'`, stamp, stamp, id)
	return err
}

// snoozeVerification (in the caller's transaction) puts the verification
// of mail id back in the queue until until, without counting the attempt:
// the mail is parked for a condition of its own, not failing.
func snoozeVerification(ctx context.Context, tx *sql.Tx, id int64, now, until time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE verifications SET state = 'pending', lease_until = NULL, next_attempt_at = ?, updated_at = ?,
		attempts = CASE WHEN state = 'running' AND attempts > 0 THEN attempts - 1 ELSE attempts END
		WHERE id = ? AND state IN ('pending', 'running')`, formatTime(until), formatTime(now), id)
	return err
}
