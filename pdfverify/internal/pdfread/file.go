package pdfread

import (
	"bytes"
	"fmt"
	"sync"
)

// File is a PDF file opened for reading. Its methods are safe for
// concurrent use. The Objects it returns share memory with the file and
// with each other: callers must not modify them.
type File struct {
	data     []byte
	lim      Limits
	sections []Section     // newest first
	index    map[int]Entry // merged entries when there are many sections, else nil
	end      int64

	mu      sync.Mutex
	objStms map[int]*objStm // decoded object streams, by object number
	decoded int64           // bytes produced by decoding so far
	// parsed caches uncompressed objects: a verifier asks for the same
	// signature dictionary several times, and its /Contents is long.
	parsed map[Ref]Object
}

// Open reads the cross-reference chain that ends at the last "startxref" of
// data, so that Open(data[:n]) gives the document as it was at the revision
// whose %%EOF ends at n. Only white-space may follow that %%EOF.
//
// Open reads the cross-reference sections and checks that every in-use
// entry points at the "N G obj" header of its object; objects themselves are
// parsed when asked for. It does not repair: a startxref or /Prev that does
// not point at a cross-reference section, an entry that does not point at
// its object, or a /Prev loop yields a *FormatError. data must not be
// modified while the File is in use.
func Open(data []byte, lim Limits) (*File, error) {
	f := &File{data: data, lim: lim.withDefaults()}
	if !bytes.HasPrefix(data, []byte("%PDF-")) {
		return nil, formatErr(0, "missing %%PDF- header")
	}
	xref, end, err := findStartXRef(data)
	if err != nil {
		return nil, err
	}
	f.end = end
	if err := f.readChain(xref); err != nil {
		return nil, err
	}
	return f, nil
}

// Trailer returns the newest trailer dictionary (for a cross-reference
// stream, the stream's dictionary).
func (f *File) Trailer() Dict { return f.sections[0].Trailer }

// Sections returns the cross-reference sections, newest first.
func (f *File) Sections() []Section {
	return append([]Section(nil), f.sections...)
}

// End returns the offset just after the %%EOF that ends the revision read.
func (f *File) End() int64 { return f.end }

// Encrypted reports whether the trailer has /Encrypt. This package does not
// decrypt: strings and streams of an encrypted file are returned as stored.
func (f *File) Encrypted() bool { return f.Trailer()["Encrypt"] != nil }

// entry returns the newest entry for object number num.
func (f *File) entry(num int) (Entry, bool) {
	if f.index != nil {
		e, ok := f.index[num]
		return e, ok
	}
	for i := range f.sections {
		if e, ok := f.sections[i].Entries[num]; ok {
			return e, true
		}
	}
	return Entry{}, false
}

// Object returns the object r as the newest section that has it defines it.
// A free or missing object, or a reference whose generation does not match
// the entry, is null (7.3.10), returned as nil with no error. Objects are
// parsed once and shared between callers: they must not be modified.
func (f *File) Object(r Ref) (Object, error) {
	return f.object(r, 0)
}

func (f *File) object(r Ref, depth int) (Object, error) {
	if depth > f.lim.MaxResolve {
		return nil, limitErr(0, "more than %d references followed reading object %d %d", f.lim.MaxResolve, r.Num, r.Gen)
	}
	e, ok := f.entry(r.Num)
	if !ok || e.Free {
		return nil, nil
	}
	if e.InStream != 0 {
		if r.Gen != 0 {
			return nil, nil
		}
		o, err := f.compressed(r.Num, e, depth)
		if err != nil {
			return nil, fmt.Errorf("reading object %d 0 in object stream %d: %w", r.Num, e.InStream, err)
		}
		return o, nil
	}
	if e.Gen != r.Gen {
		return nil, nil
	}
	f.mu.Lock()
	o, ok := f.parsed[r]
	f.mu.Unlock()
	if ok {
		return o, nil
	}
	_, o, err := f.parseIndirect(e.Offset, depth, parseOpts{want: &r})
	if err != nil {
		return nil, fmt.Errorf("reading object %d %d: %w", r.Num, r.Gen, err)
	}
	f.mu.Lock()
	if f.parsed == nil {
		f.parsed = map[Ref]Object{}
	}
	f.parsed[r] = o
	f.mu.Unlock()
	return o, nil
}

