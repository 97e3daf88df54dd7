package pdfverify

import (
	"fmt"
	"testing"

	"github.com/revokd/revokd/pdfverify/internal/pdfread"
)

func TestFontDecoder(t *testing.T) {
	cmap := []byte(`/CIDInit /ProcSet findresource begin 12 dict begin begincmap
2 beginbfchar <0003> <0020> <0011> <0030> endbfchar
1 beginbfrange <0044> <0049> <0061> endbfrange
1 beginbfrange <0050> <0051> [<0078> <0079>] endbfrange
endcmap CMapName currentdict /CMap defineresource pop end end`)
	f, err := pdfread.Open(minimalPDF(cmap), pdfread.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	v := &verification{}
	cases := []struct {
		name string
		font pdfread.Dict
		in   []byte
		want string
	}{
		{"winansi", pdfread.Dict{"Subtype": pdfread.Name("Type1"), "Encoding": pdfread.Name("WinAnsiEncoding")}, []byte("R\xe9vocation \x80"), "Révocation €"},
		{"standard", pdfread.Dict{"Subtype": pdfread.Name("Type1")}, []byte("0a1b'"), "0a1b’"},
		{"differences", pdfread.Dict{"Subtype": pdfread.Name("Type1"), "Encoding": pdfread.Dict{
			"BaseEncoding": pdfread.Name("WinAnsiEncoding"),
			"Differences":  pdfread.Array{int64(65), pdfread.Name("zero"), pdfread.Name("uni00E9"), pdfread.Name("bullet")},
		}}, []byte("ABCD"), "0é\uFFFDD"},
		{"type0-tounicode", pdfread.Dict{"Subtype": pdfread.Name("Type0"), "ToUnicode": pdfread.Ref{Num: 1}},
			[]byte("\x00\x11\x00\x03\x00\x44\x00\x49\x00\x99"), "0 af\uFFFD"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := v.newFontDecoder(f, tc.font).decode(tc.in); got != tc.want {
				t.Errorf("decode(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// minimalPDF is a one-object file whose object 1 is a stream of data.
func minimalPDF(data []byte) []byte {
	head := "%PDF-1.7\n"
	obj := fmt.Sprintf("1 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n", len(data), data)
	return fmt.Appendf(nil, "%s%sxref\n0 2\n0000000000 65535 f\r\n%010d 00000 n\r\ntrailer\n<< /Size 2 >>\nstartxref\n%d\n%%%%EOF\n",
		head, obj, len(head), len(head)+len(obj))
}
