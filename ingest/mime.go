package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	netmail "net/mail"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
	// Registers the charsets of RFC 2047 encoded-words (ISO-8859-x,
	// Windows-125x, ...) that French mail clients still send in subjects and
	// file names.
	_ "github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// Defaults of Limits. A zero field of Limits takes the matching default.
const (
	// DefaultMaxMessageBytes bounds a whole raw message. A signed form is a
	// few hundred KiB to a few MiB, base64 adds a third, and mail servers
	// commonly refuse messages above 25 to 50 MB: 32 MiB keeps every real
	// request while capping the memory one message can take.
	DefaultMaxMessageBytes int64 = 32 << 20

	// DefaultMaxDepth bounds the nesting of multiparts and encapsulated
	// messages. Real mail rarely nests more than 5 levels (a forward of a
	// forward of a signed mail); go-message has no limit, and 10,000 nested
	// multiparts cost it 19 s and 536 MB because every level re-scans the
	// bytes of the levels inside it.
	DefaultMaxDepth = 20

	// DefaultMaxParts bounds the MIME entities read in one message. A
	// request has a handful; 1000 leaves room for mailing-list digests while
	// stopping a message made of millions of empty parts.
	DefaultMaxParts = 1000

	// DefaultMaxAttachmentBytes bounds one decoded PDF part. The reference
	// form signed with an embedded chain and revocation data stays well
	// under 5 MiB; 20 MiB leaves room for scanned annexes without letting
	// one part hold the whole message budget.
	DefaultMaxAttachmentBytes int64 = 20 << 20
)

// maxHeaderBytes bounds the header of the message and of each encapsulated
// message. Long Received, DKIM and ARC chains stay under 64 KiB. It is a
// quarter of go-message's default because its header parser allocates
// about 300 bytes per line: a header of short lines costs some 60 times its
// size, and encapsulated messages nest.
const maxHeaderBytes = 256 << 10

// maxPartHeaderBytes bounds the header of one part of a multipart, together
// with the boundary lines and preamble before it. go-message does not bound
// part headers, and its header parser allocates about 300 bytes for each
// line, so a message of short header lines would cost ten times its size in
// memory. Real part headers are a few hundred bytes, a few KiB with a long
// encoded file name.
const maxPartHeaderBytes = 64 << 10

// pdfMagic starts every PDF file (ISO 32000-2, 7.5.2).
var pdfMagic = []byte("%PDF-")

// Sentinel errors of ParseMessage, for errors.Is.
var (
	// ErrTooLarge reports a message longer than Limits.MaxMessageBytes.
	ErrTooLarge = errors.New("message too large")
	// ErrTooDeep reports multiparts or encapsulated messages nested deeper
	// than Limits.MaxDepth.
	ErrTooDeep = errors.New("MIME structure nested too deep")
	// ErrTooManyParts reports a message with more than Limits.MaxParts
	// MIME entities.
	ErrTooManyParts = errors.New("too many MIME parts")
	// ErrAttachmentTooLarge is set as Attachment.Err on a PDF part whose
	// decoded body is longer than Limits.MaxAttachmentBytes.
	ErrAttachmentTooLarge = errors.New("attachment too large")
	// ErrMalformed reports a message whose MIME structure cannot be read to
	// its end: an unreadable header, a multipart without a boundary or
	// whose closing boundary is missing, a part header over 64 KiB.
	ErrMalformed = errors.New("malformed MIME structure")
)

// Limits bounds the work ParseMessage does on one untrusted message. A zero
// field takes its default (DefaultMaxMessageBytes, DefaultMaxDepth,
// DefaultMaxParts, DefaultMaxAttachmentBytes); a negative one is an error.
type Limits struct {
	// MaxMessageBytes bounds the whole raw message; a longer one fails with
	// ErrTooLarge.
	MaxMessageBytes int64
	// MaxDepth bounds the nesting of multiparts and encapsulated
	// (message/rfc822) messages; deeper nesting fails with ErrTooDeep.
	MaxDepth int
	// MaxParts bounds the MIME entities read, as counted by Message.Parts;
	// more fail with ErrTooManyParts.
	MaxParts int
	// MaxAttachmentBytes bounds one decoded PDF part. A longer part is kept
	// in Message.Attachments with no Data and Err set to
	// ErrAttachmentTooLarge, and the other parts are still read.
	MaxAttachmentBytes int64
}

