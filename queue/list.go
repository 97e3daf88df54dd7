package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/revocation"
)

// RequestSummary is one line of `revokd queue list`. Its JSON is a
// contract with scripts outside revokd: id, state, reasonCode ("" when
// accepted), serial (lower-case hex, "" when unknown), messageId and
// receivedAt (RFC 3339) are always there; the other fields are extras.
type RequestSummary struct {
	ID         int64            `json:"id"`
	State      revocation.State `json:"state"`
	ReasonCode authorize.Code   `json:"reasonCode"`
	Serial     string           `json:"serial"`
	MessageID  string           `json:"messageId"`
	ReceivedAt time.Time        `json:"receivedAt"`

	// Reason is the English sentence for the operator (for a mail that is
	// not a request: why not).
	Reason   string `json:"reason"`
	IssuerDN string `json:"issuerDN"`
	// RevocationReason is the RFC 5280 name of the reason to revoke, for
	// requests that were accepted; "" otherwise.
	RevocationReason string `json:"revocationReason"`
	NoReasonCode     bool   `json:"noReasonCode"`
	MailID           int64  `json:"mailId"`
	Sender           string `json:"sender"`
	Signer           string `json:"signer"`
	SignerSerial     string `json:"signerSerial"`
	Role             string `json:"role"`
	AttachmentName   string `json:"attachmentName"`
	// JobID is the revocation job that covers the certificate: the
	// request's own, or the one it found in the ledger. Nil when none.
	JobID *int64 `json:"jobId"`
	// JobState, Attempts and LastError describe that job ("", 0, "" when
	// none).
	JobState  JobState  `json:"jobState"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError"`
	Note      string    `json:"note"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// ListOptions select the requests ListRequests returns. The zero value
// lists every request, mails that were not requests excepted.
type ListOptions struct {
	// All includes the mails that were not requests (one row each, state
	// not_a_request), and the mails parked for a retry (state parked, id
	// 0: no request yet).
	All bool
	// State, when set, keeps only the requests in that state.
	State revocation.State
	// Limit, when positive, keeps only that many, the newest.
	Limit int
}

const summaryColumns = `r.id, r.state, r.reason_code, r.serial, m.message_id, m.received_at, r.reason, r.issuer_dn,
	r.revocation_reason, r.no_reason_code, m.id, m.sender, r.signer_subject, r.signer_serial, r.role,
	r.attachment_name, r.job_id, COALESCE(j.state, ''), COALESCE(j.attempts, 0), COALESCE(j.last_error, ''),
	r.note, r.created_at, r.updated_at`

const summaryFrom = ` FROM requests r JOIN mails m ON m.id = r.mail_id LEFT JOIN revocation_jobs j ON j.id = r.job_id`

func scanSummary(row scanner) (RequestSummary, error) {
	var (
		r                          RequestSummary
		state, jobState            string
		received, created, updated string
		reason                     int
		jobID                      sql.NullInt64
	)
	if err := row.Scan(&r.ID, &state, &r.ReasonCode, &r.Serial, &r.MessageID, &received, &r.Reason, &r.IssuerDN,
		&reason, &r.NoReasonCode, &r.MailID, &r.Sender, &r.Signer, &r.SignerSerial, &r.Role,
		&r.AttachmentName, &jobID, &jobState, &r.Attempts, &r.LastError, &r.Note, &created, &updated); err != nil {
		return r, err
	}
	r.State, r.JobState = revocation.State(state), JobState(jobState)
	if jobID.Valid {
		r.JobID = &jobID.Int64
	}
	switch r.State {
	case revocation.StateAccepted, revocation.StateQueued, revocation.StateExecuted, revocation.StateOverridden:
		r.RevocationReason = revocation.Reason(reason).String()
	}
	var err error
	if r.ReceivedAt, err = parseTime(received); err != nil {
		return r, fmt.Errorf("request %d: %w", r.ID, err)
	}
	if r.CreatedAt, err = parseTime(created); err != nil {
		return r, fmt.Errorf("request %d: %w", r.ID, err)
	}
	if r.UpdatedAt, err = parseTime(updated); err != nil {
		return r, fmt.Errorf("request %d: %w", r.ID, err)
	}
	return r, nil
}

// ListRequests returns requests, newest mail first.
func (s *Store) ListRequests(ctx context.Context, o ListOptions) ([]RequestSummary, error) {
	// No limit is the largest one, which both databases take (PostgreSQL
	// refuses SQLite's -1).
	limit := math.MaxInt64
	if o.Limit > 0 {
		limit = o.Limit
	}
	// Parked mails have no request row yet: they come from the mails
	// table, with --all or --state parked.
	parked := o.All || o.State == revocation.StateParked
	rows, err := s.db.QueryContext(ctx, `SELECT * FROM (SELECT `+summaryColumns+summaryFrom+`
		WHERE (? = 1 OR r.state <> 'not_a_request') AND (? = '' OR r.state = ?)
		UNION ALL `+parkedSummaries+` AND ? = 1) AS listed
		ORDER BY 6 DESC, 1 DESC LIMIT ?`, o.All || o.State == revocation.StateNotARequest,
		string(o.State), string(o.State), parked, limit)
	if err != nil {
		return nil, fmt.Errorf("listing requests: %w", err)
	}
	defer rows.Close()
	out := []RequestSummary{}
	for rows.Next() {
		r, err := scanSummary(rows)
		if err != nil {
			return nil, fmt.Errorf("listing requests: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing requests: %w", err)
	}
	return out, nil
}

// MailRecord is a mail as archived.
type MailRecord struct {
	ID          int64       `json:"id"`
	Mailbox     string      `json:"mailbox"`
	UIDValidity uint32      `json:"uidValidity"`
	UID         uint32      `json:"uid"`
	MessageID   string      `json:"messageId"`
	RawSHA256   string      `json:"rawSha256"`
	Size        int64       `json:"size"`
	OverCap     bool        `json:"overCap"`
	Sender      string      `json:"sender"`
	ReceivedAt  time.Time   `json:"receivedAt"`
	State       string      `json:"state"` // received | handled
	Disposition Disposition `json:"disposition"`
	NotARequest string      `json:"notARequest"`
	HandledAt   *time.Time  `json:"handledAt,omitempty"`
	// Evidence is the mail's ingest.Evidence as stored (JSON): the S/MIME
	// layers with their signer, the DKIM results, the
	// Authentication-Results fields, a From read leniently, the parts not
	// opened. Shown to operators; never a reason to accept. Nil when none.
	Evidence json.RawMessage `json:"evidence,omitempty"`
}

// ReportSummary is what `revokd queue show` repeats of the verification
// report: the verdict and who signed.
type ReportSummary struct {
	Indication    string             `json:"indication"`
	SubIndication string             `json:"subIndication"`
	Signatures    []SignatureSummary `json:"signatures"`
}

// SignatureSummary is one signature of a ReportSummary.
type SignatureSummary struct {
	Indication    string `json:"indication"`
	SubIndication string `json:"subIndication"`
	Signer        struct {
		Subject      string `json:"subject"`
		Email        string `json:"email"`
		SerialNumber string `json:"serialNumber"`
	} `json:"signer"`
	SigningTime         string `json:"signingTime"`
	CoversWholeDocument bool   `json:"coversWholeDocument"`
}

// OutboxRecord is a mail queued for notify.
type OutboxRecord struct {
	ID        int64      `json:"id"`
	Kind      string     `json:"kind"`
	To        string     `json:"to"`
	Subject   string     `json:"subject"`
	State     string     `json:"state"` // pending | sent | failed
	Attempts  int        `json:"attempts"`
	CreatedAt time.Time  `json:"createdAt"`
	SentAt    *time.Time `json:"sentAt,omitempty"`
}

// RequestDetail is everything known about one request: `revokd queue
// show`.
type RequestDetail struct {
	RequestSummary
	PDFSHA256      string     `json:"pdfSha256"`
	ReportSHA256   string     `json:"reportSha256"`
	DecisionSHA256 string     `json:"decisionSha256"`
	FormSHA256     string     `json:"formSha256"`
	Mail           MailRecord `json:"mail"`
	// Report is read from the stored report; nil when there is none or it
	// does not read as one.
	Report *ReportSummary `json:"report"`
	// Decision is the stored authorisation decision, as stored; nil when
	// there is none.
	Decision json.RawMessage `json:"decision"`
	Job      *Job            `json:"job"`
	Outbox   []OutboxRecord  `json:"outbox"`
	// Audit holds the audit rows about the request, its mail and its job,
	// oldest first.
	Audit []AuditRecord `json:"audit"`
}

// maxShownReport bounds the report read to summarise it: a report is a
// few kilobytes per signature, and show must not load a giant one.
const maxShownReport = 16 << 20

// Request returns everything known about request id, or ErrNotFound.
func (s *Store) Request(ctx context.Context, id int64) (*RequestDetail, error) {
	d := &RequestDetail{}
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		d.RequestSummary, err = scanSummary(tx.QueryRowContext(ctx, `SELECT `+summaryColumns+summaryFrom+` WHERE r.id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("request %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT pdf_sha256, report_sha256, decision_sha256, form_sha256 FROM requests WHERE id = ?`, id).
			Scan(&d.PDFSHA256, &d.ReportSHA256, &d.DecisionSHA256, &d.FormSHA256); err != nil {
			return err
		}
		if d.Mail, err = readMail(ctx, tx, d.MailID); err != nil {
			return err
		}
		if d.ReportSHA256 != "" {
			var b []byte
			err := tx.QueryRowContext(ctx, `SELECT bytes FROM evidence WHERE sha256 = ? AND size <= ?`, d.ReportSHA256, maxShownReport).Scan(&b)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			var rep ReportSummary
			if len(b) > 0 && json.Unmarshal(b, &rep) == nil {
				d.Report = &rep
			}
		}
		if d.DecisionSHA256 != "" {
			var b []byte
			err := tx.QueryRowContext(ctx, `SELECT bytes FROM evidence WHERE sha256 = ?`, d.DecisionSHA256).Scan(&b)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if json.Valid(b) {
				d.Decision = b
			}
		}
		subjects := []string{requestSubject(id), mailSubject(d.MailID)}
		if d.JobID != nil {
			j, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM revocation_jobs WHERE id = ?`, *d.JobID))
			if err != nil {
				return fmt.Errorf("reading job %d: %w", *d.JobID, err)
			}
			d.Job = &j
			subjects = append(subjects, jobSubject(j.ID))
		}
		if d.Outbox, err = readOutbox(ctx, tx, d.MailID); err != nil {
			return err
		}
		d.Audit, err = auditLog(ctx, tx, subjects...)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("reading request %d: %w", id, err)
	}
	return d, nil
}

func readMail(ctx context.Context, tx *sql.Tx, id int64) (MailRecord, error) {
	var (
		m                        MailRecord
		received, disp, evidence string
		handled                  sql.NullString
	)
	err := tx.QueryRowContext(ctx, `SELECT id, mailbox, uidvalidity, uid, message_id, raw_sha256, size, over_cap, sender,
		received_at, state, disposition, not_a_request, handled_at, evidence_sha256 FROM mails WHERE id = ?`, id).
		Scan(&m.ID, &m.Mailbox, &m.UIDValidity, &m.UID, &m.MessageID, &m.RawSHA256, &m.Size, &m.OverCap, &m.Sender,
			&received, &m.State, &disp, &m.NotARequest, &handled, &evidence)
	if err != nil {
		return m, fmt.Errorf("reading mail %d: %w", id, err)
	}
	if evidence != "" {
		var b []byte
		if err := tx.QueryRowContext(ctx, `SELECT bytes FROM evidence WHERE sha256 = ?`, evidence).Scan(&b); err != nil {
			return m, fmt.Errorf("reading the evidence of mail %d: %w", id, err)
		}
		m.Evidence = b
	}
	m.Disposition = Disposition(disp)
	if m.ReceivedAt, err = parseTime(received); err != nil {
		return m, fmt.Errorf("mail %d: %w", id, err)
	}
	t, err := parseNullTime(handled)
	if err != nil {
		return m, fmt.Errorf("mail %d: %w", id, err)
	}
	m.HandledAt = timePtr(t)
	return m, nil
}

func readOutbox(ctx context.Context, tx *sql.Tx, mailID int64) ([]OutboxRecord, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, kind, recipient, subject, state, attempts, created_at, sent_at
		FROM outbox WHERE mail_id = ? ORDER BY id`, mailID)
	if err != nil {
		return nil, fmt.Errorf("reading the outbox: %w", err)
	}
	defer rows.Close()
	out := []OutboxRecord{}
	for rows.Next() {
		var (
			o       OutboxRecord
			created string
			sent    sql.NullString
		)
		if err := rows.Scan(&o.ID, &o.Kind, &o.To, &o.Subject, &o.State, &o.Attempts, &created, &sent); err != nil {
			return nil, fmt.Errorf("reading the outbox: %w", err)
		}
		if o.CreatedAt, err = parseTime(created); err != nil {
			return nil, fmt.Errorf("outbox %d: %w", o.ID, err)
		}
		t, err := parseNullTime(sent)
		if err != nil {
			return nil, fmt.Errorf("outbox %d: %w", o.ID, err)
		}
		o.SentAt = timePtr(t)
		out = append(out, o)
	}
	return out, rows.Err()
}
