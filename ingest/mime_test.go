package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"mime/quotedprintable"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/google/go-cmp/cmp"
)

// Builders of test mails. An entity is its header lines, a blank line and
// its body, so that prepending header lines to an entity gives a message.

// samplePDF stands for a PDF: ParseMessage does not look inside. Its high
// bytes catch any charset conversion or lossy decoding.
var samplePDF = []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" +
	"trailer\n<< /Root 1 0 R >>\n%%EOF\n")

// entity renders header lines and a raw body.
func entity(body string, header ...string) string {
	var s strings.Builder
	for _, h := range header {
		s.WriteString(h + "\r\n")
	}
	s.WriteString("\r\n")
	s.WriteString(body)
	return s.String()
}

// multipart renders a multipart entity of the given subtype around parts.
// The boundary is derived from the content, so fixtures are reproducible.
func multipart(subtype string, parts ...string) string {
	sum := sha256.Sum256([]byte(subtype + "\x00" + strings.Join(parts, "\x00")))
	boundary := "=_" + hex.EncodeToString(sum[:8])
	var s strings.Builder
	fmt.Fprintf(&s, "Content-Type: multipart/%s; boundary=\"%s\"\r\n\r\n", subtype, boundary)
	s.WriteString("This is a multi-part message in MIME format.\r\n")
	for _, p := range parts {
		fmt.Fprintf(&s, "--%s\r\n%s\r\n", boundary, p)
	}
	fmt.Fprintf(&s, "--%s--\r\n", boundary)
	return s.String()
}

// mixed is a multipart/mixed entity.
func mixed(parts ...string) string { return multipart("mixed", parts...) }

// text is a text/plain part in UTF-8.
func text(s string) string {
	return entity(s+"\r\n", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit")
}

// b64 encodes data in base64 lines of 76 characters.
func b64(data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var s strings.Builder
	for len(enc) > 76 {
		s.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	s.WriteString(enc + "\r\n")
	return s.String()
}

// qp encodes data in quoted-printable.
func qp(data []byte) string {
	var s strings.Builder
	w := quotedprintable.NewWriter(&s)
	w.Binary = true // a PDF's line ends are bytes, not text line breaks
	w.Write(data)
	w.Close()
	return s.String()
}

// pdfAttachment is an application/pdf attachment named name, in base64.
func pdfAttachment(name string, data []byte) string {
	return entity(b64(data),
		fmt.Sprintf("Content-Type: application/pdf; name=%q", name),
		fmt.Sprintf("Content-Disposition: attachment; filename=%q", name),
		"Content-Transfer-Encoding: base64")
}

// forward is a message/rfc822 part carrying the message inner.
func forward(inner string) string {
	return entity(inner, "Content-Type: message/rfc822", "Content-Disposition: attachment")
}

// innerMessage is a complete message to forward, around the entity body.
func innerMessage(body string) string {
	return "From: Alice Martin <alice.martin@example.fr>\r\n" +
		"To: Bob <bob@example.fr>\r\n" +
		"Subject: Demande\r\n" +
		"Date: Mon, 02 Nov 2026 09:00:00 +0100\r\n" +
		"Message-ID: <inner@example.fr>\r\n" +
		"MIME-Version: 1.0\r\n" + body
}

// eml is a top-level message around the entity body, with extra header
// lines first.
func eml(body string, extra ...string) string {
	var s strings.Builder
	for _, h := range extra {
		s.WriteString(h + "\r\n")
	}
	s.WriteString("From: =?UTF-8?Q?Jos=C3=A9_Dupr=C3=A9?= <jose.dupre@example.fr>\r\n" +
		"To: revocation@ca.example\r\n" +
		"Subject: =?UTF-8?Q?Demande_de_r=C3=A9vocation?=\r\n" +
		"Date: Tue, 03 Nov 2026 10:11:12 +0100\r\n" +
		"Message-ID: <request-1@example.fr>\r\n" +
		"MIME-Version: 1.0\r\n")
	s.WriteString(body)
	return s.String()
}

// nested wraps inner in depth multipart/mixed levels; inner is the only
// part of the innermost one. It writes the levels directly rather than
// calling mixed depth times, which would copy the message depth times.
func nested(depth int, inner string) string {
	var s strings.Builder
	for i := range depth {
		fmt.Fprintf(&s, "Content-Type: multipart/mixed; boundary=\"=_level%d\"\r\n\r\n--=_level%d\r\n", i, i)
	}
	s.WriteString(inner)
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&s, "\r\n--=_level%d--\r\n", i)
	}
	return s.String()
}

