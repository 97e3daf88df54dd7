package revocation

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// foldings spells out the letters that Unicode decomposition leaves whole but
// that French speakers type either way ("Lætitia" / "Laetitia", "Œuvre" /
// "Oeuvre").
var foldings = map[rune]string{
	'æ': "ae", 'Æ': "ae",
	'œ': "oe", 'Œ': "oe",
	'ß': "ss", 'ẞ': "ss",
}

// Normalize returns s in the form revokd compares names and reasons in:
// compatibility-decomposed (NFKD), without combining marks (accents), in lower
// case, with the ligatures æ, œ and ß spelled out, with invisible format
// characters (soft hyphen, zero-width space) removed, and with every run of
// spaces, hyphens and apostrophes turned into one space, trimmed at both ends.
//
// So "Jean-François  D’Arc", "JEAN FRANCOIS D'ARC" and "jean francois d arc"
// all give "jean francois d arc". Normalize is for comparing what people type
// with what a certificate or a register says; it is not a way to make
// identifiers unique.
func Normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range norm.NFKD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r), unicode.Is(unicode.Cf, r):
			continue
		case isSeparator(r):
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if f, ok := foldings[r]; ok {
			b.WriteString(f)
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// isSeparator reports whether r separates words in a name: white space (the
// no-break spaces of French typography included), any dash, and the
// apostrophes and quotes people type for an apostrophe.
func isSeparator(r rune) bool {
	if unicode.IsSpace(r) || unicode.Is(unicode.Pd, r) {
		return true
	}
	switch r {
	case '\'', '\u2019', '\u2018', '\u201B', '\u02BC', '\u02B9', '`', '\u00B4', '\u2032', '\u2212':
		return true
	}
	return false
}
