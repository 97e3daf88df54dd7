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
	// OutboxSuppressed: held back by the abuse limits (too many answers
	// to that address or domain lately, or a second "not a request" the
	// same day), with the reason in last_error. Never sent.
	OutboxSuppressed = "suppressed"
)

// OutboxRow is a mail of the outbox handed to a sender by ClaimOutbox.
type OutboxRow struct {
	ID     int64
	MailID int64 // the mail it answers; 0 for operator alerts
	// RequestID is the request the mail is about (its reference number);
	// 0 for operator alerts.
	RequestID int64
	// RequestIDs are the requests of MailID, in the order they were
	// recorded (one per PDF examined, or the one not-a-request row).
	RequestIDs []int64
	Kind       string
	To         string
	Subject    string
	// Body is the text to send (text/plain, UTF-8) for rows written as
	// text; Data is the JSON the notify package renders its templates
	// from, for the others (Body then is "").
	Body     string
	Data     string
	Attempts int // times handed to a sender, this one included
	// LeaseUntil is when the row is handed out again if the sender
	// neither marks it sent nor failed.
	LeaseUntil time.Time
	CreatedAt  time.Time
	// OriginalMessageID is the Message-ID header of the mail it answers,
	// as received (angle brackets included, untrusted); "" when that mail
	// had none.
	OriginalMessageID string
}

const outboxColumns = `id, mail_id, request_id, kind, recipient, subject, body, data, attempts, lease_until, created_at`

func scanOutbox(row scanner) (OutboxRow, error) {
	var (
		o                 OutboxRow
		mailID, requestID sql.NullInt64
		lease             sql.NullString
		created           string
	)
	if err := row.Scan(&o.ID, &mailID, &requestID, &o.Kind, &o.To, &o.Subject, &o.Body, &o.Data, &o.Attempts, &lease, &created); err != nil {
		return o, err
	}
	o.MailID, o.RequestID = mailID.Int64, requestID.Int64
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
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(mail_id, 0) FROM outbox WHERE id = ?`, a.id).Scan(&mailID); err != nil {
				return err
			}
			if err := appendAudit(ctx, tx, now, ActorNotify, "outbox.failed", outboxSubject(mailID, a.id), map[string]any{
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
		if o.MailID != 0 {
			if err := tx.QueryRowContext(ctx, `SELECT message_id FROM mails WHERE id = ?`, o.MailID).Scan(&o.OriginalMessageID); err != nil {
				return fmt.Errorf("reading mail %d: %w", o.MailID, err)
			}
			if o.RequestIDs, err = mailRequests(ctx, tx, o.MailID); err != nil {
				return err
			}
		}
		out = &o
		return appendAudit(ctx, tx, now, ActorNotify, "outbox.claimed", outboxSubject(o.MailID, o.ID), map[string]any{
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
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(mail_id, 0), attempts FROM outbox WHERE id = ?`, id).Scan(&mailID, &attempts); err != nil {
			return err
		}
		return appendAudit(ctx, tx, now, ActorNotify, "outbox.sent", outboxSubject(mailID, id), map[string]any{
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
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(mail_id, 0) FROM outbox WHERE id = ?`, id).Scan(&mailID); err != nil {
			return err
		}
		action := "outbox.retry_scheduled"
		details := map[string]any{"outboxId": id, "attempt": res.Attempts, "error": boundError(reason), "permanent": permanent}
		if res.State == stateFailed {
			action = "outbox.failed"
		} else {
			details["nextAttemptAt"] = formatTime(res.NextAttemptAt)
		}
		return appendAudit(ctx, tx, now, ActorNotify, action, outboxSubject(mailID, id), details)
	})
	if err != nil {
		return fmt.Errorf("marking outbox mail %d failed: %w", id, err)
	}
	return nil
}

// OutboxStats counts the outbox's mails by state.
type OutboxStats struct {
	Pending    int // waiting, or being sent
	Sent       int
	Failed     int
	Suppressed int // held back by the abuse limits
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
		case OutboxSuppressed:
			st.Suppressed = n
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
	err := s.db.QueryRowContext(ctx, `SELECT id, COALESCE(mail_id, 0), kind, recipient, state, attempts, last_error, next_attempt_at, sent_at
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

// outboxSubject is the audit subject of outbox row id: its mail's, so
// that `revokd queue show` finds it, or the row's own for a mail that
// answers none (operator alerts).
func outboxSubject(mailID, id int64) string {
	if mailID != 0 {
		return mailSubject(mailID)
	}
	return fmt.Sprintf("outbox:%d", id)
}

// mailRequests returns the ids of mailID's requests, in recording order.
func mailRequests(ctx context.Context, tx *sql.Tx, mailID int64) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM requests WHERE mail_id = ? ORDER BY id`, mailID)
	if err != nil {
		return nil, fmt.Errorf("reading the requests of mail %d: %w", mailID, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// MarkSuppressed records that outbox mail id is held back by the abuse
// limits, with the reason, and is never to be sent. Only a mail waiting
// to be sent, or being sent, can be suppressed (ErrOutboxState
// otherwise).
func (s *Store) MarkSuppressed(ctx context.Context, id int64, reason string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			mailID int64
			state  string
		)
		err := tx.QueryRowContext(ctx, `SELECT COALESCE(mail_id, 0), state FROM outbox WHERE id = ?`, id).Scan(&mailID, &state)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("outbox %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if state != OutboxPending && state != OutboxRunning {
			return fmt.Errorf("outbox %d is %s, not waiting to be sent: %w", id, state, ErrOutboxState)
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET state = 'suppressed', lease_until = NULL, last_error = ?, updated_at = ?
			WHERE id = ?`, reason, formatTime(now), id); err != nil {
			return err
		}
		return appendAudit(ctx, tx, now, ActorNotify, "outbox.suppressed", outboxSubject(mailID, id), map[string]any{
			"outboxId": id, "reason": reason,
		})
	})
	if err != nil {
		return fmt.Errorf("suppressing outbox mail %d: %w", id, err)
	}
	return nil
}

