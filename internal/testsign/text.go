package testsign

import (
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// pdfDocSpecial is the part of PDFDocEncoding (ISO 32000-1, table D.2) that
// differs from ISO 8859-1.
var pdfDocSpecial = map[byte]rune{
	0x18: 0x02d8, 0x19: 0x02c7, 0x1a: 0x02c6, 0x1b: 0x02d9,
	0x1c: 0x02dd, 0x1d: 0x02db, 0x1e: 0x02da, 0x1f: 0x02dc,
	0x80: 0x2022, 0x81: 0x2020, 0x82: 0x2021, 0x83: 0x2026,
	0x84: 0x2014, 0x85: 0x2013, 0x86: 0x0192, 0x87: 0x2044,
	0x88: 0x2039, 0x89: 0x203a, 0x8a: 0x2212, 0x8b: 0x2030,
	0x8c: 0x201e, 0x8d: 0x201c, 0x8e: 0x201d, 0x8f: 0x2018,
	0x90: 0x2019, 0x91: 0x201a, 0x92: 0x2122, 0x93: 0xfb01,
	0x94: 0xfb02, 0x95: 0x0141, 0x96: 0x0152, 0x97: 0x0160,
	0x98: 0x0178, 0x99: 0x017d, 0x9a: 0x0131, 0x9b: 0x0142,
	0x9c: 0x0153, 0x9d: 0x0161, 0x9e: 0x017e, 0xa0: 0x20ac,
}

var pdfDocReverse = func() map[rune]byte {
	m := map[rune]byte{}
	for b, r := range pdfDocSpecial {
		m[r] = b
	}
	return m
}()

func pdfDocRune(b byte) (rune, bool) {
	if r, ok := pdfDocSpecial[b]; ok {
		return r, true
	}
	if b == '\t' || b == '\n' || b == '\r' || b >= 0x20 && b <= 0x7e || b >= 0xa1 && b != 0xad {
		return rune(b), true
	}
	return utf8.RuneError, false
}

// encodePDFDoc returns s in PDFDocEncoding, or false when a rune has no
// code there.
func encodePDFDoc(s string) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if b, ok := pdfDocReverse[r]; ok {
			out = append(out, b)
			continue
		}
		if r < 0x100 {
			if _, ok := pdfDocRune(byte(r)); ok {
				if _, special := pdfDocSpecial[byte(r)]; !special {
					out = append(out, byte(r))
					continue
				}
			}
		}
		return nil, false
	}
	return out, true
}

// TextString encodes s as a PDF text string (ISO 32000-1, 7.9.2.2):
// PDFDocEncoding when every character has a code there, otherwise UTF-16BE
// with a byte order mark.
//
// QUIRK: a PDFDocEncoding byte sequence that is also valid UTF-8 (such as
// "Ã©") is written as UTF-16 instead, because some readers, pdfcpu among
// them, try UTF-8 before PDFDocEncoding and would read it back wrong.
func TextString(s string) []byte {
	if b, ok := encodePDFDoc(s); ok && (!hasHighByte(b) || !utf8.Valid(b)) {
		return b
	}
	out := []byte{0xfe, 0xff}
	for _, u := range utf16.Encode([]rune(s)) {
		out = append(out, byte(u>>8), byte(u))
	}
	return out
}

func hasHighByte(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// DecodeTextString is the inverse of TextString: UTF-16BE with a byte
// order mark, UTF-8 with one (PDF 2.0), else PDFDocEncoding. Bytes without
// a PDFDocEncoding code become U+FFFD.
func DecodeTextString(b []byte) string {
	switch {
	case len(b) >= 2 && b[0] == 0xfe && b[1] == 0xff:
		b = b[2:]
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		return string(utf16.Decode(u))
	case len(b) >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf:
		return string(b[3:])
	}
	rs := make([]rune, len(b))
	for i, c := range b {
		rs[i], _ = pdfDocRune(c)
	}
	return string(rs)
}

func textString(s string) pdfString {
	b := TextString(s)
	return pdfString{b: b, hex: len(b) >= 2 && b[0] == 0xfe && b[1] == 0xff}
}

// winAnsi encodes s for the standard fonts with /WinAnsiEncoding that the
// page and the appearance streams use; characters outside it become '?'.
func winAnsi(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		b, ok := charmap.Windows1252.EncodeRune(r)
		if !ok {
			b = '?'
		}
		out = append(out, b)
	}
	return out
}
