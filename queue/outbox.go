package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ActorNotify is the audit actor of the outbox's sender.
const ActorNotify = "notify"

// The outbox's retry schedule. The relay is the desk's own submission
// server: when it is down, every mail waits for it, and an operator needs
// to see the failures well within the working day.
const (
	// OutboxMaxAttempts is how many times a mail is handed to a sender
	// before a temporary failure marks it failed for good. With the
	// delays below, twelve attempts span about six hours: a relay down
	// for a morning loses nothing.
	OutboxMaxAttempts = 12
	// OutboxRetryDelay is the wait after a mail's first temporary
	// failure, doubled after each further one.
	OutboxRetryDelay = time.Minute
	// OutboxMaxRetryDelay caps that wait.
	OutboxMaxRetryDelay = time.Hour
)

// ErrOutboxState is wrapped by the errors of outbox operations refused
// because of the row's state (failing a mail that was already sent or
// failed).
var ErrOutboxState = errors.New("outbox row is not in a state that allows this")

// The states of an outbox row.
const (
	// OutboxPending: waiting to be sent (again, after a temporary
	// failure, once its next attempt is due); while a sender holds it,
	// LeaseUntil is set and the row is handed out again after that.
	OutboxPending = "pending"
	// OutboxSent: the relay accepted the mail.
	OutboxSent = "sent"
	// OutboxFailed: refused for good (an address the relay rejects, an
	// address revokd will not write to), or every attempt failed. An
	// operator sees it in `revokd queue show`.
	OutboxFailed = "failed"
)

// OutboxRow is a mail of the outbox handed to a sender by ClaimOutbox.
type OutboxRow struct {
	ID       int64
	MailID   int64 // the mail it answers
	Kind     string
	To       string
	Subject  string
	Body     string // text/plain, UTF-8
	Attempts int    // times handed to a sender, this one included
	// LeaseUntil is when the row is handed out again if the sender
	// neither marks it sent nor failed.
	LeaseUntil time.Time
	CreatedAt  time.Time
	// OriginalMessageID is the Message-ID header of the mail it answers,
	// as received (angle brackets included, untrusted); "" when that mail
	// had none.
	OriginalMessageID string
}

const outboxColumns = `id, mail_id, kind, recipient, subject, body, attempts, lease_until, created_at`

func scanOutbox(row scanner) (OutboxRow, error) {
	var (
		o       OutboxRow
		lease   sql.NullString
		created string
	)
	if err := row.Scan(&o.ID, &o.MailID, &o.Kind, &o.To, &o.Subject, &o.Body, &o.Attempts, &lease, &created); err != nil {
		return o, err
	}
	var err error
	if o.LeaseUntil, err = parseNullTime(lease); err != nil {
		return o, fmt.Errorf("outbox %d: %w", o.ID, err)
	}
	if o.CreatedAt, err = parseTime(created); err != nil {
		return o, fmt.Errorf("outbox %d: %w", o.ID, err)
	}
	return o, nil
}