// manyParts is a multipart/mixed of n small text parts.
func manyParts(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = text(fmt.Sprintf("part %d", i+1))
	}
	return mixed(parts...)
}

// errAny in a want means any non-nil error.
var errAny = errors.New("any error")

// checkErr reports whether got is what want asks for: nil, any error
// (errAny), or an error wrapping want.
func checkErr(got, want error) bool {
	switch want {
	case nil:
		return got == nil
	case errAny:
		return got != nil
	default:
		return errors.Is(got, want)
	}
}

// wantAttachment is what a test expects of one Attachment.
type wantAttachment struct {
	FileName    string
	ContentType string
	Path        string
	Data        []byte // nil: not checked, unless Err wants ErrAttachmentTooLarge
	DataPrefix  string // checked when Data is nil
	Err         error  // see checkErr
}

func TestParseMessage(t *testing.T) {
	qpPDF := entity(qp(samplePDF),
		"Content-Type: application/pdf",
		`Content-Disposition: attachment; filename="form.pdf"`,
		"Content-Transfer-Encoding: quoted-printable")
	truncated := b64(samplePDF)
	truncated = truncated[:len(truncated)-5] + "\r\n" // cut inside a base64 quantum
	big := append(append([]byte{}, samplePDF...), bytes.Repeat([]byte("x"), 100)...)

	tests := []struct {
		name  string
		raw   string
		lim   Limits
		want  []wantAttachment
		parts int   // checked when > 0
		err   error // see checkErr
	}{
		{
			name:  "ok/simple-attachment",
			raw:   eml(mixed(text("Bonjour"), pdfAttachment("demande.pdf", samplePDF))),
			want:  []wantAttachment{{FileName: "demande.pdf", ContentType: "application/pdf", Path: "2", Data: samplePDF}},
			parts: 3,
		},
		{
			name: "ok/single-part-pdf-message",
			raw: eml(entity(b64(samplePDF), "Content-Type: application/pdf",
				"Content-Transfer-Encoding: base64")),
			want:  []wantAttachment{{ContentType: "application/pdf", Path: "1", Data: samplePDF}},
			parts: 1,
		},
		{
			name: "ok/inline-pdf-without-filename",
			raw: eml(multipart("related",
				entity("<p>voir le formulaire</p>\r\n", "Content-Type: text/html; charset=utf-8"),
				entity(b64(samplePDF), "Content-Type: application/pdf", "Content-Disposition: inline",
					"Content-Transfer-Encoding: base64"))),
			want: []wantAttachment{{ContentType: "application/pdf", Path: "2", Data: samplePDF}},
		},
		{
			name: "ok/x-pdf",
			raw: eml(mixed(text("x"), entity(b64(samplePDF), "Content-Type: application/x-pdf",
				"Content-Transfer-Encoding: base64"))),
			want: []wantAttachment{{ContentType: "application/x-pdf", Path: "2", Data: samplePDF}},
		},
		{
			name: "ok/rfc2231-continuation-utf8",
			raw: eml(mixed(text("x"), entity(b64(samplePDF),
				"Content-Type: application/pdf",
				"Content-Disposition: attachment;\r\n filename*0*=UTF-8''Demande%20de%20r%C3%A9vocation;\r\n filename*1*=.pdf",
				"Content-Transfer-Encoding: base64"))),
			want: []wantAttachment{{FileName: "Demande de révocation.pdf", ContentType: "application/pdf", Path: "2", Data: samplePDF}},
		},
		{
			// mime.ParseMediaType decodes only UTF-8 and US-ASCII; the part
			// is still found by its type.
			name: "ok/rfc2231-latin1-name-is-dropped",
			raw: eml(mixed(text("x"), entity(b64(samplePDF),
				"Content-Type: application/pdf",
				"Content-Disposition: attachment; filename*=iso-8859-1''D%E9mande.pdf",
				"Content-Transfer-Encoding: base64"))),
			want: []wantAttachment{{ContentType: "application/pdf", Path: "2", Data: samplePDF}},
		},
		{
			name: "ok/rfc2047-filename-utf8-base64",
			raw: eml(mixed(text("x"), entity(b64(samplePDF),
				`Content-Type: application/pdf; name="=?UTF-8?B?RGVtYW5kZSBkZSByw6l2b2NhdGlvbi5wZGY=?="`,
				`Content-Disposition: attachment; filename="=?UTF-8?B?RGVtYW5kZSBkZSByw6l2b2NhdGlvbi5wZGY=?="`,
				"Content-Transfer-Encoding: base64"))),
			want: []wantAttachment{{FileName: "Demande de révocation.pdf", ContentType: "application/pdf", Path: "2", Data: samplePDF}},
		},
		{
			// windows-1252 is decoded only through go-message's charset
			// table, which the package registers.
			name: "ok/rfc2047-name-windows-1252-in-content-type-only",
			raw: eml(mixed(text("x"), entity(b64(samplePDF),
				`Content-Type: application/octet-stream; name="=?windows-1252?Q?R=E9vocation_sign=E9e=2Epdf?="`,
				"Content-Transfer-Encoding: base64"))),
			want: []wantAttachment{{FileName: "Révocation signée.pdf", ContentType: "application/octet-stream", Path: "2", Data: samplePDF}},
		},
		{
			name: "ok/forwarded-message",
			raw: eml(mixed(text("Je transfère."),
				forward(innerMessage(mixed(text("Ci-joint"), pdfAttachment("demande.pdf", samplePDF)))))),
			want:  []wantAttachment{{FileName: "demande.pdf", ContentType: "application/pdf", Path: "2.2", Data: samplePDF}},
			parts: 6, // root, 1, 2, the forwarded message, 2.1, 2.2
		},
		{
			name: "ok/forwarded-twice",
			raw: eml(mixed(text("Transfert"),
				forward(innerMessage(mixed(text("Transfert"),
					forward(innerMessage(mixed(text("Ci-joint"), pdfAttachment("demande.pdf", samplePDF))))))))),
			want: []wantAttachment{{FileName: "demande.pdf", ContentType: "application/pdf", Path: "2.2.2", Data: samplePDF}},
		},
		{
			name: "ok/forwarded-single-part-pdf",
			raw: eml(mixed(text("x"), forward(innerMessage(entity(b64(samplePDF),
				"Content-Type: application/pdf", "Content-Transfer-Encoding: base64"))))),
			want: []wantAttachment{{ContentType: "application/pdf", Path: "2.1", Data: samplePDF}},
		},
		{
			// RFC 2046 forbids it, some clients do it.
			name: "ok/forwarded-message-in-base64",
			raw: eml(mixed(text("x"), entity(b64([]byte(innerMessage(mixed(text("y"), pdfAttachment("a.pdf", samplePDF))))),
				"Content-Type: message/rfc822", "Content-Transfer-Encoding: base64"))),
			want: []wantAttachment{{FileName: "a.pdf", ContentType: "application/pdf", Path: "2.2", Data: samplePDF}},
		},
		{
			name: "ok/digest-parts-default-to-messages",
			raw: eml(multipart("digest", entity(innerMessage(entity(b64(samplePDF),
				"Content-Type: application/pdf", "Content-Transfer-Encoding: base64"))))),
			want: []wantAttachment{{ContentType: "application/pdf", Path: "1.1", Data: samplePDF}},
		},
		{
			name: "ok/octet-stream-with-pdf-name",
			raw: eml(mixed(text("x"), entity(b64(samplePDF),
				`Content-Type: application/octet-stream; name="Formulaire.PDF"`,
				"Content-Transfer-Encoding: base64"))),
			want: []wantAttachment{{FileName: "Formulaire.PDF", ContentType: "application/octet-stream", Path: "2", Data: samplePDF}},
		},
		{
			name: "ok/octet-stream-sniffed",
			raw: eml(mixed(text("x"), entity(b64(samplePDF),
				"Content-Type: application/octet-stream", "Content-Transfer-Encoding: base64"))),
			want: []wantAttachment{{ContentType: "application/octet-stream", Path: "2", Data: samplePDF}},
		},
		{
			name: "ok/pdf-name-but-not-pdf-content-is-kept",
			raw: eml(mixed(text("x"), entity(b64([]byte("GIF89a")),
				`Content-Type: image/gif; name="scan.pdf"`, "Content-Transfer-Encoding: base64"))),
			want: []wantAttachment{{FileName: "scan.pdf", ContentType: "image/gif", Path: "2", Data: []byte("GIF89a")}},
		},
		{
			name: "ok/text-named-pdf-is-not-a-pdf",
			raw: eml(mixed(entity("just notes\r\n", `Content-Type: text/plain; name="notes.pdf"`),
				entity(b64([]byte("\x89PNG")), `Content-Type: image/png; name="photo.png"`, "Content-Transfer-Encoding: base64"))),
			want: nil,
		},
		{
			// A PDF mislabelled text/* keeps its bytes: bodies are never
			// converted from their charset.
			name: "ok/pdf-labelled-latin1-text-keeps-bytes",
			raw: eml(mixed(text("x"), entity(b64(samplePDF),
				"Content-Type: text/plain; charset=iso-8859-1", "Content-Transfer-Encoding: base64"))),
			want: []wantAttachment{{ContentType: "text/plain", Path: "2", Data: samplePDF}},
		},
		{
			name: "ok/quoted-printable-pdf",
			raw:  eml(mixed(text("x"), qpPDF)),
			want: []wantAttachment{{FileName: "form.pdf", ContentType: "application/pdf", Path: "2", Data: samplePDF}},
		},
		{
			name: "ok/lf-line-endings",
			raw:  strings.ReplaceAll(eml(mixed(text("x"), pdfAttachment("demande.pdf", samplePDF))), "\r\n", "\n"),
			want: []wantAttachment{{FileName: "demande.pdf", ContentType: "application/pdf", Path: "2", Data: samplePDF}},
		},
		{
			name: "ok/invalid-parameters-keep-the-type",
			raw: eml(mixed(text("x"), entity(b64(samplePDF),
				"Content-Type: application/pdf; name=Demande de revocation.pdf", "Content-Transfer-Encoding: base64"))),
			want: []wantAttachment{{ContentType: "application/pdf", Path: "2", Data: samplePDF}},
		},
		{
			name: "ok/truncated-base64-sets-err",
			raw: eml(mixed(text("x"), entity(truncated, "Content-Type: application/pdf",
				`Content-Disposition: attachment; filename="demande.pdf"`, "Content-Transfer-Encoding: base64"))),
			want: []wantAttachment{{FileName: "demande.pdf", ContentType: "application/pdf", Path: "2", DataPrefix: "%PDF-", Err: errAny}},
		},
		{
			name: "ok/truncated-base64-sniffed-sets-err",
			raw: eml(mixed(text("x"), entity(truncated, "Content-Type: application/octet-stream",
				"Content-Transfer-Encoding: base64"))),
			want: []wantAttachment{{ContentType: "application/octet-stream", Path: "2", DataPrefix: "%PDF-", Err: errAny}},
		},
		{
			name: "ok/bad-quoted-printable-sets-err",
			raw: eml(mixed(text("x"), entity("%PDF-1.7 \x01 is not allowed unescaped\r\n", "Content-Type: application/pdf",
				"Content-Transfer-Encoding: quoted-printable"))),
			want: []wantAttachment{{ContentType: "application/pdf", Path: "2", DataPrefix: "%PDF-", Err: errAny}},
		},
		{
			name: "ok/unknown-transfer-encoding-sets-err",
			raw: eml(mixed(text("x"), entity("begin 644 demande.pdf\r\n", "Content-Type: application/pdf",
				"Content-Transfer-Encoding: x-uuencode"))),
			want: []wantAttachment{{ContentType: "application/pdf", Path: "2", Data: []byte("begin 644 demande.pdf\r\n"), Err: errAny}},
		},
		{
			name: "ok/attachment-too-large-others-continue",
			raw:  eml(mixed(pdfAttachment("big.pdf", big), text("x"), pdfAttachment("small.pdf", samplePDF))),
			lim:  Limits{MaxAttachmentBytes: int64(len(samplePDF))},
			want: []wantAttachment{
				{FileName: "big.pdf", ContentType: "application/pdf", Path: "1", Err: ErrAttachmentTooLarge},
				{FileName: "small.pdf", ContentType: "application/pdf", Path: "3", Data: samplePDF},
			},
		},
		{
			name: "ok/several-pdfs-in-order",
			raw: eml(mixed(pdfAttachment("a.pdf", samplePDF), mixed(text("x"), pdfAttachment("b.pdf", samplePDF)),
				forward(innerMessage(pdfAttachment("c.pdf", samplePDF))))),
			want: []wantAttachment{
				{FileName: "a.pdf", ContentType: "application/pdf", Path: "1", Data: samplePDF},
				{FileName: "b.pdf", ContentType: "application/pdf", Path: "2.2", Data: samplePDF},
				{FileName: "c.pdf", ContentType: "application/pdf", Path: "3.1", Data: samplePDF},
			},
		},
		{
			name:  "ok/500-parts",
			raw:   eml(manyParts(500)),
			parts: 501,
		},
		{
			name:  "ok/parts-at-limit",
			raw:   eml(manyParts(9)),
			lim:   Limits{MaxParts: 10},
			parts: 10,
		},
		{
			name:  "ok/depth-at-limit",
			raw:   eml(nested(DefaultMaxDepth, pdfAttachment("deep.pdf", samplePDF))),
			want:  []wantAttachment{{FileName: "deep.pdf", ContentType: "application/pdf", Path: strings.Repeat("1.", DefaultMaxDepth-1) + "1", Data: samplePDF}},
			parts: DefaultMaxDepth + 1,
		},
		{
			name: "ok/size-at-limit",
			raw:  eml(text("x")),
			lim:  Limits{MaxMessageBytes: int64(len(eml(text("x"))))},
		},
		{
			name: "ok/no-pdf",
			raw: eml(mixed(multipart("alternative", text("Bonjour"), entity("<p>Bonjour</p>\r\n", "Content-Type: text/html")),
				entity(b64([]byte("\x89PNG\r\n")), `Content-Type: image/png; name="logo.png"`, "Content-Transfer-Encoding: base64"))),
			want:  nil,
			parts: 5, // root, 1, 1.1, 1.2, 2
		},
		{
			name: "ok/unknown-charset-text-part",
			raw: eml(mixed(entity("caf\xe9\r\n", "Content-Type: text/plain; charset=x-no-such-charset"),
				pdfAttachment("demande.pdf", samplePDF))),
			want: []wantAttachment{{FileName: "demande.pdf", ContentType: "application/pdf", Path: "2", Data: samplePDF}},
		},
		{
			name: "ok/unknown-charset-file-name-kept-raw",
			raw: eml(mixed(text("x"), entity(b64(samplePDF), "Content-Type: application/pdf",
				`Content-Disposition: attachment; filename="=?x-no-such-charset?Q?d=E9mande.pdf?="`,
				"Content-Transfer-Encoding: base64"))),
			want: []wantAttachment{{FileName: "=?x-no-such-charset?Q?d=E9mande.pdf?=", ContentType: "application/pdf", Path: "2", Data: samplePDF}},
		},
		{
			name: "ok/large-header-under-limit",
			raw:  strings.Repeat("Received: from relay.example.fr by mx.example.fr\r\n", 4000) + eml(pdfAttachment("a.pdf", samplePDF)),
			want: []wantAttachment{{FileName: "a.pdf", ContentType: "application/pdf", Path: "1", Data: samplePDF}},
		},
		{
			name: "ok/empty-input",
			raw:  "",
		},
		{
			name: "ok/header-only",
			raw:  "From: a@example.fr\r\nSubject: nothing",
		},
		{
			name: "fail/depth-30",
			raw:  eml(nested(30, pdfAttachment("deep.pdf", samplePDF))),
			err:  ErrTooDeep,
		},
		{
			name: "fail/depth-one-over-limit",
			raw:  eml(nested(DefaultMaxDepth+1, text("x"))),
			err:  ErrTooDeep,
		},
		{
			// Each forward is two levels: the message/rfc822 and its multipart.
			name: "fail/forwards-too-deep",
			raw: eml(mixed(text("x"), forward(innerMessage(mixed(text("y"),
				forward(innerMessage(mixed(text("z"), pdfAttachment("a.pdf", samplePDF))))))))),
			lim: Limits{MaxDepth: 4},
			err: ErrTooDeep,
		},
		{
			name: "fail/too-many-parts-default",
			raw:  eml(manyParts(DefaultMaxParts)),
			err:  ErrTooManyParts,
		},
		{
			name: "fail/too-many-parts-one-over",
			raw:  eml(manyParts(10)),
			lim:  Limits{MaxParts: 10},
			err:  ErrTooManyParts,
		},
		{
			name: "fail/too-many-parts-spread-over-levels",
			raw:  eml(mixed(manyParts(4), manyParts(4), manyParts(4))),
			lim:  Limits{MaxParts: 12},
			err:  ErrTooManyParts,
		},
		{
			name: "fail/too-large",
			raw:  eml(mixed(text("x"), pdfAttachment("demande.pdf", samplePDF))),
			lim:  Limits{MaxMessageBytes: 512},
			err:  ErrTooLarge,
		},
		{
			name: "fail/garbage",
			raw:  "this is not a mail\r\n\x00\x01\x02",
			err:  ErrMalformed,
		},
		{
			name: "fail/a-pdf-is-not-a-mail",
			raw:  string(samplePDF),
			err:  ErrMalformed,
		},
		{
			name: "fail/multipart-without-boundary",
			raw:  eml(entity("--x\r\n\r\nhello\r\n--x--\r\n", "Content-Type: multipart/mixed")),
			err:  ErrMalformed,
		},
		{
			name: "fail/missing-closing-boundary",
			raw: eml(strings.TrimSuffix(mixed(text("x"), pdfAttachment("demande.pdf", samplePDF)),
				"--\r\n")[:200]),
			err: ErrMalformed,
		},
		{
			name: "fail/part-header-too-large",
			raw: eml(mixed(text("x"), entity(b64(samplePDF),
				"Content-Type: application/pdf", strings.Repeat("X-Filler: a\r\n", 10000)+"X-End: b"))),
			err: ErrMalformed,
		},
		{
			name: "fail/message-header-too-large",
			raw:  strings.Repeat("X-Filler: a\r\n", 100000) + "\r\nbody",
			err:  ErrMalformed,
		},
		{
			name: "fail/forwarded-garbage",
			raw:  eml(mixed(text("x"), entity("not a header line\r\n", "Content-Type: message/rfc822"))),
			err:  ErrMalformed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := ParseMessage(strings.NewReader(tt.raw), tt.lim)
			if !checkErr(err, tt.err) {
				t.Fatalf("ParseMessage() error = %v, want %v", err, tt.err)
			}
			if err != nil {
				if msg != nil && len(msg.Attachments) != 0 {
					t.Errorf("ParseMessage() on error returned %d attachments, want none", len(msg.Attachments))
				}
				return
			}
			if tt.parts > 0 && msg.Parts != tt.parts {
				t.Errorf("Parts = %d, want %d", msg.Parts, tt.parts)
			}
			if len(msg.Attachments) != len(tt.want) {
				t.Fatalf("got %d attachments %v, want %d", len(msg.Attachments), summary(msg.Attachments), len(tt.want))
			}
			for i, w := range tt.want {
				checkAttachment(t, msg.Attachments[i], w)
			}
		})
	}
}