// withDefaults returns a copy of l with zero fields set to their defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxMessageBytes == 0 {
		l.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if l.MaxDepth == 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxParts == 0 {
		l.MaxParts = DefaultMaxParts
	}
	if l.MaxAttachmentBytes == 0 {
		l.MaxAttachmentBytes = DefaultMaxAttachmentBytes
	}
	return l
}

// validate reports the first field of l that no message could satisfy.
func (l Limits) validate() error {
	switch {
	case l.MaxMessageBytes < 0:
		return fmt.Errorf("MaxMessageBytes is %d, want 0 (default) or more", l.MaxMessageBytes)
	case l.MaxMessageBytes == math.MaxInt64:
		// The +1 byte that detects overflow would not fit.
		return fmt.Errorf("MaxMessageBytes is %d, want less than %d", l.MaxMessageBytes, int64(math.MaxInt64))
	case l.MaxDepth < 0:
		return fmt.Errorf("MaxDepth is %d, want 0 (default) or more", l.MaxDepth)
	case l.MaxParts < 0:
		return fmt.Errorf("MaxParts is %d, want 0 (default) or more", l.MaxParts)
	case l.MaxAttachmentBytes < 0:
		return fmt.Errorf("MaxAttachmentBytes is %d, want 0 (default) or more", l.MaxAttachmentBytes)
	case l.MaxAttachmentBytes == math.MaxInt64:
		return fmt.Errorf("MaxAttachmentBytes is %d, want less than %d", l.MaxAttachmentBytes, int64(math.MaxInt64))
	}
	return nil
}

// Attachment is one PDF part of a message.
type Attachment struct {
	// FileName is the part's file name (Content-Disposition filename, else
	// Content-Type name), decoded from RFC 2231 and RFC 2047; "" if none.
	// It is chosen by the sender: never use it as a path.
	FileName string
	// ContentType is the part's media type in lower case, without
	// parameters; "text/plain" when the header is missing or unparsable
	// (RFC 2045, 5.2).
	ContentType string
	// Path is the part's position in the MIME tree in IMAP section
	// numbering (RFC 3501, 6.4.5): "1" for the body of a single-part
	// message, "2.1" for the first part inside the second part.
	Path string
	// Data is the decoded body. It is nil when the part was over
	// Limits.MaxAttachmentBytes, and may be incomplete when Err is set.
	Data []byte
	// Err is non-nil when the body could not be decoded completely
	// (truncated base64, bad quoted-printable, unknown transfer encoding,
	// ErrAttachmentTooLarge). Data must then not be verified as a PDF,
	// though it may well start with "%PDF-".
	Err error
	// InArchive is the file name of the .zip archive the PDF was taken
	// from (FileName is then "archive.zip/entry.pdf"); "" otherwise.
	InArchive string
}

// Message is what ParseMessage extracts from one raw message.
type Message struct {
	// Header holds the top-level header fields.
	Header
	// Attachments lists every PDF part in the order of the message: parts
	// typed application/pdf or application/x-pdf, parts of a non-text type
	// whose file name ends in ".pdf", and parts of any type whose decoded
	// body starts with "%PDF-". Parts inside encapsulated (forwarded)
	// messages, opaque S/MIME layers and .zip archives are included.
	Attachments []Attachment
	// SMIME lists the opaque S/MIME layers (application/pkcs7-mime) found,
	// outermost first, with their signer or recipient: evidence only.
	SMIME []SMIMELayer
	// Unopened lists the parts that may hold a form but could not be
	// read: encrypted S/MIME without the desk's key, Outlook's
	// winmail.dat, archives over a limit or damaged.
	Unopened []Unopened
	// Parts counts the MIME entities read: the message itself, every part
	// of every multipart, and every encapsulated message.
	Parts int
}

// ParseMessage reads one raw RFC 5322 message from r and extracts its header
// fields and every PDF part, descending into multiparts and encapsulated
// (message/rfc822) messages. It reads at most lim.MaxMessageBytes+1 bytes of
// r and holds the message in memory.
//
// The error wraps ErrTooLarge, ErrTooDeep, ErrTooManyParts or ErrMalformed
// when the message breaks a limit or cannot be read; it is never set for an
// unknown charset, nor for a part that cannot be decoded (that is the
// part's Attachment.Err). On error, the returned Message is nil if the
// header could not be read; otherwise it carries the header fields, so that
// the sender can be answered, and no attachments.
//
// ParseMessage checks nothing about the PDFs, nor who sent the message.
func ParseMessage(r io.Reader, lim Limits) (*Message, error) {
	return ParseMessageWith(r, Options{Limits: lim})
}

