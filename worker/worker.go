// Package worker is the one place that knows the order of the steps for
// one mail: archive it, parse it, verify each PDF, decide, and record the
// outcome with the messages that announce it, before the mailbox moves it.
//
// The worker reading the mailbox archives each mail (Handle); verifiers,
// in every worker sharing the store (RunVerifiers), take archived mails
// from the store's queue, parse, verify, decide and record them; Handle
// waits for the outcome and tells the mailbox where to move the mail.
//
// Handle is idempotent: after a crash between the commit and the move on
// the IMAP server, the same mail comes again and gets the disposition
// already recorded; nothing is verified, queued or announced twice.
package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/internal/redact"
	"github.com/revokd/revokd/notify"
	"github.com/revokd/revokd/pdfverify"
	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/revocation"
)

// maxPDFsPerMail bounds the distinct PDFs verified in one mail: a request
// carries one form; ten leaves room for a resent or corrected one while one
// mail cannot hold the mailbox for long (each verification has its own
// time budget). The mail itself is archived whole.
const maxPDFsPerMail = 10

// maxReceivedLag is how far in the past a mail's INTERNALDATE may lie and
// still be the validation time. An APPEND can set any date; an older one is
// replaced by the time the mail is handled, which is stricter.
const maxReceivedLag = 7 * 24 * time.Hour

// revocationRetryWindow is how long after a mail was received a signature
// whose revocation status is unknown (a CRL or OCSP service down) is tried
// again rather than refused: a holder whose key leaked must not be turned
// away by a responder's bad hour.
const revocationRetryWindow = 24 * time.Hour

// ErrRevocationUnknown is what decide returns while a signature's
// revocation status is unknown and the mail is younger than the retry
// window. Handle parks the mail (queue.ParkRevocationUnknown) and answers
// ingest.Leave without an error: the mail is handed over again later, and
// no such mail ends the IMAP session.
var ErrRevocationUnknown = errors.New("revocation status unknown")

// parkRetry is when a parked mail is due again: the mailbox hands a mail
// answered Leave over again after its own delay (ingest's LeaveRetry) or
// at the next session, whichever comes first; this is what the operator is
// told.
const parkRetry = 5 * time.Minute

// Store is what the worker needs of the durable store; *queue.Store
// implements it. Every error it returns is taken as retryable.
type Store interface {
	HandledMail(ctx context.Context, key queue.MailKey, rawSHA256 string) (queue.Disposition, bool, error)
	ArchiveMail(ctx context.Context, m queue.IncomingMail) (int64, error)
	RecordOutcome(ctx context.Context, o queue.Outcome) error
	// ParkMail sets a mail aside with a recorded state, for a condition
	// that is the mail's own and worth a retry.
	ParkMail(ctx context.Context, key queue.MailKey, code, reason string, until time.Time) error
	// ClaimVerification, FailVerification and Progress are the queue of
	// archived mails to verify, shared by every worker on the store.
	ClaimVerification(ctx context.Context, lease time.Duration, mailID int64) (queue.ArchivedMail, bool, error)
	FailVerification(ctx context.Context, id int64, attempt int, f queue.Failure) error
	RenewVerification(ctx context.Context, id int64, attempt int, lease time.Duration) error
	Progress(ctx context.Context, id int64) (queue.MailProgress, error)
	Progresses(ctx context.Context, ids []int64) (map[int64]queue.MailProgress, error)
}

// Config configures a Worker.
type Config struct {
	Store    Store
	Registry authorize.Registry
	// Authorize holds the form's field names and the CA's issuing
	// certificates; it must pass Validate.
	Authorize authorize.Options
	// Verify is the template of verification options; CurrentTime is set
	// per mail to the time the mail was received. Nil: pdfverify's zero
	// options, which trust nothing.
	Verify *pdfverify.Options
	// Limits bound the MIME walk. Zero: ingest's defaults. Its
	// MaxMessageBytes should be the mailbox's cap: the answer to a mail
	// over it names the size to stay under.
	Limits ingest.Limits
	// Decrypter opens S/MIME mail encrypted to the desk; nil: such mail
	// is answered with a request to send it unencrypted.
	Decrypter *ingest.Decrypter
	// DKIMLookup finds DKIM keys in the DNS. Nil: the system resolver.
	DKIMLookup ingest.LookupTXT
	// Address is the desk's own address: mail from it is never answered.
	Address string
	// Logger receives one line per mail; nil discards. At INFO it names
	// mails and requests by their ids and a hash of the sender, never by
	// an address or a serial; DEBUG adds those.
	Logger *slog.Logger
	// Now is the clock when a mail has no INTERNALDATE. Nil: time.Now.
	Now func() time.Time
	// VerifyLease is how long a verifier holds a mail without renewing
	// it (it renews every third of it). Zero: DefaultVerifyLease.
	VerifyLease time.Duration
	// Verified, when set, is told how long each PDF's verification took
	// (for a histogram of verification times).
	Verified func(elapsed time.Duration)
}

