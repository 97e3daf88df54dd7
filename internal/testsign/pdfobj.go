package testsign

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// The PDF object model of this package: just enough to write the reference
// form and to read back, modify and re-write the objects of files this
// package (or another well-behaved producer) wrote.
//
// An object is one of: pdfName, pdfString, int64, float64, bool, nil (null),
// pdfArray, *pdfDict, pdfRef, *pdfStream, or rawObject.
type object any

// pdfName is a name object, stored without its leading slash.
type pdfName string

// pdfString is a string object: its bytes, and whether it is written as a
// hex string.
type pdfString struct {
	b   []byte
	hex bool
}

// pdfRef is an indirect reference.
type pdfRef struct{ num, gen int }

// pdfArray is an array object.
type pdfArray []object

// dictEntry is one key of a dictionary, kept in order so that output is
// reproducible byte for byte.
type dictEntry struct {
	key pdfName
	val object
}

// pdfDict is a dictionary object that keeps the order of its keys.
type pdfDict struct{ entries []dictEntry }

// pdfStream is a stream object: its dictionary (without /Length, which is
// written from data) and its raw, still encoded, data.
type pdfStream struct {
	dict *pdfDict
	data []byte
}

// rawObject is written verbatim; the signer uses it for the signature
// dictionary, whose byte layout it must know.
type rawObject []byte

func newDict(kv ...any) *pdfDict {
	d := &pdfDict{}
	for i := 0; i+1 < len(kv); i += 2 {
		d.set(pdfName(kv[i].(string)), kv[i+1])
	}
	return d
}

func (d *pdfDict) get(k pdfName) object {
	if d == nil {
		return nil
	}
	for _, e := range d.entries {
		if e.key == k {
			return e.val
		}
	}
	return nil
}

func (d *pdfDict) has(k pdfName) bool {
	if d == nil {
		return false
	}
	for _, e := range d.entries {
		if e.key == k {
			return true
		}
	}
	return false
}

func (d *pdfDict) set(k pdfName, v object) {
	for i, e := range d.entries {
		if e.key == k {
			d.entries[i].val = v
			return
		}
	}
	d.entries = append(d.entries, dictEntry{k, v})
}

func (d *pdfDict) del(k pdfName) {
	for i, e := range d.entries {
		if e.key == k {
			d.entries = append(d.entries[:i], d.entries[i+1:]...)
			return
		}
	}
}

// clone copies the dictionary deeply enough that setting keys on the copy,
// or appending to its arrays, leaves the original alone.
func (d *pdfDict) clone() *pdfDict {
	c := &pdfDict{entries: make([]dictEntry, len(d.entries))}
	for i, e := range d.entries {
		c.entries[i] = dictEntry{e.key, cloneObject(e.val)}
	}
	return c
}

func cloneObject(o object) object {
	switch v := o.(type) {
	case *pdfDict:
		return v.clone()
	case pdfArray:
		a := make(pdfArray, len(v))
		for i := range v {
			a[i] = cloneObject(v[i])
		}
		return a
	case *pdfStream:
		return &pdfStream{dict: v.dict.clone(), data: bytes.Clone(v.data)}
	case pdfString:
		return pdfString{b: bytes.Clone(v.b), hex: v.hex}
	}
	return o
}

// writeObject appends the PDF syntax of o to buf.
func writeObject(buf *bytes.Buffer, o object) {
	switch v := o.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	case int:
		buf.WriteString(strconv.Itoa(v))
	case int64:
		buf.WriteString(strconv.FormatInt(v, 10))
	case float64:
		buf.WriteString(formatReal(v))
	case pdfName:
		writeName(buf, v)
	case pdfString:
		writeString(buf, v)
	case pdfRef:
		fmt.Fprintf(buf, "%d %d R", v.num, v.gen)
	case pdfArray:
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(' ')
			}
			writeObject(buf, e)
		}
		buf.WriteByte(']')
	case *pdfDict:
		buf.WriteString("<<")
		for _, e := range v.entries {
			writeName(buf, e.key)
			buf.WriteByte(' ')
			writeObject(buf, e.val)
		}
		buf.WriteString(">>")
	case *pdfStream:
		d := v.dict.clone()
		d.set("Length", len(v.data))
		writeObject(buf, d)
		buf.WriteString("\nstream\n")
		buf.Write(v.data)
		buf.WriteString("\nendstream")
	case rawObject:
		buf.Write(v)
	default:
		panic(fmt.Sprintf("testsign: cannot write %T", o))
	}
}

func formatReal(f float64) string {
	// PDF has no exponent notation; three decimals are finer than a
	// device pixel.
	s := strconv.FormatFloat(f, 'f', 3, 64)
	s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

func isRegular(c byte) bool {
	return c > ' ' && c < 0x7f && !isDelimiter(c) && c != '#'
}

func isDelimiter(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

func isWhite(c byte) bool {
	switch c {
	case 0, '\t', '\n', '\f', '\r', ' ':
		return true
	}
	return false
}

func writeName(buf *bytes.Buffer, n pdfName) {
	buf.WriteByte('/')
	for i := 0; i < len(n); i++ {
		c := n[i]
		if isRegular(c) {
			buf.WriteByte(c)
		} else {
			fmt.Fprintf(buf, "#%02X", c)
		}
	}
}

func writeString(buf *bytes.Buffer, s pdfString) {
	if s.hex {
		buf.WriteByte('<')
		buf.WriteString(hex.EncodeToString(s.b))
		buf.WriteByte('>')
		return
	}
	buf.WriteByte('(')
	for _, c := range s.b {
		switch {
		case c == '(' || c == ')' || c == '\\':
			buf.WriteByte('\\')
			buf.WriteByte(c)
		case c < ' ' || c >= 0x7f:
			// Octal escapes keep the file 7-bit clean and stop a reader's
			// end-of-line normalisation from changing a CR in a value.
			fmt.Fprintf(buf, "\\%03o", c)
		default:
			buf.WriteByte(c)
		}
	}
	buf.WriteByte(')')
}

// serialize returns the PDF syntax of o.
func serialize(o object) []byte {
	var buf bytes.Buffer
	writeObject(&buf, o)
	return buf.Bytes()
}
