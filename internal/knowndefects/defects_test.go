package knowndefects

import (
	"bytes"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digitorus/pdfsign/verify"
	"github.com/pdfcpu/pdfcpu/pkg/api"

	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
)

// pdfsign/verify takes its trust anchors from the process environment
// only, so this test binary points SSL_CERT_FILE at the test CA before
// anything loads the system roots.
var (
	pki       *testpki.PKI
	genuine   []byte
	signerOpt testsign.SignOptions
	form      []byte
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	now := time.Now()
	if pki, err = testpki.New(testpki.Options{Now: now, NoServer: true}); err != nil {
		panic(err)
	}
	defer pki.Close()
	dir, err := os.MkdirTemp("", "knowndefects")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	roots := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Root.Cert.Raw}), 0o600); err != nil {
		panic(err)
	}
	os.Setenv("SSL_CERT_FILE", roots)
	h, err := pki.IssueHolder(testpki.HolderOptions{KeyType: testpki.RSA2048, GivenName: "Hélène", Surname: "Dupont",
		Email: "helene.dupont@example.fr", IdentitySerial: "1", Organization: "Société Exemple", SIREN: "732829320"})
	if err != nil {
		panic(err)
	}
	signerOpt = testsign.SignOptions{Key: h.Key, Cert: h.Cert, Chain: h.Chain, SigningTime: now}
	if form, err = testsign.Form(map[string]string{"certificat_numero_serie": "0a1b2c3d", "raison": "Clé privée compromise"}, testsign.FormOptions{}); err != nil {
		panic(err)
	}
	if genuine, err = testsign.Sign(form, signerOpt); err != nil {
		panic(err)
	}
	return m.Run()
}

func pdfsignVerdict(t *testing.T, data []byte) (valid, trusted bool) {
	t.Helper()
	opts := verify.DefaultVerifyOptions()
	opts.RequiredEKUs, opts.AllowedEKUs = nil, nil // our holders carry no EKU
	resp, err := verify.VerifyWithOptions(bytes.NewReader(data), int64(len(data)), opts)
	if err != nil || resp == nil || len(resp.Signers) == 0 {
		t.Fatalf("pdfsign/verify: %v (%+v)", err, resp)
	}
	s := resp.Signers[0]
	return s.ValidSignature, s.TrustedIssuer
}

// TestPdfsignMissesAppendedRevision: a field changed in a revision appended
// after signing still reads as valid and trusted.
func TestPdfsignMissesAppendedRevision(t *testing.T) {
	if valid, trusted := pdfsignVerdict(t, genuine); !valid || !trusted {
		t.Fatalf("pdfsign/verify on the genuine file: valid %v trusted %v; the set-up is wrong", valid, trusted)
	}
	forged, err := testsign.ChangeFieldAfterSigning(genuine, "certificat_numero_serie", "deadbeef")
	if err != nil {
		t.Fatal(err)
	}
	if valid, trusted := pdfsignVerdict(t, forged); !valid || !trusted {
		t.Errorf("pdfsign/verify now rejects the appended revision (valid %v trusted %v): look at it again", valid, trusted)
	}
}

// TestPdfsignTrustsSelfSignedBesideGenuineChain: a self-signed signer whose
// CMS also carries the genuine holder's chain reads as trusted.
func TestPdfsignTrustsSelfSignedBesideGenuineChain(t *testing.T) {
	key, cert, err := testsign.Impersonate(signerOpt.Cert)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := testsign.SelfSignedWithGenuineChain(form, signerOpt, key, cert)
	if err != nil {
		t.Fatal(err)
	}
	if valid, trusted := pdfsignVerdict(t, forged); !valid || !trusted {
		t.Errorf("pdfsign/verify now distrusts the self-signed signer (valid %v trusted %v): look at it again", valid, trusted)
	}
}

// TestPdfcpuFormFieldsReadsLatestRevision: api.FormFields shows the value a
// forger appended, not the one that was signed.
func TestPdfcpuFormFieldsReadsLatestRevision(t *testing.T) {
	forged, err := testsign.ChangeFieldAfterSigning(genuine, "certificat_numero_serie", "deadbeef")
	if err != nil {
		t.Fatal(err)
	}
	fields, err := api.FormFields(bytes.NewReader(forged), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		if f.Name == "certificat_numero_serie" {
			if f.V != "deadbeef" {
				t.Errorf("pdfcpu now reads %q, not the appended value: look at it again", f.V)
			}
			return
		}
	}
	t.Fatal("pdfcpu did not list certificat_numero_serie")
}