// ClaimOutbox hands the next mail due to a sender for lease: a pending
// mail whose next attempt is due, or one whose previous sender's lease
// expired (it died before saying how the delivery went). It returns nil
// when none is due. Two senders never get the same mail while its lease
// lasts. A mail whose lease expired on its last allowed attempt is marked
// failed instead.
//
// Delivery is at least once: a sender that dies after the relay accepted
// a mail and before MarkSent leaves it to be sent again when the lease
// expires.
func (s *Store) ClaimOutbox(ctx context.Context, lease time.Duration) (*OutboxRow, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("claiming an outbox mail: lease %v must be positive", lease)
	}
	var out *OutboxRow
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		stamp := formatTime(now)
		if err := failAbandonedOutbox(ctx, tx, now); err != nil {
			return err
		}
		until := formatTime(now.Add(lease))
		// One statement: the row chosen is the row updated. A claimed row
		// stays pending with its next attempt at the end of the lease, so
		// that it is due again, and found by the same index, if its sender
		// dies.
		o, err := scanOutbox(tx.QueryRowContext(ctx, `UPDATE outbox
			SET attempts = attempts + 1, lease_until = ?, next_attempt_at = ?
			WHERE id = (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?
				ORDER BY next_attempt_at, id LIMIT 1)
			RETURNING `+outboxColumns, until, until, stamp))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT message_id FROM mails WHERE id = ?`, o.MailID).Scan(&o.OriginalMessageID); err != nil {
			return fmt.Errorf("reading mail %d: %w", o.MailID, err)
		}
		out = &o
		return appendAudit(ctx, tx, now, ActorNotify, "outbox.claimed", mailSubject(o.MailID), map[string]any{
			"outboxId": o.ID, "kind": o.Kind, "attempt": o.Attempts, "leaseUntil": until,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("claiming an outbox mail: %w", err)
	}
	return out, nil
}

// abandonedOutboxError is the last_error of a mail whose sender never
// answered on its last attempt.
const abandonedOutboxError = "lease expired without an answer from the sender"

// failAbandonedOutbox marks failed the claimed mails whose lease expired
// on their last allowed attempt, so that a mail that crashes its sender
// is not handed out for ever.
func failAbandonedOutbox(ctx context.Context, tx *sql.Tx, now time.Time) error {
	stamp := formatTime(now)
	rows, err := tx.QueryContext(ctx, `UPDATE outbox
		SET state = 'failed', lease_until = NULL, last_error = ?
		WHERE state = 'pending' AND next_attempt_at <= ? AND lease_until IS NOT NULL AND attempts >= ?
		RETURNING id, mail_id, attempts`, abandonedOutboxError, stamp, OutboxMaxAttempts)
	if err != nil {
		return err
	}
	type abandoned struct {
		id, mailID int64
		attempts   int
	}
	var failed []abandoned
	for rows.Next() {
		var a abandoned
		if err := rows.Scan(&a.id, &a.mailID, &a.attempts); err != nil {
			rows.Close()
			return err
		}
		failed = append(failed, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, a := range failed {
		if err := appendAudit(ctx, tx, now, ActorNotify, "outbox.failed", mailSubject(a.mailID), map[string]any{
			"outboxId": a.id, "attempts": a.attempts, "error": abandonedOutboxError, "permanent": false,
		}); err != nil {
			return err
		}
	}
	return nil
}

// MarkSent records that the relay accepted outbox mail id. Marking a
// mail already sent changes nothing (two senders may both have sent it
// when a lease expired mid-delivery); marking a failed one sent records
// the truth.
func (s *Store) MarkSent(ctx context.Context, id int64) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			mailID   int64
			state    string
			attempts int
		)
		err := tx.QueryRowContext(ctx, `SELECT mail_id, state, attempts FROM outbox WHERE id = ?`, id).Scan(&mailID, &state, &attempts)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("outbox %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if state == OutboxSent {
			return nil
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET state = 'sent', lease_until = NULL, sent_at = ? WHERE id = ?`,
			formatTime(now), id); err != nil {
			return err
		}
		return appendAudit(ctx, tx, now, ActorNotify, "outbox.sent", mailSubject(mailID), map[string]any{
			"outboxId": id, "attempts": attempts, "previousState": state,
		})
	})
	if err != nil {
		return fmt.Errorf("marking outbox mail %d sent: %w", id, err)
	}
	return nil
}

