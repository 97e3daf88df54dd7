package pdfread

import (
	"bytes"
)

// startxrefWindow is where the last "startxref" is looked for first: the
// standard puts it in the last 1024 bytes (7.5.5), and that covers files
// that end as they should.
const startxrefWindow = 1024

// maxStartxrefSearch bounds the search backwards from the end when the
// first window fails, which only happens when the file ends with a lot of
// white-space padding (data other than white-space after %%EOF is an error
// anyway).
const maxStartxrefSearch = 64 << 10

// manySections is the number of sections above which lookups use one
// merged index instead of trying each section in turn: a handful of
// sections (a signed form and its LTV updates) is cheaper to search than to
// merge, hundreds are not.
const manySections = 8

// Section is one cross-reference section: a classic table with its trailer,
// or a cross-reference stream. For a hybrid section (a table whose trailer
// has /XRefStm) Entries also holds the entries of that stream; an object
// that the table and the stream both describe, differently, makes Open
// fail, since readers disagree on which one PDF 32000-1 7.5.8.4 means.
type Section struct {
	Offset        int64         // where this section starts (the startxref or /Prev value)
	Trailer       Dict          // trailer dictionary; for a cross-reference stream, the stream dictionary
	Entries       map[int]Entry // entries this section defines, free ones included, by object number
	Stream        bool          // cross-reference stream rather than table
	XRefStreamNum int           // object number of the cross-reference stream itself (0 for a table)
	XRefStm       int64         // for a hybrid section, the /XRefStm offset of its stream (0 if none)
	// FromXRefStm, for a hybrid section, holds the object numbers whose
	// entry only its /XRefStm stream gives: a reader of PDF 1.4, which
	// ignores the stream, looks them up in the older sections instead.
	FromXRefStm map[int]bool
}

// Entry is one cross-reference entry.
type Entry struct {
	Free     bool  // free (or an unknown xref stream type, which PDF reads as null)
	Gen      int   // generation number; 0 for compressed objects
	Offset   int64 // byte offset of "N G obj" for uncompressed objects
	InStream int   // object number of the object stream holding the object; 0 unless compressed
	Index    int   // index of the object in that object stream
}

// findStartXRef returns the offset that the last startxref of data holds and
// the offset just after its %%EOF.
func findStartXRef(data []byte) (xref, end int64, err error) {
	kw := []byte("startxref")
	from := max(0, len(data)-startxrefWindow)
	i := bytes.LastIndex(data[from:], kw)
	if i < 0 && from > 0 {
		from = max(0, len(data)-maxStartxrefSearch)
		i = bytes.LastIndex(data[from:], kw)
	}
	if i < 0 {
		return 0, 0, formatErr(int64(len(data)), "no startxref in the last %d bytes", len(data)-from)
	}
	pos := from + i
	p := &parser{data: data, pos: pos + len(kw)}
	skipWhite(p)
	v, ok := p.uint()
	if !ok {
		return 0, 0, formatErr(int64(pos), "startxref is not followed by an offset")
	}
	skipWhite(p)
	if !bytes.HasPrefix(data[p.pos:], []byte("%%EOF")) {
		return 0, 0, formatErr(int64(p.pos), "startxref is not followed by %%%%EOF")
	}
	p.pos += len("%%EOF")
	end = int64(p.pos)
	skipWhite(p)
	if p.pos != len(data) {
		return 0, 0, formatErr(int64(p.pos), "data after the last %%%%EOF")
	}
	if v <= 0 || v >= int64(len(data)) {
		return 0, 0, formatErr(int64(pos), "startxref %d is outside the file", v)
	}
	return v, end, nil
}

// skipWhite skips white-space but not comments.
func skipWhite(p *parser) {
	for p.pos < len(p.data) && isSpace(p.data[p.pos]) {
		p.pos++
	}
}

// readChain reads the sections from the one at off through /Prev.
func (f *File) readChain(off int64) error {
	seen := make(map[int64]bool)
	total := 0
	for {
		if len(f.sections) >= f.lim.MaxSections {
			return limitErr(off, "more than %d cross-reference sections", f.lim.MaxSections)
		}
		if seen[off] {
			return formatErr(off, "/Prev loop: cross-reference section at %d reached twice", off)
		}
		seen[off] = true
		sec, prev, err := f.readSection(off, &total)
		if err != nil {
			return err
		}
		f.sections = append(f.sections, sec)
		if prev < 0 {
			break
		}
		off = prev
	}
	if len(f.sections) > manySections {
		f.index = make(map[int]Entry, total)
		for i := len(f.sections) - 1; i >= 0; i-- {
			for n, e := range f.sections[i].Entries {
				f.index[n] = e
			}
		}
	}
	return f.checkEntries()
}

