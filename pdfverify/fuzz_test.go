package pdfverify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
	"github.com/revokd/revokd/pdfverify"
)

// FuzzVerify feeds mutated signed files to the whole verifier: it must
// return a report, never accept a file the seeds do not make, and never
// hit the panic guard (which would show as an "internal error" check).
func FuzzVerify(f *testing.F) {
	// Seeds are committed files only: every fuzz worker runs this set-up,
	// and generating keys under the fuzzer's coverage instrumentation takes
	// minutes.
	dir := filepath.Join("..", "testdata", "pdfsig")
	seeds, _ := filepath.Glob(filepath.Join(dir, "*.pdf"))
	if len(seeds) == 0 {
		f.Fatal("no seed in testdata/pdfsig")
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	addShapes(f, filepath.Join(dir, "form.pdf"))
	rootPEM, err := os.ReadFile(filepath.Join(dir, "root.pem"))
	if err != nil {
		f.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	// Files that break the algorithm rules or trust a party they should
	// not, verified at the same time.
	addCryptoSeeds(f, roots)
	// No revocation source: the fuzzer touches no network.
	opts := &pdfverify.Options{Roots: roots, CurrentTime: pdfsigFixtureTime, TimeBudget: 5 * time.Second}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := pdfverify.Verify(context.Background(), data, opts)
		if err != nil {
			t.Fatalf("Verify returned an error for file input: %v", err)
		}
		if rep.Indication == "" || (rep.Indication != pdfverify.TotalPassed && rep.Reason == "") {
			t.Fatalf("incomplete report: %+v", rep)
		}
		if rep.SubIndication == pdfverify.InternalError {
			t.Fatalf("the verifier panicked: %s", rep.Reason)
		}
		for _, c := range rep.Checks {
			if strings.Contains(c.Detail, "internal error") {
				t.Fatalf("the parser panicked: %s", c.Detail)
			}
		}
	})
}

func TestTimeBudget(t *testing.T) {
	w := getWorld(t)
	o := w.opts()
	o.TimeBudget = time.Nanosecond
	rep := verify(t, mustSign(t, w.form, signWith(w.holders[testpki.ECDSAP256])), o)
	if rep.Accepted() || rep.SubIndication != pdfverify.FormatFailure || !hasCheck(rep, "time-budget") {
		t.Errorf("Verify over its time budget = %s/%s (%s), want FORMAT_FAILURE from the time-budget check", rep.Indication, rep.SubIndication, rep.Reason)
	}
}

func TestPDFAClaim(t *testing.T) {
	w := getWorld(t)
	form, err := testsign.Form(formValues, testsign.FormOptions{NoPDFA: true})
	if err != nil {
		t.Fatal(err)
	}
	rep := verify(t, mustSign(t, form, signWith(w.holders[testpki.ECDSAP256])), w.opts())
	if !rep.Accepted() || rep.PDFA != "" {
		t.Errorf("form without PDF/A claim: accepted %v, PDFA %q; want accepted with no claim", rep.Accepted(), rep.PDFA)
	}
}

// addShapes seeds the fuzzer with the forgeries of the structure and
// appearance rules and the updates producers append after signing, signed
// with a throwaway ECDSA certificate (an RSA key takes minutes to make
// under the fuzzer's instrumentation; an EC key does not).
func addShapes(f *testing.F, formPath string) {
	form, err := os.ReadFile(formPath)
	if err != nil {
		f.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fuzz"},
		NotBefore: pdfsigFixtureTime.Add(-time.Hour), NotAfter: pdfsigFixtureTime.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		f.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		f.Fatal(err)
	}
	sign := func(b []byte) []byte {
		out, err := testsign.Sign(b, testsign.SignOptions{Key: key, Cert: cert, SigningTime: pdfsigFixtureTime, ContentsSize: 2048})
		if err != nil {
			f.Fatal(err)
		}
		return out
	}
	for _, forge := range []func([]byte, string, string) ([]byte, error){
		testsign.HideFieldInXRefStm, testsign.DuplicateFieldObject,
		testsign.AppearanceShows, testsign.AppearanceInNestedForm, testsign.HiddenFieldPageShows,
	} {
		b, err := forge(form, "certificat_numero_serie", "deadbeef")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(sign(b))
	}
	signed := sign(form)
	for _, o := range []testsign.LTVOptions{
		{Certs: [][]byte{der}, RestateFreeHead: true, RewriteMetadata: true, Extensions: true, Info: true, Orphan: true},
		{NewMetadata: true, Metadata: []byte("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")},
	} {
		b, err := testsign.AddLTV(signed, o)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(sign(append(append([]byte{}, form...), "\n% 7 0 obj stray\n"...)))
}
