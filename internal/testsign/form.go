package testsign

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// FieldNames are the text fields of the reference form, in page order
// (DESIGN, "The reference form").
var FieldNames = []string{
	"titulaire_nom",
	"titulaire_prenom",
	"titulaire_email",
	"certificat_numero_serie",
	"raison",
	"demandeur_qualite",
	"representant_nom",
	"representant_prenom",
	"representant_email",
	"entreprise_raison_sociale",
	"entreprise_siren",
	"date",
	"lieu",
}

// SignatureFieldName is the empty signature field of the reference form.
const SignatureFieldName = "Signature1"

// fieldLabels are the labels printed on the page beside each field, and
// its /TU (the name a screen reader speaks).
var fieldLabels = map[string]string{
	"titulaire_nom":             "Nom du titulaire",
	"titulaire_prenom":          "Prénom du titulaire",
	"titulaire_email":           "Adresse électronique du titulaire",
	"certificat_numero_serie":   "Numéro de série du certificat",
	"raison":                    "Motif de la révocation",
	"demandeur_qualite":         "Qualité du demandeur",
	"representant_nom":          "Nom du représentant légal",
	"representant_prenom":       "Prénom du représentant légal",
	"representant_email":        "Adresse électronique du représentant",
	"entreprise_raison_sociale": "Raison sociale de l'entreprise",
	"entreprise_siren":          "SIREN de l'entreprise",
	"date":                      "Date de la demande",
	"lieu":                      "Lieu",
}

// Page geometry of the form, in points (A4).
const (
	pageWidth   = 595
	pageHeight  = 842
	firstRowY   = 730
	rowStep     = 38
	labelX      = 50
	fieldX      = 260
	fieldRight  = 545
	fieldHeight = 18
	fontSize    = 10
)

// padWidth is the width in pixels of the padding image; its height follows
// from the size asked for.
const padWidth = 1000

// FormOptions change how Form writes the reference form. The zero value
// writes a classic cross-reference table, no padding and the PDF/A claim.
type FormOptions struct {
	// XRefStream writes a cross-reference stream and puts every object
	// that is not a stream into an object stream (PDF 1.5 style) instead
	// of a classic table.
	XRefStream bool
	// PadTo grows the file to about this many bytes with an unused image
	// of incompressible random pixels referenced from the page, for
	// benchmarks. Zero or less than the natural size: no padding.
	PadTo int
	// NoPDFA leaves the PDF/A identification (pdfaid) out of the XMP
	// metadata.
	NoPDFA bool
}

// Form builds the one-page reference revocation request form: a PDF 1.7
// file claiming PDF/A-2B (XMP pdfaid:part 2, conformance B, with an sRGB
// output intent), whose AcroForm has the text fields of FieldNames, each a
// widget on the page with an appearance showing its value beside a printed
// label, and one empty signature field "Signature1" with its own widget.
//
// values gives the /V of each field, as a PDF text string (PDFDocEncoding
// when possible, else UTF-16BE); a field absent from values has no /V. A
// key that is not in FieldNames is an error. The output depends only on
// values and o, byte for byte.
//
// The file claims PDF/A but is not checked against it: the labels use the
// standard Helvetica font, which PDF/A wants embedded.
func Form(values map[string]string, o FormOptions) ([]byte, error) {
	for k := range values {
		if !slices.Contains(FieldNames, k) {
			return nil, fmt.Errorf("unknown form field %q", k)
		}
	}
	out := buildForm(values, o, 0)
	if o.PadTo <= len(out) {
		return out, nil
	}
	// The image data is stored, not compressed, so the file grows by the
	// pixels plus a small overhead; a few passes land within a row.
	pixels := o.PadTo - len(out)
	for range 3 {
		out = buildForm(values, o, pixels)
		diff := o.PadTo - len(out)
		if diff > -padWidth && diff < padWidth {
			break
		}
		pixels = max(1, pixels+diff)
	}
	return out, nil
}

type objList struct{ objs []object }

func (l *objList) reserve() pdfRef {
	l.objs = append(l.objs, nil)
	return pdfRef{len(l.objs), 0}
}

func (l *objList) put(r pdfRef, o object) { l.objs[r.num-1] = o }

func (l *objList) add(o object) pdfRef {
	r := l.reserve()
	l.put(r, o)
	return r
}