// readSection reads the section at off and returns it with its /Prev
// offset (-1 if none). total counts entries read so far.
func (f *File) readSection(off int64, total *int) (Section, int64, error) {
	if off <= 0 || off >= int64(len(f.data)) {
		return Section{}, 0, formatErr(off, "cross-reference offset %d is outside the file", off)
	}
	rest := f.data[off:]
	var (
		sec Section
		err error
	)
	switch {
	case bytes.HasPrefix(rest, []byte("xref")) && len(rest) > 4 && isSpace(rest[4]):
		sec, err = f.readTable(off, total)
	case isDigit(rest[0]):
		sec, err = f.readXRefStream(off, total)
	default:
		return Section{}, 0, formatErr(off, "offset %d does not hold a cross-reference section", off)
	}
	if err != nil {
		return Section{}, 0, err
	}
	if err := f.checkSize(sec); err != nil {
		return Section{}, 0, err
	}
	prev := int64(-1)
	if o, ok := sec.Trailer["Prev"]; ok {
		v, ok := o.(int64)
		if !ok || v < 0 {
			return Section{}, 0, formatErr(off, "trailer /Prev is not a non-negative integer")
		}
		prev = v
	}
	return sec, prev, nil
}

// checkSize checks the trailer's /Size, which a hostile file may set huge to
// make a reader allocate for it.
func (f *File) checkSize(sec Section) error {
	v, ok := sec.Trailer["Size"].(int64)
	if !ok || v < 0 {
		return formatErr(sec.Offset, "trailer /Size is missing or not a non-negative integer")
	}
	if v > int64(f.lim.MaxObjects) {
		return limitErr(sec.Offset, "trailer /Size %d exceeds %d objects", v, f.lim.MaxObjects)
	}
	return nil
}

// readTable reads a classic cross-reference table and its trailer, and the
// stream of a hybrid section.
func (f *File) readTable(off int64, total *int) (Section, error) {
	p := f.newParser(f.data, int(off)+len("xref"))
	entries := make(map[int]Entry)
	for {
		p.skipSpace()
		if p.hasKeyword("trailer") {
			p.pos += len("trailer")
			break
		}
		subPos := p.pos
		first, ok1 := p.uint()
		skipWhite(p)
		count, ok2 := p.uint()
		if !ok1 || !ok2 {
			return Section{}, p.errf(subPos, "malformed cross-reference subsection header")
		}
		if count > int64(f.lim.MaxObjects-*total) {
			return Section{}, limitErr(int64(subPos), "more than %d cross-reference entries", f.lim.MaxObjects)
		}
		if first+count > maxObjNum {
			return Section{}, p.errf(subPos, "cross-reference subsection %d %d out of range", first, count)
		}
		for i := int64(0); i < count; i++ {
			skipWhite(p)
			entPos := p.pos
			v, ok1 := p.uint()
			skipWhite(p)
			gen, ok2 := p.uint()
			skipWhite(p)
			free := p.hasKeyword("f")
			if !ok1 || !ok2 || (!free && !p.hasKeyword("n")) || gen > maxGen {
				return Section{}, p.errf(entPos, "malformed cross-reference entry")
			}
			p.pos++
			num := int(first + i)
			if _, dup := entries[num]; dup {
				return Section{}, p.errf(entPos, "object %d appears twice in one cross-reference table", num)
			}
			if free {
				entries[num] = Entry{Free: true, Gen: int(gen)}
			} else {
				if v <= 0 || v >= int64(len(f.data)) {
					return Section{}, p.errf(entPos, "object offset %d is outside the file", v)
				}
				entries[num] = Entry{Gen: int(gen), Offset: v}
			}
			*total++
		}
	}
	trailer, err := p.object(0)
	if err != nil {
		return Section{}, err
	}
	td, ok := trailer.(Dict)
	if !ok {
		return Section{}, p.errf(p.pos, "trailer is not a dictionary")
	}
	sec := Section{Offset: off, Trailer: td, Entries: entries}
	if o, ok := td["XRefStm"]; ok {
		so, ok := o.(int64)
		if !ok || so <= 0 || so >= int64(len(f.data)) {
			return Section{}, formatErr(off, "trailer /XRefStm is not an offset in the file")
		}
		if !isDigit(f.data[so]) {
			return Section{}, formatErr(so, "/XRefStm %d does not hold a cross-reference stream", so)
		}
		hs, err := f.readXRefStream(so, total)
		if err != nil {
			return Section{}, err
		}
		// 7.5.8.4: the table is consulted before the stream, so a free
		// table entry would hide the stream's entry from some readers
		// and not from others (the hidden objects' free entries belong
		// in the previous section). An object that both describe
		// differently is ambiguous, not a choice to make here.
		for n, e := range hs.Entries {
			if t, ok := entries[n]; ok {
				if t == e || (t.Free && e.Free) {
					continue
				}
				return Section{}, formatErr(so, "object %d is both in the cross-reference table at %d and in its /XRefStm stream", n, off)
			}
			entries[n] = e
			if sec.FromXRefStm == nil {
				sec.FromXRefStm = map[int]bool{}
			}
			sec.FromXRefStm[n] = true
		}
		sec.XRefStm = so
	}
	return sec, nil
}

