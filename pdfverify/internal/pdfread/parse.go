package pdfread

import (
	"bytes"
	"encoding/hex"
	"math"
	"strconv"
)

// Byte classes of PDF 32000-1 7.2.2 and 7.2.3.
const (
	classRegular = iota
	classSpace
	classDelim
)

var charClass = func() (t [256]uint8) {
	for _, c := range []byte{0, '\t', '\n', '\f', '\r', ' '} {
		t[c] = classSpace
	}
	for _, c := range []byte("()<>[]{}/%") {
		t[c] = classDelim
	}
	return t
}()

func isSpace(c byte) bool   { return charClass[c] == classSpace }
func isRegular(c byte) bool { return charClass[c] == classRegular }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }

// maxGen is the largest generation number PDF allows (7.5.4).
const maxGen = 65535

// maxObjNum bounds object numbers so that they fit an int on every platform
// and arithmetic on them cannot overflow.
const maxObjNum = math.MaxInt32

// maxInt bounds integers read by the tokenizer. Larger values are not
// meaningful in PDF (the implementation limit is 2^31) and could overflow
// offset arithmetic.
const maxInt = 1 << 53

// span is the byte range of the value of one key of a top-level dictionary,
// recorded while parsing for File.ValueSpan.
type span struct {
	key        Name
	found      bool
	start, end int
}

// parser reads objects from data, which is either the whole file or the
// decoded content of an object stream.
type parser struct {
	data     []byte
	pos      int
	maxDepth int
	values   int   // values still allowed in the object being parsed
	base     int64 // reported as the offset of errors when inStream
	inStream bool  // data is a decoded object stream, not the file
	span     *span
}

func (f *File) newParser(data []byte, pos int) *parser {
	return &parser{data: data, pos: pos, maxDepth: f.lim.MaxDepth, values: f.lim.MaxValues}
}

// off is the file offset reported for an error at pos.
func (p *parser) off(pos int) int64 {
	if p.inStream {
		return p.base
	}
	return int64(pos)
}

func (p *parser) errf(pos int, format string, args ...any) *FormatError {
	if p.inStream {
		format += " (in object stream)"
	}
	return formatErr(p.off(pos), format, args...)
}

// skipSpace skips white-space and comments.
func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if isSpace(c) {
			p.pos++
			continue
		}
		if c != '%' {
			return
		}
		for p.pos < len(p.data) && p.data[p.pos] != '\n' && p.data[p.pos] != '\r' {
			p.pos++
		}
	}
}

// token returns the run of regular characters at pos and moves past it.
func (p *parser) token() []byte {
	start := p.pos
	for p.pos < len(p.data) && isRegular(p.data[p.pos]) {
		p.pos++
	}
	return p.data[start:p.pos]
}

// hasKeyword reports whether the keyword kw starts at pos and is not
// followed by another regular character.
func (p *parser) hasKeyword(kw string) bool {
	rest := p.data[p.pos:]
	if !bytes.HasPrefix(rest, []byte(kw)) {
		return false
	}
	return len(rest) == len(kw) || !isRegular(rest[len(kw)])
}

// uint reads an unsigned decimal integer at pos (no sign, no white-space).
func (p *parser) uint() (int64, bool) {
	start := p.pos
	var v int64
	for p.pos < len(p.data) && isDigit(p.data[p.pos]) {
		v = v*10 + int64(p.data[p.pos]-'0')
		if v > maxInt {
			return 0, false
		}
		p.pos++
	}
	if p.pos == start || (p.pos < len(p.data) && isRegular(p.data[p.pos])) {
		return 0, false
	}
	return v, true
}

// object parses one direct object at pos. depth is the nesting level of the
// containers around it.
func (p *parser) object(depth int) (Object, error) {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return nil, p.errf(p.pos, "unexpected end of data, expected an object")
	}
	p.values--
	if p.values < 0 {
		return nil, limitErr(p.off(p.pos), "object has more values than allowed")
	}
	c := p.data[p.pos]
	switch {
	case c == '/':
		return p.name()
	case c == '(':
		return p.literal()
	case c == '<':
		if p.pos+1 < len(p.data) && p.data[p.pos+1] == '<' {
			return p.dict(depth)
		}
		return p.hex()
	case c == '[':
		return p.array(depth)
	case c == '+' || c == '-' || c == '.' || isDigit(c):
		return p.number()
	case isRegular(c):
		start := p.pos
		switch tok := p.token(); string(tok) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null":
			return nil, nil
		default:
			return nil, p.errf(start, "unexpected keyword %q", truncate(tok))
		}
	default:
		return nil, p.errf(p.pos, "unexpected %q", c)
	}
}