func buildForm(values map[string]string, o FormOptions, padBytes int) []byte {
	var l objList
	catalog := l.reserve()
	pages := l.reserve()
	page := l.reserve()
	acroForm := l.reserve()
	helv := l.add(newDict("Type", pdfName("Font"), "Subtype", pdfName("Type1"),
		"BaseFont", pdfName("Helvetica"), "Encoding", pdfName("WinAnsiEncoding")))
	helvBold := l.add(newDict("Type", pdfName("Font"), "Subtype", pdfName("Type1"),
		"BaseFont", pdfName("Helvetica-Bold"), "Encoding", pdfName("WinAnsiEncoding")))
	fontRes := newDict("Helv", helv)

	var content bytes.Buffer
	content.WriteString("BT /F2 16 Tf 50 790 Td ")
	showText(&content, "Demande de révocation de certificat")
	content.WriteString(" Tj ET\n")
	content.WriteString("BT /F1 9 Tf 50 772 Td ")
	showText(&content, "Formulaire de référence revokd – à signer électroniquement (PAdES).")
	content.WriteString(" Tj ET\n")

	var annots, fields pdfArray
	for i, name := range FieldNames {
		y := float64(firstRowY - i*rowStep)
		fmt.Fprintf(&content, "BT /F1 %d Tf %d %s Td ", fontSize, labelX, formatReal(y+5))
		showText(&content, fieldLabels[name])
		content.WriteString(" Tj ET\n")

		w := float64(fieldRight - fieldX)
		value, has := values[name]
		ap := l.add(textAppearance(w, fieldHeight, value, fontRes))
		widget := newDict(
			"Type", pdfName("Annot"),
			"Subtype", pdfName("Widget"),
			"FT", pdfName("Tx"),
			"T", pdfString{b: []byte(name)},
			"TU", textString(fieldLabels[name]),
		)
		if has {
			widget.set("V", textString(value))
		}
		widget.set("DA", pdfString{b: []byte(fmt.Sprintf("/Helv %d Tf 0 g", fontSize))})
		widget.set("Rect", pdfArray{float64(fieldX), y, float64(fieldRight), y + fieldHeight})
		widget.set("F", 4) // Print: PDF/A requires it on every annotation
		widget.set("P", page)
		widget.set("AP", newDict("N", ap))
		ref := l.add(widget)
		annots = append(annots, ref)
		fields = append(fields, ref)
	}

	sigY := float64(firstRowY-len(FieldNames)*rowStep) - 90
	fmt.Fprintf(&content, "BT /F1 %d Tf %d %s Td ", fontSize, labelX, formatReal(sigY+80))
	showText(&content, "Signature électronique du demandeur")
	content.WriteString(" Tj ET\n")
	sigAP := l.add(&pdfStream{
		dict: newDict("Type", pdfName("XObject"), "Subtype", pdfName("Form"),
			"BBox", pdfArray{0, 0, fieldRight - fieldX, 90},
			"Resources", newDict("Font", fontRes)),
		data: []byte(fmt.Sprintf("q 0.5 G 0.5 w 0.25 0.25 %d 89.5 re S Q\n", fieldRight-fieldX-1)),
	})
	sigField := l.add(newDict(
		"Type", pdfName("Annot"),
		"Subtype", pdfName("Widget"),
		"FT", pdfName("Sig"),
		"T", pdfString{b: []byte(SignatureFieldName)},
		"TU", textString("Signature du demandeur"),
		"Rect", pdfArray{float64(fieldX), sigY, float64(fieldRight), sigY + 90},
		"F", 4,
		"P", page,
		"AP", newDict("N", sigAP),
	))
	annots = append(annots, sigField)
	fields = append(fields, sigField)

	contents := l.add(&pdfStream{dict: newDict("Filter", pdfName("FlateDecode")), data: deflate(content.Bytes())})
	resources := newDict("Font", newDict("F1", helv, "F2", helvBold))
	if padBytes > 0 {
		rows := max(1, (padBytes+padWidth-1)/padWidth)
		pad := l.add(&pdfStream{
			dict: newDict("Type", pdfName("XObject"), "Subtype", pdfName("Image"),
				"Width", padWidth, "Height", rows, "ColorSpace", pdfName("DeviceGray"),
				"BitsPerComponent", 8, "Filter", pdfName("FlateDecode")),
			data: randomFlate(rows * padWidth),
		})
		resources.set("XObject", newDict("Pad", pad))
	}
	l.put(page, newDict(
		"Type", pdfName("Page"),
		"Parent", pages,
		"MediaBox", pdfArray{0, 0, pageWidth, pageHeight},
		"Resources", resources,
		"Contents", contents,
		"Annots", annots,
	))
	l.put(pages, newDict("Type", pdfName("Pages"), "Kids", pdfArray{page}, "Count", 1))
	l.put(acroForm, newDict(
		"Fields", fields,
		"DA", pdfString{b: []byte(fmt.Sprintf("/Helv %d Tf 0 g", fontSize))},
		"DR", newDict("Font", fontRes),
	))

	metadata := l.add(&pdfStream{
		dict: newDict("Type", pdfName("Metadata"), "Subtype", pdfName("XML")),
		data: xmpMetadata(!o.NoPDFA),
	})
	icc := l.add(&pdfStream{dict: newDict("N", 3, "Filter", pdfName("FlateDecode")), data: deflate(srgbProfile())})
	l.put(catalog, newDict(
		"Type", pdfName("Catalog"),
		"Pages", pages,
		"AcroForm", acroForm,
		"Metadata", metadata,
		"OutputIntents", pdfArray{newDict(
			"Type", pdfName("OutputIntent"),
			"S", pdfName("GTS_PDFA1"),
			"OutputConditionIdentifier", pdfString{b: []byte("sRGB IEC61966-2.1")},
			"Info", pdfString{b: []byte("sRGB IEC61966-2.1")},
			"DestOutputProfile", icc,
		)},
		"Lang", pdfString{b: []byte("fr-FR")},
	))

	// The file identifier is a hash of the content, so equal inputs give
	// equal files.
	h := sha256.New()
	for _, obj := range l.objs {
		h.Write(serialize(obj))
	}
	id := h.Sum(nil)[:16]
	trailer := newDict("Root", catalog, "ID", pdfArray{pdfString{b: id, hex: true}, pdfString{b: id, hex: true}})
	return writeFile(l.objs, trailer, o.XRefStream)
}