// Worker handles mails; it implements ingest.Handler.
type Worker struct {
	cfg Config
	log *slog.Logger
	verifiers
}

// New checks cfg and returns a worker.
func New(cfg Config) (*Worker, error) {
	if cfg.Store == nil {
		return nil, errors.New("worker: no store")
	}
	if cfg.Registry == nil {
		return nil, errors.New("worker: no registry")
	}
	if err := cfg.Authorize.Validate(); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	if cfg.Verify == nil {
		cfg.Verify = &pdfverify.Options{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Worker{cfg: cfg, log: log}
	w.verifiers.init(w.watchOutcomes)
	return w, nil
}

var _ ingest.Handler = (*Worker)(nil)

// Handle archives, verifies, decides and records one mail, and says where
// the mailbox must move it. An error means nothing was committed and the
// mail must stay for a later try.
func (w *Worker) Handle(ctx context.Context, m *ingest.Mail) (ingest.Disposition, error) {
	key := queue.MailKey{Mailbox: m.Mailbox, UIDValidity: m.UIDValidity, UID: m.UID}
	var rawHash string
	if !m.OverCap {
		sum := sha256.Sum256(m.Raw)
		rawHash = hex.EncodeToString(sum[:])
	}
	if d, found, err := w.cfg.Store.HandledMail(ctx, key, rawHash); err != nil {
		return ingest.Leave, fmt.Errorf("looking up mail %d: %w", m.UID, err)
	} else if found {
		w.log.InfoContext(ctx, "mail already handled", "uid", m.UID, "disposition", d)
		return disposition(d), nil
	}

	now := w.cfg.Now()
	received := m.InternalDate
	if received.IsZero() || received.Before(now.Add(-maxReceivedLag)) || received.After(now) {
		received = now
	}
	headerBytes := m.Raw
	if m.OverCap {
		headerBytes = m.Header
	}
	header := readHeader(headerBytes)
	from := ""
	if header.From != nil {
		from = header.From.Address
	}
	in := queue.IncomingMail{
		Key: key, Raw: m.Raw, RawSHA256: rawHash, Size: m.Size, OverCap: m.OverCap,
		MessageID: messageIDField(header.MessageID), From: from, ReceivedAt: received,
	}
	mailID, err := w.cfg.Store.ArchiveMail(ctx, in)
	if errors.Is(err, queue.ErrKeyConflict) {
		// The server re-presents an archived UID with other bytes: the
		// archived ones are the evidence, and no outcome can be
		// recorded for this key. Parked, left in the mailbox, visible.
		return w.park(ctx, key, queue.ParkKeyConflict,
			"the server presents this mailbox, UIDVALIDITY and UID with bytes other than the archived ones ("+rawHash+"); left in the mailbox for an operator", now)
	}
	if err != nil {
		return ingest.Leave, fmt.Errorf("archiving mail %d: %w", m.UID, err)
	}

	if !m.OverCap {
		// Decided by whichever verifier of the workers sharing the store
		// claims it first.
		return w.awaitOutcome(ctx, key, mailID)
	}
	// Nothing to verify, and its header is not archived: decided here.
	parked, err := w.decideAndRecord(ctx, m, header, mailID, received)
	if err != nil || parked {
		return ingest.Leave, err
	}
	p, err := w.cfg.Store.Progress(ctx, mailID)
	if err != nil {
		return ingest.Leave, err
	}
	return disposition(p.Disposition), nil
}

// decideAndRecord decides the archived mail m and records its outcome, or
// parks it while its signer's revocation status is unknown (parked is then
// true). An error means nothing was recorded.
func (w *Worker) decideAndRecord(ctx context.Context, m *ingest.Mail, header *ingest.Header, mailID int64, received time.Time) (parked bool, err error) {
	key := queue.MailKey{Mailbox: m.Mailbox, UIDValidity: m.UIDValidity, UID: m.UID}
	out, err := w.decide(ctx, m, header, received)
	if errors.Is(err, ErrRevocationUnknown) {
		_, err := w.park(ctx, key, queue.ParkRevocationUnknown, err.Error(), w.cfg.Now())
		return err == nil, err
	}
	if err != nil {
		return false, err
	}
	out.MailID = mailID
	if err := w.cfg.Store.RecordOutcome(ctx, out); err != nil {
		return false, fmt.Errorf("recording the outcome of mail %d: %w", m.UID, err)
	}
	from := ""
	if header.From != nil {
		from = header.From.Address
	}
	w.logOutcome(ctx, m, mailID, from, out)
	return false, nil
}

// park records the mail as parked and leaves it in the mailbox: a
// snooze, not an error (only a store that cannot record it is one).
func (w *Worker) park(ctx context.Context, key queue.MailKey, code, reason string, now time.Time) (ingest.Disposition, error) {
	if err := w.cfg.Store.ParkMail(ctx, key, code, reason, now.Add(parkRetry)); err != nil {
		return ingest.Leave, err
	}
	w.log.InfoContext(ctx, "mail parked; it stays in the mailbox and is tried again", "uid", key.UID, "code", code, "retry_after", parkRetry)
	return ingest.Leave, nil
}

// logOutcome writes the mail's line: at INFO without personal data (the
// sender as a short hash, which correlates lines without naming anyone),
// at DEBUG with the address and the serials.
func (w *Worker) logOutcome(ctx context.Context, m *ingest.Mail, mailID int64, from string, out queue.Outcome) {
	attrs := []any{"uid", m.UID, "mail", mailID, "disposition", out.Disposition, "sender_hash", redact.Address(from)}
	if out.NotARequestCode != "" {
		attrs = append(attrs, "not_a_request", out.NotARequestCode)
	}
	for _, r := range out.Requests {
		attrs = append(attrs, "state", r.State, "reason_code", r.ReasonCode)
	}
	w.log.InfoContext(ctx, "mail handled", attrs...)
	if w.log.Enabled(ctx, slog.LevelDebug) {
		debug := []any{"uid", m.UID, "mail", mailID, "from", from}
		for _, r := range out.Requests {
			debug = append(debug, "serial", r.Serial, "signer", r.SignerSubject)
		}
		w.log.DebugContext(ctx, "mail handled: details", debug...)
	}
}

func disposition(d queue.Disposition) ingest.Disposition {
	if d == queue.DispositionRejected {
		return ingest.Rejected
	}
	return ingest.Processed
}

// messageIDField is the Message-ID as the store keeps it: in its angle
// brackets, as the header writes it.
func messageIDField(id string) string {
	if id == "" || strings.HasPrefix(id, "<") {
		return id
	}
	return "<" + id + ">"
}

// readHeader reads the top-level header leniently; a mail whose header
// cannot be read at all gets an empty one (and no answer).
func readHeader(raw []byte) *ingest.Header {
	h, err := ingest.ReadHeader(raw)
	if err != nil || raw == nil {
		return &ingest.Header{}
	}
	return h
}

// automatic says why a mail was sent by a machine (RFC 3834, RFC 3464),
// or "" for a person's mail. Such mail is never a request and never
// answered, which stops mail loops.
func (w *Worker) automatic(h *ingest.Header) string {
	auto := strings.ToLower(h.AutoSubmitted)
	from := ""
	if h.From != nil {
		from = h.From.Address
	}
	switch {
	case auto != "" && auto != "no":
		return "automatic mail (Auto-Submitted: " + auto + ")"
	case h.ContentType == "multipart/report":
		return "delivery or read report"
	case h.Precedence == "bulk" || h.Precedence == "junk" || h.Precedence == "list":
		return "bulk mail (Precedence: " + h.Precedence + ")"
	case from == "" || strings.HasPrefix(strings.ToLower(from), "mailer-daemon@"):
		return "mail without a sender to answer"
	case w.cfg.Address != "" && strings.EqualFold(from, w.cfg.Address):
		return "mail from the desk's own address"
	}
	return ""
}

// decide builds the outcome of one archived mail. Every PDF is verified
// and decided on, whoever sent the mail; what the headers say about its
// sender only decides whether it is answered.
func (w *Worker) decide(ctx context.Context, m *ingest.Mail, h *ingest.Header, received time.Time) (queue.Outcome, error) {
	// QUIRK: answers go to From, never to Reply-To: a reply carries the
	// outcome of a request, and Reply-To lets anyone direct it elsewhere.
	to := ""
	if h.From != nil {
		to = h.From.Address
	}
	auto := w.automatic(h)
	if auto != "" {
		to = ""
	}
	ev := ingest.Evidence{FromDecoding: h.FromDecoding, FromRaw: h.FromRaw, AuthenticationResults: h.AuthenticationResults}
	if !m.OverCap {
		ev.DKIM = ingest.VerifyDKIM(ctx, m.Raw, w.cfg.DKIMLookup)
	}
	notRequest := func(d queue.Disposition, code notify.NotRequestWhy, why string) queue.Outcome {
		o := queue.Outcome{Disposition: d, NotARequest: why, NotARequestCode: string(code), Evidence: evidenceJSON(&ev)}
		if to != "" {
			if code == notify.WhyOverSize {
				o.Outbox = append(o.Outbox, notify.OverSize(to, w.maxFormBytes()>>20))
			} else {
				o.Outbox = append(o.Outbox, notify.NotARequest(to, code))
			}
		}
		return o
	}
	if m.OverCap {
		return notRequest(queue.DispositionRejected, notify.WhyOverSize, fmt.Sprintf("over the size cap (%d bytes)", m.Size)), nil
	}
	msg, err := ingest.ParseMessageWith(bytes.NewReader(m.Raw), ingest.Options{Limits: w.cfg.Limits, Decrypter: w.cfg.Decrypter})
	if msg != nil {
		ev.SMIME, ev.Unopened = msg.SMIME, msg.Unopened
	}
	if err != nil {
		return notRequest(queue.DispositionRejected, notify.WhyUnreadable, "unreadable mail: "+err.Error()), nil
	}
	pdfs := distinctPDFs(msg.Attachments)
	if len(pdfs) == 0 {
		if auto != "" {
			return notRequest(queue.DispositionProcessed, notify.WhyAutomatic, auto), nil
		}
		code, why := unopenedReason(msg.Unopened)
		return notRequest(queue.DispositionProcessed, code, why), nil
	}
	if len(pdfs) > maxPDFsPerMail {
		w.log.WarnContext(ctx, "mail carries too many PDFs; only the first are examined", "uid", m.UID, "pdfs", len(pdfs), "examined", maxPDFsPerMail)
		pdfs = pdfs[:maxPDFsPerMail]
	}

	out := queue.Outcome{Disposition: queue.DispositionRejected, Evidence: evidenceJSON(&ev)}
	var answers []notify.Item
	for _, a := range pdfs {
		r, ans, err := w.request(ctx, a, received)
		if err != nil {
			return queue.Outcome{}, err
		}
		if r.State == revocation.StateAccepted {
			out.Disposition = queue.DispositionProcessed
		}
		out.Requests = append(out.Requests, r)
		answers = append(answers, ans)
	}
	if to != "" {
		out.Outbox = append(out.Outbox, notify.Acknowledgement(to, received), notify.Result(to, answers))
	}
	return out, nil
}

// unopenedReason says why a mail without a PDF holds no request: the
// first part that might hold a form but could not be read, else no PDF.
func unopenedReason(parts []ingest.Unopened) (code notify.NotRequestWhy, why string) {
	for _, p := range parts {
		switch p.Kind {
		case ingest.UnopenedEncrypted:
			return notify.WhyEncrypted, p.Reason
		case ingest.UnopenedTNEF:
			return notify.WhyWinmail, p.Reason
		}
	}
	for _, p := range parts {
		switch p.Kind {
		case ingest.UnopenedArchive:
			return notify.WhyArchiveUnreadable, "archive " + p.FileName + " not read: " + p.Reason
		case ingest.UnopenedSMIME:
			return notify.WhySMIMEUnreadable, p.Reason
		}
	}
	return notify.WhyNoPDF, "no PDF attached"
}

// maxFormBytes is the largest form a sender can mail: a PDF grows by a
// third in base64, and it must fit both the mailbox's cap and the PDF
// limit.
func (w *Worker) maxFormBytes() int64 {
	msg, pdf := w.cfg.Limits.MaxMessageBytes, w.cfg.Limits.MaxAttachmentBytes
	if msg <= 0 {
		msg = ingest.DefaultMaxMessageBytes
	}
	if pdf <= 0 {
		pdf = ingest.DefaultMaxAttachmentBytes
	}
	return min(msg/4*3, pdf)
}

// evidenceJSON is the mail's evidence for the store, nil when empty.
func evidenceJSON(ev *ingest.Evidence) []byte {
	if ev.Empty() {
		return nil
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil
	}
	return b
}

// pdfPart is an attachment with the hash of its bytes, computed once.
type pdfPart struct {
	ingest.Attachment
	sha256 string
}

// distinctPDFs drops the attachments whose bytes an earlier one already
// carried: the same form twice in one mail is one request.
func distinctPDFs(as []ingest.Attachment) []pdfPart {
	seen := map[[sha256.Size]byte]bool{}
	var out []pdfPart
	for _, a := range as {
		sum := sha256.Sum256(a.Data)
		if a.Err == nil && seen[sum] {
			continue
		}
		seen[sum] = true
		out = append(out, pdfPart{Attachment: a, sha256: hex.EncodeToString(sum[:])})
	}
	return out
}

// request verifies one attachment and decides on it. Its error is
// retryable (the registry could not be read, or the revocation status is
// unknown within the retry window).
func (w *Worker) request(ctx context.Context, a pdfPart, received time.Time) (queue.RequestOutcome, notify.Item, error) {
	r := queue.RequestOutcome{AttachmentName: a.FileName, PDF: a.Data}
	r.PDFSHA256 = a.sha256
	var rep *pdfverify.Report
	if a.Err != nil {
		rep = pdfverify.FormatFailureReport("the attachment cannot be decoded: "+a.Err.Error(), int64(len(a.Data)))
	} else {
		opts := *w.cfg.Verify
		opts.CurrentTime = received
		var err error
		start := time.Now()
		rep, err = pdfverify.Verify(ctx, a.Data, &opts)
		if w.cfg.Verified != nil {
			w.cfg.Verified(time.Since(start))
		}
		if err != nil {
			return r, notify.Item{}, fmt.Errorf("verifying %q: %w", a.FileName, err)
		}
	}
	r.ReportJSON, _ = json.Marshal(rep)
	if s := rep.DecisiveSignature(); s != nil && s.Signer != nil {
		r.SignerSubject, r.SignerSerial = s.Signer.Subject, s.Signer.SerialNumber
	}
	if rep.Form != nil {
		form, _ := json.Marshal(rep.Form) // map keys are sorted: canonical
		fs := sha256.Sum256(form)
		r.FormSHA256 = hex.EncodeToString(fs[:])
	}
	if rep.SubIndication == pdfverify.TryLater && w.cfg.Now().Before(received.Add(revocationRetryWindow)) {
		return r, notify.Item{}, fmt.Errorf("%w for %q: %s; trying again until %s", ErrRevocationUnknown, a.FileName,
			rep.Reason, received.Add(revocationRetryWindow).UTC().Format(time.RFC3339))
	}
	if !rep.Accepted() {
		r.State = revocation.StateRejected
		r.ReasonCode = authorize.VerificationCode(rep.SubIndication)
		r.Reason = rep.Reason
		r.Serial = formSerial(rep, w.cfg.Authorize.Fields)
		return r, notify.ResultItem(a.FileName, r.ReasonCode, r.Serial, nil), nil
	}
	d, err := authorize.Decide(ctx, rep, w.cfg.Registry, w.cfg.Authorize)
	if err != nil {
		return r, notify.Item{}, fmt.Errorf("deciding on %q: %w", a.FileName, err)
	}
	r.DecisionJSON, _ = json.Marshal(d)
	r.Role = d.Role
	r.IssuerDN = d.IssuerDN
	if d.Serial != nil {
		r.Serial = authorize.FormatSerial(d.Serial)
	} else {
		r.Serial = formSerial(rep, w.cfg.Authorize.Fields)
	}
	r.RevocationReason, r.NoReasonCode = d.Reason, d.NoReasonCode
	r.Reason = notify.OperatorSummary(d)
	r.ReasonCode = d.Code.ReasonCode()
	r.State = revocation.StateRejected
	if d.Accepted() {
		r.State = revocation.StateAccepted
	}
	return r, notify.ResultItem(a.FileName, d.Code, r.Serial, &d), nil
}

// Reexamine verifies pdf and decides on it again as the worker did when
// the mail came, at the same validation time (the mail's receipt), with
// today's trust anchors and registry: the review desk's re-verification of
// stored evidence. Its error is retryable, like Handle's.
func (w *Worker) Reexamine(ctx context.Context, name string, pdf []byte, validationTime time.Time) (queue.RequestOutcome, error) {
	sum := sha256.Sum256(pdf)
	r, _, err := w.request(ctx, pdfPart{Attachment: ingest.Attachment{FileName: name, Data: pdf}, sha256: hex.EncodeToString(sum[:])}, validationTime)
	return r, err
}

// formSerial reads the serial the form names, for the operator's list,
// when the decision did not establish it.
func formSerial(rep *pdfverify.Report, f authorize.FormFields) string {
	name := f.Serial
	if name == "" {
		name = authorize.DefaultFormFields().Serial
	}
	s, err := authorize.ParseSerial(rep.Form[name])
	if err != nil || s == nil || s.Cmp(big.NewInt(0)) <= 0 {
		return ""
	}
	return authorize.FormatSerial(s)
}
