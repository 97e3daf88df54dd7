// Package worker is the one place that knows the order of the steps for
// one mail: archive it, parse it, verify each PDF, decide, and record the
// outcome with the messages that announce it, before the mailbox moves it.
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
	"io"
	"log/slog"
	"math/big"
	"mime"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message/charset"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/notify"
	"github.com/revokd/revokd/pdfverify"
	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/revocation"
)

// maxHeaderBytes bounds the top-level header the worker reads before the
// MIME walk: the same bound the walk applies, so a huge header costs
// nothing twice.
const maxHeaderBytes = 256 << 10

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

// ErrRevocationUnknown is returned by Handle, with ingest.Leave, while a
// signature's revocation status is unknown and the mail is younger than
// the retry window; the mail is handed over again later.
var ErrRevocationUnknown = errors.New("revocation status unknown")

// Store is what the worker needs of the durable store; *queue.Store
// implements it. Every error it returns is taken as retryable.
type Store interface {
	HandledMail(ctx context.Context, key queue.MailKey, rawSHA256 string) (queue.Disposition, bool, error)
	ArchiveMail(ctx context.Context, m queue.IncomingMail) (int64, error)
	RecordOutcome(ctx context.Context, o queue.Outcome) error
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
	// Limits bound the MIME walk. Zero: ingest's defaults.
	Limits ingest.Limits
	// Address is the desk's own address: mail from it is never answered.
	Address string
	// Logger receives one line per mail; nil discards.
	Logger *slog.Logger
	// Now is the clock when a mail has no INTERNALDATE. Nil: time.Now.
	Now func() time.Time
	// Verified, when set, is told how long each PDF's verification took
	// (for a histogram of verification times).
	Verified func(elapsed time.Duration)
}

// Worker handles mails; it implements ingest.Handler.
type Worker struct {
	cfg Config
	log *slog.Logger
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
	return &Worker{cfg: cfg, log: log}, nil
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
	header := readHeader(m.Raw)
	in := queue.IncomingMail{
		Key: key, Raw: m.Raw, RawSHA256: rawHash, Size: m.Size, OverCap: m.OverCap,
		MessageID: header.messageID, From: header.from, ReceivedAt: received,
	}
	mailID, err := w.cfg.Store.ArchiveMail(ctx, in)
	if err != nil {
		return ingest.Leave, fmt.Errorf("archiving mail %d: %w", m.UID, err)
	}

	out, err := w.decide(ctx, m, header, received)
	if err != nil {
		return ingest.Leave, err
	}
	out.MailID = mailID
	if err := w.cfg.Store.RecordOutcome(ctx, out); err != nil {
		return ingest.Leave, fmt.Errorf("recording the outcome of mail %d: %w", m.UID, err)
	}
	attrs := []any{"uid", m.UID, "mail", mailID, "disposition", out.Disposition}
	if out.NotARequest != "" {
		attrs = append(attrs, "not_a_request", out.NotARequest)
	}
	for _, r := range out.Requests {
		attrs = append(attrs, "state", r.State, "reason_code", r.ReasonCode, "serial", r.Serial)
	}
	w.log.InfoContext(ctx, "mail handled", attrs...)
	return disposition(out.Disposition), nil
}

func disposition(d queue.Disposition) ingest.Disposition {
	if d == queue.DispositionRejected {
		return ingest.Rejected
	}
	return ingest.Processed
}

// mailHeader is what the worker reads of the top-level header itself.
type mailHeader struct {
	messageID, from, subject   string
	autoSubmitted, contentType string
	precedence                 string
}

// addressParser decodes RFC 2047 display names in any charset the MIME
// walk knows (windows-1252 and ISO-8859-15 are common from French mailers).
var addressParser = &mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: charset.Reader}}

func readHeader(raw []byte) mailHeader {
	var h mailHeader
	if raw == nil {
		return h
	}
	msg, err := mail.ReadMessage(io.LimitReader(bytes.NewReader(raw), maxHeaderBytes))
	if err != nil {
		return h
	}
	h.messageID = strings.TrimSpace(msg.Header.Get("Message-Id"))
	h.subject = msg.Header.Get("Subject")
	if d, err := addressParser.WordDecoder.DecodeHeader(h.subject); err == nil {
		h.subject = d
	}
	if a, err := addressParser.Parse(msg.Header.Get("From")); err == nil {
		h.from = a.Address
	}
	h.autoSubmitted = strings.ToLower(strings.TrimSpace(msg.Header.Get("Auto-Submitted")))
	h.contentType = strings.ToLower(msg.Header.Get("Content-Type"))
	h.precedence = strings.ToLower(strings.TrimSpace(msg.Header.Get("Precedence")))
	return h
}

// automatic says why a mail was sent by a machine (RFC 3834, RFC 3464),
// or "" for a person's mail. Such mail is never a request and never
// answered, which stops mail loops.
func (w *Worker) automatic(h mailHeader) string {
	switch {
	case h.autoSubmitted != "" && h.autoSubmitted != "no":
		return "automatic mail (Auto-Submitted: " + h.autoSubmitted + ")"
	case strings.HasPrefix(h.contentType, "multipart/report"):
		return "delivery or read report"
	case h.precedence == "bulk" || h.precedence == "junk" || h.precedence == "list":
		return "bulk mail (Precedence: " + h.precedence + ")"
	case h.from == "" || strings.HasPrefix(strings.ToLower(h.from), "mailer-daemon@"):
		return "mail without a sender to answer"
	case w.cfg.Address != "" && strings.EqualFold(h.from, w.cfg.Address):
		return "mail from the desk's own address"
	}
	return ""
}

// decide builds the outcome of one archived mail. Every PDF is verified
// and decided on, whoever sent the mail; what the headers say about its
// sender only decides whether it is answered.
func (w *Worker) decide(ctx context.Context, m *ingest.Mail, h mailHeader, received time.Time) (queue.Outcome, error) {
	// QUIRK: answers go to From, never to Reply-To: a reply carries the
	// outcome of a request, and Reply-To lets anyone direct it elsewhere.
	to := h.from
	auto := w.automatic(h)
	if auto != "" {
		to = ""
	}
	notRequest := func(d queue.Disposition, code notify.NotRequestWhy, why string) queue.Outcome {
		o := queue.Outcome{Disposition: d, NotARequest: why}
		if to != "" {
			o.Outbox = append(o.Outbox, notify.NotARequest(to, code))
		}
		return o
	}
	if m.OverCap {
		return notRequest(queue.DispositionRejected, notify.WhyOverSize, fmt.Sprintf("over the size cap (%d bytes)", m.Size)), nil
	}
	msg, err := ingest.ParseMessage(bytes.NewReader(m.Raw), w.cfg.Limits)
	if err != nil {
		return notRequest(queue.DispositionRejected, notify.WhyUnreadable, "unreadable mail: "+err.Error()), nil
	}
	pdfs := distinctPDFs(msg.Attachments)
	if len(pdfs) == 0 {
		if auto != "" {
			return queue.Outcome{Disposition: queue.DispositionProcessed, NotARequest: auto}, nil
		}
		return notRequest(queue.DispositionProcessed, notify.WhyNoPDF, "no PDF attached"), nil
	}
	if len(pdfs) > maxPDFsPerMail {
		w.log.WarnContext(ctx, "mail carries too many PDFs; only the first are examined", "uid", m.UID, "pdfs", len(pdfs), "examined", maxPDFsPerMail)
		pdfs = pdfs[:maxPDFsPerMail]
	}

	out := queue.Outcome{Disposition: queue.DispositionRejected}
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