// readXRefStream reads a cross-reference stream (7.5.8).
func (f *File) readXRefStream(off int64, total *int) (Section, error) {
	ref, obj, err := f.parseIndirect(off, 0, parseOpts{directLength: true})
	if err != nil {
		return Section{}, err
	}
	s, ok := obj.(*Stream)
	if !ok || s.Dict[keyType] != Name("XRef") {
		return Section{}, formatErr(off, "offset %d does not hold a cross-reference stream", off)
	}
	d := s.Dict
	size, ok := d["Size"].(int64)
	if !ok || size < 0 {
		return Section{}, formatErr(off, "cross-reference stream /Size is missing or not a non-negative integer")
	}
	if size > int64(f.lim.MaxObjects) {
		return Section{}, limitErr(off, "cross-reference stream /Size %d exceeds %d objects", size, f.lim.MaxObjects)
	}
	wa, ok := d["W"].(Array)
	if !ok || len(wa) != 3 {
		return Section{}, formatErr(off, "cross-reference stream /W is not an array of three integers")
	}
	var w [3]int
	for i, o := range wa {
		v, ok := o.(int64)
		if !ok || v < 0 || v > 8 {
			return Section{}, formatErr(off, "cross-reference stream /W has an invalid field width")
		}
		w[i] = int(v)
	}
	row := w[0] + w[1] + w[2]
	if row == 0 {
		return Section{}, formatErr(off, "cross-reference stream /W is all zero")
	}
	index := Array{int64(0), size}
	if o, ok := d["Index"]; ok {
		index, ok = o.(Array)
		if !ok || len(index)%2 != 0 {
			return Section{}, formatErr(off, "cross-reference stream /Index is not an array of pairs")
		}
	}
	var n int64
	for i := 0; i < len(index); i += 2 {
		first, ok1 := index[i].(int64)
		count, ok2 := index[i+1].(int64)
		if !ok1 || !ok2 || first < 0 || count < 0 || first+count > maxObjNum {
			return Section{}, formatErr(off, "cross-reference stream /Index has an invalid range")
		}
		n += count
		if n > int64(f.lim.MaxObjects-*total) {
			return Section{}, limitErr(off, "more than %d cross-reference entries", f.lim.MaxObjects)
		}
	}
	data, err := f.decode(s, off, 0)
	if err != nil {
		return Section{}, err
	}
	if int64(len(data)) < n*int64(row) {
		return Section{}, formatErr(off, "cross-reference stream holds %d bytes, /Index and /W need %d", len(data), n*int64(row))
	}
	entries := make(map[int]Entry, n)
	pos := 0
	for i := 0; i < len(index); i += 2 {
		first, count := int(index[i].(int64)), int(index[i+1].(int64))
		for j := 0; j < count; j++ {
			typ := int64(1) // the default when the type field is absent
			if w[0] > 0 {
				typ = field(data[pos : pos+w[0]])
			}
			f2 := field(data[pos+w[0] : pos+w[0]+w[1]])
			f3 := field(data[pos+w[0]+w[1] : pos+row])
			pos += row
			num := first + j
			if _, dup := entries[num]; dup {
				return Section{}, formatErr(off, "object %d appears twice in one cross-reference stream", num)
			}
			var e Entry
			switch typ {
			case 1:
				if f3 > maxGen {
					return Section{}, formatErr(off, "cross-reference stream entry %d has generation %d", num, f3)
				}
				// Checked here as well as by checkEntries so that a
				// stream claiming a million bogus entries fails early.
				if f2 <= 0 || f2 >= int64(len(f.data)) {
					return Section{}, formatErr(off, "object offset %d is outside the file", f2)
				}
				e = Entry{Gen: int(f3), Offset: f2}
			case 2:
				if f2 <= 0 || f2 > maxObjNum || f3 > maxObjNum {
					return Section{}, formatErr(off, "cross-reference stream entry %d names object stream %d index %d", num, f2, f3)
				}
				e = Entry{InStream: int(f2), Index: int(f3)}
			case 0:
				e = Entry{Free: true, Gen: int(min(f3, maxGen))}
			default:
				// 7.5.8.3: other types are references to the null object.
				e = Entry{Free: true}
			}
			entries[num] = e
			*total++
		}
	}
	return Section{Offset: off, Trailer: d, Entries: entries, Stream: true, XRefStreamNum: ref.Num}, nil
}

// field reads a big-endian field of a cross-reference stream row. Widths
// are at most 8 bytes; a value past maxInt is clamped there, where every
// range check rejects it.
func field(b []byte) int64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	if v > maxInt {
		return maxInt
	}
	return int64(v)
}

// checkEntries checks that every in-use uncompressed entry points at the
// header of the object it names, so that a shifted or forged offset fails at
// Open rather than yielding some other bytes of the file.
func (f *File) checkEntries() error {
	for _, sec := range f.sections {
		for num, e := range sec.Entries {
			if e.Free || e.InStream != 0 {
				continue
			}
			if _, _, err := f.parseHeader(e.Offset, &Ref{Num: num, Gen: e.Gen}); err != nil {
				return err
			}
		}
	}
	return nil
}
