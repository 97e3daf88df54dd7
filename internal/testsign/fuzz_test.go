package testsign

import (
	"bytes"
	"fmt"
	"testing"
)

// miniPDF writes a classic file whose object i+1 has the body objs[i] and
// whose catalog is object 1.
func miniPDF(objs ...string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	x := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f\r\n", len(objs)+1)
	for _, off := range offs {
		fmt.Fprintf(&b, "%010d 00000 n\r\n", off)
	}
	fmt.Fprintf(&b, "trailer\n<</Size %d /Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, x)
	return b.Bytes()
}

// hostileSeeds are structures that would make a naive reader loop.
var hostileSeeds = map[string][]byte{
	"self-length":  miniPDF("<</Type/Catalog>>", "<</Length 2 0 R>>\nstream\nxx\nendstream"),
	"field-cycle":  miniPDF("<</AcroForm<</Fields[2 0 R]>>>>", "<</T(a)/Kids[2 0 R 2 0 R 3 0 R]>>", "<</T(b)/Kids[2 0 R]>>"),
	"page-cycle":   miniPDF("<</Pages 2 0 R>>", "<</Type/Pages/Kids[2 0 R]>>"),
	"ref-loop":     miniPDF("<</AcroForm 2 0 R>>", "3 0 R", "2 0 R"),
	"prev-loop":    append(miniPDF("<<>>"), []byte("trailer\n<</Prev 9>>\n")...),
	"deep-nesting": miniPDF("<</A " + string(bytes.Repeat([]byte("["), 10000)) + ">>"),
}

func TestHostileStructures(t *testing.T) {
	for name, b := range hostileSeeds {
		t.Run("fail/"+name, func(t *testing.T) {
			doc, err := parseDocument(b)
			if err != nil {
				return
			}
			for n := range doc.entries {
				_, _ = doc.get(n)
			}
			_, _ = fieldNames(doc)
			_, _, _ = firstPage(doc)
			if _, err := Sign(b, SignOptions{}); err == nil {
				t.Errorf("Sign succeeded on a hostile file")
			}
		})
	}
}

// FuzzParseDocument feeds mangled forms to the reader that Sign and the
// attacks use: it may reject them, never panic or hang.
func FuzzParseDocument(f *testing.F) {
	for _, o := range []FormOptions{{}, {XRefStream: true}} {
		b, err := Form(sampleValues, o)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(Garbage(512, 1))
	for _, b := range hostileSeeds {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := parseDocument(b)
		if err != nil {
			return
		}
		for n := range doc.entries {
			_, _ = doc.get(n)
		}
		_, _ = fieldNames(doc)
		_, _, _ = firstPage(doc)
	})
}
