package ingest

import (
	"bytes"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/charmap"
)

// How Header.From was read, in Header.FromDecoding.
const (
	// FromStandard: the field parsed as RFC 5322 (with RFC 2047 encoded
	// words and RFC 6532 UTF-8).
	FromStandard = ""
	// FromWindows1252: the field carried raw 8-bit bytes that are not
	// UTF-8 (an old client or gateway writing windows-1252 or Latin-1,
	// which windows-1252 extends); they were read as windows-1252.
	FromWindows1252 = "windows-1252"
	// FromAddressOnly: the field did not parse even so; the address was
	// taken from its angle brackets or its one word with an "@", and the
	// display name dropped.
	FromAddressOnly = "address-only"
)

// Header is what revokd reads of a message's top-level header: enough to
// record a mail and answer its sender, even for a mail over the size cap
// whose body is never fetched.
type Header struct {
	// MessageID is the Message-ID without angle brackets, or the raw
	// header value when it does not parse; "" if none.
	MessageID string
	// Subject is decoded from RFC 2047; it is the raw header value when an
	// encoded-word uses an unknown charset, and raw 8-bit bytes that are
	// not UTF-8 are read as windows-1252.
	Subject string
	// From is the first address of the From header, nil if there is none or
	// no address can be found in it. Nothing authenticates it.
	From *mail.Address
	// FromDecoding says how From was read: FromStandard, or
	// FromWindows1252 or FromAddressOnly when the standard parser refused
	// the field and the address was taken leniently.
	FromDecoding string
	// FromRaw is the From field's raw bytes when FromDecoding is not
	// FromStandard, kept as evidence of what the sender's client wrote;
	// nil otherwise.
	FromRaw []byte
	// ReplyTo holds the Reply-To addresses, nil if none or unparsable.
	ReplyTo []*mail.Address
	// Date is the Date header, zero if missing or unparsable.
	Date time.Time
	// AutoSubmitted is the Auto-Submitted header (RFC 3834) with surrounding
	// space removed; "" if none. Any value other than "no" marks a message
	// that must not be answered automatically.
	AutoSubmitted string
	// Precedence is the Precedence header in lower case ("bulk", "list",
	// "junk"), "" if none.
	Precedence string
	// ContentType is the top-level media type in lower case, without
	// parameters; "" when the header is missing.
	ContentType string
	// AuthenticationResults holds the Authentication-Results fields (RFC
	// 8601) as found, the topmost (the last server's) first. Only those
	// added by the desk's own receiving server mean anything: a sender can
	// write any of the others.
	AuthenticationResults []string
}

// ReadHeader reads the header section at the start of raw, a whole message
// or its header alone (what an IMAP BODY.PEEK[HEADER] returns), keeping
// every field that parses. It reads at most 256 KiB. An error means no
// header could be read at all.
func ReadHeader(raw []byte) (*Header, error) {
	if len(raw) > maxHeaderBytes {
		raw = raw[:maxHeaderBytes]
	}
	if !bytes.Contains(raw, []byte("\n\r\n")) && !bytes.Contains(raw, []byte("\n\n")) {
		// A header section cut short (a server's bound, a partial fetch):
		// keep its whole lines.
		raw = append(raw[:bytes.LastIndexByte(raw, '\n')+1:bytes.LastIndexByte(raw, '\n')+1], "\r\n"...)
	}
	h, _, err := readHeader(bytes.NewReader(raw))
	if err != nil && h.Len() == 0 {
		return nil, fmt.Errorf("%w: reading header: %w", ErrMalformed, err)
	}
	var hdr Header
	hdr.set(h)
	return &hdr, nil
}

// set fills the fields of hdr from h, keeping what parses.
func (hdr *Header) set(h textproto.Header) {
	mh := mail.Header{Header: message.Header{Header: h}}

	if id, err := mh.MessageID(); err == nil {
		hdr.MessageID = id
	} else {
		hdr.MessageID = lenientText(h.Get("Message-Id"))
	}
	// On an unknown charset Subject returns the raw value, which is what we
	// want to show.
	subject, _ := mh.Subject()
	hdr.Subject = lenientText(subject)
	hdr.From, hdr.FromDecoding = parseFrom(h.Get("From"))
	if hdr.FromDecoding != FromStandard {
		hdr.FromRaw = []byte(h.Get("From"))
	}
	if replyTo, err := parseAddressList(h.Get("Reply-To")); err == nil && len(replyTo) > 0 {
		hdr.ReplyTo = replyTo
	}
	if date, err := mh.Date(); err == nil {
		hdr.Date = date
	}
	hdr.AutoSubmitted = strings.TrimSpace(h.Get("Auto-Submitted"))
	hdr.Precedence = strings.ToLower(strings.TrimSpace(h.Get("Precedence")))
	if strings.TrimSpace(h.Get("Content-Type")) != "" {
		hdr.ContentType, _ = contentType(h, "")
	}
	for _, v := range h.Values("Authentication-Results") {
		hdr.AuthenticationResults = append(hdr.AuthenticationResults, lenientText(v))
	}
}

// parseFrom finds the sender's address in a From field and says how.
//
// QUIRK: RFC 5322 allows only ASCII in headers and RFC 6532 UTF-8, but
// some clients and gateways still write a display name in raw
// windows-1252 or Latin-1 bytes. net/mail refuses such a field, which
// would leave the sender unanswered; the address itself is ASCII, so it is
// read anyway and the raw bytes are kept as evidence.
func parseFrom(v string) (*mail.Address, string) {
	if strings.TrimSpace(v) == "" {
		return nil, FromStandard
	}
	if list, err := parseAddressList(v); err == nil && len(list) > 0 {
		return list[0], FromStandard
	}
	if !utf8.ValidString(v) {
		if list, err := parseAddressList(windows1252(v)); err == nil && len(list) > 0 {
			return list[0], FromWindows1252
		}
	}
	if a := addressOnly(v); a != nil {
		return a, FromAddressOnly
	}
	return nil, FromStandard
}

// addressOnly takes the address out of a From field that does not parse:
// the last angle-bracketed addr-spec, else the one word holding an "@".
// What it returns is a valid addr-spec or nil.
func addressOnly(v string) *mail.Address {
	candidate := ""
	if end := strings.LastIndexByte(v, '>'); end > 0 {
		if start := strings.LastIndexByte(v[:end], '<'); start >= 0 {
			candidate = v[start+1 : end]
		}
	}
	if candidate == "" {
		var words []string
		for _, w := range strings.Fields(v) {
			if strings.Contains(w, "@") {
				words = append(words, strings.Trim(w, `"',;()`))
			}
		}
		if len(words) != 1 {
			return nil
		}
		candidate = words[0]
	}
	a, err := netmail.ParseAddress("<" + strings.TrimSpace(candidate) + ">")
	if err != nil || a.Address == "" {
		return nil
	}
	return &mail.Address{Address: a.Address}
}

// lenientText returns s when it is UTF-8, else s read as windows-1252.
func lenientText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return windows1252(s)
}

// windows1252 decodes s from windows-1252. Its five unassigned bytes
// become U+FFFD.
func windows1252(s string) string {
	out, err := charmap.Windows1252.NewDecoder().String(s)
	if err != nil {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return out
}
