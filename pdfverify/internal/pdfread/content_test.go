package pdfread

import (
	"errors"
	"testing"
)

func TestContentOps(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		ops     []string
		wantErr bool
	}{
		{"ok/text", "q BT /Helv 10 Tf 3 5 Td (0a1b) Tj ET Q", []string{"q", "BT", "Tf", "Td", "Tj", "ET", "Q"}, false},
		{"ok/tj-array-and-quotes", "BT [(a) -20 (b)] TJ (c) ' 1 2 (d) \" ET", []string{"BT", "TJ", "'", "\"", "ET"}, false},
		{"ok/inline-image", "q BI /W 1 /H 1 /BPC 8 /CS /G ID \x00EI\x01 EI Q", []string{"q", "BI", "Q"}, false},
		{"ok/marked-content-with-dict", "/Tx <</MCID 0>> BDC EMC", []string{"BDC", "EMC"}, false},
		{"fail/operand-without-operator", "BT (x)", nil, true},
		{"fail/inline-image-without-end", "BI /W 1 ID abc", nil, true},
		{"fail/unterminated-string", "BT (x Tj", nil, true},
	}
	f := &File{lim: Limits{}.withDefaults()}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := f.ContentOps([]byte(tc.in))
			if tc.wantErr {
				var fe *FormatError
				if !errors.As(err, &fe) {
					t.Fatalf("ContentOps(%q) error = %v, want a *FormatError", tc.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ContentOps(%q): %v", tc.in, err)
			}
			var got []string
			for _, op := range ops {
				got = append(got, op.Operator)
			}
			if len(got) != len(tc.ops) {
				t.Fatalf("operators = %q, want %q", got, tc.ops)
			}
			for i := range got {
				if got[i] != tc.ops[i] {
					t.Fatalf("operators = %q, want %q", got, tc.ops)
				}
			}
		})
	}
}
