package pdfverify_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"testing"

	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
	"github.com/revokd/revokd/pdfverify"
)

// BenchmarkVerify measures one in-process verification of a signed form of
// about 100 KB and 5 MB. Revocation evidence is embedded (an OCSP response
// in the CMS) so that the figure is the verifier's, not the network's.
func BenchmarkVerify(b *testing.B) {
	w := getWorld(b)
	h := w.holders[testpki.ECDSAP256]
	ocsp, err := w.pki.OCSPResponse(h.Cert)
	if err != nil {
		b.Fatal(err)
	}
	crl, err := w.pki.CRL(w.pki.Root)
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(w.pki.Root.Cert)
	opts := &pdfverify.Options{Roots: roots, CurrentTime: now}
	for _, size := range []int{100 << 10, 5 << 20} {
		form, err := testsign.Form(formValues, testsign.FormOptions{PadTo: size})
		if err != nil {
			b.Fatal(err)
		}
		o := signWith(h)
		o.SubFilter = "ETSI.CAdES.detached"
		o.OCSPs, o.CRLs = [][]byte{ocsp}, [][]byte{crl}
		signed, err := testsign.Sign(form, o)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("size=%dKB", len(signed)>>10), func(b *testing.B) {
			rep, err := pdfverify.Verify(context.Background(), signed, opts)
			if err != nil || !rep.Accepted() {
				b.Fatalf("Verify = %v, %v (%s): the benchmark must measure an accepted file", rep.Indication, err, rep.Reason)
			}
			b.SetBytes(int64(len(signed)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := pdfverify.Verify(context.Background(), signed, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
