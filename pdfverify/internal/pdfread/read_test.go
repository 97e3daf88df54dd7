package pdfread

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// gotForm returns Fields as name/value pairs, values as UTF-8.
func gotForm(t *testing.T, f *File) []formField {
	t.Helper()
	fields, err := f.Fields()
	if err != nil {
		t.Fatalf("Fields() error: %v", err)
	}
	var got []formField
	for _, fl := range fields {
		if fl.Type != "Tx" {
			t.Errorf("field %q: Type = %q, want Tx", fl.Name, fl.Type)
		}
		s, ok := fl.Value.(String)
		if !ok {
			t.Errorf("field %q: Value = %#v, want a String", fl.Name, fl.Value)
		}
		got = append(got, formField{fl.Name, TextString(s)})
	}
	return got
}

func TestOpenLayouts(t *testing.T) {
	for _, l := range formLayouts {
		t.Run("ok/"+l.name, func(t *testing.T) {
			data := l.build()
			f, err := Open(data, Limits{})
			if err != nil {
				t.Fatalf("Open() error: %v", err)
			}
			cat, err := f.Catalog()
			if err != nil {
				t.Fatalf("Catalog() error: %v", err)
			}
			if cat["Pages"] != (Ref{objPages, 0}) {
				t.Errorf("Catalog()[Pages] = %v, want 2 0 R", cat["Pages"])
			}
			if diff := cmp.Diff(wantForm, gotForm(t, f), cmp.AllowUnexported(formField{})); diff != "" {
				t.Errorf("Fields() mismatch (-want +got):\n%s", diff)
			}
			part, conf, err := f.PDFAIdentification()
			if err != nil || part != "2" || conf != "B" {
				t.Errorf("PDFAIdentification() = %q, %q, %v; want 2, B, nil", part, conf, err)
			}
			if f.Encrypted() {
				t.Errorf("Encrypted() = true, want false")
			}
			if got := f.End(); got != int64(len(data))-1 {
				t.Errorf("End() = %d, want %d (before the final newline)", got, len(data)-1)
			}
		})
	}
}

func TestSections(t *testing.T) {
	tests := []struct {
		layout     string
		wantStream []bool
		wantNums   [][]int // object numbers each section defines, newest first
	}{
		{"classic", []bool{false}, [][]int{{0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 20, 21, 22, 23, 24, 25, 26}}},
		{"incremental-update", []bool{false, false}, [][]int{{10}, {0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 20, 21, 22, 23, 24, 25, 26}}},
		{"incremental-update-xref-stream", []bool{true, true}, [][]int{{10, 31, 42}, {0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 20, 21, 22, 23, 24, 25, 26, 30, 40}}},
		{"hybrid", []bool{false, false}, [][]int{{10, 11, 12, 13, 14, 20, 21, 22, 23, 24}, {0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 20, 21, 22, 23, 24, 25, 26, 40}}},
	}
	for _, tt := range tests {
		t.Run("ok/"+tt.layout, func(t *testing.T) {
			var data []byte
			for _, l := range formLayouts {
				if l.name == tt.layout {
					data = l.build()
				}
			}
			f, err := Open(data, Limits{})
			if err != nil {
				t.Fatalf("Open() error: %v", err)
			}
			secs := f.Sections()
			if len(secs) != len(tt.wantStream) {
				t.Fatalf("len(Sections()) = %d, want %d", len(secs), len(tt.wantStream))
			}
			for i, s := range secs {
				if s.Stream != tt.wantStream[i] {
					t.Errorf("Sections()[%d].Stream = %v, want %v", i, s.Stream, tt.wantStream[i])
				}
				var nums []int
				for n := range s.Entries {
					nums = append(nums, n)
				}
				if diff := cmp.Diff(tt.wantNums[i], nums, cmp.Transformer("sort", sortedInts)); diff != "" {
					t.Errorf("Sections()[%d] entries mismatch (-want +got):\n%s", i, diff)
				}
				if s.Stream && s.XRefStreamNum == 0 {
					t.Errorf("Sections()[%d].XRefStreamNum = 0 for a stream", i)
				}
				if !bytes.HasPrefix(data[s.Offset:], []byte("xref")) && !s.Stream {
					t.Errorf("Sections()[%d].Offset %d does not hold a table", i, s.Offset)
				}
			}
			if tt.layout == "hybrid" && secs[0].XRefStm == 0 {
				t.Errorf("hybrid: Sections()[0].XRefStm = 0")
			}
			if last := secs[len(secs)-1]; last.Entries[0] != (Entry{Free: true, Gen: 65535}) {
				t.Errorf("entry 0 = %+v, want free with generation 65535", last.Entries[0])
			}
		})
	}
}

