package pdfread

import (
	"errors"
	"fmt"
)

// Defaults of Limits. A form of a few pages uses a tiny fraction of each;
// they exist so that a hostile file costs bounded time and memory.
const (
	// DefaultMaxObjects bounds cross-reference entries in total: a 20 MiB
	// file cannot hold more than about a million real objects (each takes
	// at least a "N 0 obj" header and an xref row), while an xref stream can
	// claim far more from a few compressed bytes.
	DefaultMaxObjects = 1 << 20

	// DefaultMaxDepth bounds nesting of arrays and dictionaries (and of the
	// form field tree). Real documents nest fewer than ten levels; the
	// parser recurses once per level.
	DefaultMaxDepth = 64

	// DefaultMaxDecodedBytes bounds the output of decoding one stream, so a
	// flate bomb (1000:1 and more) fails instead of filling memory. XMP
	// metadata, object and xref streams of a form are far smaller.
	DefaultMaxDecodedBytes = 32 << 20

	// DefaultMaxTotalDecodedBytes bounds the output of all decoding done
	// through one File (object streams are cached), so many small bombs
	// cannot add up to what one may not.
	DefaultMaxTotalDecodedBytes = 4 * DefaultMaxDecodedBytes

	// DefaultMaxSections bounds the cross-reference sections followed
	// through /Prev. Each incremental update (each signature, each DSS
	// addition) adds one; hundreds would already be exceptional.
	DefaultMaxSections = 512

	// DefaultMaxResolve bounds a chain of references followed at once
	// (a reference to an object that is itself a reference, an indirect
	// /Length, an object stream holding the object asked for).
	DefaultMaxResolve = 32

	// DefaultMaxValues bounds the values (numbers, names, strings, array
	// elements, dictionary entries) in one parsed object. An object costs
	// about 16 bytes of memory per value on top of the input, so this keeps
	// one object from multiplying a 20 MiB input into gigabytes; the largest
	// arrays of real files (font widths, page trees) hold thousands.
	DefaultMaxValues = 1 << 18
)

// Limits bounds the work done on one file. A zero field takes its default
// (the Default... constants); a nil or zero Limits is the same as all
// defaults.
type Limits struct {
	MaxObjects           int   // cross-reference entries in total
	MaxDepth             int   // nesting of arrays and dictionaries, and of the field tree
	MaxDecodedBytes      int64 // output of decoding one stream
	MaxTotalDecodedBytes int64 // output of all decoding done through one File
	MaxSections          int   // cross-reference sections followed through /Prev
	MaxResolve           int   // length of a chain of references followed at once
	MaxValues            int   // values in one parsed object
}

func (l Limits) withDefaults() Limits {
	if l.MaxObjects <= 0 {
		l.MaxObjects = DefaultMaxObjects
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxDecodedBytes <= 0 {
		l.MaxDecodedBytes = DefaultMaxDecodedBytes
	}
	if l.MaxTotalDecodedBytes <= 0 {
		l.MaxTotalDecodedBytes = DefaultMaxTotalDecodedBytes
	}
	if l.MaxSections <= 0 {
		l.MaxSections = DefaultMaxSections
	}
	if l.MaxResolve <= 0 {
		l.MaxResolve = DefaultMaxResolve
	}
	if l.MaxValues <= 0 {
		l.MaxValues = DefaultMaxValues
	}
	return l
}

// ErrLimit is wrapped by every error that reports a limit of Limits being
// exceeded.
var ErrLimit = errors.New("pdfread: limit exceeded")

// ErrUnsupported is wrapped by errors about valid PDF that this reader does
// not handle (filters other than FlateDecode, external streams).
var ErrUnsupported = errors.New("pdfread: unsupported")

// FormatError reports malformed input, a limit exceeded (Err is ErrLimit) or
// an unsupported feature (Err is ErrUnsupported). Offset is the byte offset
// in the file where the problem was found; inside an object stream, the
// offset of that object stream's object; 0 for problems of the document's
// structure (the form field tree, a chain of references) that no single
// offset locates.
type FormatError struct {
	Offset int64
	Msg    string
	Err    error // ErrLimit, ErrUnsupported or nil
}

// Error returns the message with the offset.
func (e *FormatError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("pdf at offset %d: %s: %v", e.Offset, e.Msg, e.Err)
	}
	return fmt.Sprintf("pdf at offset %d: %s", e.Offset, e.Msg)
}

// Unwrap returns ErrLimit, ErrUnsupported or nil.
func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(off int64, format string, args ...any) *FormatError {
	return &FormatError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

func limitErr(off int64, format string, args ...any) *FormatError {
	return &FormatError{Offset: off, Msg: fmt.Sprintf(format, args...), Err: ErrLimit}
}

func unsupportedErr(off int64, format string, args ...any) *FormatError {
	return &FormatError{Offset: off, Msg: fmt.Sprintf(format, args...), Err: ErrUnsupported}
}
