package pdfverify_test

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
	"github.com/revokd/revokd/pdfverify"
)

// requireTool finds an external program; under CI a missing one fails the
// test, elsewhere it skips.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (scripts/test.sh installs it)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// pdfsigVerdict is what poppler's pdfsig said of the first signature.
type pdfsigVerdict struct {
	signatureValid bool // "Signature Validation: Signature is Valid."
	trusted        bool // "Certificate Validation: Certificate is Trusted."
	raw            string
}

func runPdfsig(t *testing.T, nssDir, file string) pdfsigVerdict {
	t.Helper()
	// pdfsig exits 0 whatever it finds: its text is the verdict. It asks
	// the OCSP responder named in the certificate (the test's, on
	// loopback); with -no-ocsp, poppler 22.12 reports every chain as
	// "Unknown issue with Certificate".
	out, _ := exec.Command("pdfsig", "-nssdir", "sql:"+nssDir, file).CombinedOutput()
	s := string(out)
	return pdfsigVerdict{
		signatureValid: strings.Contains(s, "Signature Validation: Signature is Valid."),
		trusted:        strings.Contains(s, "Certificate Validation: Certificate is Trusted."),
		raw:            s,
	}
}

// runOpensslCMS verifies the CMS of the last signature over the bytes its
// ByteRange covers; openssl sees only those bytes.
func runOpensslCMS(t *testing.T, dir string, data []byte, rep *pdfverify.Report, rootPEM string) (bool, string) {
	t.Helper()
	s := rep.DecisiveSignature()
	if s == nil || len(s.ByteRange) != 4 {
		return false, "no ByteRange to give openssl"
	}
	br := s.ByteRange
	covered := append(append([]byte{}, data[:br[1]]...), data[br[2]:br[2]+br[3]]...)
	hexContents := bytes.TrimRight(data[br[1]+1:br[2]-1], "0")
	if len(hexContents)%2 == 1 {
		hexContents = append(hexContents, '0')
	}
	der, err := hex.DecodeString(string(hexContents))
	if err != nil {
		return false, "contents not hex: " + err.Error()
	}
	cms, content := filepath.Join(dir, "sig.der"), filepath.Join(dir, "covered.bin")
	if err := os.WriteFile(cms, der, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(content, covered, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", cms,
		"-content", content, "-CAfile", rootPEM, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
	return err == nil, string(out)
}

// TestDifferential runs the same generated files through pdfsig and
// openssl cms, and states, for each disagreement, why revokd is right.
func TestDifferential(t *testing.T) {
	requireTool(t, "pdfsig")
	requireTool(t, "certutil")
	requireTool(t, "openssl")

	// The external tools validate at the real current time, so this PKI is
	// issued around it rather than around the fixed test time.
	realNow := time.Now()
	pki, err := testpki.New(testpki.Options{Now: realNow})
	if err != nil {
		t.Fatal(err)
	}
	defer pki.Close()
	attacker, err := testpki.New(testpki.Options{Now: realNow, Name: "Attacker", NoServer: true})
	if err != nil {
		t.Fatal(err)
	}
	form, err := testsign.Form(formValues, testsign.FormOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rootPEM := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(rootPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Root.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	nss := filepath.Join(dir, "nss")
	if err := os.Mkdir(nss, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-N", "-d", "sql:" + nss, "--empty-password"},
		{"-A", "-d", "sql:" + nss, "-n", "revokd-test-root", "-t", "CT,C,C", "-a", "-i", rootPEM},
	} {
		if out, err := exec.Command("certutil", args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}

	holder := func(kt testpki.KeyType, edit func(*testpki.HolderOptions)) *testpki.Cert {
		o := holderOptions(kt)
		if edit != nil {
			edit(&o)
		}
		c, err := pki.IssueHolder(o)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	sign := func(c *testpki.Cert, cades, pss bool) []byte {
		o := testsign.SignOptions{Key: c.Key, Cert: c.Cert, Chain: c.Chain, SigningTime: realNow.Add(-time.Minute), PSS: pss}
		if cades {
			o.SubFilter = "ETSI.CAdES.detached"
		}
		out, err := testsign.Sign(form, o)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	rsa := holder(testpki.RSA2048, nil)

	cases := []struct {
		name        string
		data        func() []byte
		weAccept    bool
		pdfsigValid bool // signature (digest and crypto) valid per pdfsig
		pdfsigTrust bool
		opensslOK   bool
		why         string // why revokd is right where the others differ
	}{
		{name: "genuine/rsa-pkcs7", data: func() []byte { return sign(rsa, false, false) },
			weAccept: true, pdfsigValid: true, pdfsigTrust: true, opensslOK: true},
		{name: "genuine/ecdsa-cades", data: func() []byte { return sign(holder(testpki.ECDSAP256, nil), true, false) },
			weAccept: true, pdfsigValid: true, pdfsigTrust: true, opensslOK: true},
		{name: "genuine/rsa-pss-cades", data: func() []byte { return sign(holder(testpki.RSAPSS, nil), true, true) },
			weAccept: true, pdfsigValid: true, pdfsigTrust: true, opensslOK: true},
		{name: "field-changed-after-signing", data: func() []byte {
			out, err := testsign.ChangeFieldAfterSigning(sign(rsa, false, false), "certificat_numero_serie", "deadbeef")
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, weAccept: false, pdfsigValid: true, pdfsigTrust: true, opensslOK: true,
			why: "pdfsig and openssl check only the bytes the signature covers; the appended revision changes the serial to revoke, and a viewer shows the changed value"},
		{name: "policy-not-accepted", data: func() []byte {
			return sign(holder(testpki.ECDSAP256, func(o *testpki.HolderOptions) {
				o.Policies = []asn1.ObjectIdentifier{{1, 3, 6, 1, 4, 1, 99999, 1}}
			}), true, false)
		}, weAccept: false, pdfsigValid: true, pdfsigTrust: true, opensslOK: true,
			why: "neither tool checks certificate policies; a certificate without an RGS ** / eIDAS policy must not revoke"},
		{name: "revoked", data: func() []byte {
			c := holder(testpki.ECDSAP256, nil)
			pki.Revoke(c.Cert.SerialNumber, realNow.Add(-time.Hour), 1)
			return sign(c, true, false)
		}, weAccept: false, pdfsigValid: true, pdfsigTrust: false, opensslOK: true,
			why: "openssl cms checks no revocation status unless given CRLs; pdfsig and revokd ask the CA's OCSP responder"},
		{name: "untrusted-root", data: func() []byte {
			c, err := attacker.IssueHolder(holderOptions(testpki.RSA2048))
			if err != nil {
				t.Fatal(err)
			}
			return sign(c, false, false)
		}, weAccept: false, pdfsigValid: true, pdfsigTrust: false, opensslOK: false},
		{name: "signer-swapped", data: func() []byte {
			key, cert, err := testsign.Impersonate(rsa.Cert)
			if err != nil {
				t.Fatal(err)
			}
			out, err := testsign.SwapSigner(form, testsign.SignOptions{Key: rsa.Key, Cert: rsa.Cert, Chain: rsa.Chain, SigningTime: realNow}, key, cert)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, weAccept: false, pdfsigValid: false, pdfsigTrust: false, opensslOK: false},
	}
	roots := pkiRoots(pki)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data()
			file := filepath.Join(t.TempDir(), "f.pdf")
			if err := os.WriteFile(file, data, 0o600); err != nil {
				t.Fatal(err)
			}
			rep := verify(t, data, &pdfverify.Options{
				Roots: roots, CurrentTime: realNow,
				Revocation: pdfverify.NewRevocationSource(pdfverify.RevocationOptions{Online: true}),
			})
			if rep.Accepted() != tc.weAccept {
				t.Errorf("revokd accepted = %v (%s/%s: %s), want %v", rep.Accepted(), rep.Indication, rep.SubIndication, rep.Reason, tc.weAccept)
			}
			ps := runPdfsig(t, nss, file)
			if ps.signatureValid != tc.pdfsigValid || (tc.pdfsigValid && ps.trusted != tc.pdfsigTrust) {
				t.Errorf("pdfsig: signature valid %v trusted %v, want %v %v\n%s", ps.signatureValid, ps.trusted, tc.pdfsigValid, tc.pdfsigTrust, ps.raw)
			}
			ok, out := runOpensslCMS(t, t.TempDir(), data, rep, rootPEM)
			if ok != tc.opensslOK {
				t.Errorf("openssl cms -verify = %v, want %v\n%s", ok, tc.opensslOK, out)
			}
			if (tc.pdfsigValid && tc.pdfsigTrust) != tc.weAccept || tc.opensslOK != tc.weAccept {
				if tc.why == "" {
					t.Errorf("revokd and the other verifiers disagree without a stated reason")
				}
				t.Logf("revokd %s/%s; pdfsig and openssl differ because %s", rep.Indication, rep.SubIndication, tc.why)
			}
		})
	}
}

func pkiRoots(p *testpki.PKI) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.Root.Cert)
	return pool
}

// shownText is what poppler's pdftotext and MuPDF's mutool, two renderers
// independent of revokd, show of a file's page (field appearances
// included).
func shownText(t *testing.T, data []byte) (poppler, mupdf string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "f.pdf")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", file, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	mu, err := exec.Command("mutool", "draw", "-q", "-F", "txt", "-o", "-", file).Output()
	if err != nil {
		t.Fatalf("mutool draw: %v", err)
	}
	return string(out), string(mu)
}

// TestDifferentialShownSerial: for every genuine file, the serial revokd
// reads (what `revokd verify -v` prints as the form) is what pdftotext and
// mutool show; for every appearance forgery they show another serial, and
// revokd refuses the file.
func TestDifferentialShownSerial(t *testing.T) {
	requireTool(t, "pdftotext")
	requireTool(t, "mutool")
	w := getWorld(t)
	const field = "certificat_numero_serie"
	h := w.holders[testpki.RSA2048]
	xrefForm, err := testsign.Form(formValues, testsign.FormOptions{XRefStream: true})
	if err != nil {
		t.Fatal(err)
	}
	genuine := map[string]func(t *testing.T) []byte{
		"rsa-pkcs7": func(t *testing.T) []byte { return mustSign(t, w.form, signWith(h)) },
		"ecdsa-cades-xref-stream": func(t *testing.T) []byte {
			o := signWith(w.holders[testpki.ECDSAP256])
			o.SubFilter = testsign.SubFilterCAdES
			return mustSign(t, xrefForm, o)
		},
		"ltv-and-document-timestamp": func(t *testing.T) []byte {
			ltv, err := testsign.AddLTV(mustSign(t, w.form, signWith(h)), testsign.LTVOptions{RestateFreeHead: true, RewriteMetadata: true, Orphan: true})
			if err != nil {
				t.Fatal(err)
			}
			out, err := testsign.AddDocTimestamp(ltv, w.timestamper(now))
			if err != nil {
				t.Fatal(err)
			}
			return out
		},
	}
	for name, mk := range genuine {
		t.Run("ok/"+name, func(t *testing.T) {
			data := mk(t)
			rep := verify(t, data, w.opts())
			if !rep.Accepted() {
				t.Fatalf("Verify = %s/%s (%s), want TOTAL_PASSED", rep.Indication, rep.SubIndication, rep.Reason)
			}
			serial := rep.Form[field]
			poppler, mupdf := shownText(t, data)
			if serial == "" || !strings.Contains(poppler, serial) || !strings.Contains(mupdf, serial) {
				t.Errorf("revokd reads serial %q; pdftotext shows it: %v, mutool shows it: %v", serial, strings.Contains(poppler, serial), strings.Contains(mupdf, serial))
			}
		})
	}
	const shown = "deadbeef"
	for _, f := range appearanceForgeries {
		t.Run("fail/"+f.name, func(t *testing.T) {
			prepared, err := f.forge(w.form, field, shown)
			if err != nil {
				t.Fatal(err)
			}
			data := mustSign(t, prepared, signWith(h))
			rep := verify(t, data, w.opts())
			if rep.Accepted() || !hasCheck(rep, "appearance") {
				t.Fatalf("Verify = %s/%s (%s), want the appearance check to fail", rep.Indication, rep.SubIndication, rep.Reason)
			}
			poppler, mupdf := shownText(t, data)
			if !strings.Contains(poppler, shown) || !strings.Contains(mupdf, shown) {
				t.Errorf("the forgery does not work: pdftotext shows %q: %v, mutool: %v", shown, strings.Contains(poppler, shown), strings.Contains(mupdf, shown))
			}
			if shown == formValues[field] {
				t.Fatal("the forged serial is the value")
			}
		})
	}
}