// Options configure ParseMessageWith.
type Options struct {
	// Limits bound the work on one message; see Limits for the zero value.
	Limits Limits
	// Decrypter opens encrypted S/MIME (enveloped-data) addressed to the
	// desk. Nil leaves such a layer unopened: it is listed in
	// Message.Unopened with UnopenedEncrypted.
	Decrypter *Decrypter
}

// ParseMessageWith is ParseMessage with options: it also opens the
// encrypted S/MIME layers that opts.Decrypter can decrypt.
func ParseMessageWith(r io.Reader, opts Options) (*Message, error) {
	lim := opts.Limits.withDefaults()
	if err := lim.validate(); err != nil {
		return nil, fmt.Errorf("invalid limits: %w", err)
	}

	raw, err := io.ReadAll(io.LimitReader(r, lim.MaxMessageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading message: %w", err)
	}
	tooLarge := int64(len(raw)) > lim.MaxMessageBytes

	h, body, err := readHeader(bytes.NewReader(raw))
	if err != nil {
		if tooLarge {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, lim.MaxMessageBytes)
		}
		return nil, fmt.Errorf("%w: reading header: %w", ErrMalformed, err)
	}
	msg := &Message{Parts: 1}
	msg.Header.set(h)
	if tooLarge {
		return msg, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, lim.MaxMessageBytes)
	}

	w := walker{lim: lim, msg: msg, dec: opts.Decrypter}
	w.detached(h, raw, "")
	if err := w.message(h, body, "", 0); err != nil {
		msg.Attachments = nil
		return msg, err
	}
	return msg, nil
}

// addressParser decodes display names with the charsets go-message knows,
// and keeps the raw bytes of an unknown charset rather than losing the
// whole address: the address is what an answer is sent to.
var addressParser = netmail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: lenientCharsetReader}}

// parseAddressList parses an address list header value; nil if empty.
func parseAddressList(v string) ([]*mail.Address, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	list, err := addressParser.ParseList(v)
	if err != nil {
		return nil, err
	}
	for _, a := range list {
		a.Name = strings.ToValidUTF8(a.Name, "\uFFFD")
	}
	return list, nil
}

// lenientCharsetReader converts from charset to UTF-8 with go-message's
// table, or passes the input through unchanged when the charset is unknown.
func lenientCharsetReader(charset string, input io.Reader) (io.Reader, error) {
	if message.CharsetReader != nil {
		if r, err := message.CharsetReader(strings.ToLower(charset), input); err == nil {
			return r, nil
		}
	}
	return input, nil
}

// wordDecoder decodes RFC 2047 encoded-words in parameter values: not
// allowed by RFC 2047 (5), but what Outlook and Gmail send for non-ASCII
// file names.
var wordDecoder = mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
	if message.CharsetReader == nil {
		return nil, fmt.Errorf("unhandled charset %q", charset)
	}
	return message.CharsetReader(strings.ToLower(charset), input)
}}

// walker walks the MIME tree of one message, counting entities against the
// limits and collecting PDF parts.
type walker struct {
	lim Limits
	msg *Message
	dec *Decrypter
}

// message walks the body of a message (the top-level one or an encapsulated
// one) whose header is h, numbering its parts under prefix. depth is the
// number of multiparts and encapsulated messages around it.
func (w *walker) message(h textproto.Header, body io.Reader, prefix string, depth int) error {
	mediaType, params := contentType(h, "text/plain")
	if strings.HasPrefix(mediaType, "multipart/") {
		return w.multipart(mediaType, params, body, prefix, depth)
	}
	// A single-part body is section 1 of its message (RFC 3501, 6.4.5).
	return w.part(h, "text/plain", body, joinPath(prefix, 1), depth)
}

// part walks one entity at path whose header is h and whose raw (still
// transfer-encoded) body is body. defaultType is the type the entity has
// when it has no Content-Type.
func (w *walker) part(h textproto.Header, defaultType string, body io.Reader, path string, depth int) error {
	mediaType, params := contentType(h, defaultType)
	switch {
	case strings.HasPrefix(mediaType, "multipart/"):
		return w.multipart(mediaType, params, body, path, depth)
	case mediaType == "message/rfc822" || mediaType == "message/global":
		return w.encapsulated(h, body, path, depth)
	case isSMIME(mediaType, params, fileName(h, params)):
		return w.smime(h, params, body, path, depth)
	case isZip(mediaType, fileName(h, params)):
		return w.zip(h, fileName(h, params), body, path)
	case isTNEF(mediaType, fileName(h, params)):
		w.msg.Unopened = append(w.msg.Unopened, Unopened{Path: path, FileName: fileName(h, params), Kind: UnopenedTNEF,
			Reason: "Outlook's winmail.dat (TNEF) is not read"})
		return nil
	default:
		return w.leaf(h, mediaType, params, body, path)
	}
}

