package pdfread

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// pdfaidNS is the XMP namespace of the PDF/A identification schema
// (ISO 19005-1, 6.7.11).
const pdfaidNS = "http://www.aiim.org/pdfa/ns/id/"

// PDFAIdentification returns the PDF/A part and conformance level that the
// catalog's /Metadata XMP stream claims (pdfaid:part and
// pdfaid:conformance, written as attributes or as elements), or "" for
// what it does not claim. It reads a claim; it does not check that the file
// conforms. Two different values for the same property are a *FormatError.
func (f *File) PDFAIdentification() (part, conformance string, err error) {
	cat, err := f.Catalog()
	if err != nil {
		return "", "", err
	}
	mo, err := f.Resolve(cat["Metadata"])
	if err != nil {
		return "", "", fmt.Errorf("reading /Metadata: %w", err)
	}
	if mo == nil {
		return "", "", nil
	}
	s, ok := mo.(*Stream)
	if !ok {
		return "", "", formatErr(0, "catalog /Metadata is not a stream")
	}
	data, err := f.Decode(s)
	if err != nil {
		return "", "", fmt.Errorf("decoding /Metadata: %w", err)
	}
	return pdfaID(data, f.lim.MaxDepth)
}

// pdfaID finds the PDF/A identification in an XMP packet.
func pdfaID(data []byte, maxDepth int) (part, conformance string, err error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	d := xml.NewDecoder(bytes.NewReader(data))
	var (
		vals  = map[string]string{}
		depth int
		cur   string // the pdfaid property whose element is open, if any
		text  strings.Builder
	)
	set := func(prop, v string) error {
		v = strings.TrimSpace(v)
		if old, ok := vals[prop]; ok && old != v {
			return formatErr(0, "XMP metadata claims pdfaid:%s both %q and %q", prop, old, v)
		}
		vals[prop] = v
		return nil
	}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", "", formatErr(0, "XMP metadata: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxDepth {
				return "", "", limitErr(0, "XMP metadata nested deeper than %d", maxDepth)
			}
			for _, a := range t.Attr {
				if a.Name.Space == pdfaidNS && (a.Name.Local == "part" || a.Name.Local == "conformance") {
					if err := set(a.Name.Local, a.Value); err != nil {
						return "", "", err
					}
				}
			}
			if t.Name.Space == pdfaidNS && (t.Name.Local == "part" || t.Name.Local == "conformance") {
				cur = t.Name.Local
				text.Reset()
			}
		case xml.CharData:
			if cur != "" {
				text.Write(t)
			}
		case xml.EndElement:
			depth--
			if cur != "" && t.Name.Space == pdfaidNS && t.Name.Local == cur {
				if err := set(cur, text.String()); err != nil {
					return "", "", err
				}
				cur = ""
			}
		}
	}
	return vals["part"], vals["conformance"], nil
}
