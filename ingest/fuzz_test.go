package ingest

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the fixtures in testdata/")

// fixtures are the mails written to testdata/ as seeds of FuzzParseMessage
// and as samples for other packages. Each is rebuilt by the test builders;
// `go test ./ingest -run TestFixtures -update` rewrites them.
var fixtures = []struct {
	file  string
	raw   func() string
	paths []string // Path of each attachment expected, in order
	err   error
}{
	{
		file: "simple.eml",
		raw: func() string {
			return eml(mixed(text("Bonjour,\r\n\r\nci-joint ma demande."), pdfAttachment("demande.pdf", samplePDF)))
		},
		paths: []string{"2"},
	},
	{
		file: "forwarded-twice-rfc2231.eml",
		raw: func() string {
			pdf := entity(b64(samplePDF),
				"Content-Type: application/pdf",
				"Content-Disposition: attachment;\r\n filename*0*=UTF-8''Demande%20de%20r%C3%A9vocation;\r\n filename*1*=.pdf",
				"Content-Transfer-Encoding: base64")
			return eml(mixed(text("Transfert"),
				forward(innerMessage(mixed(text("Transfert"),
					forward(innerMessage(mixed(text("Ci-joint"), pdf))))))))
		},
		paths: []string{"2.2.2"},
	},
	{
		file: "quoted-printable-and-octet-stream.eml",
		raw: func() string {
			return eml(mixed(
				multipart("alternative", text("Bonjour"), entity("<p>Bonjour</p>\r\n", "Content-Type: text/html; charset=utf-8")),
				entity(qp(samplePDF), "Content-Type: application/pdf", "Content-Transfer-Encoding: quoted-printable"),
				entity(b64(samplePDF), "Content-Type: application/octet-stream", "Content-Transfer-Encoding: base64")))
		},
		paths: []string{"2", "3"},
	},
	{
		file: "truncated-base64.eml",
		raw: func() string {
			body := b64(samplePDF)
			return eml(mixed(text("x"), entity(body[:len(body)-5]+"\r\n", "Content-Type: application/pdf",
				`Content-Disposition: attachment; filename="=?UTF-8?Q?r=C3=A9vocation.pdf?="`,
				"Content-Transfer-Encoding: base64")))
		},
		paths: []string{"2"},
	},
	{
		file: "too-deep.eml",
		raw:  func() string { return eml(nested(DefaultMaxDepth+5, pdfAttachment("deep.pdf", samplePDF))) },
		err:  ErrTooDeep,
	},
}

func TestFixtures(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.file, func(t *testing.T) {
			path := filepath.Join("testdata", fx.file)
			want := fx.raw()
			if *update {
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading fixture: %v (rebuild with -update)", err)
			}
			if string(got) != want {
				t.Fatalf("%s differs from what the builders make; rebuild with -update", path)
			}

			msg, err := ParseMessage(bytes.NewReader(got), Limits{})
			if !checkErr(err, fx.err) {
				t.Fatalf("ParseMessage(%s) error = %v, want %v", fx.file, err, fx.err)
			}
			if err != nil {
				return
			}
			var paths []string
			for _, a := range msg.Attachments {
				paths = append(paths, a.Path)
			}
			if strings.Join(paths, " ") != strings.Join(fx.paths, " ") {
				t.Errorf("ParseMessage(%s) attachment paths = %q, want %q", fx.file, paths, fx.paths)
			}
		})
	}
}

// fuzzLimits are smaller than the defaults so that the fuzzer reaches every
// limit with small inputs.
var fuzzLimits = Limits{MaxMessageBytes: 1 << 20, MaxDepth: 8, MaxParts: 64, MaxAttachmentBytes: 4 << 10}

func FuzzParseMessage(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range seeds {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(""))
	f.Add([]byte(eml(entity(b64(samplePDF), "Content-Type: application/pdf", "Content-Transfer-Encoding: base64"))))
	f.Add([]byte(eml(multipart("digest", entity(innerMessage(text("x")))))))
	f.Add([]byte(strings.ReplaceAll(eml(mixed(text("x"), pdfAttachment("a.pdf", samplePDF))), "\r\n", "\n")))

	f.Fuzz(func(t *testing.T, raw []byte) {
		lim := fuzzLimits
		msg, err := ParseMessage(bytes.NewReader(raw), lim)
		if err != nil {
			if msg != nil && len(msg.Attachments) != 0 {
				t.Fatalf("ParseMessage() error = %v with %d attachments, want none", err, len(msg.Attachments))
			}
			return
		}
		if msg.Parts < 1 || msg.Parts > lim.MaxParts {
			t.Fatalf("Parts = %d, want 1 to %d", msg.Parts, lim.MaxParts)
		}
		for _, a := range msg.Attachments {
			if a.Path == "" || strings.Count(a.Path, ".")+1 > lim.MaxDepth+1 {
				t.Errorf("attachment Path = %q, want 1 to %d numbers", a.Path, lim.MaxDepth+1)
			}
			if int64(len(a.Data)) > lim.MaxAttachmentBytes {
				t.Errorf("attachment %s has %d bytes, want at most %d", a.Path, len(a.Data), lim.MaxAttachmentBytes)
			}
			if errors.Is(a.Err, ErrAttachmentTooLarge) && a.Data != nil {
				t.Errorf("attachment %s too large but has Data", a.Path)
			}
			typed := a.ContentType == "application/pdf" || a.ContentType == "application/x-pdf"
			named := !strings.HasPrefix(a.ContentType, "text/") && strings.HasSuffix(strings.ToLower(strings.TrimSpace(a.FileName)), ".pdf")
			if a.Err == nil && !typed && !named && !bytes.HasPrefix(a.Data, pdfMagic) {
				t.Errorf("attachment %s (%s, %q) is not a PDF by type, name or content", a.Path, a.ContentType, a.FileName)
			}
		}
	})
}
