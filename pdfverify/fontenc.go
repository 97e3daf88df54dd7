package pdfverify

import (
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/revokd/revokd/pdfverify/internal/pdfread"
)

// fontDecoder turns the bytes a show-text operator gives into text, as far
// as a form field's appearance needs: simple fonts with the standard,
// WinAnsi, MacRoman or PDFDoc encodings and /Differences naming common
// glyphs, and any font with a /ToUnicode CMap of bfchar and bfrange
// entries. What it cannot read becomes U+FFFD, which matches no value.
type fontDecoder struct {
	table    [256]rune
	twoBytes bool              // a composite (Type0) font: two-byte codes
	cmap     map[uint32]string // from /ToUnicode
}

func (v *verification) newFontDecoder(f *pdfread.File, font pdfread.Dict) *fontDecoder {
	d := &fontDecoder{}
	resolve := func(o pdfread.Object) pdfread.Object {
		r, err := f.Resolve(o)
		if err != nil {
			return nil
		}
		return r
	}
	sub, _ := font["Subtype"].(pdfread.Name)
	d.twoBytes = sub == "Type0"
	base := "StandardEncoding"
	var diffs pdfread.Array
	switch enc := resolve(font["Encoding"]).(type) {
	case pdfread.Name:
		base = string(enc)
	case pdfread.Dict:
		if b, ok := enc["BaseEncoding"].(pdfread.Name); ok {
			base = string(b)
		}
		diffs, _ = resolve(enc["Differences"]).(pdfread.Array)
	}
	switch base {
	case "WinAnsiEncoding":
		d.table = encodings().winAnsi
	case "MacRomanEncoding":
		d.table = encodings().macRoman
	case "PDFDocEncoding":
		d.table = encodings().pdfDoc
	default:
		d.table = encodings().standard
	}
	code := -1
	for _, o := range diffs {
		switch x := o.(type) {
		case int64:
			code = int(x)
		case pdfread.Name:
			if code >= 0 && code < 256 {
				d.table[code] = glyphRune(string(x))
				code++
			}
		}
	}
	if s, ok := resolve(font["ToUnicode"]).(*pdfread.Stream); ok {
		if b, err := f.Decode(s); err == nil {
			d.cmap = parseToUnicode(b)
		}
	}
	return d
}

// encodingTables are the simple fonts' base encodings, built once.
type encodingTables struct{ winAnsi, macRoman, pdfDoc, standard [256]rune }

var encodings = sync.OnceValue(func() *encodingTables {
	t := &encodingTables{}
	for i := range 256 {
		t.winAnsi[i] = charmap.Windows1252.DecodeByte(byte(i))
		t.macRoman[i] = charmap.Macintosh.DecodeByte(byte(i))
		t.pdfDoc[i], _ = utf8.DecodeRuneInString(pdfread.TextString(pdfread.String{byte(i)}))
		t.standard[i] = utf8.RuneError
	}
	// StandardEncoding: ASCII but for the quotes; the rest is not needed
	// by a form's values.
	for i := 0x20; i < 0x7f; i++ {
		t.standard[i] = rune(i)
	}
	t.standard['\''], t.standard['`'] = '’', '‘'
	return t
})

// decode returns the text the string s shows.
func (d *fontDecoder) decode(s []byte) string {
	var b strings.Builder
	step := 1
	if d.twoBytes {
		step = 2
	}
	for i := 0; i+step <= len(s); i += step {
		c := uint32(s[i])
		if step == 2 {
			c = c<<8 | uint32(s[i+1])
		}
		if t, ok := d.cmap[c]; ok {
			b.WriteString(t)
			continue
		}
		if step == 1 {
			b.WriteRune(d.table[c])
		} else {
			b.WriteRune(utf8.RuneError)
		}
	}
	if len(s)%step != 0 {
		b.WriteRune(utf8.RuneError)
	}
	return b.String()
}

// glyphRune maps a glyph name to its character: uniXXXX, the digits, the
// Latin letters and the punctuation a form's values use. Other names are
// U+FFFD.
func glyphRune(name string) rune {
	if len(name) == 1 && (name[0] >= 'A' && name[0] <= 'Z' || name[0] >= 'a' && name[0] <= 'z') {
		return rune(name[0])
	}
	if h, ok := strings.CutPrefix(name, "uni"); ok && len(h) == 4 {
		if n, err := strconv.ParseUint(h, 16, 16); err == nil {
			return rune(n)
		}
	}
	if r, ok := glyphNames[name]; ok {
		return r
	}
	return utf8.RuneError
}