// truncate shortens b for an error message.
func truncate(b []byte) []byte {
	const max = 32
	if len(b) > max {
		return b[:max]
	}
	return b
}

func (p *parser) name() (Name, error) {
	start := p.pos
	p.pos++ // '/'
	tok := p.token()
	if bytes.IndexByte(tok, '#') < 0 {
		return Name(tok), nil
	}
	out := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		if tok[i] != '#' {
			out = append(out, tok[i])
			continue
		}
		if i+2 >= len(tok) {
			return "", p.errf(start, "name %q has a truncated #xx escape", truncate(tok))
		}
		hi, ok1 := unhex(tok[i+1])
		lo, ok2 := unhex(tok[i+2])
		if !ok1 || !ok2 {
			return "", p.errf(start, "name %q has an invalid #xx escape", truncate(tok))
		}
		b := hi<<4 | lo
		if b == 0 {
			return "", p.errf(start, "name contains #00")
		}
		out = append(out, b)
		i += 2
	}
	return Name(out), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// literal parses a literal string (7.3.4.2).
func (p *parser) literal() (String, error) {
	start := p.pos
	p.pos++ // '('
	out := make([]byte, 0, 16)
	nest := 1
	for {
		if p.pos >= len(p.data) {
			return nil, p.errf(start, "unterminated literal string")
		}
		c := p.data[p.pos]
		p.pos++
		switch c {
		case '(':
			nest++
			out = append(out, c)
		case ')':
			nest--
			if nest == 0 {
				return String(out), nil
			}
			out = append(out, c)
		case '\r':
			// An unescaped end-of-line of any form is one line feed.
			out = append(out, '\n')
			if p.pos < len(p.data) && p.data[p.pos] == '\n' {
				p.pos++
			}
		case '\\':
			if p.pos >= len(p.data) {
				return nil, p.errf(start, "unterminated literal string")
			}
			e := p.data[p.pos]
			p.pos++
			switch e {
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case '\r':
				// Line continuation.
				if p.pos < len(p.data) && p.data[p.pos] == '\n' {
					p.pos++
				}
			case '\n':
				// Line continuation.
			case '0', '1', '2', '3', '4', '5', '6', '7':
				v := int(e - '0')
				for n := 1; n < 3 && p.pos < len(p.data); n++ {
					d := p.data[p.pos]
					if d < '0' || d > '7' {
						break
					}
					v = v*8 + int(d-'0')
					p.pos++
				}
				// High-order overflow is ignored (7.3.4.2).
				out = append(out, byte(v))
			default:
				// Covers \( \) \\ and, as the standard says, drops the
				// backslash before any other character.
				out = append(out, e)
			}
		default:
			out = append(out, c)
		}
	}
}

// hex parses a hexadecimal string (7.3.4.3).
func (p *parser) hex() (String, error) {
	start := p.pos
	p.pos++ // '<'
	n := bytes.IndexByte(p.data[p.pos:], '>')
	if n < 0 {
		p.pos = len(p.data)
		return nil, p.errf(start, "unterminated hex string")
	}
	body := p.data[p.pos : p.pos+n]
	// A signature's /Contents is tens of kilobytes of hex: size the output
	// once. Most hex strings are plain digits, which encoding/hex decodes
	// fastest; whitespace, an odd count or a bad byte take the table below.
	out := make([]byte, (len(body)+1)/2)
	if len(body)%2 == 0 {
		if _, err := hex.Decode(out, body); err == nil {
			p.pos += n + 1
			return String(out), nil
		}
	}
	out = out[:0]
	var hi byte
	odd := false
	for i, c := range body {
		v := hexTable[c]
		switch v {
		case hexSpace:
			continue
		case hexInvalid:
			p.pos += i + 1
			return nil, p.errf(p.pos-1, "invalid byte %q in hex string", c)
		}
		if odd {
			out = append(out, hi<<4|v)
		} else {
			hi = v
		}
		odd = !odd
	}
	p.pos += n + 1
	if odd {
		out = append(out, hi<<4)
	}
	return String(out), nil
}

