package pdfverify_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
	"github.com/revokd/revokd/pdfverify"
	"github.com/revokd/revokd/pdfverify/internal/pdfread"
)

// firstPageContents returns the reference of the first page's /Contents
// stream, the catalog reference, the trailer /Size and the startxref of a
// file.
func firstPageContents(t *testing.T, data []byte) (contents, root pdfread.Ref, size, startxref int64) {
	t.Helper()
	f, err := pdfread.Open(data, pdfread.Limits{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	cat, err := f.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	pages, _ := f.Resolve(cat["Pages"])
	kids, _ := f.Resolve(pages.(pdfread.Dict)["Kids"])
	page, _ := f.Resolve(kids.(pdfread.Array)[0])
	c, ok := page.(pdfread.Dict)["Contents"].(pdfread.Ref)
	if !ok {
		t.Fatalf("first page /Contents is not a reference: %v", page.(pdfread.Dict)["Contents"])
	}
	root = f.Trailer()["Root"].(pdfread.Ref)
	size = f.Trailer()["Size"].(int64)
	return c, root, size, f.Sections()[0].Offset
}

// TestRejectsXRefStreamReusingASignedNumber: an incremental update
// whose cross-reference stream takes the object number of a signed object
// (here the page's content stream) replaces that object in the latest
// revision, and checkCoverage skips the entry because it is the xref
// stream's own. The stream dictionary may carry any extra key and its data
// may run past the xref rows, so the page a viewer renders is the
// attacker's.
func TestRejectsXRefStreamReusingASignedNumber(t *testing.T) {
	w := getWorld(t)
	genuine := mustSign(t, w.form, signWith(w.holders[testpki.RSA2048]))
	if rep := verify(t, genuine, w.opts()); rep.Indication != pdfverify.TotalPassed {
		t.Fatalf("genuine: %s/%s %s", rep.Indication, rep.SubIndication, rep.Reason)
	}
	c, root, size, prev := firstPageContents(t, genuine)

	forged := bytes.Clone(genuine)
	if !bytes.HasSuffix(forged, []byte("\n")) {
		forged = append(forged, '\n')
	}
	off := int64(len(forged))
	// W [1 4 1]: one row, the entry of the stream itself.
	row := []byte{1, byte(off >> 24), byte(off >> 16), byte(off >> 8), byte(off), 0}
	page := []byte("\nBT /F2 16 Tf 50 790 Td (Demande de revocation: certificat DEADBEEF) Tj ET\n")
	data := append(row, page...)
	fmt.Fprintf((*bytesWriter)(&forged), "%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 1] /Index [%d 1] /Root %d %d R /Prev %d /Length %d >>\nstream\n",
		c.Num, size, c.Num, root.Num, root.Gen, prev, len(data))
	forged = append(forged, data...)
	forged = append(forged, fmt.Sprintf("\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", off)...)

	f, err := pdfread.Open(forged, pdfread.Limits{})
	if err != nil {
		t.Fatalf("Open(forged): %v", err)
	}
	obj, err := f.Object(c)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := obj.(*pdfread.Stream)
	if !ok || !bytes.Contains(s.Raw, []byte("DEADBEEF")) {
		t.Fatalf("the latest revision's object %d is not the attacker's content stream: %T", c.Num, obj)
	}

	dumpForgery(t, "xrefstm-reuse", genuine, forged)
	rep := verify(t, forged, w.opts())
	if rep.Indication == pdfverify.TotalPassed {
		t.Errorf("page content stream %d replaced after signing (by an xref stream of the same number): TOTAL_PASSED, want MODIFIED_AFTER_SIGNING", c.Num)
	}
}

// dumpForgery writes the files to $FORGERY_DUMP, when set, to look at them
// with other readers (pdftotext, pdfsig, qpdf).
func dumpForgery(t *testing.T, name string, genuine, forged []byte) {
	dir := os.Getenv("FORGERY_DUMP")
	if dir == "" {
		return
	}
	_ = os.WriteFile(filepath.Join(dir, name+"-genuine.pdf"), genuine, 0o644)
	_ = os.WriteFile(filepath.Join(dir, name+"-forged.pdf"), forged, 0o644)
}

type bytesWriter []byte

func (b *bytesWriter) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

// pdfSyntax writes o in PDF syntax, enough for the dictionaries these tests
// rewrite (no streams).
func pdfSyntax(b *bytes.Buffer, o pdfread.Object) {
	switch x := o.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		fmt.Fprint(b, x)
	case int64:
		fmt.Fprint(b, x)
	case float64:
		fmt.Fprintf(b, "%g", x)
	case pdfread.Name:
		b.WriteString("/" + string(x))
	case pdfread.String:
		fmt.Fprintf(b, "<%x>", []byte(x))
	case pdfread.Ref:
		fmt.Fprintf(b, "%d %d R", x.Num, x.Gen)
	case pdfread.Array:
		b.WriteString("[")
		for _, it := range x {
			pdfSyntax(b, it)
			b.WriteString(" ")
		}
		b.WriteString("]")
	case pdfread.Dict:
		b.WriteString("<<")
		for k, v := range x {
			b.WriteString("/" + string(k) + " ")
			pdfSyntax(b, v)
			b.WriteString(" ")
		}
		b.WriteString(">>")
	default:
		panic(fmt.Sprintf("pdfSyntax: %T", o))
	}
}

// appendUpdate appends a classic incremental update defining objs (raw
// "<<...>>" or "<<...>>stream...endstream" bodies) by number.
func appendUpdate(t *testing.T, data []byte, objs map[int][]byte) []byte {
	t.Helper()
	f, err := pdfread.Open(data, pdfread.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	tr := f.Trailer()
	size := tr["Size"].(int64)
	out := bytes.Clone(data)
	if !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, '\n')
	}
	offs := map[int]int64{}
	for num, body := range objs {
		offs[num] = int64(len(out))
		out = append(out, fmt.Sprintf("%d 0 obj\n", num)...)
		out = append(out, body...)
		out = append(out, "\nendobj\n"...)
		size = max(size, int64(num)+1)
	}
	xref := len(out)
	out = append(out, "xref\n"...)
	for num, off := range offs {
		out = append(out, fmt.Sprintf("%d 1\n%010d 00000 n\r\n", num, off)...)
	}
	var tb bytes.Buffer
	pdfSyntax(&tb, pdfread.Dict{"Size": size, "Root": tr["Root"], "Prev": f.Sections()[0].Offset})
	out = append(out, "trailer\n"...)
	out = append(out, tb.Bytes()...)
	out = append(out, fmt.Sprintf("\nstartxref\n%d\n%%%%EOF\n", xref)...)
	return out
}

