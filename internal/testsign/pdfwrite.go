package testsign

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"slices"
)

// header starts every file: the version, then a comment of four bytes above
// 127 so that transfer programs treat the file as binary (ISO 32000-1,
// 7.5.2).
const header = "%PDF-1.7\n%\xE2\xE3\xCF\xD3\n"

// xrefStreamW is the /W of the cross-reference streams written here: a type
// byte, a four-byte offset (files up to 4 GB) and a two-byte generation or
// index.
var xrefStreamW = [3]int{1, 4, 2}

// writeFile writes a complete single-revision file whose object i+1 is
// objs[i]. With xrefStream, the objects that are not streams go into one
// object stream and the cross-reference is a stream; otherwise every object
// is written directly and the cross-reference is a classic table.
func writeFile(objs []object, trailer *pdfDict, xrefStream bool) []byte {
	var buf bytes.Buffer
	buf.WriteString(header)
	n := len(objs)
	entries := make([]xrefEntry, n+1)
	if !xrefStream {
		for i, o := range objs {
			entries[i+1] = xrefEntry{kind: 1, off: int64(buf.Len())}
			writeIndirect(&buf, i+1, o)
		}
		xrefOff := buf.Len()
		buf.WriteString("xref\n")
		fmt.Fprintf(&buf, "0 %d\n", n+1)
		buf.WriteString("0000000000 65535 f\r\n")
		for _, e := range entries[1:] {
			fmt.Fprintf(&buf, "%010d 00000 n\r\n", e.off)
		}
		t := trailer.clone()
		t.set("Size", n+1)
		buf.WriteString("trailer\n")
		writeObject(&buf, t)
		fmt.Fprintf(&buf, "\nstartxref\n%d\n%%%%EOF\n", xrefOff)
		return buf.Bytes()
	}

	stmNum, xrefNum := n+1, n+2
	entries = append(entries, xrefEntry{}, xrefEntry{})
	var hdr, body bytes.Buffer
	count := 0
	for i, o := range objs {
		if _, isStream := o.(*pdfStream); isStream {
			entries[i+1] = xrefEntry{kind: 1, off: int64(buf.Len())}
			writeIndirect(&buf, i+1, o)
			continue
		}
		entries[i+1] = xrefEntry{kind: 2, stm: stmNum, idx: count}
		fmt.Fprintf(&hdr, "%d %d ", i+1, body.Len())
		writeObject(&body, o)
		body.WriteByte('\n')
		count++
	}
	stmData := append(hdr.Bytes(), body.Bytes()...)
	entries[stmNum] = xrefEntry{kind: 1, off: int64(buf.Len())}
	writeIndirect(&buf, stmNum, &pdfStream{
		dict: newDict("Type", pdfName("ObjStm"), "N", count, "First", hdr.Len(), "Filter", pdfName("FlateDecode")),
		data: deflate(stmData),
	})
	entries[xrefNum] = xrefEntry{kind: 1, off: int64(buf.Len())}
	t := trailer.clone()
	t.set("Type", pdfName("XRef"))
	t.set("Size", xrefNum+1)
	all := map[int]xrefEntry{}
	var nums []int
	for i, e := range entries {
		all[i] = e
		nums = append(nums, i)
	}
	writeXRefStream(&buf, xrefNum, t, nums, all)
	return buf.Bytes()
}

// writeXRefStream writes the cross-reference stream object num, whose
// dictionary is t plus /W, /Index and /Filter, listing entries (indexed by
// object number) for the object numbers nums, then startxref.
func writeXRefStream(buf *bytes.Buffer, num int, t *pdfDict, nums []int, entries map[int]xrefEntry) {
	off := buf.Len()
	var rows bytes.Buffer
	var index pdfArray
	runs := runsOf(nums)
	for _, r := range runs {
		index = append(index, r[0], r[1])
		for k := r[0]; k < r[0]+r[1]; k++ {
			e := entries[k]
			var f1, f2 int64
			switch e.kind {
			case 0:
				if k == 0 {
					f2 = 65535
				}
			case 1:
				f1 = e.off
			case 2:
				f1, f2 = int64(e.stm), int64(e.idx)
			}
			rows.WriteByte(e.kind)
			rows.Write([]byte{byte(f1 >> 24), byte(f1 >> 16), byte(f1 >> 8), byte(f1)})
			rows.Write([]byte{byte(f2 >> 8), byte(f2)})
		}
	}
	d := t.clone()
	d.set("W", pdfArray{xrefStreamW[0], xrefStreamW[1], xrefStreamW[2]})
	d.set("Index", index)
	d.set("Filter", pdfName("FlateDecode"))
	writeIndirect(buf, num, &pdfStream{dict: d, data: deflate(rows.Bytes())})
	fmt.Fprintf(buf, "startxref\n%d\n%%%%EOF\n", off)
}

