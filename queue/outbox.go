package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
var ErrOutboxState = ErrState

// The states of an outbox row.
const (
	// OutboxPending: waiting to be sent (again, after a temporary
	// failure, once its next attempt is due).
	OutboxPending = "pending"
	// OutboxRunning: a sender holds it until its lease ends; it is handed
	// out again after that.
	OutboxRunning = "running"
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
// lasts. A mail whose lease expired on its last allowed attempt
// (Options.Outbox.MaxAttempts) is marked failed instead.
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
		c, abandoned, ok, err := s.outbox.claim(ctx, tx, now, lease)
		if err != nil {
			return err
		}
		for _, a := range abandoned {
			var mailID int64
			if err := tx.QueryRowContext(ctx, `SELECT mail_id FROM outbox WHERE id = ?`, a.id).Scan(&mailID); err != nil {
				return err
			}
			if err := appendAudit(ctx, tx, now, ActorNotify, "outbox.failed", mailSubject(mailID), map[string]any{
				"outboxId": a.id, "attempts": a.attempts, "error": s.outbox.abandonedError(), "permanent": false,
			}); err != nil {
				return err
			}
		}
		if !ok {
			return nil
		}
		o, err := scanOutbox(tx.QueryRowContext(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE id = ?`, c.id))
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT message_id FROM mails WHERE id = ?`, o.MailID).Scan(&o.OriginalMessageID); err != nil {
			return fmt.Errorf("reading mail %d: %w", o.MailID, err)
		}
		out = &o
		return appendAudit(ctx, tx, now, ActorNotify, "outbox.claimed", mailSubject(o.MailID), map[string]any{
			"outboxId": o.ID, "kind": o.Kind, "attempt": o.Attempts, "leaseUntil": formatTime(c.leaseUntil),
		})
	})
	if err != nil {
		return nil, fmt.Errorf("claiming an outbox mail: %w", err)
	}
	return out, nil
}

// MarkSent records that the relay accepted outbox mail id. Marking a
// mail already sent changes nothing (two senders may both have sent it
// when a lease expired mid-delivery); marking a failed one sent records
// the truth.
func (s *Store) MarkSent(ctx context.Context, id int64) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		previous, err := s.outbox.complete(ctx, tx, now, id)
		if err != nil || previous == OutboxSent {
			return err
		}
		var (
			mailID   int64
			attempts int
		)
		if err := tx.QueryRowContext(ctx, `SELECT mail_id, attempts FROM outbox WHERE id = ?`, id).Scan(&mailID, &attempts); err != nil {
			return err
		}
		return appendAudit(ctx, tx, now, ActorNotify, "outbox.sent", mailSubject(mailID), map[string]any{
			"outboxId": id, "attempts": attempts, "previousState": previous,
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
// it failed at once. A temporary one hands it out again after the outbox
// policy's delay (Options.Outbox), doubled with each attempt, or marks it
// failed once it has had Options.Outbox.MaxAttempts attempts. Only a mail
// being sent (claimed) can fail: failing one already sent or failed
// returns an error wrapping ErrOutboxState and changes nothing.
func (s *Store) MarkFailed(ctx context.Context, id int64, reason string, permanent bool) error {
	f := Failure{Kind: Retry, Message: reason}
	if permanent {
		f.Kind = Cancel
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		res, err := s.outbox.fail(ctx, tx, now, id, 0, f)
		if err != nil {
			return err
		}
		var mailID int64
		if err := tx.QueryRowContext(ctx, `SELECT mail_id FROM outbox WHERE id = ?`, id).Scan(&mailID); err != nil {
			return err
		}
		action := "outbox.retry_scheduled"
		details := map[string]any{"outboxId": id, "attempt": res.Attempts, "error": boundError(reason), "permanent": permanent}
		if res.State == stateFailed {
			action = "outbox.failed"
		} else {
			details["nextAttemptAt"] = formatTime(res.NextAttemptAt)
		}
		return appendAudit(ctx, tx, now, ActorNotify, action, mailSubject(mailID), details)
	})
	if err != nil {
		return fmt.Errorf("marking outbox mail %d failed: %w", id, err)
	}
	return nil
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
		case OutboxPending, OutboxRunning:
			st.Pending += n
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
	State     string // OutboxPending, OutboxRunning, OutboxSent or OutboxFailed
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
