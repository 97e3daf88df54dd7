package authorize

import (
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestParseSerial(t *testing.T) {
	ok := []struct {
		name, in, want string
	}{
		{"ok/lower", "1a2b3c", "1a2b3c"},
		{"ok/upper", "1A2B3C", "1a2b3c"},
		{"ok/colons", "1a:2b:3c", "1a2b3c"},
		{"ok/spaces-and-dashes", " 1a 2b-3c ", "1a2b3c"},
		{"ok/prefix", "0x1A2B3C", "1a2b3c"},
		{"ok/prefix-upper", "0X1a2b3c", "1a2b3c"},
		{"ok/leading-zeros", "00:00:1a:2b:3c", "1a2b3c"},
		{"ok/no-break-space", "1a\u00a02b\u202f3c", "1a2b3c"},
		{"ok/twenty-octets", strings.Repeat("ff", 20), strings.Repeat("ff", 20)},
		{"ok/twenty-octets-after-leading-zeros", "00" + strings.Repeat("7f", 20), strings.Repeat("7f", 20)},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSerial(tt.in)
			if err != nil {
				t.Fatalf("ParseSerial(%q): %v", tt.in, err)
			}
			if FormatSerial(got) != tt.want {
				t.Errorf("ParseSerial(%q) = %s, want %s", tt.in, FormatSerial(got), tt.want)
			}
		})
	}

	fail := []struct {
		name, in string
		want     error
	}{
		{"fail/empty", "", ErrSerialEmpty},
		{"fail/blank", "  : - ", ErrSerialEmpty},
		{"fail/prefix-only", "0x", ErrSerialEmpty},
		{"fail/not-hex", "10O1", ErrSerialSyntax},
		{"fail/decimal-point", "12.34", ErrSerialSyntax},
		{"fail/double-prefix", "0x0x12", ErrSerialSyntax},
		{"fail/zero", "00:00", ErrSerialNotValid},
		{"fail/negative", "-1a", ErrSerialNotValid},
		{"fail/negative-minus-sign", "\u22121a", ErrSerialNotValid},
		{"fail/twenty-one-octets", "01" + strings.Repeat("00", 20), ErrSerialTooLong},
		{"fail/huge-input", strings.Repeat("0", maxSerialInput+1), ErrSerialTooLong},
	}
	for _, tt := range fail {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSerial(tt.in)
			if !errors.Is(err, tt.want) {
				t.Errorf("ParseSerial(%q) = %v, %v, want error %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func FuzzParseSerial(f *testing.F) {
	for _, s := range []string{"1a2b3c", "0x00:ff", "-1", "", "0", strings.Repeat("ff", 21), "1a 2b-3c", "\u00a0"} {
		f.Add(s)
	}
	limit := new(big.Int).Lsh(big.NewInt(1), 8*maxSerialOctets)
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSerial(s)
		if err != nil {
			if n != nil {
				t.Fatalf("ParseSerial(%q) = %v with error %v", s, n, err)
			}
			return
		}
		if n.Sign() <= 0 || n.Cmp(limit) >= 0 {
			t.Fatalf("ParseSerial(%q) = %v, outside 1..2^160-1", s, n)
		}
		// What it accepted reads back the same from its canonical form.
		back, err := ParseSerial(FormatSerial(n))
		if err != nil || back.Cmp(n) != 0 {
			t.Fatalf("ParseSerial(FormatSerial(%v)) = %v, %v", n, back, err)
		}
	})
}
