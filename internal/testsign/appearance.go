package testsign

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
)

// The forgeries below prepare a form, before it is signed, whose field
// keeps its value (/V, what a verifier reads) while the page shows the
// signer something else. Each returns an unsigned file; sign it with Sign.

// fieldEdit is a form parsed for an update that changes one field: the
// field, the form's font resources and the field's size.
type fieldEdit struct {
	doc     *document
	u       *update
	f       formField
	fontRes *pdfDict
	w, h    float64
}

func editField(form []byte, field string) (*fieldEdit, error) {
	doc, err := parseDocument(form)
	if err != nil {
		return nil, fmt.Errorf("reading the document: %w", err)
	}
	acro, err := acroForm(doc)
	if err != nil {
		return nil, err
	}
	if acro == nil {
		return nil, errors.New("document has no AcroForm")
	}
	f, err := findField(doc, acro, field)
	if err != nil {
		return nil, err
	}
	e := &fieldEdit{doc: doc, u: newUpdate(doc), f: f, fontRes: newDict()}
	if dr, err := doc.dict(acro.get("DR")); err == nil {
		if fr, err := doc.dict(dr.get("Font")); err == nil {
			e.fontRes = fr
		}
	}
	rect, ok := f.dict.get("Rect").(pdfArray)
	if !ok || len(rect) != 4 {
		return nil, errors.New("field has no /Rect")
	}
	e.w, e.h = number(rect[2])-number(rect[0]), number(rect[3])-number(rect[1])
	return e, nil
}

// withValue returns the field's dictionary with value as its /V and an
// appearance showing it, the appearance added to the update.
func (e *fieldEdit) withValue(value string) *pdfDict {
	d := e.f.dict.clone()
	d.set("V", textString(value))
	d.set("AP", newDict("N", e.u.add(textAppearance(e.w, e.h, value, e.fontRes))))
	return d
}

// AppearanceShows gives the field an appearance that draws shown, its
// value unchanged: the viewer shows shown, /V says otherwise.
func AppearanceShows(form []byte, field, shown string) ([]byte, error) {
	e, err := editField(form, field)
	if err != nil {
		return nil, err
	}
	d := e.f.dict.clone()
	d.set("AP", newDict("N", e.u.add(textAppearance(e.w, e.h, shown, e.fontRes))))
	e.u.set(e.f.ref.num, d)
	out, _ := e.u.write()
	return out, nil
}

// AppearanceInNestedForm gives the field an appearance that draws the
// value invisibly (text rendering mode 3) and shown through a nested form
// XObject.
func AppearanceInNestedForm(form []byte, field, shown string) ([]byte, error) {
	e, err := editField(form, field)
	if err != nil {
		return nil, err
	}
	value := ""
	if s, ok := e.f.dict.get("V").(pdfString); ok {
		value = DecodeTextString(s.b)
	}
	inner := e.u.add(textAppearance(e.w, e.h, shown, e.fontRes))
	var c bytes.Buffer
	fmt.Fprintf(&c, "BT /Helv %d Tf 3 Tr 3 5 Td ", fontSize)
	showText(&c, value)
	c.WriteString(" Tj ET /Shown Do\n")
	outer := e.u.add(&pdfStream{
		dict: newDict("Type", pdfName("XObject"), "Subtype", pdfName("Form"),
			"BBox", pdfArray{0, 0, e.w, e.h}, "Resources", newDict("Font", e.fontRes, "XObject", newDict("Shown", inner))),
		data: c.Bytes(),
	})
	d := e.f.dict.clone()
	d.set("AP", newDict("N", outer))
	e.u.set(e.f.ref.num, d)
	out, _ := e.u.write()
	return out, nil
}

// HiddenFieldPageShows hides the field's widget and prints shown where it
// stood, in a content stream added to the page.
func HiddenFieldPageShows(form []byte, field, shown string) ([]byte, error) {
	e, err := editField(form, field)
	if err != nil {
		return nil, err
	}
	rect := e.f.dict.get("Rect").(pdfArray)
	pageRef, page, err := firstPage(e.doc)
	if err != nil {
		return nil, err
	}
	d := e.f.dict.clone()
	d.set("F", 2) // Hidden
	e.u.set(e.f.ref.num, d)
	var c bytes.Buffer
	fmt.Fprintf(&c, "BT /F1 %d Tf %s %s Td ", fontSize, formatReal(number(rect[0])+3), formatReal(number(rect[1])+5))
	showText(&c, shown)
	c.WriteString(" Tj ET\n")
	extra := e.u.add(&pdfStream{dict: newDict(), data: c.Bytes()})
	p := page.clone()
	contents := pdfArray{}
	switch x := p.get("Contents").(type) {
	case pdfRef:
		contents = pdfArray{x}
	case pdfArray:
		contents = append(contents, x...)
	}
	p.set("Contents", append(contents, extra))
	e.u.set(pageRef.num, p)
	out, _ := e.u.write()
	return out, nil
}

// DocTimestampWithAction adds a genuine document timestamp whose widget
// carries an action: key "AA" a page-open JavaScript action, "A" a URI
// action run when the (invisible) widget is activated. A document
// timestamp covers the bytes before it and vouches for nothing it brings.
func DocTimestampWithAction(pdf []byte, ts func(digest []byte, h crypto.Hash) ([]byte, error), key string) ([]byte, error) {
	return addDocTimestamp(pdf, ts, func(_ *update, d *pdfDict) {
		switch key {
		case "AA":
			d.set("AA", newDict("PO", newDict("S", pdfName("JavaScript"),
				"JS", pdfString{b: []byte("this.getField('certificat_numero_serie').value = 'deadbeef';")})))
		default:
			d.set(pdfName(key), newDict("S", pdfName("URI"), "URI", pdfString{b: []byte("http://attacker.invalid/")}))
		}
	})
}

// DocTimestampDrawing adds a genuine document timestamp whose widget has
// an appearance that prints shown, and a page-sized /Rect flagged Hidden
// (a viewer or a script may clear the flag).
func DocTimestampDrawing(pdf []byte, ts func(digest []byte, h crypto.Hash) ([]byte, error), shown string) ([]byte, error) {
	return addDocTimestamp(pdf, ts, func(u *update, d *pdfDict) {
		var c bytes.Buffer
		c.WriteString("BT /Helv 14 Tf 10 10 Td ")
		showText(&c, shown)
		c.WriteString(" Tj ET\n")
		ap := u.add(&pdfStream{
			dict: newDict("Type", pdfName("XObject"), "Subtype", pdfName("Form"), "BBox", pdfArray{0, 0, pageWidth, pageHeight}),
			data: c.Bytes(),
		})
		d.set("Rect", pdfArray{0, 0, pageWidth, pageHeight})
		d.set("F", 2|4)
		d.set("AP", newDict("N", ap))
	})
}
