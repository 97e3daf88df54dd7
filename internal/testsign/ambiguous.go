package testsign

import (
	"bytes"
	"errors"
	"fmt"
)

// The forgeries below prepare a form before it is signed, so that the
// signed revision itself reads as two documents: the signer's viewer shows
// the field's old value, a verifier reading the file another way the new
// one. Each returns an unsigned file; sign it with Sign.

// HideFieldInXRefStm appends a hybrid-reference update (a classic table
// whose trailer names an /XRefStm stream) that redefines the field with
// value, listing the new field only in the stream. The table of the
// previous section still lists the old field as in use, which PDF
// 32000-1 7.5.8.4 forbids: a PDF 1.4 reader ignores the stream and shows
// the old value, a PDF 1.5 reader the new one. The form must end with a
// classic table.
func HideFieldInXRefStm(form []byte, field, value string) ([]byte, error) {
	e, err := editField(form, field)
	if err != nil {
		return nil, err
	}
	if e.doc.xrefStream {
		return nil, errors.New("the form ends with a cross-reference stream, not a table")
	}
	doc, u, f, d := e.doc, e.u, e.f, e.withValue(value)
	var buf bytes.Buffer
	buf.Write(endLine(form))
	offsets := map[int]int64{}
	for _, n := range u.nums {
		offsets[n] = int64(buf.Len())
		writeIndirect(&buf, n, u.objs[n])
	}
	fieldOff := int64(buf.Len())
	writeIndirect(&buf, f.ref.num, d)

	stmNum := u.next
	stmOff := int64(buf.Len())
	size := max(stmNum+1, doc.maxObjectNumber()+1)
	entries := map[int]xrefEntry{f.ref.num: {kind: 1, off: fieldOff}, stmNum: {kind: 1, off: stmOff}}
	// writeXRefStream ends with its own startxref; the hybrid file's
	// startxref must name the table, so the stream is written apart.
	var stm bytes.Buffer
	writeXRefStream(&stm, stmNum, newDict("Type", pdfName("XRef"), "Size", size), []int{f.ref.num, stmNum}, entries)
	buf.Write(stm.Bytes()[:bytes.LastIndex(stm.Bytes(), []byte("startxref"))])

	xrefOff := buf.Len()
	buf.WriteString("xref\n")
	for _, r := range runsOf(u.nums) {
		fmt.Fprintf(&buf, "%d %d\n", r[0], r[1])
		for k := r[0]; k < r[0]+r[1]; k++ {
			fmt.Fprintf(&buf, "%010d 00000 n\r\n", offsets[k])
		}
	}
	t := trailerOf(doc)
	t.set("Size", size)
	t.set("XRefStm", stmOff)
	buf.WriteString("trailer\n")
	writeObject(&buf, t)
	fmt.Fprintf(&buf, "\nstartxref\n%d\n%%%%EOF\n", xrefOff)
	return buf.Bytes(), nil
}

// DuplicateFieldObject appends an update whose body defines the field
// twice under its one object number: first with value, which the
// cross-reference table points at, then again as it was. A reader that
// rebuilds the cross-reference by scanning (as viewers do when a file
// looks damaged) keeps the last definition and shows the old value; a
// reader following the table, the new one.
func DuplicateFieldObject(form []byte, field, value string) ([]byte, error) {
	e, err := editField(form, field)
	if err != nil {
		return nil, err
	}
	if e.doc.xrefStream {
		return nil, errors.New("the form ends with a cross-reference stream, not a table")
	}
	f := e.f
	e.u.set(f.ref.num, e.withValue(value))
	out, _ := e.u.write()
	// The old definition again, just before the cross-reference section.
	xref := bytes.LastIndex(out, []byte("\nxref\n")) + 1
	var old bytes.Buffer
	writeIndirect(&old, f.ref.num, f.dict)
	fixed := append(append(append([]byte{}, out[:xref]...), old.Bytes()...), out[xref:]...)
	return shiftStartxref(fixed, int64(old.Len()))
}

// ObjectStreamTwice appends an update whose new object stream holds the
// field twice, first with value (where the cross-reference stream points)
// then as it was. Readers that index an object stream by object number
// keep one or the other. The form must end with a cross-reference stream.
func ObjectStreamTwice(form []byte, field, value string) ([]byte, error) {
	e, err := editField(form, field)
	if err != nil {
		return nil, err
	}
	if !e.doc.xrefStream {
		return nil, errors.New("the form ends with a cross-reference table, not a stream")
	}
	doc, u, f, d := e.doc, e.u, e.f, e.withValue(value)
	var buf bytes.Buffer
	buf.Write(endLine(form))
	entries := map[int]xrefEntry{}
	nums := []int{}
	for _, n := range u.nums {
		entries[n] = xrefEntry{kind: 1, off: int64(buf.Len())}
		nums = append(nums, n)
		writeIndirect(&buf, n, u.objs[n])
	}
	var hdr, body bytes.Buffer
	for _, o := range []*pdfDict{d, f.dict} {
		fmt.Fprintf(&hdr, "%d %d ", f.ref.num, body.Len())
		writeObject(&body, o)
		body.WriteByte('\n')
	}
	stmNum, xrefNum := u.next, u.next+1
	entries[stmNum] = xrefEntry{kind: 1, off: int64(buf.Len())}
	writeIndirect(&buf, stmNum, &pdfStream{
		dict: newDict("Type", pdfName("ObjStm"), "N", 2, "First", hdr.Len(), "Filter", pdfName("FlateDecode")),
		data: deflate(append(hdr.Bytes(), body.Bytes()...)),
	})
	entries[f.ref.num] = xrefEntry{kind: 2, stm: stmNum, idx: 0}
	entries[xrefNum] = xrefEntry{kind: 1, off: int64(buf.Len())}
	nums = append(nums, f.ref.num, stmNum, xrefNum)
	t := trailerOf(doc)
	t.set("Type", pdfName("XRef"))
	t.set("Size", max(xrefNum+1, doc.maxObjectNumber()+1))
	writeXRefStream(&buf, xrefNum, t, nums, entries)
	return buf.Bytes(), nil
}

// endLine returns b ending with an end of line.
func endLine(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] != '\n' && b[len(b)-1] != '\r' {
		return append(append([]byte{}, b...), '\n')
	}
	return b
}

// trailerOf is the trailer of an update to doc: its /Root, /Info and /ID,
// and /Prev.
func trailerOf(doc *document) *pdfDict {
	t := newDict()
	for _, k := range []pdfName{"Root", "Info", "ID"} {
		if v := doc.trailer.get(k); v != nil {
			t.set(k, v)
		}
	}
	t.set("Prev", doc.startxref)
	return t
}

// shiftStartxref adds delta to the last startxref of b, whose digits keep
// their width when it grows by less than a power of ten.
func shiftStartxref(b []byte, delta int64) ([]byte, error) {
	i := bytes.LastIndex(b, []byte("startxref\n"))
	if i < 0 {
		return nil, errors.New("no startxref")
	}
	j := i + len("startxref\n")
	k := bytes.IndexByte(b[j:], '\n')
	var off int64
	if _, err := fmt.Sscanf(string(b[j:j+k]), "%d", &off); err != nil {
		return nil, err
	}
	out := append([]byte{}, b[:j]...)
	out = fmt.Appendf(out, "%d", off+delta)
	return append(out, b[j+k:]...), nil
}
