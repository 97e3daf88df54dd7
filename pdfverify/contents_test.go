package pdfverify_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
	"github.com/revokd/revokd/pdfverify"
)

// TestContentsHoldsOnlyTheCMS: /Contents is one CMS then zero padding;
// bytes hidden after the CMS are refused, whatever they are.
func TestContentsHoldsOnlyTheCMS(t *testing.T) {
	w := getWorld(t)
	rsa := w.holders[testpki.RSA2048]
	cases := []struct {
		name string
		cms  func(covered, cms []byte) []byte
		sub  pdfverify.SubIndication
	}{
		{"ok/zero-padding", func(_, cms []byte) []byte { return append(cms, make([]byte, 64)...) }, ""},
		{"fail/text-after-the-cms", testsign.AppendToCMS([]byte("certificat_numero_serie=deadbeef")), pdfverify.FormatFailure},
		{"fail/a-second-cms-after-the-first", testsign.SecondCMS(), pdfverify.FormatFailure},
		{"fail/one-byte-among-the-zeros", testsign.AppendToCMS(append(make([]byte, 299), 1)), pdfverify.FormatFailure},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := signWith(rsa)
			o.CMS = tc.cms
			rep := verify(t, mustSign(t, w.form, o), w.opts())
			if tc.sub == "" {
				if !rep.Accepted() {
					t.Fatalf("Verify = %s/%s (%s), want TOTAL_PASSED", rep.Indication, rep.SubIndication, rep.Reason)
				}
				return
			}
			if rep.Indication != pdfverify.TotalFailed || rep.SubIndication != tc.sub {
				t.Fatalf("Verify = %s/%s (%s), want TOTAL_FAILED/%s", rep.Indication, rep.SubIndication, rep.Reason, tc.sub)
			}
			if !hasCheck(rep, "cms.padding") {
				t.Errorf("no failed check cms.padding in %+v", rep.Signatures)
			}
		})
	}
}

// selfSignedSigner makes a certificate that is its own issuer, for use as
// both the signer and the trust anchor.
func selfSignedSigner(t *testing.T, policy string) *testpki.Cert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	oid, err := x509.ParseOID(policy)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(4242),
		Subject:      pkix.Name{CommonName: "Hélène Dupont (direct trust)", Organization: []string{"Société Exemple"}},
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		Policies:     []x509.OID{oid},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testpki.Cert{Cert: cert, Key: key}
}

// TestSignerThatIsATrustAnchor: a one-certificate chain gets the verdict
// of its checks, never an internal error.
func TestSignerThatIsATrustAnchor(t *testing.T) {
	w := getWorld(t)
	cases := []struct {
		name   string
		policy string
		sub    pdfverify.SubIndication
	}{
		{"ok/anchor-with-an-accepted-policy", "0.4.0.194112.1.2", ""},
		{"fail/anchor-without-an-accepted-policy", "1.3.6.1.4.1.99999.1", pdfverify.PolicyNotAccepted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := selfSignedSigner(t, tc.policy)
			roots := x509.NewCertPool()
			roots.AddCert(c.Cert)
			opts := w.opts()
			opts.Roots = roots
			rep := verify(t, mustSign(t, w.form, testsign.SignOptions{Key: c.Key, Cert: c.Cert, SigningTime: now.Add(-time.Hour)}), opts)
			if hasCheck(rep, "internal-error") || rep.SubIndication == pdfverify.InternalError {
				t.Fatalf("Verify = %s/%s (%s): an internal error", rep.Indication, rep.SubIndication, rep.Reason)
			}
			if rep.SubIndication != tc.sub || (tc.sub == "") != rep.Accepted() {
				t.Fatalf("Verify = %s/%s (%s), want sub-indication %q", rep.Indication, rep.SubIndication, rep.Reason, tc.sub)
			}
		})
	}
}

// panicTransport stands for a bug anywhere below Verify.
type panicTransport struct{}

func (panicTransport) RoundTrip(*http.Request) (*http.Response, error) {
	panic("injected fault")
}

// TestInternalErrorIsNotTheFilesFault: a panic inside the verifier ends
// in INDETERMINATE/INTERNAL_ERROR with an ERROR log line, never in a
// verdict on the file.
func TestInternalErrorIsNotTheFilesFault(t *testing.T) {
	w := getWorld(t)
	signed := mustSign(t, w.form, signWith(w.holders[testpki.ECDSAP256]))
	var logs bytes.Buffer
	opts := w.opts()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	opts.Revocation = pdfverify.NewRevocationSource(pdfverify.RevocationOptions{
		Online: true, HTTPClient: &http.Client{Transport: panicTransport{}},
	})
	rep, err := pdfverify.Verify(context.Background(), signed, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Indication != pdfverify.Indeterminate || rep.SubIndication != pdfverify.InternalError {
		t.Fatalf("Verify = %s/%s (%s), want INDETERMINATE/INTERNAL_ERROR", rep.Indication, rep.SubIndication, rep.Reason)
	}
	if !hasCheck(rep, "internal-error") {
		t.Errorf("no internal-error check in %+v", rep.Checks)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "injected fault") {
		t.Errorf("log = %q, want an ERROR line naming the panic", logs.String())
	}
}
