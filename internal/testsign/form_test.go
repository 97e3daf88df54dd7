package testsign

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFormReadBack(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]string
		opts   FormOptions
	}{
		{"ok/classic", sampleValues, FormOptions{}},
		{"ok/xref-stream", sampleValues, FormOptions{XRefStream: true}},
		{"ok/no-pdfa", sampleValues, FormOptions{NoPDFA: true}},
		{"ok/some-fields-empty", map[string]string{"titulaire_nom": "Müller", "raison": ""}, FormOptions{}},
		{"ok/padded", sampleValues, FormOptions{PadTo: 100 << 10}},
		{"ok/padded-xref-stream", sampleValues, FormOptions{PadTo: 100 << 10, XRefStream: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Form(tt.values, tt.opts)
			if err != nil {
				t.Fatalf("Form: %v", err)
			}
			qpdfCheck(t, b)

			got := formValues(t, b)
			want := map[string]string{SignatureFieldName: ""}
			for _, n := range FieldNames {
				want[n] = tt.values[n]
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pdfcpu form values (-want +got):\n%s", diff)
			}

			doc, err := parseDocument(b)
			if err != nil {
				t.Fatalf("parseDocument: %v", err)
			}
			if doc.xrefStream != tt.opts.XRefStream {
				t.Errorf("cross-reference stream = %v, want %v", doc.xrefStream, tt.opts.XRefStream)
			}
			catalog, err := doc.dict(doc.trailer.get("Root"))
			if err != nil {
				t.Fatal(err)
			}
			md, err := doc.resolve(catalog.get("Metadata"))
			if err != nil {
				t.Fatal(err)
			}
			xmp := string(md.(*pdfStream).data)
			claim := strings.Contains(xmp, "<pdfaid:part>2</pdfaid:part>") && strings.Contains(xmp, "<pdfaid:conformance>B</pdfaid:conformance>")
			if claim == tt.opts.NoPDFA {
				t.Errorf("PDF/A-2B claim in XMP = %v, want %v", claim, !tt.opts.NoPDFA)
			}
			if tt.opts.PadTo > 0 {
				if d := len(b) - tt.opts.PadTo; d < -padWidth || d > padWidth {
					t.Errorf("len = %d, want about %d", len(b), tt.opts.PadTo)
				}
			}
		})
	}
}

// TestFormEncodings checks how values are written: PDFDocEncoding when
// possible, else UTF-16BE with a byte order mark.
func TestFormEncodings(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  []byte
	}{
		{"ok/ascii", "Titulaire", []byte("Titulaire")},
		{"ok/pdfdoc-accents", "Représentant légal", []byte("Repr\xe9sentant l\xe9gal")},
		{"ok/pdfdoc-special", "Clé privée compromise – €", []byte("Cl\xe9 priv\xe9e compromise \x85 \xa0")},
		{"ok/utf16-outside-pdfdoc", "Ștefan", []byte("\xfe\xff\x02\x18\x00t\x00e\x00f\x00a\x00n")},
		{"ok/utf16-when-pdfdoc-looks-like-utf8", "Ã©", []byte("\xfe\xff\x00\xc3\x00\xa9")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TextString(tt.value); !bytes.Equal(got, tt.want) {
				t.Errorf("TextString(%q) = %q, want %q", tt.value, got, tt.want)
			}
			if got := DecodeTextString(tt.want); got != tt.value {
				t.Errorf("DecodeTextString(%q) = %q, want %q", tt.want, got, tt.value)
			}
			b, err := Form(map[string]string{"raison": tt.value}, FormOptions{})
			if err != nil {
				t.Fatalf("Form: %v", err)
			}
			if got := formValues(t, b)["raison"]; got != tt.value {
				t.Errorf("pdfcpu reads raison = %q, want %q", got, tt.value)
			}
		})
	}
}

func TestFormErrors(t *testing.T) {
	_, err := Form(map[string]string{"nom": "x"}, FormOptions{})
	if err == nil || !strings.Contains(err.Error(), `unknown form field "nom"`) {
		t.Errorf("Form(unknown field) error = %v, want unknown form field", err)
	}
}

func TestFormDeterministic(t *testing.T) {
	for _, o := range []FormOptions{{}, {XRefStream: true}, {PadTo: 50 << 10}} {
		a, b := mustForm(t, o), mustForm(t, o)
		if !bytes.Equal(a, b) {
			t.Errorf("Form(%+v) differs between two runs", o)
		}
	}
}

func TestPlain(t *testing.T) {
	b := Plain("Demande de révocation", "Ligne 2")
	qpdfCheck(t, b)
	if !bytes.HasPrefix(b, []byte("%PDF-1.7")) {
		t.Errorf("Plain does not start with a PDF header")
	}
}

// TestReaderRoundTrip reads back every object of both file layouts.
func TestReaderRoundTrip(t *testing.T) {
	for _, xs := range []bool{false, true} {
		t.Run(fmt.Sprintf("ok/xref-stream=%v", xs), func(t *testing.T) {
			b := mustForm(t, FormOptions{XRefStream: xs})
			doc, err := parseDocument(b)
			if err != nil {
				t.Fatalf("parseDocument: %v", err)
			}
			for n, e := range doc.entries {
				if e.kind == 0 {
					continue
				}
				if _, err := doc.get(n); err != nil {
					t.Errorf("get(%d): %v", n, err)
				}
			}
			if _, _, err := firstPage(doc); err != nil {
				t.Errorf("firstPage: %v", err)
			}
			names, err := fieldNames(doc)
			if err != nil {
				t.Fatal(err)
			}
			if len(names) != len(FieldNames)+1 {
				t.Errorf("%d fields, want %d", len(names), len(FieldNames)+1)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{"fail/empty", nil},
		{"fail/garbage", Garbage(4096, 1)},
		{"fail/truncated", Truncate(mustForm(t, FormOptions{}), 3000)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseDocument(tt.in); err == nil {
				t.Errorf("parseDocument succeeded, want an error")
			}
			if _, err := Sign(tt.in, SignOptions{}); err == nil || errors.Is(err, ErrAlreadySigned) {
				t.Errorf("Sign = %v, want an error", err)
			}
		})
	}
}