// MarkFailed records that outbox mail id could not be delivered, with the
// reason. A permanent failure (the relay refused the recipient or the
// message for good, or the address is one revokd will not write to) marks
// it failed at once. A temporary one hands it out again after
// OutboxRetryDelay, doubled with each attempt up to OutboxMaxRetryDelay,
// or marks it failed once it has had OutboxMaxAttempts attempts. Only a
// pending mail can fail: failing one already sent or failed returns an
// error wrapping ErrOutboxState and changes nothing.
func (s *Store) MarkFailed(ctx context.Context, id int64, reason string, permanent bool) error {
	if len(reason) > maxErrorText {
		reason = strings.ToValidUTF8(reason[:maxErrorText], "")
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			mailID   int64
			state    string
			attempts int
		)
		err := tx.QueryRowContext(ctx, `SELECT mail_id, state, attempts FROM outbox WHERE id = ?`, id).Scan(&mailID, &state, &attempts)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("outbox %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if state != OutboxPending {
			return fmt.Errorf("outbox %d is %s, not pending: %w", id, state, ErrOutboxState)
		}
		now := s.now()
		action := "outbox.retry_scheduled"
		details := map[string]any{"outboxId": id, "attempt": attempts, "error": reason, "permanent": permanent}
		if permanent || attempts >= OutboxMaxAttempts {
			action = "outbox.failed"
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET state = 'failed', lease_until = NULL, last_error = ? WHERE id = ?`,
				reason, id)
		} else {
			next := formatTime(now.Add(outboxBackoff(attempts)))
			details["nextAttemptAt"] = next
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET lease_until = NULL, last_error = ?, next_attempt_at = ? WHERE id = ?`,
				reason, next, id)
		}
		if err != nil {
			return err
		}
		return appendAudit(ctx, tx, now, ActorNotify, action, mailSubject(mailID), details)
	})
	if err != nil {
		return fmt.Errorf("marking outbox mail %d failed: %w", id, err)
	}
	return nil
}

// outboxBackoff is the wait after the attempts-th temporary failure.
func outboxBackoff(attempts int) time.Duration {
	d := OutboxRetryDelay
	for i := 1; i < attempts && d < OutboxMaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, OutboxMaxRetryDelay)
}

// OutboxStats counts the outbox's mails by state.
type OutboxStats struct {
	Pending int // waiting, or being sent
	Sent    int
	Failed  int
}

// OutboxStats counts the outbox's mails by state, for metrics and for
// waiting until the outbox is drained.
func (s *Store) OutboxStats(ctx context.Context) (OutboxStats, error) {
	var st OutboxStats
	rows, err := s.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM outbox GROUP BY state`)
	if err != nil {
		return st, fmt.Errorf("counting the outbox: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			state string
			n     int
		)
		if err := rows.Scan(&state, &n); err != nil {
			return st, fmt.Errorf("counting the outbox: %w", err)
		}
		switch state {
		case OutboxPending:
			st.Pending = n
		case OutboxSent:
			st.Sent = n
		case OutboxFailed:
			st.Failed = n
		default:
			return st, fmt.Errorf("counting the outbox: unknown state %q", state)
		}
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("counting the outbox: %w", err)
	}
	return st, nil
}

// OutboxStatus is where one outbox mail stands.
type OutboxStatus struct {
	ID        int64
	MailID    int64
	Kind      string
	To        string
	State     string // OutboxPending, OutboxSent or OutboxFailed
	Attempts  int
	LastError string // the last failure's reason, kept after a later success
	// NextAttemptAt is when a pending mail is due (for a claimed one: the
	// end of its lease).
	NextAttemptAt time.Time
	SentAt        time.Time // zero until sent
}

// Outbox returns where outbox mail id stands, or ErrNotFound.
func (s *Store) Outbox(ctx context.Context, id int64) (OutboxStatus, error) {
	var (
		o    OutboxStatus
		next string
		sent sql.NullString
	)
	err := s.db.QueryRowContext(ctx, `SELECT id, mail_id, kind, recipient, state, attempts, last_error, next_attempt_at, sent_at
		FROM outbox WHERE id = ?`, id).Scan(&o.ID, &o.MailID, &o.Kind, &o.To, &o.State, &o.Attempts, &o.LastError, &next, &sent)
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("outbox %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return o, fmt.Errorf("reading outbox %d: %w", id, err)
	}
	if o.NextAttemptAt, err = parseTime(next); err != nil {
		return o, fmt.Errorf("outbox %d: %w", id, err)
	}
	if o.SentAt, err = parseNullTime(sent); err != nil {
		return o, fmt.Errorf("outbox %d: %w", id, err)
	}
	return o, nil
}