var glyphNames = map[string]rune{
	"zero": '0', "one": '1', "two": '2', "three": '3', "four": '4', "five": '5',
	"six": '6', "seven": '7', "eight": '8', "nine": '9', "space": ' ', "period": '.',
	"comma": ',', "hyphen": '-', "at": '@', "underscore": '_', "slash": '/', "colon": ':',
	"quoteright": '’', "quotesingle": '\'', "parenleft": '(', "parenright": ')',
	"eacute": 'é', "egrave": 'è', "ecircumflex": 'ê', "agrave": 'à', "ccedilla": 'ç',
	"ocircumflex": 'ô', "icircumflex": 'î', "ugrave": 'ù', "Eacute": 'É',
}

// maxCMapEntries bounds a /ToUnicode CMap: a font maps a few hundred
// glyphs; a range may not expand into more than this either.
const maxCMapEntries = 1 << 16

// parseToUnicode reads the bfchar and bfrange entries of a ToUnicode CMap
// (codes of one or two bytes, UTF-16BE destinations).
func parseToUnicode(b []byte) map[uint32]string {
	out := map[uint32]string{}
	toks := cmapTokens(b)
	hexVal := func(t string) ([]byte, bool) {
		if len(t) < 2 || t[0] != '<' {
			return nil, false
		}
		var out []byte
		h := t[1 : len(t)-1]
		if len(h)%2 == 1 {
			h += "0"
		}
		for i := 0; i+2 <= len(h); i += 2 {
			n, err := strconv.ParseUint(h[i:i+2], 16, 8)
			if err != nil {
				return nil, false
			}
			out = append(out, byte(n))
		}
		return out, true
	}
	code := func(b []byte) uint32 {
		var c uint32
		for _, x := range b {
			c = c<<8 | uint32(x)
		}
		return c
	}
	utf16be := func(b []byte) string {
		u := make([]uint16, 0, len(b)/2)
		for i := 0; i+1 < len(b); i += 2 {
			u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
		}
		return string(utf16.Decode(u))
	}
	for i := 0; i < len(toks); i++ {
		switch toks[i] {
		case "beginbfchar":
			for i++; i+1 < len(toks) && toks[i] != "endbfchar"; i += 2 {
				src, ok1 := hexVal(toks[i])
				dst, ok2 := hexVal(toks[i+1])
				if ok1 && ok2 && len(out) < maxCMapEntries {
					out[code(src)] = utf16be(dst)
				}
			}
		case "beginbfrange":
			for i++; i+2 < len(toks) && toks[i] != "endbfrange"; i += 3 {
				lo, ok1 := hexVal(toks[i])
				hi, ok2 := hexVal(toks[i+1])
				dst, ok3 := hexVal(toks[i+2])
				if !ok1 || !ok2 || !ok3 || len(dst) < 2 {
					if toks[i+2] == "[" { // an array of destinations: skip it
						for i+3 < len(toks) && toks[i+3] != "]" {
							i++
						}
						i++
					}
					continue
				}
				a, z := code(lo), code(hi)
				for c := a; c <= z && len(out) < maxCMapEntries; c++ {
					d := append([]byte{}, dst...)
					d[len(d)-1] += byte(c - a)
					out[c] = utf16be(d)
				}
			}
		}
	}
	return out
}

// cmapTokens splits a CMap into hex strings, brackets and words.
func cmapTokens(b []byte) []string {
	var toks []string
	for i := 0; i < len(b) && len(toks) < 4*maxCMapEntries; {
		c := b[i]
		switch {
		case c == '<' && i+1 < len(b) && b[i+1] != '<':
			j := i + 1
			for j < len(b) && b[j] != '>' {
				j++
			}
			toks = append(toks, "<"+strings.Join(strings.Fields(string(b[i+1:min(j, len(b))])), "")+">")
			i = j + 1
		case c == '[' || c == ']':
			toks = append(toks, string(c))
			i++
		case c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '<' || c == '>':
			i++
		default:
			j := i
			for j < len(b) && !strings.ContainsRune(" \n\r\t<>[]", rune(b[j])) {
				j++
			}
			toks = append(toks, string(b[i:j]))
			i = j
		}
	}
	return toks
}