// Resolve follows references (at most Limits.MaxResolve in a row) and
// returns the first object that is not one. Other objects are returned as
// they are.
func (f *File) Resolve(o Object) (Object, error) {
	for i := 0; ; i++ {
		r, ok := o.(Ref)
		if !ok {
			return o, nil
		}
		if i >= f.lim.MaxResolve {
			return nil, limitErr(0, "more than %d references in a chain at object %d %d", f.lim.MaxResolve, r.Num, r.Gen)
		}
		var err error
		if o, err = f.object(r, i); err != nil {
			return nil, err
		}
	}
}

// resolveAt is Resolve for internal chains that are already depth deep.
func (f *File) resolveAt(o Object, depth int) (Object, error) {
	for {
		r, ok := o.(Ref)
		if !ok {
			return o, nil
		}
		depth++
		var err error
		if o, err = f.object(r, depth); err != nil {
			return nil, err
		}
	}
}

// Catalog returns the document catalog: the trailer's /Root, which must be
// a dictionary with /Type /Catalog.
func (f *File) Catalog() (Dict, error) {
	root, ok := f.Trailer()["Root"]
	if !ok || root == nil {
		return nil, formatErr(f.sections[0].Offset, "trailer has no /Root")
	}
	o, err := f.Resolve(root)
	if err != nil {
		return nil, fmt.Errorf("reading the catalog: %w", err)
	}
	d, ok := o.(Dict)
	if !ok || d[keyType] != Name("Catalog") {
		return nil, formatErr(f.sections[0].Offset, "trailer /Root is not a dictionary of /Type /Catalog")
	}
	return d, nil
}

// ObjectOffset returns the byte offset of the "N G obj" header of r when
// the newest section defines r as an uncompressed object.
func (f *File) ObjectOffset(r Ref) (start int64, ok bool) {
	e, ok := f.entry(r.Num)
	if !ok || e.Free || e.InStream != 0 || e.Gen != r.Gen {
		return 0, false
	}
	return e.Offset, true
}

// ValueSpan returns the byte span [start, end) in the file of the value of
// key in the top-level dictionary of the uncompressed object r: for a hex
// string, from its '<' to just after its '>'. It lets a caller check that
// the gap of a signature's /ByteRange is exactly its /Contents string.
func (f *File) ValueSpan(r Ref, key Name) (start, end int64, err error) {
	off, ok := f.ObjectOffset(r)
	if !ok {
		return 0, 0, fmt.Errorf("span of /%s in object %d %d: %w", key, r.Num, r.Gen,
			formatErr(0, "object is not an uncompressed object of the file"))
	}
	sp := &span{key: key}
	if _, _, err := f.parseIndirect(off, 0, parseOpts{want: &r, span: sp}); err != nil {
		return 0, 0, fmt.Errorf("span of /%s in object %d %d: %w", key, r.Num, r.Gen, err)
	}
	if !sp.found {
		return 0, 0, fmt.Errorf("span of /%s in object %d %d: %w", key, r.Num, r.Gen,
			formatErr(off, "top-level dictionary has no /%s", key))
	}
	return int64(sp.start), int64(sp.end), nil
}

// parseHeader reads "N G obj" at off and returns a parser positioned after
// it, with the numbers it holds. When want is not nil the header must name
// want.
func (f *File) parseHeader(off int64, want *Ref) (*parser, Ref, error) {
	if off <= 0 || off >= int64(len(f.data)) {
		return nil, Ref{}, formatErr(off, "object offset %d is outside the file", off)
	}
	p := f.newParser(f.data, int(off))
	num, ok1 := p.uint()
	p.skipSpace()
	gen, ok2 := p.uint()
	p.skipSpace()
	if !ok1 || !ok2 || !p.hasKeyword("obj") {
		if want != nil {
			return nil, Ref{}, formatErr(off, "cross-reference entry for object %d %d does not point at \"%d %d obj\"", want.Num, want.Gen, want.Num, want.Gen)
		}
		return nil, Ref{}, formatErr(off, "offset %d does not hold an object header", off)
	}
	p.pos += len("obj")
	if want != nil && (num != int64(want.Num) || gen != int64(want.Gen)) {
		return nil, Ref{}, formatErr(off, "cross-reference entry for object %d %d points at object %d %d", want.Num, want.Gen, num, gen)
	}
	if num > maxObjNum || gen > maxGen {
		return nil, Ref{}, formatErr(off, "object header %d %d out of range", num, gen)
	}
	return p, Ref{Num: int(num), Gen: int(gen)}, nil
}

