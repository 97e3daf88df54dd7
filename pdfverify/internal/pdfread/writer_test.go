package pdfread

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// testWriter writes small PDF files for tests, one revision at a time:
// objects (plain, streams, or packed in object streams), then a
// cross-reference section (table, stream or hybrid) that lists the objects
// written since the previous section.
type testWriter struct {
	buf     bytes.Buffer
	offsets map[int]int64  // uncompressed objects since the last section
	inStm   map[int][2]int // compressed objects since the last section: stream, index
	prev    int64          // offset of the last section, -1 before the first
	size    int            // highest object number + 1
	eofs    []int          // offset just after each revision's "%%EOF\n"
}

type numBody struct {
	num  int
	body string
}

func newTestWriter() *testWriter {
	w := &testWriter{offsets: map[int]int64{}, inStm: map[int][2]int{}, prev: -1, size: 1}
	w.buf.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	return w
}

func (w *testWriter) note(num int) {
	if num+1 > w.size {
		w.size = num + 1
	}
}

// obj writes "num 0 obj body endobj".
func (w *testWriter) obj(num int, body string) {
	w.note(num)
	w.offsets[num] = int64(w.buf.Len())
	fmt.Fprintf(&w.buf, "%d 0 obj\n%s\nendobj\n", num, body)
}

// stream writes a stream object; dict is the inside of its dictionary
// without /Length.
func (w *testWriter) stream(num int, dict string, data []byte) {
	w.note(num)
	w.offsets[num] = int64(w.buf.Len())
	fmt.Fprintf(&w.buf, "%d 0 obj\n<<%s/Length %d>>\nstream\n", num, dict, len(data))
	w.buf.Write(data)
	w.buf.WriteString("\nendstream\nendobj\n")
}

// objStm writes objs packed into the flate-compressed object stream num.
func (w *testWriter) objStm(num int, objs []numBody) {
	var hdr, body bytes.Buffer
	for i, o := range objs {
		fmt.Fprintf(&hdr, "%d %d ", o.num, body.Len())
		body.WriteString(o.body)
		body.WriteString("\n")
		w.inStm[o.num] = [2]int{num, i}
		w.note(o.num)
	}
	content := append(hdr.Bytes(), body.Bytes()...)
	w.stream(num, fmt.Sprintf("/Type/ObjStm/N %d/First %d/Filter/FlateDecode", len(objs), hdr.Len()), deflate(content))
}

func deflate(b []byte) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// pending returns the object numbers listed by the next section.
func (w *testWriter) pending() []int {
	var nums []int
	for n := range w.offsets {
		nums = append(nums, n)
	}
	for n := range w.inStm {
		nums = append(nums, n)
	}
	if w.prev < 0 {
		nums = append(nums, 0)
	}
	slices.Sort(nums)
	return slices.Compact(nums)
}

// runs groups sorted numbers into [first, count] subsections.
func runs(nums []int) [][2]int {
	var rs [][2]int
	for _, n := range nums {
		if len(rs) > 0 && rs[len(rs)-1][0]+rs[len(rs)-1][1] == n {
			rs[len(rs)-1][1]++
			continue
		}
		rs = append(rs, [2]int{n, 1})
	}
	return rs
}

func (w *testWriter) finish(off int64) {
	fmt.Fprintf(&w.buf, "startxref\n%d\n%%%%EOF\n", off)
	w.eofs = append(w.eofs, w.buf.Len())
	w.prev = off
	w.offsets = map[int]int64{}
	w.inStm = map[int][2]int{}
}

func (w *testWriter) prevEntry() string {
	if w.prev < 0 {
		return ""
	}
	return fmt.Sprintf("/Prev %d", w.prev)
}

// table writes a classic cross-reference table of the pending objects and
// its trailer; trailer is extra trailer content (/Root ...). Compressed
// objects are listed as free, as in the table of a hybrid file.
func (w *testWriter) table(trailer string) {
	off := int64(w.buf.Len())
	w.buf.WriteString("xref\n")
	for _, r := range runs(w.pending()) {
		fmt.Fprintf(&w.buf, "%d %d\n", r[0], r[1])
		for n := r[0]; n < r[0]+r[1]; n++ {
			if o, ok := w.offsets[n]; ok {
				fmt.Fprintf(&w.buf, "%010d %05d n\r\n", o, 0)
			} else {
				fmt.Fprintf(&w.buf, "%010d %05d f\r\n", 0, 65535)
			}
		}
	}
	fmt.Fprintf(&w.buf, "trailer\n<</Size %d%s%s>>\n", w.size, w.prevEntry(), trailer)
	w.finish(off)
}

