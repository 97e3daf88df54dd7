package testsign

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mozilla.org/pkcs7"
)

// fixtureDir holds the files testdata/pdfsig/make.sh made with pdfsig.
const fixtureDir = "../../testdata/pdfsig"

// fixtureValidationTime is the validation time its README.txt prescribes.
var fixtureValidationTime = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func readPEMCert(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", name)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPdfsigFixtures checks the committed pdfsig fixtures against their
// README: they verify to root.pem at the fixed validation time, and the
// form names the holder's certificate.
func TestPdfsigFixtures(t *testing.T) {
	root := readPEMCert(t, "root.pem")
	holder := readPEMCert(t, "holder.pem")
	roots := x509.NewCertPool()
	roots.AddCert(root)
	for _, name := range []string{"signed-field.pdf", "signed-new-field.pdf"} {
		t.Run("ok/"+name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(fixtureDir, name))
			if err != nil {
				t.Fatal(err)
			}
			qpdfCheck(t, b)
			var signed []sigInfo
			for _, s := range readSignatures(t, b) {
				if s.byteRange != nil {
					signed = append(signed, s)
				}
			}
			if len(signed) != 1 {
				t.Fatalf("%d signatures, want 1", len(signed))
			}
			s := signed[0]
			if end := s.byteRange[2] + s.byteRange[3]; end != int64(len(b)) {
				t.Errorf("signature covers %d of %d bytes", end, len(b))
			}
			p7, err := pkcs7.Parse(s.contents)
			if err != nil {
				t.Fatal(err)
			}
			p7.Content = s.covered(b)
			if err := p7.VerifyWithChainAtTime(roots, fixtureValidationTime); err != nil {
				t.Errorf("verifying to root.pem at %v: %v", fixtureValidationTime, err)
			}
			if !p7.GetOnlySigner().Equal(holder) {
				t.Errorf("signer is not holder.pem")
			}
			got := formValues(t, b)["certificat_numero_serie"]
			if want := strings.ToLower(holder.SerialNumber.Text(16)); got != want {
				t.Errorf("certificat_numero_serie = %q, want the holder's serial %q", got, want)
			}
		})
	}
}
