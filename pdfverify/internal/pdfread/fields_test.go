package pdfread

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// formFile writes a document whose AcroForm lists roots, with the given
// field objects.
func formFile(roots string, objs ...numBody) []byte {
	all := append([]numBody{
		{1, "<</Type/Catalog/Pages 2 0 R/AcroForm 3 0 R>>"},
		{2, "<</Type/Pages/Kids[]/Count 0>>"},
		{3, "<</Fields[" + roots + "]>>"},
	}, objs...)
	return buildClassic(all, trailerRoot)
}

func TestFields(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want []Field
	}{
		{"ok/no-acroform", buildClassic(minimal(), trailerRoot), nil},
		{"ok/empty-fields", formFile(""), nil},
		{"ok/inherited-type-and-value", formFile("10 0 R",
			numBody{10, "<</T(a)/FT/Tx/V(inherited)/Kids[11 0 R 12 0 R]>>"},
			numBody{11, "<</T(b)/Parent 10 0 R>>"},
			numBody{12, "<</T(c)/Parent 10 0 R/FT/Ch/V 13 0 R>>"},
			numBody{13, "(own)"},
		), []Field{
			{Name: "a.b", Type: "Tx", Value: String("inherited"), Ref: Ref{11, 0}, Dict: Dict{"T": String("b"), "Parent": Ref{10, 0}}},
			{Name: "a.c", Type: "Ch", Value: String("own"), Ref: Ref{12, 0}, Dict: Dict{"T": String("c"), "Parent": Ref{10, 0}, "FT": Name("Ch"), "V": Ref{13, 0}}},
		}},
		{"ok/widgets-merge-into-parent", formFile("10 0 R",
			numBody{10, "<</T(sig)/FT/Sig/Kids[11 0 R 12 0 R]>>"},
			numBody{11, "<</Parent 10 0 R/Subtype/Widget>>"},
			numBody{12, "<</Parent 10 0 R/Subtype/Widget>>"},
		), []Field{
			{Name: "sig", Type: "Sig", Ref: Ref{10, 0}, Dict: Dict{"T": String("sig"), "FT": Name("Sig"), "Kids": Array{Ref{11, 0}, Ref{12, 0}}}},
		}},
		{"ok/indirect-kids-and-fields", buildClassic([]numBody{
			{1, "<</Type/Catalog/Pages 2 0 R/AcroForm<</Fields 3 0 R>>>>"},
			{2, "<</Type/Pages/Kids[]/Count 0>>"},
			{3, "[10 0 R]"},
			{10, "<</T(p)/Kids 11 0 R>>"},
			{11, "[12 0 R]"},
			{12, "<</T(q)/Parent 10 0 R/FT/Btn/V/Off>>"},
		}, trailerRoot), []Field{
			{Name: "p.q", Type: "Btn", Value: Name("Off"), Ref: Ref{12, 0}, Dict: Dict{"T": String("q"), "Parent": Ref{10, 0}, "FT": Name("Btn"), "V": Name("Off")}},
		}},
		{"ok/utf16-name", formFile("10 0 R",
			numBody{10, "<</T" + utf16Hex("prénom") + "/FT/Tx>>"},
		), []Field{
			{Name: "prénom", Type: "Tx", Ref: Ref{10, 0}, Dict: Dict{"T": String("\xfe\xff\x00p\x00r\x00\xe9\x00n\x00o\x00m"), "FT": Name("Tx")}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Open(tt.data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Fields()
			if err != nil {
				t.Fatalf("Fields() error: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Fields() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// chain returns n fields nested in each other, numbered from 10.
func chain(n int) []numBody {
	var objs []numBody
	for i := range n {
		d := fmt.Sprintf("<</T(f%d)/FT/Tx", i)
		if i > 0 {
			d += fmt.Sprintf("/Parent %d 0 R", 10+i-1)
		}
		if i < n-1 {
			d += fmt.Sprintf("/Kids[%d 0 R]", 10+i+1)
		}
		objs = append(objs, numBody{10 + i, d + ">>"})
	}
	return objs
}

func TestFieldsFail(t *testing.T) {
	tests := []struct {
		name      string
		data      []byte
		wantMsg   string
		wantLimit bool
	}{
		{"fail/cycle", formFile("10 0 R",
			numBody{10, "<</T(a)/Kids[11 0 R]>>"},
			numBody{11, "<</T(b)/Parent 10 0 R/Kids[10 0 R]>>"},
		), "reaches object 10 0 twice", false},
		{"fail/self-kid", formFile("10 0 R",
			numBody{10, "<</T(a)/Kids[10 0 R]>>"},
		), "reaches object 10 0 twice", false},
		{"fail/shared-kid", formFile("10 0 R 11 0 R",
			numBody{10, "<</T(a)/Kids[12 0 R]>>"},
			numBody{11, "<</T(b)/Kids[12 0 R]>>"},
			numBody{12, "<</T(c)/Parent 10 0 R>>"},
		), "reaches object 12 0 twice", false},
		{"fail/root-listed-twice", formFile("10 0 R 10 0 R",
			numBody{10, "<</T(a)>>"},
		), "reaches object 10 0 twice", false},
		{"fail/parent-mismatch", formFile("10 0 R 11 0 R",
			numBody{10, "<</T(a)/Kids[12 0 R]>>"},
			numBody{11, "<</T(b)>>"},
			numBody{12, "<</T(c)/Parent 11 0 R>>"},
		), "form field 12 0: /Parent is not 10 0", false},
		{"fail/missing-parent", formFile("10 0 R",
			numBody{10, "<</T(a)/Kids[12 0 R]>>"},
			numBody{12, "<</T(c)>>"},
		), "form field 12 0: /Parent is not 10 0", false},
		{"fail/widget-parent-mismatch", formFile("10 0 R",
			numBody{10, "<</T(a)/Kids[12 0 R]>>"},
			numBody{12, "<</Subtype/Widget/Parent 13 0 R>>"},
		), "form field 12 0: /Parent is not 10 0", false},
		{"fail/root-with-parent", formFile("10 0 R",
			numBody{10, "<</T(a)/Parent 3 0 R>>"},
		), "root form field 10 0 has a /Parent", false},
		{"fail/duplicate-name", formFile("10 0 R 11 0 R",
			numBody{10, "<</T(a)/V(1)>>"},
			numBody{11, "<</T(a)/V(2)>>"},
		), `two form fields are named "a"`, false},
		{"fail/dotted-partial-name", formFile("10 0 R",
			numBody{10, "<</T(a.b)>>"},
		), `partial name "a.b"`, false},
		{"fail/root-without-T", formFile("10 0 R",
			numBody{10, "<</FT/Tx/V(x)>>"},
		), "/T of form field 10 0 is missing or not a string", false},
		{"fail/T-not-string", formFile("10 0 R",
			numBody{10, "<</T/name>>"},
		), "/T of form field 10 0 is missing or not a string", false},
		{"fail/FT-not-name", formFile("10 0 R",
			numBody{10, "<</T(a)/FT(Tx)>>"},
		), "/FT of form field 10 0 is not a name", false},
		{"fail/widget-with-kids", formFile("10 0 R",
			numBody{10, "<</T(a)/Kids[11 0 R]>>"},
			numBody{11, "<</Parent 10 0 R/Kids[12 0 R]>>"},
			numBody{12, "<</T(b)/Parent 11 0 R>>"},
		), "widget 11 0 (a kid without /T) has /Kids", false},
		{"fail/fields-and-widgets", formFile("10 0 R",
			numBody{10, "<</T(a)/Kids[11 0 R 12 0 R]>>"},
			numBody{11, "<</Parent 10 0 R/Subtype/Widget>>"},
			numBody{12, "<</T(b)/Parent 10 0 R>>"},
		), "has both child fields and widgets", false},
		{"fail/direct-field", formFile("<</T(a)>>"), "holds a direct object", false},
		{"fail/direct-kid", formFile("10 0 R",
			numBody{10, "<</T(a)/Kids[<</T(b)>>]>>"},
		), "holds a direct object", false},
		{"fail/missing-field", formFile("10 0 R"), "form field 10 0 is not a dictionary", false},
		{"fail/fields-not-array", buildClassic([]numBody{
			{1, "<</Type/Catalog/Pages 2 0 R/AcroForm<</Fields 5>>>>"},
			{2, "<</Type/Pages/Kids[]/Count 0>>"},
		}, trailerRoot), "/AcroForm /Fields is not an array", false},
		{"fail/acroform-not-dict", buildClassic([]numBody{
			{1, "<</Type/Catalog/Pages 2 0 R/AcroForm[]>>"},
			{2, "<</Type/Pages/Kids[]/Count 0>>"},
		}, trailerRoot), "/AcroForm is not a dictionary", false},
		{"fail/too-deep", formFile("10 0 R", chain(70)...), "form field tree deeper than 64", true},
		{"fail/no-catalog", buildClassic([]numBody{{1, "<</Type/Pages>>"}}, trailerRoot), "not a dictionary of /Type /Catalog", false},
		{"fail/no-root", buildClassic(minimal(), ""), "trailer has no /Root", false},
		{"fail/catalog-duplicate-key", buildClassic([]numBody{{1, "<</Type/Catalog/Type/Catalog>>"}}, trailerRoot), "dictionary repeats key /Type", false},
		{"fail/catalog-deep", buildClassic([]numBody{{1, "<</Type/Catalog/X" + strings.Repeat("[", 65) + strings.Repeat("]", 65) + ">>"}}, trailerRoot), "nested deeper than 64", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Open(tt.data, Limits{})
			if err != nil {
				t.Fatalf("Open() error: %v", err)
			}
			got, err := f.Fields()
			checkErr(t, err, tt.wantMsg, tt.wantLimit)
			if got != nil {
				t.Errorf("Fields() = %v with an error", got)
			}
		})
	}
}

func TestTextString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"ok/ascii", "Dupont", "Dupont"},
		{"ok/empty", "", ""},
		{"ok/latin1-range", "J\xe9r\xf4me", "Jérôme"},
		{"ok/pdfdoc-specials", "\x80\x84\x8d\x8e\x92\x96\xa0", "•—“”™Œ€"},
		{"ok/pdfdoc-accents", "\x18\x19\x1f", "˘ˇ˜"},
		{"ok/pdfdoc-controls", "a\tb\nc\rd", "a\tb\nc\rd"},
		{"ok/pdfdoc-undefined", "\x01\x7f\x9f\xad", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"ok/utf16", "\xfe\xff\x00R\x00\xe9\x00p", "Rép"},
		{"ok/utf16-surrogates", "\xfe\xff\xd8\x3d\xde\x00", "😀"},
		{"ok/utf16-lone-surrogate", "\xfe\xff\xd8\x3d\x00a", "\uFFFDa"},
		{"ok/utf16-odd-length", "\xfe\xff\x00a\x00", "a\uFFFD"},
		{"ok/utf16-language-escape", "\xfe\xff\x00\x1b\x00f\x00r\x00\x1b\x00a", "a"},
		{"ok/utf16-unpaired-escape", "\xfe\xff\x00a\x00\x1b\x00b", "a\uFFFDb"},
		{"ok/utf8", "\xef\xbb\xbfR\xc3\xa9p", "Rép"},
		{"ok/utf8-invalid", "\xef\xbb\xbfa\xffb", "a\uFFFDb"},
		{"ok/bom-only", "\xfe\xff", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TextString(String(tt.in)); got != tt.want {
				t.Errorf("TextString(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestPDFAIdentification(t *testing.T) {
	tests := []struct {
		name     string
		xmp      string
		wantPart string
		wantConf string
	}{
		{"ok/attributes", xmpPDFA2B, "2", "B"},
		{"ok/elements", `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"><pdfaid:part> 1 </pdfaid:part><pdfaid:conformance>A</pdfaid:conformance></rdf:Description></rdf:RDF></x:xmpmeta>`, "1", "A"},
		{"ok/other-prefix", `<r xmlns:id="http://www.aiim.org/pdfa/ns/id/"><d id:part="3" id:conformance="U"/></r>`, "3", "U"},
		{"ok/part-only", `<r xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"><pdfaid:part>4</pdfaid:part></r>`, "4", ""},
		{"ok/prefix-of-other-namespace", `<r xmlns:pdfaid="http://example.com/"><d pdfaid:part="1"/></r>`, "", ""},
		{"ok/repeated-same-value", `<r xmlns:p="http://www.aiim.org/pdfa/ns/id/" p:part="2"><p:part>2</p:part></r>`, "2", ""},
		{"ok/utf8-bom", "\xef\xbb\xbf" + `<r xmlns:p="http://www.aiim.org/pdfa/ns/id/" p:part="2"/>`, "2", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			part, conf, err := pdfaID([]byte(tt.xmp), DefaultMaxDepth)
			if err != nil || part != tt.wantPart || conf != tt.wantConf {
				t.Errorf("pdfaID() = %q, %q, %v; want %q, %q, nil", part, conf, err, tt.wantPart, tt.wantConf)
			}
		})
	}
	failTests := []struct {
		name      string
		xmp       string
		wantMsg   string
		wantLimit bool
	}{
		{"fail/conflicting-claims", `<r xmlns:p="http://www.aiim.org/pdfa/ns/id/" p:part="2"><p:part>3</p:part></r>`, `claims pdfaid:part both "2" and "3"`, false},
		{"fail/malformed-xml", `<r><a></r>`, "XMP metadata:", false},
		{"fail/deep", strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100), "nested deeper than 64", true},
	}
	for _, tt := range failTests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := pdfaID([]byte(tt.xmp), DefaultMaxDepth)
			checkErr(t, err, tt.wantMsg, tt.wantLimit)
		})
	}
}

func TestPDFAIdentificationFile(t *testing.T) {
	tests := []struct {
		name     string
		catalog  string
		extra    []numBody
		wantPart string
		wantMsg  string
	}{
		{"ok/no-metadata", minimalCatalog, nil, "", ""},
		{"ok/flate-metadata", "<</Type/Catalog/Pages 2 0 R/Metadata 3 0 R>>", []numBody{{3, fmt.Sprintf("<</Type/Metadata/Subtype/XML/Filter/FlateDecode/Length %d>>\nstream\n%s\nendstream", len(deflate([]byte(xmpPDFA2B))), deflate([]byte(xmpPDFA2B)))}}, "2", ""},
		{"fail/metadata-not-stream", "<</Type/Catalog/Pages 2 0 R/Metadata 3 0 R>>", []numBody{{3, "<<>>"}}, "", "/Metadata is not a stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := append([]numBody{{1, tt.catalog}, {2, "<</Type/Pages/Kids[]/Count 0>>"}}, tt.extra...)
			f, err := Open(buildClassic(objs, trailerRoot), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			part, _, err := f.PDFAIdentification()
			if tt.wantMsg != "" {
				checkErr(t, err, tt.wantMsg, false)
				return
			}
			if err != nil || part != tt.wantPart {
				t.Errorf("PDFAIdentification() = %q, %v; want %q, nil", part, err, tt.wantPart)
			}
		})
	}
}
