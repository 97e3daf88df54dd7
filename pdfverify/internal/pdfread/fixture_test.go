package pdfread

import (
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf16"
)

// The reference form used by the tests: text fields with the names of the
// revocation request form, one hierarchy (entreprise.siren,
// entreprise.raison_sociale, whose /FT is inherited), one field with two
// widgets (date), values in PDFDocEncoding and in UTF-16.
const (
	objCatalog  = 1
	objPages    = 2
	objPage     = 3
	objAcroForm = 4
	objMetadata = 5
	objFont     = 6
	objContent  = 7
)

// formField is one terminal field of the reference form.
type formField struct {
	name, value string
}

// wantForm is what Fields must return for the reference form.
var wantForm = []formField{
	{"titulaire_nom", "Dupont"},
	{"titulaire_prenom", "Jérôme"},
	{"certificat_numero_serie", "0a1b2c3d"},
	{"raison", "Cessation d'activité"},
	{"demandeur_qualite", "Représentant légal"},
	{"entreprise.siren", "123456789"},
	{"entreprise.raison_sociale", "Œuvre € “SARL”"},
	{"date", "2026-11-02"},
}

// pdfDoc encodes s in PDFDocEncoding as a literal string.
func pdfDoc(s string) string {
	var b strings.Builder
	b.WriteByte('(')
	for _, r := range s {
		c := -1
		for i, m := range pdfDocEncoding {
			if m == r && r != 0 {
				c = i
				break
			}
		}
		if c < 0 {
			panic(fmt.Sprintf("%q not in PDFDocEncoding", r))
		}
		switch {
		case c == '(' || c == ')' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(byte(c))
		case c >= 0x80:
			fmt.Fprintf(&b, "\\%03o", c)
		default:
			b.WriteByte(byte(c))
		}
	}
	b.WriteByte(')')
	return b.String()
}

// utf16Hex encodes s as a UTF-16BE hex string with its byte order mark.
func utf16Hex(s string) string {
	var raw []byte
	raw = append(raw, 0xfe, 0xff)
	for _, u := range utf16.Encode([]rune(s)) {
		raw = append(raw, byte(u>>8), byte(u))
	}
	return "<" + strings.ToUpper(hex.EncodeToString(raw)) + ">"
}

func widget(rect string) string {
	return "/Type/Annot/Subtype/Widget/P 3 0 R/F 4/Rect[" + rect + "]/DA(/Helv 10 Tf 0 g)"
}

const xmpPDFA2B = `<?xpacket begin="` + "\xef\xbb\xbf" + `" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/" pdfaid:part="2" pdfaid:conformance="B"/>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>`

// formObjects returns the dictionaries of the reference form's objects
// other than the metadata and content streams, with nomValue as the
// value of titulaire_nom.
func formObjects(nomValue string) []numBody {
	// Terminal fields merged with their widget, numbered from 10.
	simple := []struct {
		num  int
		name string
		v    string
	}{
		{10, "titulaire_nom", pdfDoc(nomValue)},
		{11, "titulaire_prenom", pdfDoc("Jérôme")},
		{12, "certificat_numero_serie", "<30613162326333 64>"},
		{13, "raison", pdfDoc("Cessation d'activité")},
		{14, "demandeur_qualite", utf16Hex("Représentant légal")},
	}
	var objs []numBody
	var annots []string
	for i, f := range simple {
		objs = append(objs, numBody{f.num, fmt.Sprintf("<</FT/Tx/T(%s)/V %s%s>>", f.name, f.v, widget(fmt.Sprintf("100 %d 300 %d", 700-30*i, 720-30*i)))})
		annots = append(annots, fmt.Sprintf("%d 0 R", f.num))
	}
	objs = append(objs,
		// entreprise: a non-terminal field; its kids inherit /FT.
		numBody{20, "<</FT/Tx/T(entreprise)/Kids[21 0 R 22 0 R]>>"},
		numBody{21, "<</Parent 20 0 R/T(siren)/V 23 0 R" + widget("100 500 300 520") + ">>"},
		numBody{22, "<</Parent 20 0 R/T " + utf16Hex("raison_sociale") + "/V " + pdfDoc("Œuvre € “SARL”") + widget("100 470 300 490") + ">>"},
		numBody{23, "(123456789)"},
		// date: one field, two widgets.
		numBody{24, "<</FT/Tx/T(date)/V(2026-11-02)/Kids[25 0 R 26 0 R]>>"},
		numBody{25, "<</Parent 24 0 R" + widget("100 440 300 460") + ">>"},
		numBody{26, "<</Parent 24 0 R" + widget("100 410 300 430") + ">>"},
	)
	annots = append(annots, "21 0 R", "22 0 R", "25 0 R", "26 0 R")
	objs = append(objs,
		numBody{objCatalog, "<</Type/Catalog/Pages 2 0 R/AcroForm 4 0 R/Metadata 5 0 R>>"},
		numBody{objPages, "<</Type/Pages/Kids[3 0 R]/Count 1>>"},
		numBody{objPage, "<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Resources<</Font<</Helv 6 0 R>>>>/Contents 7 0 R/Annots[" + strings.Join(annots, " ") + "]>>"},
		numBody{objAcroForm, "<</Fields[10 0 R 11 0 R 12 0 R 13 0 R 14 0 R 20 0 R 24 0 R]/DA(/Helv 0 Tf 0 g)/DR<</Font<</Helv 6 0 R>>>>>>"},
		numBody{objFont, "<</Type/Font/Subtype/Type1/BaseFont/Helvetica/Encoding/WinAnsiEncoding>>"},
	)
	return objs
}

