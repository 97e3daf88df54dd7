package authorize

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unicode"
)

// maxSerialOctets is the longest serial number RFC 5280 section 4.1.2.2
// lets a CA issue.
const maxSerialOctets = 20

// maxSerialInput bounds the text ParseSerial reads: 40 hex digits with a
// separator after every pair and a prefix fit well within it, and longer
// text is not a serial a person typed.
const maxSerialInput = 160

// Errors of ParseSerial, for callers that tell the sender what was wrong.
var (
	ErrSerialEmpty    = errors.New("serial number is empty")
	ErrSerialSyntax   = errors.New("serial number is not hexadecimal")
	ErrSerialTooLong  = fmt.Errorf("serial number is longer than %d octets", maxSerialOctets)
	ErrSerialNotValid = errors.New("serial number is zero or negative")
)

// ParseSerial reads a certificate serial number written in hexadecimal, as
// people copy it from a certificate viewer: in any case, with or without a
// 0x prefix, with spaces, colons or dashes between the digits, with leading
// zeros. It rejects empty text, anything else than hex digits and those
// separators, zero, a leading minus sign, and numbers of more than 20
// octets.
//
// QUIRK: RFC 5280 counts the 20 octets of the DER INTEGER, sign octet
// included; ParseSerial counts the octets of the value, because some CAs
// issued 20-octet serials with the top bit set and their holders must still
// be able to name them.
func ParseSerial(s string) (*big.Int, error) {
	if len(s) > maxSerialInput {
		return nil, ErrSerialTooLong
	}
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "\u2212") {
		return nil, ErrSerialNotValid
	}
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	digits := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case '0' <= r && r <= '9', 'a' <= r && r <= 'f', 'A' <= r && r <= 'F':
			digits = append(digits, byte(r))
		case r == ':' || r == '-' || unicode.IsSpace(r):
		default:
			return nil, fmt.Errorf("%w: unexpected %q", ErrSerialSyntax, r)
		}
	}
	if len(digits) == 0 {
		return nil, ErrSerialEmpty
	}
	for len(digits) > 1 && digits[0] == '0' {
		digits = digits[1:]
	}
	if len(digits) > 2*maxSerialOctets {
		return nil, ErrSerialTooLong
	}
	n, ok := new(big.Int).SetString(string(digits), 16)
	if !ok {
		return nil, ErrSerialSyntax
	}
	if n.Sign() <= 0 {
		return nil, ErrSerialNotValid
	}
	return n, nil
}

// FormatSerial writes n in lower-case hexadecimal without leading zeros, the
// form revokd stores and prints serial numbers in. It returns "" for nil.
func FormatSerial(n *big.Int) string {
	if n == nil {
		return ""
	}
	return n.Text(16)
}