func checkAttachment(t *testing.T, got Attachment, want wantAttachment) {
	t.Helper()
	if got.FileName != want.FileName || got.ContentType != want.ContentType || got.Path != want.Path {
		t.Errorf("attachment = {FileName: %q, ContentType: %q, Path: %q}, want {%q, %q, %q}",
			got.FileName, got.ContentType, got.Path, want.FileName, want.ContentType, want.Path)
	}
	if !checkErr(got.Err, want.Err) {
		t.Errorf("attachment %s Err = %v, want %v", got.Path, got.Err, want.Err)
	}
	switch {
	case errors.Is(want.Err, ErrAttachmentTooLarge):
		if got.Data != nil {
			t.Errorf("attachment %s Data has %d bytes, want nil when too large", got.Path, len(got.Data))
		}
	case want.Data != nil:
		if !bytes.Equal(got.Data, want.Data) {
			t.Errorf("attachment %s Data = %q, want %q", got.Path, got.Data, want.Data)
		}
	default:
		if !bytes.HasPrefix(got.Data, []byte(want.DataPrefix)) {
			t.Errorf("attachment %s Data = %q, want prefix %q", got.Path, got.Data, want.DataPrefix)
		}
	}
}

// summary describes attachments for failure messages.
func summary(as []Attachment) []string {
	var s []string
	for _, a := range as {
		s = append(s, fmt.Sprintf("%s %s %q err=%v", a.Path, a.ContentType, a.FileName, a.Err))
	}
	return s
}

