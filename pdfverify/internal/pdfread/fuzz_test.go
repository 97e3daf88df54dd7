package pdfread

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/revokd/revokd/internal/testsign"
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
	// Ambiguous structures: a hybrid stream hiding an object, a field
	// defined twice, an object stream holding it twice.
	plain, err1 := testsign.Form(map[string]string{"certificat_numero_serie": "0a1b2c3d"}, testsign.FormOptions{})
	streamed, err2 := testsign.Form(map[string]string{"certificat_numero_serie": "0a1b2c3d"}, testsign.FormOptions{XRefStream: true})
	if err1 != nil || err2 != nil {
		tb.Fatal(err1, err2)
	}
	for _, shape := range []struct {
		form  []byte
		forge func([]byte, string, string) ([]byte, error)
	}{
		{plain, testsign.HideFieldInXRefStm}, {plain, testsign.DuplicateFieldObject}, {streamed, testsign.ObjectStreamTwice},
		{plain, testsign.AppearanceShows}, {plain, testsign.AppearanceInNestedForm},
	} {
		b, err := shape.forge(shape.form, "certificat_numero_serie", "deadbeef")
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
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
		_, err = file.Ambiguity()
		check("Ambiguity", err)
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
					b, err := file.Decode(st)
					check("Decode", err)
					_, err = file.ContentOps(b)
					check("ContentOps", err)
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