const (
	hexInvalid = 0xff
	hexSpace   = 0xfe
)

// hexTable maps a byte to its hex digit value, hexSpace for PDF white
// space, hexInvalid otherwise.
var hexTable = func() (t [256]byte) {
	for i := range t {
		c := byte(i)
		switch v, ok := unhex(c); {
		case ok:
			t[i] = v
		case isSpace(c):
			t[i] = hexSpace
		default:
			t[i] = hexInvalid
		}
	}
	return t
}()

func (p *parser) array(depth int) (Array, error) {
	start := p.pos
	if depth >= p.maxDepth {
		return nil, limitErr(p.off(start), "arrays and dictionaries nested deeper than %d", p.maxDepth)
	}
	p.pos++ // '['
	a := Array{}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errf(start, "unterminated array")
		}
		if p.data[p.pos] == ']' {
			p.pos++
			return a, nil
		}
		o, err := p.object(depth + 1)
		if err != nil {
			return nil, err
		}
		a = append(a, o)
	}
}

func (p *parser) dict(depth int) (Dict, error) {
	start := p.pos
	if depth >= p.maxDepth {
		return nil, limitErr(p.off(start), "arrays and dictionaries nested deeper than %d", p.maxDepth)
	}
	p.pos += 2 // "<<"
	d := Dict{}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errf(start, "unterminated dictionary")
		}
		c := p.data[p.pos]
		if c == '>' {
			if p.pos+1 < len(p.data) && p.data[p.pos+1] == '>' {
				p.pos += 2
				return d, nil
			}
			return nil, p.errf(p.pos, "unexpected '>' in dictionary")
		}
		if c != '/' {
			return nil, p.errf(p.pos, "dictionary key is not a name")
		}
		keyPos := p.pos
		key, err := p.name()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		valStart := p.pos
		v, err := p.object(depth + 1)
		if err != nil {
			return nil, err
		}
		if _, dup := d[key]; dup {
			// Readers disagree on which of two values wins; an
			// ambiguous dictionary is not evidence of anything.
			return nil, p.errf(keyPos, "dictionary repeats key /%s", key)
		}
		d[key] = v
		if depth == 0 && p.span != nil && key == p.span.key {
			p.span.found, p.span.start, p.span.end = true, valStart, p.pos
		}
	}
}

// number parses an integer, a real, or a reference "N G R".
func (p *parser) number() (Object, error) {
	start := p.pos
	tok := p.token()
	if len(tok) == 0 {
		return nil, p.errf(start, "unexpected %q", p.data[start])
	}
	neg := false
	digits := tok
	if tok[0] == '+' || tok[0] == '-' {
		neg = tok[0] == '-'
		digits = tok[1:]
	}
	dot := bytes.IndexByte(digits, '.')
	nd := 0
	for i, c := range digits {
		if i == dot {
			continue
		}
		if !isDigit(c) {
			return nil, p.errf(start, "malformed number %q", truncate(tok))
		}
		nd++
	}
	if nd == 0 {
		return nil, p.errf(start, "malformed number %q", truncate(tok))
	}
	if dot >= 0 {
		v, err := strconv.ParseFloat(string(tok), 64)
		if err != nil {
			return nil, p.errf(start, "malformed number %q", truncate(tok))
		}
		return v, nil
	}
	var v int64
	for _, c := range digits {
		v = v*10 + int64(c-'0')
		if v > maxInt {
			return nil, p.errf(start, "integer %q out of range", truncate(tok))
		}
	}
	if neg {
		return -v, nil
	}
	if tok[0] == '+' {
		return v, nil
	}
	// An unsigned integer may start a reference.
	save := p.pos
	p.skipSpace()
	if gen, ok := p.uint(); ok {
		p.skipSpace()
		if p.hasKeyword("R") {
			p.pos++
			if v > maxObjNum || gen > maxGen {
				return nil, p.errf(start, "reference %d %d R out of range", v, gen)
			}
			return Ref{Num: int(v), Gen: int(gen)}, nil
		}
	}
	p.pos = save
	return v, nil
}