// runsOf groups sorted object numbers into [first, count] runs, the
// subsections of a cross-reference section.
func runsOf(nums []int) [][2]int {
	nums = slices.Clone(nums)
	slices.Sort(nums)
	var runs [][2]int
	for _, n := range nums {
		if len(runs) > 0 && runs[len(runs)-1][0]+runs[len(runs)-1][1] == n {
			runs[len(runs)-1][1]++
			continue
		}
		runs = append(runs, [2]int{n, 1})
	}
	return runs
}

func writeIndirect(buf *bytes.Buffer, num int, o object) {
	fmt.Fprintf(buf, "%d 0 obj\n", num)
	writeObject(buf, o)
	buf.WriteString("\nendobj\n")
}

func deflate(b []byte) []byte {
	var out bytes.Buffer
	w, _ := zlib.NewWriterLevel(&out, zlib.BestCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

// update is one incremental update over a parsed document: the objects it
// adds or redefines, written after the original bytes with a
// cross-reference section of the same kind as the document's last one.
type update struct {
	doc  *document
	nums []int
	objs map[int]object
	next int
	// free are object numbers the section lists as free (0 65535 f for
	// object 0, generation 1 otherwise), as some producers restate them.
	free []int
	// trailer holds extra trailer entries (/Info).
	trailer *pdfDict
}

func newUpdate(doc *document) *update {
	return &update{doc: doc, objs: map[int]object{}, next: doc.maxObjectNumber() + 1}
}

// add gives o a new object number.
func (u *update) add(o object) pdfRef {
	n := u.next
	u.next++
	u.set(n, o)
	return pdfRef{n, 0}
}

// set redefines object num (or defines it, for numbers from add).
func (u *update) set(num int, o object) {
	if _, ok := u.objs[num]; !ok {
		u.nums = append(u.nums, num)
	}
	u.objs[num] = o
}

// write returns the updated file and the offset of each object written.
func (u *update) write() ([]byte, map[int]int64) {
	var buf bytes.Buffer
	buf.Write(u.doc.b)
	if b := u.doc.b; len(b) > 0 && b[len(b)-1] != '\n' && b[len(b)-1] != '\r' {
		buf.WriteByte('\n')
	}
	offsets := map[int]int64{}
	for _, n := range u.nums {
		offsets[n] = int64(buf.Len())
		writeIndirect(&buf, n, u.objs[n])
	}
	t := newDict()
	for _, k := range []pdfName{"Root", "Info", "ID"} {
		if v := u.doc.trailer.get(k); v != nil {
			t.set(k, v)
		}
	}
	t.set("Prev", u.doc.startxref)
	if u.trailer != nil {
		for _, e := range u.trailer.entries {
			t.set(e.key, e.val)
		}
	}

	nums := append(slices.Clone(u.nums), u.free...)
	if u.doc.xrefStream {
		xrefNum := u.next
		nums = append(nums, xrefNum)
		entries := map[int]xrefEntry{}
		for n, off := range offsets {
			entries[n] = xrefEntry{kind: 1, off: off}
		}
		entries[xrefNum] = xrefEntry{kind: 1, off: int64(buf.Len())}
		offsets[xrefNum] = int64(buf.Len())
		t.set("Type", pdfName("XRef"))
		t.set("Size", max(xrefNum+1, u.doc.maxObjectNumber()+1))
		writeXRefStream(&buf, xrefNum, t, nums, entries)
		return buf.Bytes(), offsets
	}
	xrefOff := buf.Len()
	buf.WriteString("xref\n")
	for _, r := range runsOf(nums) {
		fmt.Fprintf(&buf, "%d %d\n", r[0], r[1])
		for k := r[0]; k < r[0]+r[1]; k++ {
			switch {
			case k == 0 && slices.Contains(u.free, 0):
				buf.WriteString("0000000000 65535 f\r\n")
			case slices.Contains(u.free, k):
				buf.WriteString("0000000000 00001 f\r\n")
			default:
				fmt.Fprintf(&buf, "%010d 00000 n\r\n", offsets[k])
			}
		}
	}
	t.set("Size", max(u.next, u.doc.maxObjectNumber()+1))
	buf.WriteString("trailer\n")
	writeObject(&buf, t)
	fmt.Fprintf(&buf, "\nstartxref\n%d\n%%%%EOF\n", xrefOff)
	return buf.Bytes(), offsets
}
