package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/revocation"
)

// MailKey identifies a mail on the IMAP server: a UID is unique within a
// mailbox for as long as its UIDVALIDITY holds.
type MailKey struct {
	Mailbox     string
	UIDValidity uint32
	UID         uint32
}

func (k MailKey) String() string {
	return fmt.Sprintf("%s;UIDVALIDITY=%d;UID=%d", k.Mailbox, k.UIDValidity, k.UID)
}

// Disposition is where a mail goes on the IMAP server once its outcome is
// committed.
type Disposition string

// The dispositions.
const (
	// DispositionProcessed: an accepted request, or not a request at all
	// (auto-reply, no PDF).
	DispositionProcessed Disposition = "processed"
	// DispositionRejected: a rejected request.
	DispositionRejected Disposition = "rejected"
)

// IncomingMail is a mail as fetched, before it is parsed.
type IncomingMail struct {
	Key MailKey
	// Raw is the whole message; nil when it is over the size cap (then
	// Size and OverCap say why).
	Raw []byte
	// RawSHA256 is the lower-case hex SHA-256 of Raw, "" for a mail over
	// the cap (the key alone identifies it). When empty with Raw set, the
	// store computes it.
	RawSHA256  string
	Size       int64
	OverCap    bool
	MessageID  string    // the Message-ID header, may be empty
	From       string    // the sender's address, may be empty
	ReceivedAt time.Time // IMAP INTERNALDATE, else the time it was fetched
}

// Outcome is everything one mail led to, committed by RecordOutcome in one
// transaction with its outbox and audit rows.
type Outcome struct {
	MailID      int64 // from ArchiveMail
	Disposition Disposition
	// Requests has one entry per PDF attachment examined; it is empty for
	// a mail that is not a request.
	Requests []RequestOutcome
	// NotARequest says why the mail is not a request ("no PDF attached",
	// "auto-reply (Auto-Submitted: auto-replied)", "over the size cap"), and
	// is "" when Requests is not empty.
	NotARequest string
	// NotARequestCode is the machine code of NotARequest (one of
	// revocation's NotARequest codes), stored as the reason code of the
	// mail's not_a_request row; "" when Requests is not empty.
	NotARequestCode string
	// Evidence is the JSON of the mail's ingest.Evidence (S/MIME signer,
	// DKIM, Authentication-Results), stored with the mail; nil for none.
	Evidence []byte
	// Outbox holds the acknowledgement and result mails to send.
	Outbox []OutboxMessage
}

// RequestOutcome is what one PDF attachment led to.
type RequestOutcome struct {
	// State is revocation.StateAccepted or revocation.StateRejected; the
	// store moves an accepted request to queued when it creates its job.
	State revocation.State
	// ReasonCode is "" when accepted (authorize.CodeAlreadyRevoked is
	// taken too: nothing is queued then), else the code of the rejection:
	// authorize.VerificationCode of the report's sub-indication, or the
	// code of authorize.Decide. A rejection without one is stored with
	// ReasonCodeUnspecified.
	ReasonCode authorize.Code
	// Reason is one English sentence for the operator.
	Reason string
	// Serial is the certificate to revoke, in hexadecimal ("" when
	// unknown); it is stored lower-case without leading zeros.
	Serial           string
	IssuerDN         string
	RevocationReason revocation.Reason
	NoReasonCode     bool
	Role             string // authorize.RoleHolder, authorize.RoleLegalRepresentative or ""
	SignerSubject    string
	SignerSerial     string
	AttachmentName   string
	// PDF is the attachment, stored as evidence; PDFSHA256 is its hash
	// (computed when empty, checked when both are given).
	PDF       []byte
	PDFSHA256 string
	// ReportJSON is the pdfverify.Report and DecisionJSON the
	// authorize.Decision, as JSON, both stored as evidence.
	ReportJSON   []byte
	DecisionJSON []byte
	// FormSHA256 is the hash of the signed form's values, to recognise a
	// replay of the same signed form.
	FormSHA256 string
}