// multipart walks the parts of a multipart entity at path.
func (w *walker) multipart(mediaType string, params map[string]string, body io.Reader, path string, depth int) error {
	depth++
	if depth > w.lim.MaxDepth {
		return fmt.Errorf("%w: more than %d levels at part %s", ErrTooDeep, w.lim.MaxDepth, pathOrRoot(path))
	}
	boundary := params["boundary"]
	if boundary == "" {
		return fmt.Errorf("%w: %s at part %s has no boundary", ErrMalformed, mediaType, pathOrRoot(path))
	}
	// RFC 2046, 5.1.5: the parts of a digest are messages by default.
	childDefault := "text/plain"
	if mediaType == "multipart/digest" {
		childDefault = "message/rfc822"
	}

	budget := &budgetReader{r: body}
	mr := textproto.NewMultipartReader(budget, boundary)
	for i := 1; ; i++ {
		budget.limit(maxPartHeaderBytes)
		p, err := mr.NextPart()
		budget.limit(-1)
		if err == io.EOF {
			return nil
		}
		childPath := joinPath(path, i)
		if budget.exceeded {
			return fmt.Errorf("%w: header of part %s over %d bytes", ErrMalformed, childPath, maxPartHeaderBytes)
		}
		if err != nil {
			return fmt.Errorf("%w: reading part %s: %w", ErrMalformed, childPath, err)
		}
		if err := w.count(childPath); err != nil {
			return err
		}
		if err := w.part(p.Header, childDefault, p, childPath, depth); err != nil {
			return err
		}
		// Read the rest of the part now, so that the header budget of the
		// next NextPart covers only boundary lines and a header.
		if _, err := io.Copy(io.Discard, p); err != nil {
			return fmt.Errorf("%w: reading part %s: %w", ErrMalformed, childPath, err)
		}
	}
}

// encapsulated walks the message carried by a message/rfc822 entity at path.
func (w *walker) encapsulated(h textproto.Header, body io.Reader, path string, depth int) error {
	depth++
	if depth > w.lim.MaxDepth {
		return fmt.Errorf("%w: more than %d levels at part %s", ErrTooDeep, w.lim.MaxDepth, pathOrRoot(path))
	}
	// RFC 2046, 5.2.1 allows only 7bit, 8bit and binary here, but some
	// clients base64-encode forwarded messages; an unknown encoding leaves
	// the bytes as they are, which is the best guess.
	decoded, _ := transferDecoder(h, body)
	inner, innerBody, err := readHeader(decoded)
	if err != nil {
		return fmt.Errorf("%w: reading header of the message in part %s: %w", ErrMalformed, path, err)
	}
	if err := w.count(path); err != nil {
		return err
	}
	return w.message(inner, innerBody, path, depth)
}

// leaf reads a non-container entity and keeps it when it is a PDF.
func (w *walker) leaf(h textproto.Header, mediaType string, params map[string]string, body io.Reader, path string) error {
	name := fileName(h, params)
	decoded, encErr := transferDecoder(h, body)

	typed := mediaType == "application/pdf" || mediaType == "application/x-pdf" ||
		!strings.HasPrefix(mediaType, "text/") && strings.HasSuffix(strings.ToLower(strings.TrimSpace(name)), ".pdf")
	if !typed {
		// Only the first bytes of an untyped part are read to sniff it;
		// the caller discards the rest.
		head := make([]byte, len(pdfMagic))
		n, _ := io.ReadFull(decoded, head)
		if !bytes.Equal(head[:n], pdfMagic) {
			return nil
		}
		decoded = io.MultiReader(bytes.NewReader(head), decoded)
	}

	a := Attachment{FileName: name, ContentType: mediaType, Path: path}
	data, err := io.ReadAll(io.LimitReader(decoded, w.lim.MaxAttachmentBytes+1))
	switch {
	case int64(len(data)) > w.lim.MaxAttachmentBytes:
		a.Err = fmt.Errorf("part %s: %w: more than %d bytes", path, ErrAttachmentTooLarge, w.lim.MaxAttachmentBytes)
	case encErr != nil:
		// The body was not decoded at all.
		a.Data = data
		a.Err = fmt.Errorf("decoding part %s: %w", path, encErr)
	case err != nil:
		a.Data = data
		a.Err = fmt.Errorf("decoding part %s: %w", path, err)
	default:
		a.Data = data
	}
	w.msg.Attachments = append(w.msg.Attachments, a)
	return nil
}

