package pdfverify_test

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
	"github.com/revokd/revokd/pdfverify"
)

var updateCryptoSeeds = flag.Bool("update-crypto-seeds", false, "rewrite testdata/crypto from a new test PKI")

// cryptoSeedDir holds signed files that break the algorithm rules or
// trust a party they should not, committed so that FuzzVerify starts from
// them without generating keys under coverage instrumentation. They carry
// their revocation evidence and are verified offline at pdfsigFixtureTime.
var cryptoSeedDir = filepath.Join("..", "testdata", "crypto")

// cryptoSeeds are the files of cryptoSeedDir and the outcome each must get.
var cryptoSeeds = []struct {
	file  string
	sub   pdfverify.SubIndication // "" wants TOTAL_PASSED
	check string
	make  func(s *seedPKI) (testsign.SignOptions, error)
}{
	{"genuine-timestamped.pdf", "", "", func(s *seedPKI) (testsign.SignOptions, error) {
		return s.sign(testpki.HolderOptions{}, s.pki.TSA)
	}},
	{"rsa1024-signer.pdf", pdfverify.CryptoConstraintsFailed, "algorithms", func(s *seedPKI) (testsign.SignOptions, error) {
		return s.sign(testpki.HolderOptions{KeyType: testpki.RSA1024}, nil)
	}},
	{"rsa1024-signer-timestamped.pdf", pdfverify.CryptoConstraintsFailure, "algorithms", func(s *seedPKI) (testsign.SignOptions, error) {
		return s.sign(testpki.HolderOptions{KeyType: testpki.RSA1024}, s.pki.TSA)
	}},
	{"p224-signer.pdf", pdfverify.CryptoConstraintsFailed, "algorithms", func(s *seedPKI) (testsign.SignOptions, error) {
		return s.sign(testpki.HolderOptions{KeyType: testpki.ECDSAP224}, nil)
	}},
	{"sha1-digest.pdf", pdfverify.CryptoConstraintsFailed, "cms", func(s *seedPKI) (testsign.SignOptions, error) {
		o, err := s.sign(testpki.HolderOptions{}, nil)
		o.Digest = crypto.SHA1
		return o, err
	}},
	{"rsa1024-intermediate.pdf", pdfverify.CryptoConstraintsFailed, "algorithms", func(s *seedPKI) (testsign.SignOptions, error) {
		ca, err := s.pki.IssueCA(testpki.CAOptions{KeyType: testpki.RSA1024})
		if err != nil {
			return testsign.SignOptions{}, err
		}
		return s.sign(testpki.HolderOptions{Issuer: ca}, nil)
	}},
	{"sha1-crl.pdf", pdfverify.CryptoConstraintsFailed, "revocation", func(s *seedPKI) (testsign.SignOptions, error) {
		o, err := s.sign(testpki.HolderOptions{}, nil)
		if err != nil {
			return o, err
		}
		crl, err := s.pki.CRLWith(s.pki.Intermediate, testpki.StatusOptions{Hash: crypto.SHA1})
		o.OCSPs, o.CRLs = nil, append(o.CRLs, crl)
		return o, err
	}},
	{"sha1-ocsp.pdf", pdfverify.CryptoConstraintsFailed, "revocation", func(s *seedPKI) (testsign.SignOptions, error) {
		o, err := s.sign(testpki.HolderOptions{}, nil)
		if err != nil {
			return o, err
		}
		resp, err := s.pki.OCSPResponseWith(o.Cert, testpki.StatusOptions{Hash: crypto.SHA1})
		o.OCSPs = [][]byte{resp}
		return o, err
	}},
	{"rsa1024-tsa.pdf", pdfverify.OutOfBoundsNoPOE, "chain", func(s *seedPKI) (testsign.SignOptions, error) {
		tsa, err := s.pki.IssueTSA(testpki.TSAOptions{Name: "Horodatage RSA-1024", KeyType: testpki.RSA1024})
		if err != nil {
			return testsign.SignOptions{}, err
		}
		return s.sign(testpki.HolderOptions{NotBefore: s.now.Add(-48 * time.Hour), NotAfter: s.now.Add(-10 * time.Minute)}, tsa)
	}},
	{"tsa-revoked-for-key-compromise.pdf", pdfverify.Revoked, "revocation", func(s *seedPKI) (testsign.SignOptions, error) {
		tsa, err := s.pki.IssueTSA(testpki.TSAOptions{Name: "Horodatage compromis"})
		if err != nil {
			return testsign.SignOptions{}, err
		}
		s.pki.Revoke(tsa.Cert.SerialNumber, s.now.Add(-5*time.Minute), reasonKeyCompromise)
		s.revokeHolder = func(h *testpki.Cert) {
			s.pki.Revoke(h.Cert.SerialNumber, s.now.Add(-20*time.Minute), reasonKeyCompromise)
		}
		return s.sign(testpki.HolderOptions{}, tsa)
	}},
	{"ocsp-signing-only-signer.pdf", pdfverify.KeyUsageNotAllowed, "extended-key-usage", func(s *seedPKI) (testsign.SignOptions, error) {
		return s.sign(testpki.HolderOptions{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}}, nil)
	}},
	{"revoked-intermediate.pdf", pdfverify.RevokedCANoPOE, "revocation", func(s *seedPKI) (testsign.SignOptions, error) {
		ca, err := s.pki.IssueCA(testpki.CAOptions{Name: "AC Revoquee"})
		if err != nil {
			return testsign.SignOptions{}, err
		}
		s.pki.Revoke(ca.Cert.SerialNumber, s.now.Add(-time.Hour), reasonKeyCompromise)
		return s.sign(testpki.HolderOptions{Issuer: ca}, nil)
	}},
}