func sortedInts(in []int) []int {
	out := append([]int(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestEarlierRevision checks that a prefix of the file reads as the
// revision it ends, unaffected by what was appended.
func TestEarlierRevision(t *testing.T) {
	data, end1 := incrementalRevisions(0)
	f, err := Open(data[:end1], Limits{})
	if err != nil {
		t.Fatalf("Open(first revision) error: %v", err)
	}
	got := gotForm(t, f)
	if got[0] != (formField{"titulaire_nom", "Durand"}) {
		t.Errorf("first revision: %v, want titulaire_nom Durand", got[0])
	}
	if n := len(f.Sections()); n != 1 {
		t.Errorf("first revision has %d sections, want 1", n)
	}
	f, err = Open(data, Limits{})
	if err != nil {
		t.Fatalf("Open(whole file) error: %v", err)
	}
	if got := gotForm(t, f); got[0] != (formField{"titulaire_nom", "Dupont"}) {
		t.Errorf("whole file: %v, want titulaire_nom Dupont", got[0])
	}
	// The prefix without its final newline is the same revision.
	if _, err := Open(data[:end1-1], Limits{}); err != nil {
		t.Errorf("Open(first revision without final EOL) error: %v", err)
	}
}

func TestObject(t *testing.T) {
	data := incremental()
	f, err := Open(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ref  Ref
		want Object
	}{
		{"ok/direct-string", Ref{23, 0}, String("123456789")},
		{"ok/free-object-0", Ref{0, 0}, nil},
		{"ok/missing", Ref{999, 0}, nil},
		{"ok/negative-number", Ref{-1, 0}, nil},
		{"ok/generation-mismatch", Ref{23, 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.Object(tt.ref)
			if err != nil {
				t.Fatalf("Object(%v) error: %v", tt.ref, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Object(%v) mismatch (-want +got):\n%s", tt.ref, diff)
			}
		})
	}
	// Resolve follows references and leaves other objects alone.
	if got, err := f.Resolve(Ref{23, 0}); err != nil || string(got.(String)) != "123456789" {
		t.Errorf("Resolve(23 0 R) = %v, %v", got, err)
	}
	if got, err := f.Resolve(int64(5)); err != nil || got != int64(5) {
		t.Errorf("Resolve(5) = %v, %v; want 5, nil", got, err)
	}
	off, ok := f.ObjectOffset(Ref{10, 0})
	if !ok || !bytes.HasPrefix(data[off:], []byte("10 0 obj")) {
		t.Errorf("ObjectOffset(10 0 R) = %d, %v; want the offset of \"10 0 obj\"", off, ok)
	}
	if off < int64(len(data)/2) {
		t.Errorf("ObjectOffset(10 0 R) = %d: not the updated object", off)
	}
	if _, ok := f.ObjectOffset(Ref{10, 1}); ok {
		t.Errorf("ObjectOffset(10 1 R) ok, want not found")
	}
}

// buildClassic writes a one-revision file of the given objects with a
// classic table; trailer is extra trailer content.
func buildClassic(objs []numBody, trailer string) []byte {
	w := newTestWriter()
	for _, o := range objs {
		w.obj(o.num, o.body)
	}
	w.table(trailer)
	return w.bytes()
}

const minimalCatalog = "<</Type/Catalog/Pages 2 0 R>>"

func minimal(extra ...numBody) []numBody {
	return append([]numBody{
		{1, minimalCatalog},
		{2, "<</Type/Pages/Kids[]/Count 0>>"},
	}, extra...)
}

// replaceOnce replaces the only occurrence of old in data.
func replaceOnce(t *testing.T, data []byte, old, new string) []byte {
	t.Helper()
	if n := bytes.Count(data, []byte(old)); n != 1 {
		t.Fatalf("%q occurs %d times, want 1", old, n)
	}
	return bytes.Replace(data, []byte(old), []byte(new), 1)
}

func xrefLine(t *testing.T, data []byte, num int) string {
	t.Helper()
	i := bytes.Index(data, []byte(fmt.Sprintf("\n%d 0 obj", num)))
	if i < 0 {
		t.Fatalf("object %d not found", num)
	}
	return fmt.Sprintf("%010d 00000 n", i+1)
}

func TestOpenFail(t *testing.T) {
	tests := []struct {
		name      string
		build     func(t *testing.T) []byte
		lim       Limits
		wantMsg   string
		wantLimit bool
	}{
		{"fail/no-header", func(t *testing.T) []byte {
			return append([]byte("junk"), buildClassic(minimal(), trailerRoot)...)
		}, Limits{}, "missing %PDF- header", false},
		{"fail/empty", func(t *testing.T) []byte { return nil }, Limits{}, "missing %PDF- header", false},
		{"fail/no-startxref", func(t *testing.T) []byte {
			return []byte("%PDF-1.7\n1 0 obj\n<<>>\nendobj\n")
		}, Limits{}, "no startxref", false},
		{"fail/truncated-in-xref", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot)
			return d[:bytes.Index(d, []byte("trailer"))]
		}, Limits{}, "no startxref", false},
		{"fail/truncated-before-eof", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot)
			return d[:len(d)-4]
		}, Limits{}, "startxref is not followed by %%EOF", false},
		{"fail/truncated-after-startxref", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot)
			return d[:bytes.LastIndex(d, []byte("startxref"))+10]
		}, Limits{}, "startxref is not followed by an offset", false},
		{"fail/data-after-eof", func(t *testing.T) []byte {
			return append(buildClassic(minimal(), trailerRoot), "junk"...)
		}, Limits{}, "data after the last %%EOF", false},
		{"fail/startxref-off-by-one", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot)
			x := bytes.LastIndex(d, []byte("xref\n0 "))
			return replaceOnce(t, d, fmt.Sprintf("startxref\n%d\n", x), fmt.Sprintf("startxref\n%d\n", x-1))
		}, Limits{}, "does not hold a cross-reference section", false},
		{"fail/startxref-outside", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot)
			x := bytes.LastIndex(d, []byte("xref\n0 "))
			return replaceOnce(t, d, fmt.Sprintf("startxref\n%d\n", x), "startxref\n99999999\n")
		}, Limits{}, "startxref 99999999 is outside the file", false},
		{"fail/bad-entry-offset", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot)
			line := xrefLine(t, d, 2)
			var off int
			fmt.Sscanf(line, "%d", &off)
			return replaceOnce(t, d, line, fmt.Sprintf("%010d 00000 n", off+1))
		}, Limits{}, `entry for object 2 0 does not point at "2 0 obj"`, false},
		{"fail/entry-points-at-other-object", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot)
			return replaceOnce(t, d, xrefLine(t, d, 2), xrefLine(t, d, 1))
		}, Limits{}, "entry for object 2 0 points at object 1 0", false},
		{"fail/entry-generation-mismatch", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot)
			return replaceOnce(t, d, "\n2 0 obj", "\n2 1 obj")
		}, Limits{}, "entry for object 2 0 points at object 2 1", false},
		{"fail/entry-offset-outside", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot)
			return replaceOnce(t, d, xrefLine(t, d, 2), "0099999999 00000 n")
		}, Limits{}, "object offset 99999999 is outside the file", false},
		{"fail/malformed-entry", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot)
			l := xrefLine(t, d, 2)
			return replaceOnce(t, d, l, l[:len(l)-1]+"x")
		}, Limits{}, "malformed cross-reference entry", false},
		{"fail/entry-count-mismatch", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot)
			return replaceOnce(t, d, "xref\n0 3\n", "xref\n0 3\n1 1\n0000000000 65535 f\r\n")
		}, Limits{}, "malformed cross-reference entry", false},
		{"fail/overlapping-subsections", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot)
			i := bytes.Index(d, []byte("trailer"))
			return append(d[:i:i], append([]byte("2 1\n0000000000 65535 f\r\n"), d[i:]...)...)
		}, Limits{}, "object 2 appears twice", false},
		{"fail/trailer-not-dict", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot)
			return replaceOnce(t, d, "trailer\n<<", "trailer\n(x)<<")
		}, Limits{}, "trailer is not a dictionary", false},
		{"fail/no-size", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot)
			return replaceOnce(t, d, "/Size 3", "/Sise 3")
		}, Limits{}, "trailer /Size is missing", false},
		{"fail/huge-size", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot)
			return replaceOnce(t, d, "/Size 3", "/Size 1000000000000")
		}, Limits{}, "trailer /Size 1000000000000 exceeds", true},
		{"fail/negative-size", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot)
			return replaceOnce(t, d, "/Size 3", "/Size -3")
		}, Limits{}, "trailer /Size is missing or not a non-negative integer", false},
		{"fail/prev-self-loop", func(t *testing.T) []byte {
			w := newTestWriter()
			for _, o := range minimal() {
				w.obj(o.num, o.body)
			}
			w.table(trailerRoot)
			w.obj(1, minimalCatalog)
			w.prev = int64(w.buf.Len()) // the /Prev of the next table is itself
			w.table(trailerRoot)
			return w.bytes()
		}, Limits{}, "/Prev loop", false},
		{"fail/prev-two-section-loop", func(t *testing.T) []byte {
			w := newTestWriter()
			for _, o := range minimal() {
				w.obj(o.num, o.body)
			}
			w.table(trailerRoot + "/Prev 0000000000")
			first := w.prev
			w.obj(1, minimalCatalog)
			second := int64(w.buf.Len())
			w.table(trailerRoot)
			d := w.bytes()
			_ = first
			return replaceOnce(t, d, "/Prev 0000000000", fmt.Sprintf("/Prev %010d", second))
		}, Limits{}, "/Prev loop", false},
		{"fail/prev-negative", func(t *testing.T) []byte {
			return buildClassic(minimal(), trailerRoot+"/Prev -5")
		}, Limits{}, "trailer /Prev is not a non-negative integer", false},
		{"fail/prev-not-integer", func(t *testing.T) []byte {
			return buildClassic(minimal(), trailerRoot+"/Prev(12)")
		}, Limits{}, "trailer /Prev is not a non-negative integer", false},
		{"fail/prev-into-object", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot+"/Prev 0000000000")
			i := bytes.Index(d, []byte("1 0 obj"))
			return replaceOnce(t, d, "/Prev 0000000000", fmt.Sprintf("/Prev %010d", i+2))
		}, Limits{}, "does not hold an object header", false},
		{"fail/prev-into-dict", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot+"/Prev 0000000000")
			i := bytes.Index(d, []byte("/Pages"))
			return replaceOnce(t, d, "/Prev 0000000000", fmt.Sprintf("/Prev %010d", i))
		}, Limits{}, "does not hold a cross-reference section", false},
		{"fail/too-many-sections", func(t *testing.T) []byte {
			w := newTestWriter()
			for _, o := range minimal() {
				w.obj(o.num, o.body)
			}
			w.table(trailerRoot)
			for range 3 {
				w.obj(1, minimalCatalog)
				w.table(trailerRoot)
			}
			return w.bytes()
		}, Limits{MaxSections: 3}, "more than 3 cross-reference sections", true},
		{"fail/too-many-objects", func(t *testing.T) []byte {
			return buildClassic(minimal(numBody{3, "1"}, numBody{4, "2"}), trailerRoot)
		}, Limits{MaxObjects: 4}, "more than 4 cross-reference entries", true},
		{"fail/xrefstm-not-stream", func(t *testing.T) []byte {
			d := buildClassic(minimal(), trailerRoot+"/XRefStm 0000000000")
			i := bytes.Index(d, []byte("1 0 obj"))
			return replaceOnce(t, d, "/XRefStm 0000000000", fmt.Sprintf("/XRefStm %010d", i))
		}, Limits{}, "does not hold a cross-reference stream", false},
		{"fail/hybrid-table-and-stream-disagree", func(t *testing.T) []byte {
			w := newTestWriter()
			objs := formObjects("Dupont")
			w.objStm(40, objs[:10])
			for _, o := range objs[10:] {
				w.obj(o.num, o.body)
			}
			writeStreams(w, 0)
			w.hybridOneSection(30, trailerRoot)
			return w.bytes()
		}, Limits{}, "is both in the cross-reference table", false},
		{"fail/xrefstm-not-offset", func(t *testing.T) []byte {
			return buildClassic(minimal(), trailerRoot+"/XRefStm -1")
		}, Limits{}, "/XRefStm is not an offset in the file", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Open(tt.build(t), tt.lim)
			checkErr(t, err, tt.wantMsg, tt.wantLimit)
			if f != nil {
				t.Errorf("Open() returned a File with an error")
			}
		})
	}
}