func TestParseMessageHeader(t *testing.T) {
	date := time.Date(2026, 11, 3, 10, 11, 12, 0, time.FixedZone("", 3600))
	tests := []struct {
		name string
		raw  string
		want Header
	}{
		{
			name: "ok/all-fields",
			raw: eml(text("x"), "Reply-To: Service juridique <juridique@example.fr>, dg@example.fr",
				"Auto-Submitted: auto-replied"),
			want: Header{
				MessageID: "request-1@example.fr",
				Subject:   "Demande de révocation",
				From:      &mail.Address{Name: "José Dupré", Address: "jose.dupre@example.fr"},
				ReplyTo: []*mail.Address{
					{Name: "Service juridique", Address: "juridique@example.fr"},
					{Address: "dg@example.fr"},
				},
				Date:          date,
				AutoSubmitted: "auto-replied",
			},
		},
		{
			name: "ok/windows-1252-encoded-words",
			raw: "From: =?windows-1252?Q?Fran=E7oise_L=E9ger?= <fl@example.fr>\r\n" +
				"Subject: =?windows-1252?Q?R=E9vocation_=96_urgent?=\r\n\r\nx",
			want: Header{
				Subject: "Révocation – urgent",
				From:    &mail.Address{Name: "Françoise Léger", Address: "fl@example.fr"},
			},
		},
		{
			// The address is what matters for an answer: an unknown charset
			// in the display name must not lose it.
			name: "ok/unknown-charsets-keep-what-they-can",
			raw: "From: =?x-no-such-charset?Q?abc?= <who@example.fr>\r\n" +
				"Subject: =?x-no-such-charset?Q?abc?=\r\n\r\nx",
			want: Header{
				Subject: "=?x-no-such-charset?Q?abc?=",
				From:    &mail.Address{Name: "abc", Address: "who@example.fr"},
			},
		},
		{
			name: "ok/unparsable-fields-are-empty",
			raw: "From: not an address\r\nReply-To: <<<\r\nDate: yesterday\r\n" +
				"Message-ID: no brackets here\r\nAuto-Submitted:  no \r\n\r\nx",
			want: Header{MessageID: "no brackets here", AutoSubmitted: "no"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMessage(strings.NewReader(tt.raw), Limits{})
			if err != nil {
				t.Fatalf("ParseMessage() error = %v", err)
			}
			got.ContentType = ""
			if diff := cmp.Diff(tt.want, got.Header, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("ParseMessage() header mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMessageHeaderKeptOnError(t *testing.T) {
	raw := eml(mixed(text("x"), pdfAttachment("demande.pdf", samplePDF)))
	msg, err := ParseMessage(strings.NewReader(raw), Limits{MaxMessageBytes: 600})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ParseMessage() error = %v, want %v", err, ErrTooLarge)
	}
	if msg == nil || msg.From == nil || msg.From.Address != "jose.dupre@example.fr" {
		t.Fatalf("ParseMessage() message = %+v, want the header fields with From jose.dupre@example.fr", msg)
	}
}

func TestParseMessageInvalidLimits(t *testing.T) {
	tests := []struct {
		name string
		lim  Limits
		want string
	}{
		{"fail/negative-message-bytes", Limits{MaxMessageBytes: -1}, "MaxMessageBytes"},
		{"fail/max-message-bytes-overflows", Limits{MaxMessageBytes: math.MaxInt64}, "MaxMessageBytes"},
		{"fail/negative-depth", Limits{MaxDepth: -1}, "MaxDepth"},
		{"fail/negative-parts", Limits{MaxParts: -1}, "MaxParts"},
		{"fail/negative-attachment-bytes", Limits{MaxAttachmentBytes: -1}, "MaxAttachmentBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMessage(strings.NewReader(eml(text("x"))), tt.lim)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseMessage() error = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

// failingReader returns its data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestParseMessageReadError(t *testing.T) {
	errDisk := errors.New("disk on fire")
	_, err := ParseMessage(&failingReader{data: []byte(eml(text("x"))), err: errDisk}, Limits{})
	if !errors.Is(err, errDisk) {
		t.Errorf("ParseMessage() error = %v, want %v", err, errDisk)
	}
}

// BenchmarkParseMessageDeepNesting measures how fast the depth limit stops
// 10,000 nested multiparts (19 s and 536 MB in go-message without limits).
func BenchmarkParseMessageDeepNesting(b *testing.B) {
	raw := []byte(eml(nested(10000, pdfAttachment("deep.pdf", samplePDF))))
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMessage(bytes.NewReader(raw), Limits{}); !errors.Is(err, ErrTooDeep) {
			b.Fatalf("ParseMessage() error = %v, want %v", err, ErrTooDeep)
		}
	}
}

// BenchmarkParseMessageTypical is a request with a 2 MiB signed form.
func BenchmarkParseMessageTypical(b *testing.B) {
	pdf := append(append([]byte{}, samplePDF...), bytes.Repeat([]byte{0xa5, 'x', '\n', 0}, 512<<10)...)
	raw := []byte(eml(mixed(text("Bonjour"), pdfAttachment("demande.pdf", pdf))))
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMessage(bytes.NewReader(raw), Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseMessageWorstCase is a message of the largest allowed size
// whose PDF sits at the deepest allowed level, so that every byte goes
// through every multipart reader.
func BenchmarkParseMessageWorstCase(b *testing.B) {
	pdf := append(append([]byte{}, samplePDF...), bytes.Repeat([]byte{'x'}, 18<<20)...)
	raw := []byte(eml(nested(DefaultMaxDepth, pdfAttachment("deep.pdf", pdf))))
	if int64(len(raw)) > DefaultMaxMessageBytes {
		b.Fatalf("message is %d bytes, want at most %d", len(raw), DefaultMaxMessageBytes)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		msg, err := ParseMessage(bytes.NewReader(raw), Limits{})
		if err != nil || len(msg.Attachments) != 1 || msg.Attachments[0].Err != nil {
			b.Fatalf("ParseMessage() = %v, %v, want one good attachment", msg, err)
		}
	}
}

// BenchmarkParseMessageHeaderLines is a message of the largest allowed size
// made of short part-header lines, which go-message would hold at about 300
// bytes each.
func BenchmarkParseMessageHeaderLines(b *testing.B) {
	raw := []byte(eml(mixed(text("x"), entity("x", strings.Repeat("A:b\r\n", 6<<20)))))
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMessage(bytes.NewReader(raw), Limits{}); !errors.Is(err, ErrMalformed) {
			b.Fatalf("ParseMessage() error = %v, want %v", err, ErrMalformed)
		}
	}
}