// count counts one more entity, at path, against MaxParts.
func (w *walker) count(path string) error {
	w.msg.Parts++
	if w.msg.Parts > w.lim.MaxParts {
		return fmt.Errorf("%w: more than %d at part %s", ErrTooManyParts, w.lim.MaxParts, path)
	}
	return nil
}

// readHeader reads a message header of at most maxHeaderBytes from r and
// returns it with the rest of r, the raw body.
func readHeader(r io.Reader) (textproto.Header, io.Reader, error) {
	budget := &budgetReader{r: r}
	budget.limit(maxHeaderBytes)
	br := bufio.NewReader(budget)
	h, err := textproto.ReadHeader(br)
	budget.limit(-1)
	if budget.exceeded {
		return h, nil, fmt.Errorf("header over %d bytes", maxHeaderBytes)
	}
	if err != nil {
		return h, nil, err
	}
	return h, br, nil
}

// transferDecoder returns the body decoded from its Content-Transfer-Encoding
// with go-message's decoders. It never converts a charset: a PDF labelled
// text/* must keep its bytes. For an unknown encoding it returns the body
// as is with an error.
func transferDecoder(h textproto.Header, body io.Reader) (io.Reader, error) {
	var only textproto.Header
	only.Set("Content-Type", "application/octet-stream")
	if cte := h.Get("Content-Transfer-Encoding"); cte != "" {
		only.Set("Content-Transfer-Encoding", cte)
	}
	e, err := message.New(message.Header{Header: only}, body)
	if e == nil {
		return body, err
	}
	return e.Body, err
}

// contentType returns the lower-case media type of h and its parameters,
// defaultType when the header is missing, and text/plain when it does not
// parse (RFC 2045, 5.2).
func contentType(h textproto.Header, defaultType string) (string, map[string]string) {
	v := h.Get("Content-Type")
	if strings.TrimSpace(v) == "" {
		return defaultType, nil
	}
	mediaType, params, err := mime.ParseMediaType(v)
	switch {
	case errors.Is(err, mime.ErrInvalidMediaParameter):
		// The type is good, the parameters are not: keep the type.
		return mediaType, nil
	case err != nil:
		return "text/plain", nil
	}
	return mediaType, params
}

// fileName returns the decoded file name of a part: the Content-Disposition
// filename, else the Content-Type name. mime.ParseMediaType joins RFC 2231
// continuations and decodes their UTF-8 and US-ASCII charsets; RFC 2047
// encoded-words are decoded here.
func fileName(h textproto.Header, typeParams map[string]string) string {
	var name string
	if v := h.Get("Content-Disposition"); v != "" {
		if _, params, err := mime.ParseMediaType(v); err == nil {
			name = params["filename"]
		}
	}
	if name == "" {
		name = typeParams["name"]
	}
	if decoded, err := wordDecoder.DecodeHeader(name); err == nil {
		name = decoded
	}
	return name
}

// joinPath appends section number n to an IMAP section path.
func joinPath(prefix string, n int) string {
	if prefix == "" {
		return strconv.Itoa(n)
	}
	return prefix + "." + strconv.Itoa(n)
}

// pathOrRoot names a path in errors, the top-level message being "".
func pathOrRoot(path string) string {
	if path == "" {
		return "(root)"
	}
	return path
}

// budgetReader reads from r and, while a limit is set, fails once more than
// that many bytes have been read. It bounds the header parsers of
// go-message, which read from a bufio.Reader they do not bound.
type budgetReader struct {
	r        io.Reader
	left     int64 // bytes still allowed; < 0 for no limit
	exceeded bool
}

var errOverBudget = errors.New("header too large")

// limit allows n more bytes, or any number when n < 0.
func (b *budgetReader) limit(n int64) {
	b.left = n
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.left < 0 {
		return b.r.Read(p)
	}
	if b.left == 0 {
		b.exceeded = true
		return 0, errOverBudget
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}
