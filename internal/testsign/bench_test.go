package testsign

import (
	"testing"

	"github.com/revokd/revokd/internal/testpki"
)

func BenchmarkForm(b *testing.B) {
	for _, bc := range []struct {
		name string
		o    FormOptions
	}{{"plain", FormOptions{}}, {"100KB", FormOptions{PadTo: 100 << 10}}, {"5MB", FormOptions{PadTo: 5 << 20}}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Form(sampleValues, bc.o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	f := newFixture(b, testpki.RSA2048)
	o := f.signOptions()
	for _, bc := range []struct {
		name string
		o    FormOptions
	}{{"100KB", FormOptions{PadTo: 100 << 10}}, {"5MB", FormOptions{PadTo: 5 << 20}}} {
		form := mustForm(b, bc.o)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(form)))
			for b.Loop() {
				if _, err := Sign(form, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