// cleaned returns o with the text of its requests, which comes from mail
// and forms, cleaned of NUL bytes and invalid UTF-8 (cleanText), the same
// on both backends.
func (o Outcome) cleaned() Outcome {
	o.NotARequest = cleanText(o.NotARequest)
	reqs := make([]RequestOutcome, len(o.Requests))
	for i, r := range o.Requests {
		for _, f := range []*string{&r.Reason, &r.Serial, &r.IssuerDN, &r.Role, &r.SignerSubject, &r.SignerSerial,
			&r.AttachmentName, &r.FormSHA256} {
			*f = cleanText(*f)
		}
		reqs[i] = r
	}
	o.Requests = reqs
	// The outbox's rows are left as they are: notify refuses a recipient
	// with a control character and strips them from a subject, and must
	// see them to. (On PostgreSQL the driver replaces a NUL byte there.)
	return o
}

// OutboxMessage is a mail for notify to send. The notify package builds
// them (its Kind constants, and Data rendered by its templates); Body is
// for text written whole by the caller.
type OutboxMessage struct {
	Kind    string
	To      string
	Subject string // the subject of the mail it answers, if any
	Body    string // text/plain, UTF-8; "" when Data is rendered
	Data    []byte // JSON for notify's templates
	// MailID and RequestID tie the mail to the mail it answers and the
	// request it is about. RecordOutcome fills them in: the outcome's
	// mail, and its first request.
	MailID    int64
	RequestID int64
}

// ReasonCodeUnspecified is the reason code stored for a rejection that
// came without one.
const ReasonCodeUnspecified authorize.Code = "unspecified"

// ErrInvalidOutcome is wrapped by the errors of RecordOutcome and
// ArchiveMail that come from the arguments, not from the database: a
// retry cannot cure them.
var ErrInvalidOutcome = errors.New("invalid outcome")

// ErrKeyConflict is returned by ArchiveMail when the key is already
// archived with other content: the IMAP server broke the promise that a
// UID names one message for as long as its UIDVALIDITY holds.
var ErrKeyConflict = errors.New("mail key already archived with other content")

// Mail states.
const (
	mailReceived = "received"
	mailHandled  = "handled"
)

// HandledMail reports the disposition recorded for a mail already handled,
// found by its key or, when rawSHA256 != "", by the hash of its bytes (a
// UIDVALIDITY change presents old mail under new keys). A mail archived
// but not handled yet is not found.
func (s *Store) HandledMail(ctx context.Context, key MailKey, rawSHA256 string) (d Disposition, found bool, err error) {
	var disp string
	err = s.db.QueryRowContext(ctx, `SELECT disposition FROM mails
		WHERE mailbox = ? AND uidvalidity = ? AND uid = ? AND state = 'handled'`,
		key.Mailbox, key.UIDValidity, key.UID).Scan(&disp)
	if errors.Is(err, sql.ErrNoRows) && rawSHA256 != "" {
		err = s.db.QueryRowContext(ctx, handledByHashQuery, rawSHA256).Scan(&disp)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("looking up mail %s: %w", key, err)
	}
	return Disposition(disp), true, nil
}

