package pdfread

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// maxFuzzEntries bounds the objects read per fuzz input, to keep each
// run quick; the limits under test are the ones of Limits.
const maxFuzzEntries = 256

// fuzzSeeds returns the generated layouts, a few broken variants, and the
// PDF files of the repository's testdata.
func fuzzSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	for _, l := range formLayouts {
		seeds = append(seeds, l.build())
	}
	data, end := incrementalRevisions(0)
	seeds = append(seeds, data[:end], data[:len(data)/2])
	w := newTestWriter()
	objs := formObjects("Dupont")
	w.objStm(40, objs[:10])
	for _, o := range objs[10:] {
		w.obj(o.num, o.body)
	}
	writeStreams(w, 0)
	w.hybridOneSection(30, trailerRoot)
	seeds = append(seeds, w.bytes())
	for _, pattern := range []string{"../../../testdata/*.pdf", "../../../testdata/*/*.pdf"} {
		paths, err := filepath.Glob(pattern)
		if err != nil {
			tb.Fatal(err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				tb.Fatal(err)
			}
			seeds = append(seeds, b)
		}
	}
	return seeds
}

// FuzzOpen checks that no input makes the reader panic or hang, and that
// every error it returns is a *FormatError.
func FuzzOpen(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(runFuzzBody)
}

func runFuzzBody(t *testing.T, data []byte) {
	{
		lim := Limits{MaxDecodedBytes: 1 << 20, MaxTotalDecodedBytes: 4 << 20}
		check := func(what string, err error) {
			var fe *FormatError
			if err != nil && !errors.As(err, &fe) {
				t.Fatalf("%s: error %v (%T) is not a *FormatError", what, err, err)
			}
		}
		file, err := Open(data, lim)
		check("Open", err)
		if err != nil {
			return
		}
		_, err = file.Catalog()
		check("Catalog", err)
		_, err = file.Fields()
		check("Fields", err)
		_, _, err = file.PDFAIdentification()
		check("PDFAIdentification", err)
		n := 0
		for _, s := range file.Sections() {
			for num, e := range s.Entries {
				if n++; n > maxFuzzEntries {
					return
				}
				r := Ref{Num: num, Gen: e.Gen}
				o, err := file.Object(r)
				check("Object", err)
				if st, ok := o.(*Stream); ok {
					_, err := file.Decode(st)
					check("Decode", err)
				}
				if start, end, err := file.ValueSpan(r, "Contents"); err == nil {
					if start < 0 || start >= end || end > int64(len(data)) {
						t.Fatalf("ValueSpan(%v) = [%d, %d) outside the %d-byte input", r, start, end, len(data))
					}
				}
			}
		}
	}
}
