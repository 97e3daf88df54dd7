package notify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/mail"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	gomessage "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decodes subjects in legacy charsets
	gomail "github.com/emersion/go-message/mail"

	"github.com/revokd/revokd/queue"
)

// Limits on what the outbox may hold. The worker writes short texts; a
// row beyond these was not written by it, or carries a hostile subject.
const (
	// maxAddressBytes is RFC 5321's limit on a path (256 octets with the
	// angle brackets).
	maxAddressBytes = 254
	// maxSubjectRunes keeps the subject a subject: the request's own
	// subject is echoed, and anyone chooses it.
	maxSubjectRunes = 200
	// maxBodyBytes is far above any acknowledgement or result (a result
	// lists one line per attached PDF) and far below what a relay
	// refuses.
	maxBodyBytes = 1 << 20
	// maxMessageIDBytes bounds the request's Message-ID echoed in
	// In-Reply-To and References; RFC 5322 lines stop at 998.
	maxMessageIDBytes = 250
)

// defaultSubject is the subject of a reply to a mail that had none
// usable.
const defaultSubject = "Demande de révocation / Revocation request"

// RefusedError says why a mail of the outbox is not sent at all: its
// recipient is missing, malformed, hostile or the desk itself. Retrying
// cannot change that, so the mail is failed at once.
type RefusedError struct {
	Reason string
}

func (e *RefusedError) Error() string { return "not sent: " + e.Reason }

func refuse(format string, args ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// message is an outbox mail ready for the relay.
type message struct {
	to   string // the envelope recipient
	utf8 bool   // the recipient needs SMTPUTF8
	data []byte // CRLF lines
}

// compose builds the mail for row, or refuses it.
func (r *sender) compose(row *queue.OutboxRow) (*message, error) {
	to, err := r.recipient(row.To)
	if err != nil {
		return nil, err
	}
	subject, body := row.Subject, row.Body
	if row.Data != "" {
		m, err := DecodeMessage(row.Data)
		if err != nil {
			return nil, refuse("%v", err)
		}
		ref := row.RequestID
		if ref == 0 && len(row.RequestIDs) > 0 {
			ref = row.RequestIDs[0]
		}
		out, err := r.templates.Render(m, ref, row.RequestIDs, r.Now())
		if err != nil {
			return nil, refuse("rendering the %s: %v", m.Kind, err)
		}
		subject, body = out.Subject, out.Body
	}
	body = normaliseBody(body)
	if len(body) > maxBodyBytes {
		return nil, refuse("body of %d bytes exceeds %d", len(body), maxBodyBytes)
	}

	var h gomail.Header
	// Fields are written in the reverse order of their addition.
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	h.Set("MIME-Version", "1.0")
	// Microsoft Exchange's out-of-office and read receipts honour this
	// rather than Auto-Submitted.
	h.Set("X-Auto-Response-Suppress", "All")
	// RFC 3834: an automatic reply to a message; a digest to operators
	// answers none, and is auto-generated.
	if row.MailID == 0 {
		h.Set("Auto-Submitted", "auto-generated")
	} else {
		h.Set("Auto-Submitted", "auto-replied")
	}
	if id, ok := parseMessageID(row.OriginalMessageID); ok {
		h.SetMsgIDList("References", []string{id})
		h.SetMsgIDList("In-Reply-To", []string{id})
	}
	h.SetMessageID(r.messageID(row))
	h.SetDate(r.Now())
	h.SetSubject(cleanSubject(subject))
	h.SetAddressList("To", []*gomail.Address{{Address: to}})
	h.SetAddressList("From", []*gomail.Address{r.from})

	var buf bytes.Buffer
	w, err := gomail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, refuse("building the message: %v", err)
	}
	if _, err := io.WriteString(w, body); err != nil {
		return nil, refuse("building the message: %v", err)
	}
	if err := w.Close(); err != nil {
		return nil, refuse("building the message: %v", err)
	}
	return &message{to: to, utf8: !isASCII(to), data: buf.Bytes()}, nil
}

// recipient checks the outbox's recipient and returns the bare address.
func (r *sender) recipient(to string) (string, error) {
	switch {
	case strings.TrimSpace(to) == "":
		return "", refuse("no recipient")
	case strings.ContainsAny(to, "\r\n"):
		return "", refuse("recipient %q contains a line break", to)
	case strings.IndexFunc(to, unicode.IsControl) >= 0:
		return "", refuse("recipient %q contains a control character", to)
	case !utf8.ValidString(to):
		return "", refuse("recipient %q is not UTF-8", to)
	}
	a, err := mail.ParseAddress(to)
	if err != nil {
		return "", refuse("recipient %q: %v", to, err)
	}
	addr := a.Address
	switch {
	case len(addr) > maxAddressBytes:
		return "", refuse("recipient of %d bytes exceeds %d", len(addr), maxAddressBytes)
	case strings.ContainsAny(addr, "\r\n<>") || strings.IndexFunc(addr, unicode.IsControl) >= 0:
		return "", refuse("recipient %q is not a plain address", addr)
	case strings.EqualFold(addr, r.from.Address):
		return "", refuse("recipient %q is the desk's own address (mail loop)", addr)
	}
	return addr, nil
}

// messageID is the Message-ID of row's mail, without angle brackets:
// the same for every attempt, so that a mail sent twice (at least once
// delivery) is recognisable as one, and unique across outboxes since it
// hashes the row's creation instant and content.
func (r *sender) messageID(row *queue.OutboxRow) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%d\x00%s\x00%s\x00%s\x00%s\x00%s", row.ID, row.MailID, row.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000000Z"),
		row.Kind, row.To, row.Subject, row.Body)
	return "revokd." + strconv.FormatInt(row.ID, 10) + "." + hex.EncodeToString(h.Sum(nil)[:12]) + "@" + r.fromDomain
}

// parseMessageID returns the identifier inside a received Message-ID
// header ("<id@host>" gives "id@host"), when it is one that can be
// echoed safely: printable ASCII, no spaces, no angle brackets inside.
func parseMessageID(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if len(v) < 3 || len(v) > maxMessageIDBytes || v[0] != '<' || v[len(v)-1] != '>' {
		return "", false
	}
	id := v[1 : len(v)-1]
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' {
			return "", false
		}
	}
	if !strings.Contains(id, "@") {
		return "", false
	}
	return id, true
}

// cleanSubject decodes the subject the worker stored (the request's raw
// header with "Re: " before it), so that it is encoded once, and only
// once, on the way out; control characters become spaces and runs of
// spaces one space, so that nothing in it can end the header line.
func cleanSubject(raw string) string {
	h := gomessage.Header{}
	h.Set("Subject", strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, raw))
	s, err := h.Text("Subject")
	if err != nil {
		s = raw
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if rs := []rune(s); len(rs) > maxSubjectRunes {
		s = string(rs[:maxSubjectRunes-1]) + "…"
	}
	if s == "" {
		return defaultSubject
	}
	return s
}

// normaliseBody makes the body valid UTF-8 with LF line ends; the
// quoted-printable writer turns them into CRLF.
func normaliseBody(b string) string {
	b = strings.ToValidUTF8(b, "\uFFFD")
	b = strings.ReplaceAll(b, "\r\n", "\n")
	b = strings.ReplaceAll(b, "\r", "\n")
	if !strings.HasSuffix(b, "\n") {
		b += "\n"
	}
	return b
}