// ArchiveMail stores the raw mail as evidence and its row (state
// "received"), before the mail is parsed. The same key returns the same
// id; the same key with other bytes is ErrKeyConflict.
func (s *Store) ArchiveMail(ctx context.Context, m IncomingMail) (mailID int64, err error) {
	sum := ""
	if m.Raw != nil {
		sum = sha256Hex(m.Raw)
		if m.RawSHA256 != "" && m.RawSHA256 != sum {
			return 0, fmt.Errorf("archiving mail %s: RawSHA256 %s is not the hash of Raw (%s): %w", m.Key, m.RawSHA256, sum, ErrInvalidOutcome)
		}
		if m.Size == 0 {
			m.Size = int64(len(m.Raw))
		}
	} else if m.RawSHA256 != "" {
		return 0, fmt.Errorf("archiving mail %s: RawSHA256 without Raw: %w", m.Key, ErrInvalidOutcome)
	}
	if m.ReceivedAt.IsZero() {
		m.ReceivedAt = s.now()
	}
	// Headers are the sender's: the same cleaned text on both backends
	// (PostgreSQL refuses NUL bytes and invalid UTF-8).
	m.MessageID, m.From = cleanText(m.MessageID), cleanText(m.From)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			oldSum, state string
		)
		err := tx.QueryRowContext(ctx, `SELECT id, raw_sha256, state FROM mails WHERE mailbox = ? AND uidvalidity = ? AND uid = ?`,
			m.Key.Mailbox, m.Key.UIDValidity, m.Key.UID).Scan(&mailID, &oldSum, &state)
		now := s.now()
		switch {
		case err == nil:
			switch {
			case oldSum == sum:
				if state == mailHandled || sum == "" {
					return nil
				}
				// Presented again before it was handled: parked, or
				// its verifier died. Due again now.
				if _, err := tx.ExecContext(ctx, `UPDATE mails SET state = 'received' WHERE id = ? AND state = 'parked'`, mailID); err != nil {
					return err
				}
				return enqueueVerification(ctx, tx, mailID, now)
			case oldSum != "" && sum != "":
				return fmt.Errorf("archiving mail %s: stored %s, now %s: %w", m.Key, oldSum, sum, ErrKeyConflict)
			case oldSum == "" && state == mailReceived:
				// Archived over the cap before, whole now (the cap was
				// raised): keep the bytes.
				if _, err := putEvidence(ctx, tx, EvidenceMail, m.Raw, now); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `UPDATE mails SET raw_sha256 = ?, size = ?, over_cap = 0 WHERE id = ?`,
					sum, m.Size, mailID); err != nil {
					return err
				}
				if err := enqueueVerification(ctx, tx, mailID, now); err != nil {
					return err
				}
				return appendAudit(ctx, tx, now, ActorWorker, "mail.archived", mailSubject(mailID), map[string]any{"rawSha256": sum, "size": m.Size})
			}
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if m.Raw != nil {
			if _, err := putEvidence(ctx, tx, EvidenceMail, m.Raw, now); err != nil {
				return err
			}
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO mails (mailbox, uidvalidity, uid, message_id, raw_sha256, size, over_cap,
			sender, received_at, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'received', ?) RETURNING id`,
			m.Key.Mailbox, m.Key.UIDValidity, m.Key.UID, m.MessageID, sum, m.Size, m.OverCap,
			m.From, formatTime(m.ReceivedAt), formatTime(now)).Scan(&mailID)
		if err != nil {
			return err
		}
		if m.Raw != nil {
			if err := enqueueVerification(ctx, tx, mailID, now); err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, now, ActorWorker, "mail.received", mailSubject(mailID), map[string]any{
			"mailbox": m.Key.Mailbox, "uidValidity": m.Key.UIDValidity, "uid": m.Key.UID,
			"messageId": m.MessageID, "from": m.From, "rawSha256": sum, "size": m.Size, "overCap": m.OverCap,
			"receivedAt": formatTime(m.ReceivedAt),
		})
	})
	if err != nil {
		if errors.Is(err, ErrKeyConflict) || errors.Is(err, ErrInvalidOutcome) {
			return 0, err
		}
		return 0, fmt.Errorf("archiving mail %s: %w", m.Key, err)
	}
	return mailID, nil
}

// RecordOutcome commits o in one transaction: the requests and their
// evidence, a revocation job per accepted certificate not yet in the
// ledger, the outbox rows, the audit rows, and the mail's disposition. A
// second call for a mail already handled is a no-op.
//
// An accepted request whose certificate (issuer and serial) already has a
// job, or is revoked in the registry, creates no job: it is recorded as
// accepted, with a note saying why and a reference to the existing job. A
// replayed form thus never revokes twice.
//
// Errors wrapping ErrInvalidOutcome are the caller's mistake; the others
// are the database's and worth a retry.
func (s *Store) RecordOutcome(ctx context.Context, o Outcome) error {
	o = o.cleaned()
	reqs, err := validateOutcome(o)
	if err != nil {
		return fmt.Errorf("recording the outcome of mail %d: %w", o.MailID, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var state string
		err := tx.QueryRowContext(ctx, `SELECT state FROM mails WHERE id = ?`, o.MailID).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("mail %d: %w", o.MailID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if state == mailHandled {
			return nil
		}
		now := s.now()
		if len(reqs) == 0 {
			if err := recordNotARequest(ctx, tx, o, now); err != nil {
				return err
			}
		}
		for i := range reqs {
			if err := recordRequest(ctx, tx, o.MailID, &reqs[i], now); err != nil {
				return fmt.Errorf("request %d of %d: %w", i+1, len(reqs), err)
			}
		}
		first, err := mailRequests(ctx, tx, o.MailID)
		if err != nil {
			return err
		}
		for _, m := range o.Outbox {
			m.MailID, m.RequestID = o.MailID, first[0]
			if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (mail_id, request_id, kind, recipient, subject, body, data, state,
				next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
				m.MailID, m.RequestID, m.Kind, m.To, m.Subject, m.Body, string(m.Data), formatTime(now), formatTime(now)); err != nil {
				return fmt.Errorf("queueing the %s to send: %w", m.Kind, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE mails SET state = 'handled', disposition = ?, not_a_request = ?, handled_at = ?
			WHERE id = ?`, string(o.Disposition), o.NotARequest, formatTime(now), o.MailID); err != nil {
			return err
		}
		if err := endVerification(ctx, tx, o.MailID, now); err != nil {
			return err
		}
		if len(o.Evidence) > 0 {
			sum, err := putEvidence(ctx, tx, EvidenceMailOrigin, o.Evidence, now)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE mails SET evidence_sha256 = ? WHERE id = ?`, sum, o.MailID); err != nil {
				return err
			}
		}
		kinds := make([]string, len(o.Outbox))
		for i, m := range o.Outbox {
			kinds[i] = m.Kind
		}
		return appendAudit(ctx, tx, now, ActorWorker, "mail.handled", mailSubject(o.MailID), map[string]any{
			"disposition": o.Disposition, "requests": len(reqs), "notARequest": o.NotARequest, "outbox": kinds,
		})
	})
	if err != nil {
		return fmt.Errorf("recording the outcome of mail %d: %w", o.MailID, err)
	}
	return nil
}

// validateOutcome checks o and returns its requests with serials and
// hashes in canonical form.
func validateOutcome(o Outcome) ([]RequestOutcome, error) {
	switch o.Disposition {
	case DispositionProcessed, DispositionRejected:
	default:
		return nil, fmt.Errorf("disposition %q: %w", o.Disposition, ErrInvalidOutcome)
	}
	switch {
	case len(o.Requests) == 0 && strings.TrimSpace(o.NotARequest) == "":
		return nil, fmt.Errorf("no request and no reason why the mail is not one: %w", ErrInvalidOutcome)
	case len(o.Requests) > 0 && (o.NotARequest != "" || o.NotARequestCode != ""):
		return nil, fmt.Errorf("requests and a reason why the mail is not a request: %w", ErrInvalidOutcome)
	}
	if len(o.Evidence) > 0 && !json.Valid(o.Evidence) {
		return nil, fmt.Errorf("mail evidence is not JSON: %w", ErrInvalidOutcome)
	}
	for _, m := range o.Outbox {
		if m.Kind == "" || m.To == "" {
			return nil, fmt.Errorf("outbox message without kind or recipient: %w", ErrInvalidOutcome)
		}
	}
	reqs := make([]RequestOutcome, len(o.Requests))
	for i, r := range o.Requests {
		if r.PDF != nil {
			sum := sha256Hex(r.PDF)
			if r.PDFSHA256 != "" && !strings.EqualFold(r.PDFSHA256, sum) {
				return nil, fmt.Errorf("request %d: PDFSHA256 %s is not the hash of PDF (%s): %w", i+1, r.PDFSHA256, sum, ErrInvalidOutcome)
			}
			r.PDFSHA256 = sum
		}
		r.PDFSHA256 = strings.ToLower(r.PDFSHA256)
		r.FormSHA256 = strings.ToLower(r.FormSHA256)
		if r.Serial != "" {
			n, err := authorize.ParseSerial(r.Serial)
			switch {
			case err == nil:
				r.Serial = authorize.FormatSerial(n)
			case r.State == revocation.StateAccepted:
				return nil, fmt.Errorf("request %d: serial %q: %v: %w", i+1, r.Serial, err, ErrInvalidOutcome)
			default:
				// The form's text is in the report; the serial column
				// holds only certificate numbers.
				r.Serial = ""
			}
		}
		switch r.State {
		case revocation.StateAccepted:
			if r.ReasonCode != "" && r.ReasonCode != authorize.CodeAlreadyRevoked {
				return nil, fmt.Errorf("request %d: accepted with reason code %q: %w", i+1, r.ReasonCode, ErrInvalidOutcome)
			}
			if r.Serial == "" || r.IssuerDN == "" {
				return nil, fmt.Errorf("request %d: accepted without a serial and an issuer: %w", i+1, ErrInvalidOutcome)
			}
			if !r.RevocationReason.Valid() {
				return nil, fmt.Errorf("request %d: revocation reason %d: %w", i+1, int(r.RevocationReason), ErrInvalidOutcome)
			}
		case revocation.StateRejected:
			// Refusing it would leave the mail to be retried for ever; an
			// operator reviews every rejection anyway.
			if r.ReasonCode == "" {
				r.ReasonCode = ReasonCodeUnspecified
			}
		default:
			return nil, fmt.Errorf("request %d: state %q (want accepted or rejected): %w", i+1, r.State, ErrInvalidOutcome)
		}
		reqs[i] = r
	}
	return reqs, nil
}

func recordNotARequest(ctx context.Context, tx *sql.Tx, o Outcome, now time.Time) error {
	var id int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO requests (mail_id, state, reason_code, reason, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, o.MailID, string(revocation.StateNotARequest), o.NotARequestCode, o.NotARequest,
		formatTime(now), formatTime(now)).Scan(&id); err != nil {
		return err
	}
	return appendAudit(ctx, tx, now, ActorWorker, "request.not_a_request", requestSubject(id), map[string]any{
		"mailId": o.MailID, "reason": o.NotARequest, "code": o.NotARequestCode,
	})
}

// recordRequest stores one request, its evidence and, when it is accepted
// and its certificate is not in the ledger yet, its revocation job.
func recordRequest(ctx context.Context, tx *sql.Tx, mailID int64, r *RequestOutcome, now time.Time) error {
	if _, err := putOptionalEvidence(ctx, tx, EvidencePDF, r.PDF, now); err != nil {
		return err
	}
	reportSum, err := putOptionalEvidence(ctx, tx, EvidenceReport, r.ReportJSON, now)
	if err != nil {
		return err
	}
	decisionSum, err := putOptionalEvidence(ctx, tx, EvidenceDecision, r.DecisionJSON, now)
	if err != nil {
		return err
	}
	// What an earlier request with the same PDF or the same signed form
	// says, for the operator's note; read before this request is added.
	replayOf, replayWhy, err := findReplay(ctx, tx, r)
	if err != nil {
		return err
	}

	var id int64
	stamp := formatTime(now)
	err = tx.QueryRowContext(ctx, `INSERT INTO requests (mail_id, state, reason_code, reason, serial, issuer_dn,
		revocation_reason, no_reason_code, role, signer_subject, signer_serial, attachment_name, pdf_sha256,
		report_sha256, decision_sha256, form_sha256, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		mailID, string(r.State), r.ReasonCode, r.Reason, r.Serial, r.IssuerDN, int(r.RevocationReason), r.NoReasonCode,
		r.Role, r.SignerSubject, r.SignerSerial, r.AttachmentName, r.PDFSHA256, reportSum, decisionSum, r.FormSHA256,
		stamp, stamp).Scan(&id)
	if err != nil {
		return err
	}
	details := map[string]any{
		"mailId": mailID, "reasonCode": r.ReasonCode, "reason": r.Reason, "serial": r.Serial, "issuerDN": r.IssuerDN,
		"role": r.Role, "signerSubject": r.SignerSubject, "signerSerial": r.SignerSerial,
		"attachmentName": r.AttachmentName, "pdfSha256": r.PDFSHA256, "reportSha256": reportSum,
		"decisionSha256": decisionSum, "formSha256": r.FormSHA256,
	}
	if r.State == revocation.StateRejected {
		if replayOf != 0 {
			details["replayOf"] = replayOf
		}
		return appendAudit(ctx, tx, now, ActorWorker, "request.rejected", requestSubject(id), details)
	}

	details["revocationReason"] = r.RevocationReason.String()
	details["noReasonCode"] = r.NoReasonCode
	note, jobID, err := ledgerNote(ctx, tx, r, replayOf, replayWhy)
	if err != nil {
		return err
	}
	if note != "" {
		// No new job: the request stays accepted, pointing at the job
		// that already covers its certificate, if any.
		if _, err := tx.ExecContext(ctx, `UPDATE requests SET note = ?, job_id = ?, reason_code = '' WHERE id = ?`,
			note, nullID(jobID), id); err != nil {
			return err
		}
		details["note"] = note
		details["reasonCode"] = ""
		if jobID != 0 {
			details["jobId"] = jobID
		}
		return appendAudit(ctx, tx, now, ActorWorker, "request.accepted", requestSubject(id), details)
	}

	if err := tx.QueryRowContext(ctx, `INSERT INTO revocation_jobs (request_id, issuer_dn, serial, reason, no_reason_code,
		state, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?) RETURNING id`,
		id, r.IssuerDN, r.Serial, int(r.RevocationReason), r.NoReasonCode, stamp, stamp, stamp).Scan(&jobID); err != nil {
		return fmt.Errorf("queueing the revocation of %s: %w", r.Serial, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE requests SET state = ?, job_id = ? WHERE id = ?`,
		string(revocation.StateQueued), jobID, id); err != nil {
		return err
	}
	details["jobId"] = jobID
	if err := appendAudit(ctx, tx, now, ActorWorker, "request.accepted", requestSubject(id), details); err != nil {
		return err
	}
	return appendAudit(ctx, tx, now, ActorWorker, "job.created", jobSubject(jobID), map[string]any{
		"requestId": id, "serial": r.Serial, "issuerDN": r.IssuerDN,
		"reason": r.RevocationReason.String(), "noReasonCode": r.NoReasonCode,
	})
}

// The lookups by hash repeat their partial index's condition (hash <> ”):
// a planner cannot tell that a bound parameter is never empty, and without
// it each lookup reads the whole table, evidence included, so the worker
// slows down with every mail it has handled.
const (
	handledByHashQuery = `SELECT disposition FROM mails
		WHERE raw_sha256 = ? AND raw_sha256 <> '' AND state = 'handled' ORDER BY id LIMIT 1`
	replayByPDFQuery  = `SELECT id FROM requests WHERE pdf_sha256 = ? AND pdf_sha256 <> '' ORDER BY id LIMIT 1`
	replayByFormQuery = `SELECT id FROM requests WHERE serial = ? AND form_sha256 = ? AND form_sha256 <> '' ORDER BY id LIMIT 1`
)

// findReplay returns an earlier request with the same PDF, or with the
// same signed form for the same certificate, and which of the two.
func findReplay(ctx context.Context, tx *sql.Tx, r *RequestOutcome) (int64, string, error) {
	var id int64
	if r.PDFSHA256 != "" {
		err := tx.QueryRowContext(ctx, replayByPDFQuery, r.PDFSHA256).Scan(&id)
		if err == nil {
			return id, "the same PDF", nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, "", err
		}
	}
	if r.FormSHA256 != "" && r.Serial != "" {
		err := tx.QueryRowContext(ctx, replayByFormQuery, r.Serial, r.FormSHA256).Scan(&id)
		if err == nil {
			return id, "the same signed form", nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, "", err
		}
	}
	return 0, "", nil
}

// ledgerNote says why an accepted request gets no job of its own: its
// certificate already has one (the ledger), or the registry has it
// revoked. It returns "" when a job is to be created.
func ledgerNote(ctx context.Context, tx *sql.Tx, r *RequestOutcome, replayOf int64, replayWhy string) (string, int64, error) {
	var (
		jobID    int64
		jobState string
	)
	err := tx.QueryRowContext(ctx, `SELECT id, state FROM revocation_jobs WHERE issuer_dn = ? AND serial = ?`,
		r.IssuerDN, r.Serial).Scan(&jobID, &jobState)
	switch {
	case err == nil:
		note := fmt.Sprintf("certificate %s already has revocation job %d (%s)", r.Serial, jobID, jobState)
		if replayOf != 0 {
			note = fmt.Sprintf("replay of request %d (%s); %s", replayOf, replayWhy, note)
		}
		return note, jobID, nil
	case !errors.Is(err, sql.ErrNoRows):
		return "", 0, err
	}
	var revoked bool
	err = tx.QueryRowContext(ctx, `SELECT revoked FROM certificates WHERE issuer_dn = ? AND serial = ?`,
		r.IssuerDN, r.Serial).Scan(&revoked)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", 0, err
	}
	if revoked || r.ReasonCode == authorize.CodeAlreadyRevoked {
		return fmt.Sprintf("certificate %s is already revoked: nothing to queue", r.Serial), 0, nil
	}
	return "", 0, nil
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}