// writeStreams writes the metadata and page content streams; padding
// bytes of comment are added to the content to make the file larger.
func writeStreams(w *testWriter, padding int) {
	w.stream(objMetadata, "/Type/Metadata/Subtype/XML", []byte(xmpPDFA2B))
	content := []byte("BT /Helv 12 Tf 72 760 Td (Demande de revocation) Tj ET\n")
	for len(content) < padding {
		content = append(content, "% padding padding padding padding padding padding padding padding\n"...)
	}
	w.stream(objContent, "", content)
}

const trailerRoot = "/Root 1 0 R"

// layout is one way of writing the reference form.
type layout struct {
	name  string
	build func() []byte
}

// formLayouts writes the reference form with each cross-reference
// construct the reader supports.
var formLayouts = []layout{
	{"classic", func() []byte {
		w := newTestWriter()
		for _, o := range formObjects("Dupont") {
			w.obj(o.num, o.body)
		}
		writeStreams(w, 0)
		w.table(trailerRoot)
		return w.bytes()
	}},
	{"xref-stream", func() []byte {
		w := newTestWriter()
		for _, o := range formObjects("Dupont") {
			w.obj(o.num, o.body)
		}
		writeStreams(w, 0)
		w.xrefStream(30, trailerRoot, true)
		return w.bytes()
	}},
	{"xref-stream-unfiltered", func() []byte {
		w := newTestWriter()
		for _, o := range formObjects("Dupont") {
			w.obj(o.num, o.body)
		}
		writeStreams(w, 0)
		w.xrefStream(30, trailerRoot, false)
		return w.bytes()
	}},
	{"object-streams", func() []byte {
		w := newTestWriter()
		objs := formObjects("Dupont")
		w.objStm(40, objs[:7])
		w.objStm(41, objs[7:])
		writeStreams(w, 0)
		w.xrefStream(30, trailerRoot, true)
		return w.bytes()
	}},
	{"hybrid", func() []byte {
		w := newTestWriter()
		objs := formObjects("Dupont")
		w.objStm(40, objs[:10])
		for _, o := range objs[10:] {
			w.obj(o.num, o.body)
		}
		writeStreams(w, 0)
		w.hybrid(30, trailerRoot)
		return w.bytes()
	}},
	{"incremental-update", func() []byte {
		return incremental()
	}},
	{"incremental-update-xref-stream", func() []byte {
		w := newTestWriter()
		objs := formObjects("Durand")
		w.objStm(40, objs)
		writeStreams(w, 0)
		w.xrefStream(30, trailerRoot, true)
		// The update rewrites titulaire_nom in a new object stream.
		w.objStm(42, []numBody{formObjects("Dupont")[0]})
		w.xrefStream(31, trailerRoot, true)
		return w.bytes()
	}},
}

// incremental writes the reference form with titulaire_nom "Durand", then
// an incremental update that sets it to "Dupont". It returns the file and
// the end of the first revision.
func incrementalRevisions(padding int) ([]byte, int) {
	w := newTestWriter()
	for _, o := range formObjects("Durand") {
		w.obj(o.num, o.body)
	}
	writeStreams(w, padding)
	w.table(trailerRoot)
	w.obj(10, formObjects("Dupont")[0].body)
	w.table(trailerRoot)
	return w.bytes(), w.eofs[0]
}

func incremental() []byte {
	b, _ := incrementalRevisions(0)
	return b
}
