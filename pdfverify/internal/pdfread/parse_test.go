package pdfread

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func parseOne(t *testing.T, in string, lim Limits) (Object, error) {
	t.Helper()
	f := &File{lim: lim.withDefaults()}
	return f.newParser([]byte(in), 0).object(0)
}

func TestParseObject(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Object
	}{
		{"ok/integer-after-comment", "  % a comment\r\n 42", int64(42)},
		{"ok/all-white-space", "\x00\t\f\r\n -17", int64(-17)},
		{"ok/plus-sign", "+7", int64(7)},
		{"ok/real-leading-dot", ".5", 0.5},
		{"ok/real-trailing-dot", "-3.", -3.0},
		{"ok/real-negative-leading-dot", "-.002", -0.002},
		{"ok/true", "true", true},
		{"ok/false", "false ", false},
		{"ok/null", "null", nil},
		{"ok/name", "/Type", Name("Type")},
		{"ok/name-escapes", "/A#20b#23c", Name("A b#c")},
		{"ok/empty-name", "/ ", Name("")},
		{"ok/name-stops-at-delimiter", "/A/B", Name("A")},
		{"ok/nested-parentheses", "(a(b(c))d)", String("a(b(c))d")},
		{"ok/escapes", `(\n\r\t\b\f\(\)\\)`, String("\n\r\t\b\f()\\")},
		{"ok/octal", `(\101\0612\7)`, String("A12\x07")},
		{"ok/octal-three-digits-max", `(\0053)`, String("\x053")},
		{"ok/octal-overflow-ignored", `(\400)`, String("\x00")},
		{"ok/unknown-escape-drops-backslash", `(\q)`, String("q")},
		{"ok/line-continuation-lf", "(ab\\\ncd)", String("abcd")},
		{"ok/line-continuation-crlf", "(ab\\\r\ncd)", String("abcd")},
		{"ok/line-continuation-cr", "(ab\\\rcd)", String("abcd")},
		{"ok/eol-forms-become-lf", "(a\r\nb\rc\nd)", String("a\nb\nc\nd")},
		{"ok/empty-literal", "()", String{}},
		{"ok/hex", "<48656C6c6F>", String("Hello")},
		{"ok/hex-white-space", "<48 65\n6C\t6C 6F>", String("Hello")},
		{"ok/hex-odd", "<901FA>", String("\x90\x1f\xa0")},
		{"ok/hex-empty", "<>", String{}},
		{"ok/ref", "5 0 R", Ref{5, 0}},
		{"ok/ref-with-comment", "5 %c\n 2 %d\n R", Ref{5, 2}},
		{"ok/integer-then-not-ref", "12 0R", int64(12)},
		{"ok/array", "[1 2 3 0 R/x(s)[]]", Array{int64(1), int64(2), Ref{3, 0}, Name("x"), String("s"), Array{}}},
		{"ok/array-no-spaces", "[1.5/a(b)<63>]", Array{1.5, Name("a"), String("b"), String("c")}},
		{"ok/dict", "<</A 1/B[true false null]/C<</D 1.5>>/E 7 0 R>>", Dict{"A": int64(1), "B": Array{true, false, nil}, "C": Dict{"D": 1.5}, "E": Ref{7, 0}}},
		{"ok/dict-comments", "<<%x\n/A%y\n1%z\n>>", Dict{"A": int64(1)}},
		{"ok/dict-null-value", "<</A null>>", Dict{"A": nil}},
		{"ok/depth-64", strings.Repeat("[", 64) + strings.Repeat("]", 64), nest(64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOne(t, tt.in, Limits{})
			if err != nil {
				t.Fatalf("parse(%q): %v", tt.in, err)
			}
			// reflect, not cmp: cmp's diff is slow on deep nesting.
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parse(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

func nest(n int) Object {
	o := Array{}
	for i := 1; i < n; i++ {
		o = Array{o}
	}
	return o
}

func TestParseObjectFail(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		lim       Limits
		wantMsg   string
		wantLimit bool
	}{
		{"fail/empty", "  % only a comment", Limits{}, "unexpected end of data", false},
		{"fail/unterminated-literal", "(abc", Limits{}, "unterminated literal string", false},
		{"fail/unterminated-nested-literal", "(a(b)", Limits{}, "unterminated literal string", false},
		{"fail/backslash-at-end", `(a\`, Limits{}, "unterminated literal string", false},
		{"fail/bad-hex-digit", "<4G>", Limits{}, "invalid byte 'G' in hex string", false},
		{"fail/bad-hex-digit-even-length", "<414G>", Limits{}, "invalid byte 'G' in hex string", false},
		{"fail/unterminated-hex", "<abc", Limits{}, "unterminated hex string", false},
		{"fail/unterminated-array", "[1 2", Limits{}, "unterminated array", false},
		{"fail/unterminated-dict", "<</A 1", Limits{}, "unterminated dictionary", false},
		{"fail/dict-missing-value", "<</A>>", Limits{}, "unexpected '>'", false},
		{"fail/dict-key-not-name", "<<1 2>>", Limits{}, "dictionary key is not a name", false},
		{"fail/dict-duplicate-key", "<</A 1/B 2/A 3>>", Limits{}, "dictionary repeats key /A", false},
		{"fail/dict-single-gt", "<</A 1>", Limits{}, "unexpected '>' in dictionary", false},
		{"fail/name-truncated-escape", "/a#2", Limits{}, "truncated #xx escape", false},
		{"fail/name-bad-escape", "/a#zz", Limits{}, "invalid #xx escape", false},
		{"fail/name-nul", "/a#00", Limits{}, "name contains #00", false},
		{"fail/double-sign", "--5", Limits{}, "malformed number", false},
		{"fail/two-dots", "1.2.3", Limits{}, "malformed number", false},
		{"fail/sign-alone", "+", Limits{}, "malformed number", false},
		{"fail/minus-alone", "- ", Limits{}, "malformed number", false},
		{"fail/dot-alone", ".", Limits{}, "malformed number", false},
		{"fail/exponent", "1e5", Limits{}, "malformed number", false},
		{"fail/integer-overflow", "99999999999999999999", Limits{}, "out of range", false},
		{"fail/ref-generation-out-of-range", "5 70000 R", Limits{}, "reference 5 70000 R out of range", false},
		{"fail/unknown-keyword", "foo", Limits{}, `unexpected keyword "foo"`, false},
		{"fail/bare-R", "R", Limits{}, `unexpected keyword "R"`, false},
		{"fail/brace", "{", Limits{}, "unexpected '{'", false},
		{"fail/close-paren", ")", Limits{}, "unexpected ')'", false},
		{"fail/depth-65", strings.Repeat("[", 65) + strings.Repeat("]", 65), Limits{}, "nested deeper than 64", true},
		{"fail/depth-dict", strings.Repeat("<</A ", 65) + strings.Repeat(">>", 65), Limits{}, "nested deeper than 64", true},
		{"fail/too-many-values", "[1 2 3 4 5 6 7 8 9 10 11]", Limits{MaxValues: 10}, "more values than allowed", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOne(t, tt.in, tt.lim)
			checkErr(t, err, tt.wantMsg, tt.wantLimit)
			if err == nil {
				t.Errorf("parse(%q) = %v, want an error", tt.in, got)
			}
		})
	}
}

// checkErr checks that err is a *FormatError whose message contains
// wantMsg and that it wraps ErrLimit exactly when wantLimit.
func checkErr(t *testing.T, err error, wantMsg string, wantLimit bool) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want an error containing %q", wantMsg)
	}
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Errorf("err = %v (%T), want a *FormatError", err, err)
	}
	if !strings.Contains(err.Error(), wantMsg) {
		t.Errorf("err = %q, want it to contain %q", err, wantMsg)
	}
	if got := errors.Is(err, ErrLimit); got != wantLimit {
		t.Errorf("errors.Is(%q, ErrLimit) = %v, want %v", err, got, wantLimit)
	}
}
