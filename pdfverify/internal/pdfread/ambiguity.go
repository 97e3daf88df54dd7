package pdfread

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
)

// Kinds of Ambiguity.
const (
	// HiddenObject: a hybrid section's /XRefStm stream defines an object
	// that the classic tables before it still list as in use, so a reader
	// of PDF 1.4 (which ignores the stream) reads the older object and a
	// reader of PDF 1.5 the newer one. PDF 32000-1 7.5.8.4 wants the older
	// entry free.
	HiddenObject = "hidden-object"
	// StrayObject: the file holds an object header ("N G obj") at an
	// offset no cross-reference section points at: a second definition
	// of an object, or an object that only a reader rebuilding the
	// cross-reference (as viewers do with a damaged file) would find.
	StrayObject = "stray-object"
	// ObjectStreamClash: an object stream lists one object number twice,
	// or holds an object that the section defining the stream places
	// elsewhere or does not list.
	ObjectStreamClash = "object-stream"
)

// Ambiguity describes a structure that conforming or repairing readers
// can read as different documents. A signature verifier must refuse it:
// whatever it reads, the signer's viewer may have shown something else.
type Ambiguity struct {
	Kind   string // HiddenObject, StrayObject or ObjectStreamClash
	Offset int64  // where in the file
	Detail string // one English sentence
}

// Ambiguity returns the first ambiguity of the file's structure, or nil.
// It looks at every revision (every cross-reference section), so a file
// whose signed revision is ambiguous is found whatever follows it. An
// error is returned only when an object stream cannot be read.
func (f *File) Ambiguity() (*Ambiguity, error) {
	if a := f.hiddenObject(); a != nil {
		return a, nil
	}
	if a := f.strayObject(); a != nil {
		return a, nil
	}
	return f.objectStreamClash()
}

// hiddenObject applies the rule of 7.5.8.4 to every hybrid section.
func (f *File) hiddenObject() *Ambiguity {
	for i, sec := range f.sections {
		for _, n := range slices.Sorted(maps.Keys(sec.FromXRefStm)) {
			if sec.Entries[n].Free {
				continue
			}
			// The entry a PDF 1.4 reader finds: the newest one in the
			// classic tables that follow through /Prev. A section that is
			// only a stream ends what such a reader can follow.
			for _, older := range f.sections[i+1:] {
				if older.Stream {
					break
				}
				e, ok := older.Entries[n]
				if !ok || older.FromXRefStm[n] {
					continue
				}
				if !e.Free {
					return &Ambiguity{Kind: HiddenObject, Offset: sec.XRefStm, Detail: fmt.Sprintf(
						"the /XRefStm stream at byte %d defines object %d, which the cross-reference table at byte %d still lists as in use: a PDF 1.4 reader shows that older object",
						sec.XRefStm, n, older.Offset)}
				}
				break
			}
		}
	}
	return nil
}

// strayObject looks for object headers that no section points at.
func (f *File) strayObject() *Ambiguity {
	listed := make(map[int64]bool)
	for _, sec := range f.sections {
		if sec.Stream {
			listed[sec.Offset] = true
		}
		if sec.XRefStm != 0 {
			listed[sec.XRefStm] = true
		}
		for _, e := range sec.Entries {
			if !e.Free && e.InStream == 0 {
				listed[e.Offset] = true
			}
		}
	}
	data := f.data
	kw := []byte("obj")
	for from := 0; ; {
		i := bytes.Index(data[from:], kw)
		if i < 0 {
			return nil
		}
		at := from + i
		from = at + len(kw)
		if from < len(data) && isRegular(data[from]) {
			continue // "objects", "obj1": not the keyword
		}
		start, num, gen, ok := headerBefore(data, at)
		if !ok || listed[int64(start)] {
			continue
		}
		return &Ambiguity{Kind: StrayObject, Offset: int64(start), Detail: fmt.Sprintf(
			"the file holds object %s %s at byte %d, which no cross-reference section lists: a reader that rebuilds the cross-reference would use it",
			num, gen, start)}
	}
}

// headerBefore reads "N G " backwards from the "obj" keyword at kw and
// returns where N starts. N must be preceded by white-space, a delimiter
// or the start of the file, as a tokenizer would see it.
func headerBefore(data []byte, kw int) (start int, num, gen string, ok bool) {
	p := kw
	spaces := func() bool {
		q := p
		for p > 0 && isSpace(data[p-1]) {
			p--
		}
		return p < q
	}
	digits := func() (string, bool) {
		q := p
		for p > 0 && isDigit(data[p-1]) && q-p < 10 {
			p--
		}
		return string(data[p:q]), p < q
	}
	if !spaces() {
		return 0, "", "", false
	}
	if gen, ok = digits(); !ok || !spaces() {
		return 0, "", "", false
	}
	if num, ok = digits(); !ok {
		return 0, "", "", false
	}
	if p > 0 && isRegular(data[p-1]) {
		return 0, "", "", false
	}
	return p, num, gen, true
}

// objectStreamClash checks the object streams each section defines.
func (f *File) objectStreamClash() (*Ambiguity, error) {
	for _, sec := range f.sections {
		streams := map[int]bool{}
		for _, e := range sec.Entries {
			if !e.Free && e.InStream != 0 {
				streams[e.InStream] = true
			}
		}
		for _, s := range slices.Sorted(maps.Keys(streams)) {
			own, ok := sec.Entries[s]
			if cur, ok2 := f.entry(s); !ok || !ok2 || own != cur {
				continue // a stream of another revision, or one replaced since
			}
			os, err := f.objStm(s, 0)
			if err != nil {
				return nil, err
			}
			seen := make(map[int]bool, len(os.nums))
			for idx, n := range os.nums {
				if seen[n] {
					return &Ambiguity{Kind: ObjectStreamClash, Offset: os.off, Detail: fmt.Sprintf(
						"object stream %d lists object %d twice", s, n)}, nil
				}
				seen[n] = true
				if e, ok := sec.Entries[n]; !ok || e.Free || e.InStream != s || e.Index != idx {
					return &Ambiguity{Kind: ObjectStreamClash, Offset: os.off, Detail: fmt.Sprintf(
						"object stream %d holds object %d, which the cross-reference section at byte %d places elsewhere", s, n, sec.Offset)}, nil
				}
			}
		}
	}
	return nil, nil
}
