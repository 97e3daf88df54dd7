package pdfread

// Object is one PDF value: nil (null), bool, int64, float64, Name, String,
// Array, Dict, *Stream or Ref.
type Object any

// Name is a PDF name object, with #xx escapes decoded, without the slash.
type Name string

// String is the decoded bytes of a literal string (escapes, octal codes and
// line continuations applied) or of a hex string. See TextString to turn a
// text string into UTF-8.
type String []byte

// Array is a PDF array.
type Array []Object

// Dict is a PDF dictionary. The parser rejects a dictionary that repeats a
// key, so every key maps to the one value written in the file. A key whose
// value is null is kept with a nil value, which PDF treats as absent.
type Dict map[Name]Object

// Ref is an indirect reference "Num Gen R".
type Ref struct{ Num, Gen int }

// Stream is a stream object. Raw is a sub-slice of the file (capacity
// limited to its length) holding the bytes between "stream" and "endstream"
// as /Length counts them, still encoded; see File.Decode. Callers must not
// modify it.
type Stream struct {
	Dict Dict
	Raw  []byte
}

// Name-typed keys and values used by this package.
const (
	keyType   Name = "Type"
	keyLength Name = "Length"
)