// parseOpts are the options of parseIndirect.
type parseOpts struct {
	want         *Ref  // the header must name this object, when not nil
	span         *span // records the span of one key of a top-level dictionary
	directLength bool  // a stream /Length must be direct (cross-reference streams)
}

// parseIndirect parses the indirect object at off. depth counts the
// references followed to get here; an indirect /Length is followed one
// deeper.
func (f *File) parseIndirect(off int64, depth int, opts parseOpts) (Ref, Object, error) {
	p, ref, err := f.parseHeader(off, opts.want)
	if err != nil {
		return Ref{}, nil, err
	}
	p.span = opts.span
	o, err := p.object(0)
	if err != nil {
		return Ref{}, nil, err
	}
	p.skipSpace()
	if bytes.HasPrefix(p.data[p.pos:], []byte("endobj")) {
		return ref, o, nil
	}
	d, isDict := o.(Dict)
	if !isDict || !p.hasKeyword("stream") {
		return Ref{}, nil, formatErr(int64(p.pos), "object %d %d is not followed by endobj", ref.Num, ref.Gen)
	}
	s, err := f.streamBody(p, d, ref, depth, opts.directLength)
	if err != nil {
		return Ref{}, nil, err
	}
	return ref, s, nil
}

// streamBody reads the data of a stream whose "stream" keyword is at p.pos.
// It does not look for "endstream" to fix a wrong /Length: the data must
// end where /Length says.
func (f *File) streamBody(p *parser, d Dict, ref Ref, depth int, directLength bool) (*Stream, error) {
	kwPos := p.pos
	p.pos += len("stream")
	switch {
	case bytes.HasPrefix(p.data[p.pos:], []byte("\r\n")):
		p.pos += 2
	case p.pos < len(p.data) && p.data[p.pos] == '\n':
		p.pos++
	default:
		return nil, formatErr(int64(kwPos), "stream keyword of object %d %d is not followed by CRLF or LF", ref.Num, ref.Gen)
	}
	start := p.pos
	lo := d[keyLength]
	if lr, ok := lo.(Ref); ok {
		if directLength {
			return nil, formatErr(int64(kwPos), "/Length of cross-reference stream %d %d is indirect", ref.Num, ref.Gen)
		}
		if depth+1 > f.lim.MaxResolve {
			return nil, limitErr(int64(kwPos), "more than %d references followed reading /Length of object %d %d", f.lim.MaxResolve, ref.Num, ref.Gen)
		}
		if lr == ref {
			return nil, formatErr(int64(kwPos), "/Length of object %d %d refers to itself", ref.Num, ref.Gen)
		}
		var err error
		if lo, err = f.object(lr, depth+1); err != nil {
			return nil, fmt.Errorf("reading /Length of object %d %d: %w", ref.Num, ref.Gen, err)
		}
	}
	n, ok := lo.(int64)
	if !ok || n < 0 {
		return nil, formatErr(int64(kwPos), "stream /Length of object %d %d is not a non-negative integer", ref.Num, ref.Gen)
	}
	if n > int64(len(p.data)-start) {
		return nil, formatErr(int64(kwPos), "stream /Length %d of object %d %d runs past the end of the file", n, ref.Num, ref.Gen)
	}
	p.pos = start + int(n)
	skipWhite(p)
	if !bytes.HasPrefix(p.data[p.pos:], []byte("endstream")) {
		return nil, formatErr(int64(start)+n, "stream /Length %d of object %d %d does not end at endstream", n, ref.Num, ref.Gen)
	}
	p.pos += len("endstream")
	p.skipSpace()
	if !bytes.HasPrefix(p.data[p.pos:], []byte("endobj")) {
		return nil, formatErr(int64(p.pos), "object %d %d is not followed by endobj", ref.Num, ref.Gen)
	}
	return &Stream{Dict: d, Raw: p.data[start : start+int(n) : start+int(n)]}, nil
}