// xrefStreamFile writes minimal() with a cross-reference stream whose
// dictionary and data are given.
func xrefStreamFile(dict string, data []byte) []byte {
	w := newTestWriter()
	for _, o := range minimal() {
		w.obj(o.num, o.body)
	}
	off := int64(w.buf.Len())
	w.stream(3, dict, data)
	w.finish(off)
	return w.bytes()
}

// rows builds uncompressed W [1 4 2] rows.
func rows(rs ...[3]int) []byte {
	var out []byte
	for _, r := range rs {
		out = append(out, byte(r[0]), byte(r[1]>>24), byte(r[1]>>16), byte(r[1]>>8), byte(r[1]), byte(r[2]>>8), byte(r[2]))
	}
	return out
}

func TestXRefStreamFail(t *testing.T) {
	base := newTestWriter()
	for _, o := range minimal() {
		base.obj(o.num, o.body)
	}
	o1, o2, o3 := int(base.offsets[1]), int(base.offsets[2]), base.buf.Len()
	good := rows([3]int{0, 0, 65535}, [3]int{1, o1, 0}, [3]int{1, o2, 0}, [3]int{1, o3, 0})
	ok := xrefStreamFile("/Type/XRef/Size 4/W[1 4 2]"+trailerRoot, good)
	if f, err := Open(ok, Limits{}); err != nil {
		t.Fatalf("Open(good xref stream) error: %v", err)
	} else if _, err := f.Catalog(); err != nil {
		t.Fatalf("Catalog() error: %v", err)
	}
	tests := []struct {
		name      string
		dict      string
		data      []byte
		lim       Limits
		wantMsg   string
		wantLimit bool
	}{
		{"fail/not-xref-type", "/Type/XRefX/Size 4/W[1 4 2]", good, Limits{}, "does not hold a cross-reference stream", false},
		{"fail/huge-size", "/Type/XRef/Size 99999999999/W[1 4 2]", good, Limits{}, "/Size 99999999999 exceeds", true},
		{"fail/huge-index", "/Type/XRef/Size 4/W[1 4 2]/Index[0 2000000]", good, Limits{}, "more than 1048576 cross-reference entries", true},
		{"fail/negative-index", "/Type/XRef/Size 4/W[1 4 2]/Index[-1 4]", good, Limits{}, "/Index has an invalid range", false},
		{"fail/odd-index", "/Type/XRef/Size 4/W[1 4 2]/Index[0 4 5]", good, Limits{}, "/Index is not an array of pairs", false},
		{"fail/negative-width", "/Type/XRef/Size 4/W[1 -4 2]", good, Limits{}, "/W has an invalid field width", false},
		{"fail/wide-width", "/Type/XRef/Size 4/W[1 9 2]", good, Limits{}, "/W has an invalid field width", false},
		{"fail/two-widths", "/Type/XRef/Size 4/W[1 4]", good, Limits{}, "/W is not an array of three integers", false},
		{"fail/zero-widths", "/Type/XRef/Size 4/W[0 0 0]", good, Limits{}, "/W is all zero", false},
		{"fail/short-data", "/Type/XRef/Size 4/W[1 4 2]", good[:20], Limits{}, "holds 20 bytes, /Index and /W need 28", false},
		{"fail/bad-offset", "/Type/XRef/Size 4/W[1 4 2]", rows([3]int{0, 0, 65535}, [3]int{1, o1 + 1, 0}, [3]int{1, o2, 0}, [3]int{1, o3, 0}), Limits{}, `entry for object 1 0 does not point at "1 0 obj"`, false},
		{"fail/objstm-zero", "/Type/XRef/Size 4/W[1 4 2]", rows([3]int{0, 0, 65535}, [3]int{2, 0, 0}, [3]int{1, o2, 0}, [3]int{1, o3, 0}), Limits{}, "names object stream 0", false},
		{"fail/generation-too-big", "/Type/XRef/Size 4/W[1 4 4]/Index[1 1]", append(rows([3]int{1, o1, 0})[:5], 0, 1, 0, 0), Limits{}, "has generation 65536", false},
		{"fail/bad-filter", "/Type/XRef/Size 4/W[1 4 2]/Filter/FlateDecode", good, Limits{}, "flate:", false},
		{"fail/unsupported-filter", "/Type/XRef/Size 4/W[1 4 2]/Filter/LZWDecode", good, Limits{}, "filter /LZWDecode", false},
		{"fail/predictor-partial-row", "/Type/XRef/Size 4/W[1 4 2]/Filter/FlateDecode/DecodeParms<</Predictor 12/Columns 7>>", deflate(good), Limits{}, "not a whole number of rows", false},
		{"fail/predictor-bad-row-filter", "/Type/XRef/Size 1/W[1 4 2]/Filter/FlateDecode/DecodeParms<</Predictor 12/Columns 7>>", deflate(append([]byte{9}, good[:7]...)), Limits{}, "unknown row filter 9", false},
		{"fail/predictor-columns-zero", "/Type/XRef/Size 4/W[1 4 2]/Filter/FlateDecode/DecodeParms<</Predictor 12/Columns 0>>", deflate(good), Limits{}, "/Columns 0 out of range", false},
		{"fail/predictor-unknown", "/Type/XRef/Size 4/W[1 4 2]/Filter/FlateDecode/DecodeParms<</Predictor 7>>", deflate(good), Limits{}, "unknown /Predictor 7", false},
		{"fail/decoded-too-big", "/Type/XRef/Size 4/W[1 4 2]/Filter/FlateDecode", deflate(make([]byte, 5000)), Limits{MaxDecodedBytes: 4096}, "stream decodes to more than 4096 bytes", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dict := tt.dict
			if !strings.Contains(dict, "Root") {
				dict += trailerRoot
			}
			_, err := Open(xrefStreamFile(dict, tt.data), tt.lim)
			checkErr(t, err, tt.wantMsg, tt.wantLimit)
		})
	}
}

