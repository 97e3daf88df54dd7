package testsign

import (
	"errors"
	"fmt"
	"time"
)

// LTVOptions say what AddLTV writes beside the DSS, each as a real
// producer does in the revisions that follow a signature (pyHanko, Adobe
// Acrobat's "add verification information", PDFBox).
type LTVOptions struct {
	// Certs, CRLs and OCSPs go into the DSS (DER).
	Certs, CRLs, OCSPs [][]byte
	// RestateFreeHead lists object 0 as free (0000000000 65535 f) in the
	// update's cross-reference section.
	RestateFreeHead bool
	// RewriteMetadata redefines the catalog's XMP stream in place with a
	// new MetadataDate, as pyHanko does in each revision it writes.
	RewriteMetadata bool
	// NewMetadata points the catalog's /Metadata at a new XMP stream.
	NewMetadata bool
	// Metadata, when not nil, is the XMP written instead of a genuine
	// packet (for forgeries).
	Metadata []byte
	// Extensions adds the catalog's /Extensions /ESIC (PAdES DSS).
	Extensions bool
	// Info gives the trailer a new /Info dictionary (producer, date).
	Info bool
	// InfoValue, when not nil, is added to /Info as /Subject (forgeries
	// pass a reference here).
	InfoValue any
	// Orphan adds an object nothing refers to.
	Orphan bool
	// Free lists signed objects the update marks free (forgeries).
	Free []int
}

// AddLTV appends an incremental update that adds validation data to the
// catalog's /DSS and the other changes o asks for.
func AddLTV(pdf []byte, o LTVOptions) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, fmt.Errorf("reading the document: %w", err)
	}
	root, catalog, err := catalogCopy(doc)
	if err != nil {
		return nil, err
	}
	u := newUpdate(doc)
	dss := newDict("Type", pdfName("DSS"))
	for _, part := range []struct {
		key  pdfName
		objs [][]byte
	}{{"Certs", o.Certs}, {"CRLs", o.CRLs}, {"OCSPs", o.OCSPs}} {
		var arr pdfArray
		for _, b := range part.objs {
			arr = append(arr, u.add(&pdfStream{dict: newDict(), data: b}))
		}
		if len(arr) > 0 {
			dss.set(part.key, arr)
		}
	}
	catalog.set("DSS", u.add(dss))
	xmp := o.Metadata
	if xmp == nil {
		xmp = xmpPacket(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	}
	meta := &pdfStream{dict: newDict("Type", pdfName("Metadata"), "Subtype", pdfName("XML")), data: xmp}
	switch {
	case o.RewriteMetadata:
		r, ok := catalog.get("Metadata").(pdfRef)
		if !ok {
			return nil, errors.New("catalog has no /Metadata reference")
		}
		u.set(r.num, meta)
	case o.NewMetadata:
		catalog.set("Metadata", u.add(meta))
	}
	if o.Extensions {
		catalog.set("Extensions", newDict("ESIC", newDict("BaseVersion", pdfName("1.7"), "ExtensionLevel", 5)))
	}
	if o.Info {
		info := newDict("Producer", pdfString{b: []byte("revokd test LTV")}, "ModDate", pdfString{b: []byte("D:20261126090000Z")})
		if o.InfoValue != nil {
			info.set("Subject", o.InfoValue)
		}
		u.trailer = newDict("Info", u.add(info))
	}
	if o.Orphan {
		u.add(newDict("Type", pdfName("Annot"), "Subtype", pdfName("Text"), "Contents", pdfString{b: []byte("draft")}))
	}
	u.set(root.num, catalog)
	if o.RestateFreeHead {
		u.free = append(u.free, 0)
	}
	u.free = append(u.free, o.Free...)
	out, _ := u.write()
	return out, nil
}

// xmpPacket is an XMP packet as a producer rewrites it after signing.
func xmpPacket(at time.Time) []byte {
	return []byte(`<?xpacket begin="` + "\ufeff" + `" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
<xmp:MetadataDate>` + at.Format(time.RFC3339) + `</xmp:MetadataDate><pdfaid:part>2</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>`)
}

// RawPDF is PDF syntax written as it is, for LTVOptions.InfoValue.
func RawPDF(s string) any { return rawObject(s) }
