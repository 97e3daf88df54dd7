package testsign

import (
	"bytes"
	"fmt"
)

// Plain returns a one-page PDF with the given lines of text and nothing
// else: no form, no metadata. It is the input internal/pdfsignproducer is meant for.
func Plain(lines ...string) []byte {
	var l objList
	catalog := l.reserve()
	pages := l.reserve()
	page := l.reserve()
	font := l.add(newDict("Type", pdfName("Font"), "Subtype", pdfName("Type1"),
		"BaseFont", pdfName("Helvetica"), "Encoding", pdfName("WinAnsiEncoding")))
	var c bytes.Buffer
	for i, line := range lines {
		fmt.Fprintf(&c, "BT /F1 12 Tf 50 %d Td ", 790-16*i)
		showText(&c, line)
		c.WriteString(" Tj ET\n")
	}
	contents := l.add(&pdfStream{dict: newDict(), data: c.Bytes()})
	l.put(page, newDict(
		"Type", pdfName("Page"),
		"Parent", pages,
		"MediaBox", pdfArray{0, 0, pageWidth, pageHeight},
		"Resources", newDict("Font", newDict("F1", font)),
		"Contents", contents,
	))
	l.put(pages, newDict("Type", pdfName("Pages"), "Kids", pdfArray{page}, "Count", 1))
	l.put(catalog, newDict("Type", pdfName("Catalog"), "Pages", pages))
	return writeFile(l.objs, newDict("Root", catalog), false)
}