// TestRejectsDocTimestampWidgetOverlay: once a genuine document time-stamp
// follows the signature, a later update may redefine the time-stamp's
// field/widget at will (its object number is in tsObjects) and add any new
// object reachable from /DSS: here an appearance stream covering the page
// and printing another serial number.
func TestRejectsDocTimestampWidgetOverlay(t *testing.T) {
	w := getWorld(t)
	genuine := mustSign(t, w.form, signWith(w.holders[testpki.RSA2048]))
	stamped, err := testsign.AddDocTimestamp(genuine, w.timestamper(now))
	if err != nil {
		t.Fatal(err)
	}
	if rep := verify(t, stamped, w.opts()); rep.Indication != pdfverify.TotalPassed {
		t.Fatalf("genuine + document time-stamp: %s/%s %s", rep.Indication, rep.SubIndication, rep.Reason)
	}
	f, err := pdfread.Open(stamped, pdfread.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	fields, err := f.Fields()
	if err != nil {
		t.Fatal(err)
	}
	var dts *pdfread.Field
	for i := range fields {
		if fields[i].Name == "DocTimeStamp1" {
			dts = &fields[i]
		}
	}
	if dts == nil {
		t.Fatal("no DocTimeStamp1 field")
	}
	root := f.Trailer()["Root"].(pdfread.Ref)
	cat, _ := f.Catalog()
	apNum := int(f.Trailer()["Size"].(int64))

	widget := pdfread.Dict{}
	for k, v := range dts.Dict {
		widget[k] = v
	}
	widget["Rect"] = pdfread.Array{int64(40), int64(400), int64(560), int64(800)}
	widget["AP"] = pdfread.Dict{"N": pdfread.Ref{Num: apNum}}
	widget["F"] = int64(4) // print
	var wb bytes.Buffer
	pdfSyntax(&wb, widget)

	newCat := pdfread.Dict{}
	for k, v := range cat {
		newCat[k] = v
	}
	newCat["DSS"] = pdfread.Dict{"Type": pdfread.Name("DSS"), "VRI": pdfread.Ref{Num: apNum}}
	var cb bytes.Buffer
	pdfSyntax(&cb, newCat)

	content := "1 1 1 rg 0 0 520 400 re f 0 0 0 rg BT /Helvetica 14 Tf 10 360 Td (Numero de serie: DEADBEEF) Tj ET"
	ap := fmt.Sprintf("<< /Type /XObject /Subtype /Form /BBox [0 0 520 400] /Resources << /Font << /Helvetica << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> /Length %d >>\nstream\n%s\nendstream", len(content), content)

	forged := appendUpdate(t, stamped, map[int][]byte{
		dts.Ref.Num: wb.Bytes(),
		root.Num:    cb.Bytes(),
		apNum:       []byte(ap),
	})
	dumpForgery(t, "dts-overlay", stamped, forged)
	rep := verify(t, forged, w.opts())
	if rep.Indication == pdfverify.TotalPassed {
		t.Errorf("document time-stamp widget redefined after the time-stamp with a page-covering appearance: TOTAL_PASSED, want MODIFIED_AFTER_SIGNING")
	}
}
