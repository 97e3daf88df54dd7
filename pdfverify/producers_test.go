package pdfverify_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/revokd/revokd/internal/pdfsignproducer"
	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
	"github.com/revokd/revokd/pdfverify"
)

// pdfsigFixtureTime is the validation time testdata/pdfsig/README.txt gives.
var pdfsigFixtureTime = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// TestIndependentProducerPdfsig verifies the files poppler's pdfsig signed
// (testdata/pdfsig). Their certificates name no CRL or OCSP service and no
// revocation data is embedded: with the CRLs kept beside them as the CRL
// folder they pass; without, the honest outcome is INDETERMINATE
// (TRY_LATER) with every other check passed.
func TestIndependentProducerPdfsig(t *testing.T) {
	dir := filepath.Join("..", "testdata", "pdfsig")
	rootPEM, err := os.ReadFile(filepath.Join(dir, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(rootPEM)
	root, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	holderPEM, err := os.ReadFile(filepath.Join(dir, "holder.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ = pem.Decode(holderPEM)
	holder, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	for _, name := range []string{"signed-field.pdf", "signed-new-field.pdf"} {
		t.Run("ok/"+name+"/with-crl-folder", func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			rep := verify(t, data, &pdfverify.Options{Roots: roots, CurrentTime: pdfsigFixtureTime,
				Revocation: pdfverify.NewRevocationSource(pdfverify.RevocationOptions{CRLDir: filepath.Join(dir, "crl")})})
			if !rep.Accepted() {
				t.Fatalf("Verify = %s/%s (%s), want TOTAL_PASSED", rep.Indication, rep.SubIndication, rep.Reason)
			}
			if s := rep.DecisiveSignature(); s.RevocationSource != "crl-dir" {
				t.Errorf("RevocationSource = %q, want crl-dir", s.RevocationSource)
			}
		})
		t.Run("indeterminate/"+name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			rep := verify(t, data, &pdfverify.Options{Roots: roots, CurrentTime: pdfsigFixtureTime})
			if rep.Indication != pdfverify.Indeterminate || rep.SubIndication != pdfverify.TryLater {
				t.Fatalf("Verify = %s/%s (%s), want INDETERMINATE/TRY_LATER", rep.Indication, rep.SubIndication, rep.Reason)
			}
			s := rep.DecisiveSignature()
			for _, c := range s.Checks {
				if c.Outcome == pdfverify.Failed || (c.Outcome == pdfverify.Unknown && c.Name != "revocation") {
					t.Errorf("check %s = %s (%s), want passed", c.Name, c.Outcome, c.Detail)
				}
			}
			if s.Signer == nil || s.Signer.SerialNumber != strings.ToLower(holder.SerialNumber.Text(16)) {
				t.Errorf("signer = %+v, want holder.pem", s.Signer)
			}
			if got, want := rep.Form["certificat_numero_serie"], strings.ToLower(holder.SerialNumber.Text(16)); got != want {
				t.Errorf("Form[certificat_numero_serie] = %q, want %q", got, want)
			}
		})
	}
}

// TestIndependentProducerPdfsign verifies a file signed by
// github.com/digitorus/pdfsign/sign, which writes adbe.pkcs7.detached only
// and drops form fields, hence a plain PDF.
func TestIndependentProducerPdfsign(t *testing.T) {
	w := getWorld(t)
	h := w.holders[testpki.RSA2048]
	signed, err := pdfsignproducer.Sign(testsign.Plain("Demande de révocation"), h.Key, h.Cert, h.Chain, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rep := verify(t, signed, w.opts())
	if !rep.Accepted() {
		t.Fatalf("Verify = %s/%s (%s), want TOTAL_PASSED", rep.Indication, rep.SubIndication, rep.Reason)
	}
	if len(rep.Form) != 0 {
		t.Errorf("Form = %v, want no field", rep.Form)
	}
}
