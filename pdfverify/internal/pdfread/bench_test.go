package pdfread

import (
	"fmt"
	"testing"
)

// Benchmarks on the reference form with one incremental update, padded to
// the sizes the verifier is budgeted for: a 100 KB form and a 5 MB one.
// The padding is one page content stream, which the reader never decodes.

func benchFile(b *testing.B, size int) []byte {
	b.Helper()
	data, _ := incrementalRevisions(size)
	return data
}

func BenchmarkOpen(b *testing.B) {
	for _, size := range []int{100 << 10, 5 << 20} {
		data := benchFile(b, size)
		b.Run(fmt.Sprintf("%dKB", len(data)>>10), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Open(data, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadForm is what the verifier does for the form's content:
// open, read the catalog, the fields and the PDF/A claim.
func BenchmarkReadForm(b *testing.B) {
	for _, size := range []int{100 << 10, 5 << 20} {
		data := benchFile(b, size)
		b.Run(fmt.Sprintf("%dKB", len(data)>>10), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				f, err := Open(data, Limits{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.Fields(); err != nil {
					b.Fatal(err)
				}
				if _, _, err := f.PDFAIdentification(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadFormLayouts compares the cross-reference constructs.
func BenchmarkReadFormLayouts(b *testing.B) {
	for _, l := range formLayouts {
		data := l.build()
		b.Run(l.name, func(b *testing.B) {
			for b.Loop() {
				f, err := Open(data, Limits{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.Fields(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
