package pdfread

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// pdfDocEncoding maps the bytes of PDFDocEncoding that differ from ISO
// Latin-1 (PDF 32000-1 Annex D, Table D.2). Zero marks a byte that the
// table leaves undefined; those decode to U+FFFD.
var pdfDocEncoding = func() (t [256]rune) {
	for b := 0; b < 256; b++ {
		t[b] = rune(b)
	}
	for b := 0x00; b < 0x18; b++ {
		t[b] = 0
	}
	t['\t'], t['\n'], t['\r'] = '\t', '\n', '\r'
	copy(t[0x18:0x20], []rune{
		0x02d8, 0x02c7, 0x02c6, 0x02d9, 0x02dd, 0x02db, 0x02da, 0x02dc,
	})
	t[0x7f] = 0
	copy(t[0x80:0xa1], []rune{
		0x2022, 0x2020, 0x2021, 0x2026, 0x2014, 0x2013, 0x0192, 0x2044,
		0x2039, 0x203a, 0x2212, 0x2030, 0x201e, 0x201c, 0x201d, 0x2018,
		0x2019, 0x201a, 0x2122, 0xfb01, 0xfb02, 0x0141, 0x0152, 0x0160,
		0x0178, 0x017d, 0x0131, 0x0142, 0x0153, 0x0161, 0x017e, 0,
		0x20ac,
	})
	t[0xad] = 0
	return t
}()

// langEscape starts and ends a language tag inside a Unicode text string
// (7.9.2.2); the tag is not part of the text.
const langEscape = 0x1b

// TextString decodes a PDF text string (7.9.2.2) to UTF-8: UTF-16BE when it
// starts with the byte order mark FE FF, UTF-8 when it starts with EF BB BF
// (PDF 2.0), PDFDocEncoding otherwise. Language escapes (ESC tag ESC) of the
// Unicode forms are dropped; invalid sequences and bytes that
// PDFDocEncoding leaves undefined become U+FFFD.
func TextString(s String) string {
	switch {
	case len(s) >= 2 && s[0] == 0xfe && s[1] == 0xff:
		return utf16BE(s[2:])
	case len(s) >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf:
		return dropLangEscapes(strings.ToValidUTF8(string(s[3:]), "\uFFFD"))
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, c := range s {
		r := pdfDocEncoding[c]
		if r == 0 {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

func utf16BE(s []byte) string {
	u := make([]uint16, 0, len(s)/2+1)
	for i := 0; i+1 < len(s); i += 2 {
		u = append(u, uint16(s[i])<<8|uint16(s[i+1]))
	}
	if len(s)%2 == 1 {
		u = append(u, utf8.RuneError)
	}
	return dropLangEscapes(string(utf16.Decode(u)))
}

// dropLangEscapes removes ESC ... ESC language tags. An unpaired ESC is kept
// as U+FFFD rather than swallowing the rest of the text.
func dropLangEscapes(s string) string {
	if strings.IndexByte(s, langEscape) < 0 {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, langEscape)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i+1:], langEscape)
		if j < 0 {
			b.WriteRune(utf8.RuneError)
			b.WriteString(s[i+1:])
			return b.String()
		}
		s = s[i+1+j+1:]
	}
}