func TestStartXRef(t *testing.T) {
	base := buildClassic(minimal(), trailerRoot)
	tests := []struct {
		name    string
		data    []byte
		wantEnd int
	}{
		{"ok/trailing-newline", base, len(base) - 1},
		{"ok/no-trailing-newline", base[:len(base)-1], len(base) - 1},
		{"ok/trailing-white-space-and-nul", append(bytes.Clone(base), "\r\n \x00\x00\t"...), len(base) - 1},
		{"ok/padding-beyond-first-window", append(bytes.Clone(base), bytes.Repeat([]byte{0}, 5000)...), len(base) - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Open(tt.data, Limits{})
			if err != nil {
				t.Fatalf("Open() error: %v", err)
			}
			if got := f.End(); got != int64(tt.wantEnd) {
				t.Errorf("End() = %d, want %d", got, tt.wantEnd)
			}
		})
	}
	t.Run("fail/padding-beyond-search", func(t *testing.T) {
		_, err := Open(append(bytes.Clone(base), bytes.Repeat([]byte{' '}, maxStartxrefSearch)...), Limits{})
		checkErr(t, err, "no startxref in the last 65536 bytes", false)
	})
}

// TestConcurrentUse reads one File from several goroutines (run with
// -race): the object stream cache and the decoding budget are shared.
func TestConcurrentUse(t *testing.T) {
	var data []byte
	for _, l := range formLayouts {
		if l.name == "object-streams" {
			data = l.build()
		}
	}
	f, err := Open(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := f.Fields()
			if err == nil {
				_, _, err = f.PDFAIdentification()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Fields/PDFAIdentification error: %v", err)
		}
	}
}