// seedPKI makes the seeds: an offline test PKI whose clock stands at the
// fixtures' validation time.
type seedPKI struct {
	pki          *testpki.PKI
	now          time.Time
	form         []byte
	revokeHolder func(*testpki.Cert) // run once the holder is issued
}

// sign issues a holder as o says (names filled in), and returns the
// options that sign as them with the revocation evidence embedded (the
// holder's OCSP response and the root's CRL), time-stamped by tsa half an
// hour ago when tsa is not nil.
func (s *seedPKI) sign(o testpki.HolderOptions, tsa *testpki.Cert) (testsign.SignOptions, error) {
	base := holderOptions(o.KeyType)
	base.Issuer, base.ExtKeyUsage, base.NotBefore, base.NotAfter = o.Issuer, o.ExtKeyUsage, o.NotBefore, o.NotAfter
	h, err := s.pki.IssueHolder(base)
	if err != nil {
		return testsign.SignOptions{}, err
	}
	if s.revokeHolder != nil {
		s.revokeHolder(h)
		s.revokeHolder = nil
	}
	ocsp, err := s.pki.OCSPResponse(h.Cert)
	if err != nil {
		return testsign.SignOptions{}, err
	}
	crl, err := s.pki.CRL(s.pki.Root)
	if err != nil {
		return testsign.SignOptions{}, err
	}
	so := testsign.SignOptions{
		Key: h.Key, Cert: h.Cert, Chain: h.Chain, SigningTime: s.now.Add(-time.Hour),
		OCSPs: [][]byte{ocsp}, CRLs: [][]byte{crl},
	}
	if tsa != nil {
		so.Timestamper = stampBy(s.pki, tsa, s.now.Add(-30*time.Minute))
	}
	return so, nil
}

func writeCryptoSeeds(t *testing.T) {
	p, err := testpki.New(testpki.Options{Now: pdfsigFixtureTime, Name: "Graines", NoServer: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	form, err := testsign.Form(formValues, testsign.FormOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := &seedPKI{pki: p, now: pdfsigFixtureTime, form: form}
	if err := os.MkdirAll(cryptoSeedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	root := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Root.Cert.Raw})
	if err := os.WriteFile(filepath.Join(cryptoSeedDir, "root.pem"), root, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range cryptoSeeds {
		o, err := c.make(s)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		signed, err := testsign.Sign(form, o)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if err := os.WriteFile(filepath.Join(cryptoSeedDir, c.file), signed, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// cryptoSeedOptions verifies the seeds offline, at their validation time.
func cryptoSeedOptions(t testing.TB) *pdfverify.Options {
	b, err := os.ReadFile(filepath.Join(cryptoSeedDir, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(b) {
		t.Fatal("testdata/crypto/root.pem holds no certificate")
	}
	return &pdfverify.Options{Roots: roots, CurrentTime: pdfsigFixtureTime, TimeBudget: 5 * time.Second}
}

// TestCryptoSeeds checks that each committed seed still gets the outcome
// it was made for; -update-crypto-seeds makes them again.
func TestCryptoSeeds(t *testing.T) {
	if *updateCryptoSeeds {
		writeCryptoSeeds(t)
	}
	opts := cryptoSeedOptions(t)
	for _, c := range cryptoSeeds {
		name := "ok/" + c.file
		if c.sub != "" {
			name = "fail/" + c.file
		}
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(cryptoSeedDir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			rep := verify(t, b, opts)
			if c.sub == "" {
				if !rep.Accepted() {
					t.Fatalf("Verify = %s/%s (%s), want TOTAL_PASSED", rep.Indication, rep.SubIndication, rep.Reason)
				}
				return
			}
			if rep.SubIndication != c.sub || !hasCheck(rep, c.check) {
				t.Errorf("Verify = %s/%s (%s), want %s from check %q", rep.Indication, rep.SubIndication, rep.Reason, c.sub, c.check)
			}
		})
	}
}

// addCryptoSeeds adds the files of testdata/crypto to a fuzz corpus and
// their root to roots.
func addCryptoSeeds(f *testing.F, roots *x509.CertPool) {
	b, err := os.ReadFile(filepath.Join(cryptoSeedDir, "root.pem"))
	if err != nil {
		f.Fatal(err)
	}
	roots.AppendCertsFromPEM(b)
	for _, c := range cryptoSeeds {
		b, err := os.ReadFile(filepath.Join(cryptoSeedDir, c.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}