// showText writes s as a string operand for a WinAnsi font.
func showText(buf *bytes.Buffer, s string) {
	writeString(buf, pdfString{b: winAnsi(s)})
}

// textAppearance is the normal appearance of a text field showing value.
func textAppearance(w, h float64, value string, fontRes *pdfDict) *pdfStream {
	var c bytes.Buffer
	fmt.Fprintf(&c, "q 0.95 g 0 0 %s %s re f 0.5 G 0.5 w 0.25 0.25 %s %s re S Q\n",
		formatReal(w), formatReal(h), formatReal(w-0.5), formatReal(h-0.5))
	c.WriteString("/Tx BMC q BT ")
	fmt.Fprintf(&c, "/Helv %d Tf 0 g 3 5 Td ", fontSize)
	showText(&c, value)
	c.WriteString(" Tj ET Q EMC\n")
	return &pdfStream{
		dict: newDict("Type", pdfName("XObject"), "Subtype", pdfName("Form"),
			"BBox", pdfArray{0, 0, w, h}, "Resources", newDict("Font", fontRes)),
		data: c.Bytes(),
	}
}

// randomFlate returns n pseudo-random bytes as a Flate stream. The bytes do
// not compress, so the stream is as large as they are; the seed is fixed so
// padded files are reproducible.
func randomFlate(n int) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{'r', 'e', 'v', 'o', 'k', 'd'}))
	raw := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(raw[i:], r.Uint64())
	}
	for i := n - n%8; i < n; i++ {
		raw[i] = byte(r.Uint32())
	}
	var out bytes.Buffer
	// Compressing random data only costs time: store it.
	w, _ := zlib.NewWriterLevel(&out, zlib.NoCompression)
	_, _ = w.Write(raw)
	_ = w.Close()
	return out.Bytes()
}