// TestManySections checks lookups through the merged index used above
// manySections sections: the newest definition wins, a freed object is
// null.
func TestManySections(t *testing.T) {
	w := newTestWriter()
	for _, o := range minimal(numBody{3, "(v0)"}, numBody{4, "(kept)"}, numBody{5, "(freed)"}) {
		w.obj(o.num, o.body)
	}
	w.table(trailerRoot)
	for i := 1; i <= 2*manySections; i++ {
		w.obj(3, fmt.Sprintf("(v%d)", i))
		w.table(trailerRoot)
	}
	// The last update frees object 5.
	off := int64(w.buf.Len())
	fmt.Fprintf(&w.buf, "xref\n5 1\n0000000000 00001 f\r\ntrailer\n<</Size 6%s%s>>\n", w.prevEntry(), trailerRoot)
	w.finish(off)
	f, err := Open(w.bytes(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if f.index == nil {
		t.Fatalf("%d sections, want the merged index", len(f.Sections()))
	}
	for _, tt := range []struct {
		ref  Ref
		want Object
	}{
		{Ref{3, 0}, String(fmt.Sprintf("v%d", 2*manySections))},
		{Ref{4, 0}, String("kept")},
		{Ref{5, 0}, nil},
	} {
		got, err := f.Object(tt.ref)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Object(%v) = %#v, %v; want %#v, nil", tt.ref, got, err, tt.want)
		}
	}
}

func TestResolveLoop(t *testing.T) {
	f, err := Open(buildClassic(minimal(numBody{3, "4 0 R"}, numBody{4, "3 0 R"}, numBody{5, "3 0 R"}), trailerRoot), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Resolve(Ref{5, 0})
	checkErr(t, err, "more than 32 references in a chain", true)
}