// SentQuery selects the outbox mails sent since a time, for the abuse
// limits: to one address (case-insensitive), to one domain, or all, and
// of some kinds only (none: every kind).
type SentQuery struct {
	Since  time.Time
	To     string
	Domain string
	Kinds  []string
}

// CountSent counts the mails q selects that the relay accepted.
func (s *Store) CountSent(ctx context.Context, q SentQuery) (int, error) {
	where := []string{`state = 'sent'`, `sent_at >= ?`}
	args := []any{formatTime(q.Since)}
	if q.To != "" {
		where = append(where, `lower(recipient) = lower(?)`)
		args = append(args, q.To)
	}
	if q.Domain != "" {
		where = append(where, `lower(recipient) LIKE '%@' || lower(?) ESCAPE '\'`)
		args = append(args, escapeLike(q.Domain))
	}
	if len(q.Kinds) > 0 {
		where = append(where, `kind IN (?`+strings.Repeat(`, ?`, len(q.Kinds)-1)+`)`)
		for _, k := range q.Kinds {
			args = append(args, k)
		}
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE `+strings.Join(where, " AND "), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting the mails sent: %w", err)
	}
	return n, nil
}

// Enqueue adds mails to the outbox outside of a mail's outcome (an
// operator's decision, an alert), each with its audit row, in one
// transaction. Callers that change a request's state should rather add
// the mails in the transaction of that change (EnqueueTx).
func (s *Store) Enqueue(ctx context.Context, actor string, msgs ...OutboxMessage) ([]int64, error) {
	var ids []int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		ids, err = EnqueueTx(ctx, tx, s.now(), actor, msgs...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queueing notifications: %w", err)
	}
	return ids, nil
}

// EnqueueTx adds mails to the outbox inside tx, with an audit row each,
// so that they commit with the state change they announce.
func EnqueueTx(ctx context.Context, tx *sql.Tx, now time.Time, actor string, msgs ...OutboxMessage) ([]int64, error) {
	ids := make([]int64, 0, len(msgs))
	for _, m := range msgs {
		if m.Kind == "" || m.To == "" {
			return nil, fmt.Errorf("outbox message without kind or recipient: %w", ErrInvalidOutcome)
		}
		var id int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO outbox (mail_id, request_id, kind, recipient, subject, body, data, state,
			next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) RETURNING id`,
			nullID(m.MailID), nullID(m.RequestID), m.Kind, m.To, m.Subject, m.Body, string(m.Data),
			formatTime(now), formatTime(now), formatTime(now)).Scan(&id); err != nil {
			return nil, fmt.Errorf("queueing the %s to send: %w", m.Kind, err)
		}
		if err := appendAudit(ctx, tx, now, actor, "outbox.queued", outboxSubject(m.MailID, id), map[string]any{
			"outboxId": id, "kind": m.Kind, "requestId": m.RequestID,
		}); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// OutboxData returns the template data of outbox mail id ("" for a mail
// written as text), for tests and `revokd queue show`.
func (s *Store) OutboxData(ctx context.Context, id int64) (string, error) {
	var data string
	err := s.db.QueryRowContext(ctx, `SELECT data FROM outbox WHERE id = ?`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("outbox %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("reading outbox %d: %w", id, err)
	}
	return data, nil
}