// xmpMetadata is the document's XMP packet; with pdfa it identifies the
// file as PDF/A-2B (ISO 19005-2, 6.6.4).
func xmpMetadata(pdfa bool) []byte {
	var b strings.Builder
	b.WriteString("<?xpacket begin=\"\uFEFF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n")
	b.WriteString("<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n")
	b.WriteString("<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n")
	if pdfa {
		b.WriteString("<rdf:Description rdf:about=\"\" xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\">\n")
		b.WriteString("<pdfaid:part>2</pdfaid:part>\n<pdfaid:conformance>B</pdfaid:conformance>\n")
		b.WriteString("</rdf:Description>\n")
	}
	b.WriteString("<rdf:Description rdf:about=\"\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n")
	b.WriteString("<dc:format>application/pdf</dc:format>\n")
	b.WriteString("<dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">Demande de révocation de certificat</rdf:li></rdf:Alt></dc:title>\n")
	b.WriteString("</rdf:Description>\n")
	b.WriteString("<rdf:Description rdf:about=\"\" xmlns:pdf=\"http://ns.adobe.com/pdf/1.3/\">\n")
	b.WriteString("<pdf:Producer>revokd testsign</pdf:Producer>\n")
	b.WriteString("</rdf:Description>\n")
	b.WriteString("</rdf:RDF>\n</x:xmpmeta>\n")
	// Padding lets an editor rewrite the packet in place.
	b.WriteString(strings.Repeat(strings.Repeat(" ", 99)+"\n", 20))
	b.WriteString("<?xpacket end=\"w\"?>")
	return []byte(b.String())
}

// srgbProfile builds a small ICC version 2 display profile with the sRGB
// primaries (adapted to D50) and a 2.2 gamma: enough for an output intent.
func srgbProfile() []byte {
	s15 := func(f float64) []byte {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(int32(math.Round(f*65536))))
		return b[:]
	}
	xyz := func(x, y, z float64) []byte {
		return slices.Concat([]byte("XYZ \x00\x00\x00\x00"), s15(x), s15(y), s15(z))
	}
	desc := func(s string) []byte {
		var b bytes.Buffer
		b.WriteString("desc\x00\x00\x00\x00")
		binary.Write(&b, binary.BigEndian, uint32(len(s)+1))
		b.WriteString(s)
		b.WriteByte(0)
		b.Write(make([]byte, 4+4+2+1+67)) // no Unicode, no ScriptCode
		return b.Bytes()
	}
	gamma := []byte("curv\x00\x00\x00\x00\x00\x00\x00\x01\x02\x33") // 2.2 in u8Fixed8
	type tag struct {
		sig  string
		data []byte
	}
	tags := []tag{
		{"desc", desc("sRGB IEC61966-2.1 (approximation)")},
		{"cprt", []byte("text\x00\x00\x00\x00No copyright, use freely\x00")},
		{"wtpt", xyz(0.9642, 1.0, 0.8249)},
		{"rXYZ", xyz(0.4361, 0.2225, 0.0139)},
		{"gXYZ", xyz(0.3851, 0.7169, 0.0971)},
		{"bXYZ", xyz(0.1431, 0.0606, 0.7141)},
		{"rTRC", gamma},
		{"gTRC", gamma},
		{"bTRC", gamma},
	}
	tableLen := 4 + 12*len(tags)
	var table, data bytes.Buffer
	binary.Write(&table, binary.BigEndian, uint32(len(tags)))
	offsets := map[string]int{}
	for _, t := range tags {
		key := string(t.data)
		off, shared := offsets[key]
		if !shared {
			off = 128 + tableLen + data.Len()
			offsets[key] = off
			data.Write(t.data)
			for data.Len()%4 != 0 {
				data.WriteByte(0)
			}
		}
		table.WriteString(t.sig)
		binary.Write(&table, binary.BigEndian, uint32(off))
		binary.Write(&table, binary.BigEndian, uint32(len(t.data)))
	}
	size := 128 + table.Len() + data.Len()
	var h bytes.Buffer
	binary.Write(&h, binary.BigEndian, uint32(size))
	h.Write(make([]byte, 4))                                  // preferred CMM
	h.Write([]byte{0x02, 0x10, 0x00, 0x00})                   // version 2.1
	h.WriteString("mntrRGB XYZ ")                             // class, colour space, PCS
	h.Write([]byte{0x07, 0xd0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0}) // 2000-01-01
	h.WriteString("acsp")
	h.Write(make([]byte, 4+4+4+4+8+4)) // platform, flags, maker, model, attributes, intent
	h.Write(slices.Concat(s15(0.9642), s15(1.0), s15(0.8249)))
	h.Write(make([]byte, 4+16+28)) // creator, ID, reserved
	return slices.Concat(h.Bytes(), table.Bytes(), data.Bytes())
}
