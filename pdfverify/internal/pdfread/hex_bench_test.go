package pdfread

import (
	"bytes"
	"testing"
)

// BenchmarkHexString decodes a 32 KB hex string, the size of a signature's
// /Contents with its chain and revocation evidence.
func BenchmarkHexString(b *testing.B) {
	src := append([]byte{'<'}, bytes.Repeat([]byte("3082a1Ff"), 4096)...)
	src = append(src, '>')
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		p := &parser{data: src}
		if _, err := p.hex(); err != nil {
			b.Fatal(err)
		}
	}
}