// xrefRows returns the /Index array and the rows (W [1 4 2]) of the
// pending objects.
func (w *testWriter) xrefRows(nums []int) (string, [][]byte) {
	var idx []string
	for _, r := range runs(nums) {
		idx = append(idx, fmt.Sprintf("%d %d", r[0], r[1]))
	}
	var rows [][]byte
	for _, n := range nums {
		row := make([]byte, 7)
		if o, ok := w.offsets[n]; ok {
			row[0] = 1
			binary.BigEndian.PutUint32(row[1:], uint32(o))
		} else if s, ok := w.inStm[n]; ok {
			row[0] = 2
			binary.BigEndian.PutUint32(row[1:], uint32(s[0]))
			binary.BigEndian.PutUint16(row[5:], uint16(s[1]))
		} else {
			row[0] = 0
			binary.BigEndian.PutUint16(row[5:], 65535)
		}
		rows = append(rows, row)
	}
	return "[" + strings.Join(idx, " ") + "]", rows
}

// xrefStreamObj writes cross-reference stream num listing nums, flate
// compressed with the PNG Up predictor when predict is set.
func (w *testWriter) xrefStreamObj(num int, nums []int, extra string, predict bool) {
	index, rows := w.xrefRows(nums)
	var data []byte
	dict := fmt.Sprintf("/Type/XRef/Size %d/W[1 4 2]/Index%s%s", w.size, index, extra)
	if predict {
		prev := make([]byte, 7)
		for _, r := range rows {
			data = append(data, 2)
			for i := range r {
				data = append(data, r[i]-prev[i])
			}
			prev = r
		}
		data = deflate(data)
		dict += "/Filter/FlateDecode/DecodeParms<</Predictor 12/Columns 7>>"
	} else {
		for _, r := range rows {
			data = append(data, r...)
		}
	}
	w.stream(num, dict, data)
}

// xrefStream writes cross-reference stream num as the section of the
// pending objects (itself included).
func (w *testWriter) xrefStream(num int, trailer string, predict bool) {
	off := int64(w.buf.Len())
	w.note(num)
	w.offsets[num] = off
	w.xrefStreamObj(num, w.pending(), w.prevEntry()+trailer, predict)
	w.finish(off)
}

// hybrid writes the pending objects as a hybrid-reference file does
// (PDF 32000-1 7.5.8.4): a main table where the compressed objects are
// free, then cross-reference stream num listing them, then an empty
// update section whose trailer points at that stream with /XRefStm.
func (w *testWriter) hybrid(num int, trailer string) {
	var compressed []int
	for n := range w.inStm {
		compressed = append(compressed, n)
	}
	slices.Sort(compressed)
	hidden := w.inStm
	w.table(trailer)
	stmOff := int64(w.buf.Len())
	w.inStm = hidden
	w.xrefStreamObj(num, compressed, "", true)
	w.inStm = map[int][2]int{}
	w.offsets = map[int]int64{}
	off := int64(w.buf.Len())
	fmt.Fprintf(&w.buf, "xref\n0 0\ntrailer\n<</Size %d%s/XRefStm %d%s>>\n", w.size, w.prevEntry(), stmOff, trailer)
	w.finish(off)
}

// hybridOneSection writes the table and its /XRefStm stream in the same
// section, the table listing the compressed objects as free: readers
// disagree on whether those objects exist.
func (w *testWriter) hybridOneSection(num int, trailer string) {
	var compressed []int
	for n := range w.inStm {
		compressed = append(compressed, n)
	}
	slices.Sort(compressed)
	stmOff := int64(w.buf.Len())
	w.xrefStreamObj(num, compressed, "", true)
	w.table(fmt.Sprintf("/XRefStm %d%s", stmOff, trailer))
}

func (w *testWriter) bytes() []byte { return bytes.Clone(w.buf.Bytes()) }
