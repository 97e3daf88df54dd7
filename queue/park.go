package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// mailParked is the state of a mail set aside (see ParkMail).
const mailParked = "parked"

// Why a mail is parked: the reasonCode `revokd queue list` shows.
const (
	// ParkRevocationUnknown: no source could tell the signer's
	// certificate's revocation status; tried again until a day after the
	// mail was received, then refused as try_later.
	ParkRevocationUnknown = "revocation_unknown"
	// ParkKeyConflict: the server presents a mailbox, UIDVALIDITY and UID
	// already archived with other bytes. The archived bytes are the
	// evidence; the mail stays in the mailbox for an operator.
	ParkKeyConflict = "key_conflict"
)

// ParkMail records that the mail with key is set aside, with a code, a
// sentence for the operator and when it is tried again: a retryable
// condition that is the mail's own (River's snooze), not a failure of the
// store or the server. The mail stays in the mailbox; an outcome recorded
// later ends the parking. Parking a mail already handled, or unknown,
// changes nothing. The audit log records the mail entering the state (or
// changing its code), not every retry.
func (s *Store) ParkMail(ctx context.Context, key MailKey, code, reason string, until time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			id          int64
			state, prev string
		)
		err := tx.QueryRowContext(ctx, `SELECT id, state, parked_code FROM mails WHERE mailbox = ? AND uidvalidity = ? AND uid = ?`,
			key.Mailbox, key.UIDValidity, key.UID).Scan(&id, &state, &prev)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && state == mailHandled) {
			return nil
		}
		if err != nil {
			return err
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, `UPDATE mails SET state = 'parked', parked_code = ?, parked_reason = ?, parked_until = ?
			WHERE id = ?`, code, boundError(reason), formatTime(until), id); err != nil {
			return err
		}
		if err := snoozeVerification(ctx, tx, id, now, until); err != nil {
			return err
		}
		// A mail presented again is received while it is verified again
		// (ArchiveMail): parked again with the same code, it is a retry.
		if prev == code {
			return nil
		}
		return appendAudit(ctx, tx, now, ActorWorker, "mail.parked", mailSubject(id), map[string]any{
			"code": code, "reason": boundError(reason), "until": formatTime(until),
		})
	})
	if err != nil {
		return fmt.Errorf("parking mail %s: %w", key, err)
	}
	return nil
}

// parkedSummaries are the rows `queue list` shows for parked mails: no
// request yet (id 0), the mail's id, the code as reasonCode, the sentence
// as reason, and when it is tried again as note.
const parkedSummaries = `SELECT 0, 'parked', m.parked_code, '', m.message_id, m.received_at, m.parked_reason, '',
	0, 0, m.id, m.sender, '', '', '', '', NULL, '', 0, '',
	'tried again after ' || COALESCE(m.parked_until, ''), m.created_at, m.created_at
	FROM mails m WHERE m.state = 'parked'`
