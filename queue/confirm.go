package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/revokd/revokd/revocation"
)

// KindRevocationDone is the outbox kind of the confirmation that a
// certificate was revoked. Its data is the JSON of revocationDone, which
// the notify package reads as its Message: both sides are tested
// together.
const KindRevocationDone = "revocation_done"

// revocationDone is the data of a revocation-done confirmation.
type revocationDone struct {
	Kind       string `json:"kind"`
	Revocation struct {
		JobID    int64             `json:"jobId"`
		Serial   string            `json:"serial"`
		IssuerDN string            `json:"issuerDN"`
		Reason   revocation.Reason `json:"reason"`
		DoneAt   time.Time         `json:"doneAt"`
	} `json:"revocation"`
	ToHolder bool `json:"toHolder,omitempty"`
}

// queueRevocationDone adds to the outbox, in the transaction that marks
// job j done, the confirmation of the revocation: to the sender of each
// request the job executes (once per address, and only to senders who
// were answered at all, which leaves out automatic mail), and to the
// holder's e-mail in the registry when it is none of those. Being in the
// same transaction as the done mark, it is queued once per job whatever
// crashes: a second `queue done` finds the job done and queues nothing.
func queueRevocationDone(ctx context.Context, tx *sql.Tx, now time.Time, j Job, requestIDs []int64, actor string) error {
	var d revocationDone
	d.Kind = KindRevocationDone
	d.Revocation.JobID, d.Revocation.Serial, d.Revocation.IssuerDN = j.ID, j.Serial, j.IssuerDN
	d.Revocation.Reason, d.Revocation.DoneAt = j.Reason, now.UTC()
	if j.NoReasonCode {
		d.Revocation.Reason = revocation.Unspecified
	}

	type recipient struct {
		to              string
		mailID, request int64
		holder          bool
	}
	var out []recipient
	seen := map[string]bool{}
	for _, id := range requestIDs {
		var (
			mailID   int64
			sender   string
			answered bool
		)
		err := tx.QueryRowContext(ctx, `SELECT m.id, m.sender, EXISTS (SELECT 1 FROM outbox o WHERE o.mail_id = m.id AND o.kind = 'acknowledgement')
			FROM requests r JOIN mails m ON m.id = r.mail_id WHERE r.id = ?`, id).Scan(&mailID, &sender, &answered)
		if err != nil {
			return fmt.Errorf("reading the sender of request %d: %w", id, err)
		}
		key := strings.ToLower(strings.TrimSpace(sender))
		if !answered || key == "" || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, recipient{to: sender, mailID: mailID, request: id})
	}
	var holder string
	err := tx.QueryRowContext(ctx, `SELECT email FROM certificates WHERE issuer_dn = ? AND serial = ?`, j.IssuerDN, j.Serial).Scan(&holder)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("reading the holder's e-mail: %w", err)
	}
	if key := strings.ToLower(strings.TrimSpace(holder)); key != "" && !seen[key] {
		var mailID int64
		if err := tx.QueryRowContext(ctx, `SELECT mail_id FROM requests WHERE id = ?`, j.RequestID).Scan(&mailID); err != nil {
			return fmt.Errorf("reading request %d: %w", j.RequestID, err)
		}
		out = append(out, recipient{to: holder, mailID: mailID, request: j.RequestID, holder: true})
	}
	for _, r := range out {
		d.ToHolder = r.holder
		data, err := json.Marshal(d)
		if err != nil {
			return err
		}
		if _, err := EnqueueTx(ctx, tx, now, actor, OutboxMessage{Kind: KindRevocationDone, To: r.to, Data: data,
			MailID: r.mailID, RequestID: r.request}); err != nil {
			return err
		}
	}
	return nil
}
