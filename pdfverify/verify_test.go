package pdfverify_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
	"github.com/revokd/revokd/pdfverify"
)

// now is the fixed validation time of the tests; the test PKI is issued
// around it.
var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

var formValues = map[string]string{
	"titulaire_nom":             "Dupont",
	"titulaire_prenom":          "Hélène",
	"titulaire_email":           "helene.dupont@example.fr",
	"certificat_numero_serie":   "0a1b2c3d",
	"raison":                    "Clé privée compromise",
	"demandeur_qualite":         "Titulaire",
	"representant_nom":          "",
	"representant_prenom":       "",
	"representant_email":        "",
	"entreprise_raison_sociale": "Société Exemple",
	"entreprise_siren":          "732829320",
	"date":                      "25/11/2026",
	"lieu":                      "Paris",
}

// world is the test PKI, its holders and the unsigned form, built once.
type world struct {
	pki      *testpki.PKI
	attacker *testpki.PKI
	offline  *testpki.PKI // trusted, but its certificates name no CRL or OCSP URL
	holders  map[testpki.KeyType]*testpki.Cert
	form     []byte
}

var (
	worldOnce sync.Once
	theWorld  *world
	worldErr  error
)

func getWorld(t testing.TB) *world {
	t.Helper()
	worldOnce.Do(func() {
		w := &world{holders: map[testpki.KeyType]*testpki.Cert{}}
		w.pki, worldErr = testpki.New(testpki.Options{Now: now})
		if worldErr != nil {
			return
		}
		w.attacker, worldErr = testpki.New(testpki.Options{Now: now, Name: "Attacker", NoServer: true})
		if worldErr != nil {
			return
		}
		w.offline, worldErr = testpki.New(testpki.Options{Now: now, Name: "Offline", NoServer: true})
		if worldErr != nil {
			return
		}
		for _, kt := range []testpki.KeyType{testpki.RSA2048, testpki.RSA3072, testpki.ECDSAP256, testpki.RSAPSS} {
			w.holders[kt], worldErr = w.pki.IssueHolder(holderOptions(kt))
			if worldErr != nil {
				return
			}
		}
		w.form, worldErr = testsign.Form(formValues, testsign.FormOptions{})
		theWorld = w
	})
	if worldErr != nil {
		t.Fatalf("building the test PKI and form: %v", worldErr)
	}
	return theWorld
}

func holderOptions(kt testpki.KeyType) testpki.HolderOptions {
	return testpki.HolderOptions{
		KeyType:        kt,
		Surname:        "Dupont",
		GivenName:      "Hélène",
		Email:          "helene.dupont@example.fr",
		IdentitySerial: "1234567890",
		Organization:   "Société Exemple",
		SIREN:          "732829320",
	}
}

func (w *world) opts() *pdfverify.Options {
	roots := x509.NewCertPool()
	roots.AddCert(w.pki.Root.Cert)
	roots.AddCert(w.offline.Root.Cert)
	return &pdfverify.Options{
		Roots:       roots,
		CurrentTime: now,
		Revocation:  pdfverify.NewRevocationSource(pdfverify.RevocationOptions{Online: true, Timeout: 5 * time.Second}),
	}
}

func signWith(h *testpki.Cert) testsign.SignOptions {
	return testsign.SignOptions{
		Key:         h.Key,
		Cert:        h.Cert,
		Chain:       h.Chain,
		SigningTime: now.Add(-time.Hour),
	}
}

func (w *world) timestamper(at time.Time) func([]byte, crypto.Hash) ([]byte, error) {
	return func(d []byte, h crypto.Hash) ([]byte, error) { return w.pki.Timestamp(d, h, at) }
}

func mustSign(t *testing.T, pdf []byte, o testsign.SignOptions) []byte {
	t.Helper()
	out, err := testsign.Sign(pdf, o)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return out
}

func verify(t *testing.T, data []byte, o *pdfverify.Options) *pdfverify.Report {
	t.Helper()
	rep, err := pdfverify.Verify(context.Background(), data, o)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func hasCheck(r *pdfverify.Report, name string) bool {
	for _, c := range r.Checks {
		if c.Name == name && c.Outcome != pdfverify.Passed && c.Outcome != pdfverify.Info {
			return true
		}
	}
	for _, s := range r.Signatures {
		for _, c := range s.Checks {
			if c.Name == name && c.Outcome != pdfverify.Passed && c.Outcome != pdfverify.Info {
				return true
			}
		}
	}
	return false
}

func TestVerifyGenuine(t *testing.T) {
	w := getWorld(t)
	xrefForm, err := testsign.Form(formValues, testsign.FormOptions{XRefStream: true})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		make func(t *testing.T) []byte
	}{
		{"ok/rsa2048-pkcs7", func(t *testing.T) []byte {
			return mustSign(t, w.form, signWith(w.holders[testpki.RSA2048]))
		}},
		{"ok/rsa3072-cades", func(t *testing.T) []byte {
			o := signWith(w.holders[testpki.RSA3072])
			o.SubFilter = "ETSI.CAdES.detached"
			return mustSign(t, w.form, o)
		}},
		{"ok/ecdsa-cades", func(t *testing.T) []byte {
			o := signWith(w.holders[testpki.ECDSAP256])
			o.SubFilter = "ETSI.CAdES.detached"
			return mustSign(t, w.form, o)
		}},
		{"ok/ecdsa-pkcs7", func(t *testing.T) []byte {
			return mustSign(t, w.form, signWith(w.holders[testpki.ECDSAP256]))
		}},
		{"ok/rsapss-cades", func(t *testing.T) []byte {
			o := signWith(w.holders[testpki.RSAPSS])
			o.SubFilter = "ETSI.CAdES.detached"
			o.PSS = true
			return mustSign(t, w.form, o)
		}},
		{"ok/xref-stream-form", func(t *testing.T) []byte {
			o := signWith(w.holders[testpki.RSA2048])
			o.SubFilter = "ETSI.CAdES.detached"
			return mustSign(t, xrefForm, o)
		}},
		{"ok/with-timestamp", func(t *testing.T) []byte {
			o := signWith(w.holders[testpki.RSA2048])
			o.SubFilter = "ETSI.CAdES.detached"
			o.Timestamper = w.timestamper(now.Add(-time.Hour))
			return mustSign(t, w.form, o)
		}},
		{"ok/dss-update-after-signing", func(t *testing.T) []byte {
			h := w.holders[testpki.ECDSAP256]
			o := signWith(h)
			o.SubFilter = "ETSI.CAdES.detached"
			signed := mustSign(t, w.form, o)
			crl, err := w.pki.CRL(w.pki.Intermediate)
			if err != nil {
				t.Fatal(err)
			}
			ocsp, err := w.pki.OCSPResponse(h.Cert)
			if err != nil {
				t.Fatal(err)
			}
			out, err := testsign.AddDSS(signed, [][]byte{h.Cert.Raw, w.pki.Intermediate.Cert.Raw}, [][]byte{crl}, [][]byte{ocsp})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}},
		{"ok/document-timestamp-after-signing", func(t *testing.T) []byte {
			o := signWith(w.holders[testpki.ECDSAP256])
			o.SubFilter = "ETSI.CAdES.detached"
			out, err := testsign.AddDocTimestamp(mustSign(t, w.form, o), w.timestamper(now.Add(-time.Minute)))
			if err != nil {
				t.Fatal(err)
			}
			return out
		}},
		{"ok/dss-then-document-timestamp", func(t *testing.T) []byte {
			h := w.holders[testpki.RSA2048]
			signed := mustSign(t, w.form, signWith(h))
			ocsp, err := w.pki.OCSPResponse(h.Cert)
			if err != nil {
				t.Fatal(err)
			}
			withDSS, err := testsign.AddDSS(signed, [][]byte{h.Cert.Raw}, nil, [][]byte{ocsp})
			if err != nil {
				t.Fatal(err)
			}
			out, err := testsign.AddDocTimestamp(withDSS, w.timestamper(now.Add(-time.Minute)))
			if err != nil {
				t.Fatal(err)
			}
			return out
		}},
		{"ok/embedded-revocation-offline", func(t *testing.T) []byte {
			h := w.holders[testpki.RSA2048]
			o := signWith(h)
			ocsp, err := w.pki.OCSPResponse(h.Cert)
			if err != nil {
				t.Fatal(err)
			}
			crl, err := w.pki.CRL(w.pki.Root)
			if err != nil {
				t.Fatal(err)
			}
			o.OCSPs = [][]byte{ocsp}
			o.CRLs = [][]byte{crl}
			return mustSign(t, w.form, o)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.make(t)
			o := w.opts()
			if tc.name == "ok/embedded-revocation-offline" {
				o.Revocation = nil // embedded evidence only
			}
			rep := verify(t, data, o)
			if rep.Indication != pdfverify.TotalPassed {
				t.Fatalf("Verify = %s/%s (%s), want TOTAL_PASSED\nchecks: %+v", rep.Indication, rep.SubIndication, rep.Reason, rep.Signatures)
			}
			for k, want := range formValues {
				if got := rep.Form[k]; got != want {
					t.Errorf("Form[%q] = %q, want %q", k, got, want)
				}
			}
			s := rep.DecisiveSignature()
			if s.Signer == nil || s.Signer.Email != "helene.dupont@example.fr" {
				t.Errorf("signer = %+v, want the holder", s.Signer)
			}
			if len(s.PolicyOIDs) == 0 || s.PolicyOIDs[0] != "1.2.250.1.96.1.7.2.4.1" {
				t.Errorf("PolicyOIDs = %v, want the AC 2 étoiles policy", s.PolicyOIDs)
			}
			if rep.PDFA != "2B" {
				t.Errorf("PDFA = %q, want 2B", rep.PDFA)
			}
		})
	}
}

// TestTimestampIsTheValidationTime checks that a valid signature timestamp,
// and nothing else, proves when the signature existed.
func TestTimestampIsTheValidationTime(t *testing.T) {
	w := getWorld(t)
	// A PKI whose clock stood 36 hours ago: the holder signed then, with a
	// certificate that expired 24 hours ago, and embedded the OCSP response
	// of that time, as a PAdES-LT signer does.
	signedAt := now.Add(-36 * time.Hour)
	past, err := testpki.New(testpki.Options{Now: signedAt, Name: "Past", NoServer: true})
	if err != nil {
		t.Fatal(err)
	}
	ho := holderOptions(testpki.ECDSAP256)
	ho.NotBefore, ho.NotAfter = now.Add(-48*time.Hour), now.Add(-24*time.Hour)
	h, err := past.IssueHolder(ho)
	if err != nil {
		t.Fatal(err)
	}
	ocsp, err := past.OCSPResponse(h.Cert)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := past.CRL(past.Root)
	if err != nil {
		t.Fatal(err)
	}
	o := signWith(h)
	o.SigningTime = signedAt // inside the validity, but only claimed
	o.OCSPs, o.CRLs = [][]byte{ocsp}, [][]byte{crl}
	claimedOnly := mustSign(t, w.form, o)
	o.SubFilter = "ETSI.CAdES.detached"
	o.Timestamper = func(d []byte, hash crypto.Hash) ([]byte, error) { return past.Timestamp(d, hash, signedAt) }
	stamped := mustSign(t, w.form, o)

	opts := w.opts()
	opts.Roots.AddCert(past.Root.Cert)
	rep := verify(t, claimedOnly, opts)
	if rep.SubIndication != pdfverify.OutOfBoundsNoPOE {
		t.Errorf("expired certificate, claimed time only: %s/%s, want OUT_OF_BOUNDS_NO_POE", rep.Indication, rep.SubIndication)
	}
	rep = verify(t, stamped, opts)
	if rep.Indication != pdfverify.TotalPassed {
		t.Fatalf("expired certificate, timestamp inside validity: %s/%s (%s), want TOTAL_PASSED", rep.Indication, rep.SubIndication, rep.Reason)
	}
	if s := rep.DecisiveSignature(); s.TimestampTime == nil || !s.ValidationTime.Equal(signedAt) {
		t.Errorf("ValidationTime = %v, want the timestamp's time %v", s.ValidationTime, signedAt)
	}
}

func TestVerifyRejects(t *testing.T) {
	w := getWorld(t)
	rsa := w.holders[testpki.RSA2048]
	genuine := mustSign(t, w.form, signWith(rsa))

	issue := func(t *testing.T, edit func(*testpki.HolderOptions)) *testpki.Cert {
		o := holderOptions(testpki.ECDSAP256)
		edit(&o)
		c, err := w.pki.IssueHolder(o)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	attack := func(f func([]byte) ([]byte, error)) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			out, err := f(genuine)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	withByteRange := func(f func(br [4]int64, cs, ce int64) [4]int64) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			o := signWith(rsa)
			o.ByteRange = f
			return mustSign(t, w.form, o)
		}
	}

	cases := []struct {
		name  string
		make  func(t *testing.T) []byte
		sub   pdfverify.SubIndication
		check string // the failing check, when the sub-indication is shared
	}{
		{"fail/field-changed-after-signing", attack(func(b []byte) ([]byte, error) {
			return testsign.ChangeFieldAfterSigning(b, "certificat_numero_serie", "deadbeef")
		}), pdfverify.ModifiedAfterSigning, "coverage"},
		{"fail/page-changed-after-signing", attack(testsign.ChangePageAfterSigning), pdfverify.ModifiedAfterSigning, "coverage"},
		{"fail/annotation-added-after-signing", attack(testsign.AddAnnotationAfterSigning), pdfverify.ModifiedAfterSigning, "coverage"},
		{"fail/contents-zeroed", attack(testsign.ZeroContents), pdfverify.FormatFailure, "cms.missing"},
		{"fail/contents-emptied", attack(testsign.EmptyContents), pdfverify.FormatFailure, "cms.missing"},
		{"fail/byterange-missing", func(t *testing.T) []byte {
			o := signWith(rsa)
			o.OmitByteRange = true
			return mustSign(t, w.form, o)
		}, pdfverify.ByteRangeInvalid, "byterange.missing"},
		{"fail/byterange-overlapping", withByteRange(testsign.ByteRangeOverlapping), pdfverify.ByteRangeInvalid, "byterange.overlap"},
		{"fail/byterange-not-at-zero", withByteRange(testsign.ByteRangeNotFromZero), pdfverify.ByteRangeInvalid, "byterange.start"},
		{"fail/byterange-short-of-the-end", withByteRange(testsign.ByteRangeShort), pdfverify.ByteRangeInvalid, "byterange.end"},
		{"fail/byterange-past-the-end", withByteRange(testsign.ByteRangePastEnd), pdfverify.ByteRangeInvalid, "byterange.bounds"},
		{"fail/extra-bytes-in-gap", withByteRange(testsign.ByteRangeWideGap), pdfverify.ByteRangeInvalid, "byterange.gap"},
		{"fail/byterange-into-contents", withByteRange(testsign.ByteRangeIntoContents), pdfverify.ByteRangeInvalid, "byterange.gap"},
		{"fail/signer-swapped-in-cms", func(t *testing.T) []byte {
			key, cert, err := testsign.Impersonate(rsa.Cert)
			if err != nil {
				t.Fatal(err)
			}
			out, err := testsign.SwapSigner(w.form, signWith(rsa), key, cert)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, pdfverify.SigCryptoFailure, "cms"},
		{"fail/self-signed-signer-with-genuine-chain", func(t *testing.T) []byte {
			key, cert, err := testsign.Impersonate(rsa.Cert)
			if err != nil {
				t.Fatal(err)
			}
			out, err := testsign.SelfSignedWithGenuineChain(w.form, signWith(rsa), key, cert)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, pdfverify.NoCertificateChainFound, "chain"},
		{"fail/revoked", func(t *testing.T) []byte {
			c := issue(t, func(o *testpki.HolderOptions) {})
			w.pki.Revoke(c.Cert.SerialNumber, now.Add(-2*time.Hour), 1)
			return mustSign(t, w.form, signWith(c))
		}, pdfverify.Revoked, "revocation"},
		{"fail/expired", func(t *testing.T) []byte {
			c := issue(t, func(o *testpki.HolderOptions) { o.NotBefore, o.NotAfter = now.Add(-48*time.Hour), now.Add(-time.Hour) })
			return mustSign(t, w.form, signWith(c))
		}, pdfverify.OutOfBoundsNoPOE, "chain"},
		{"fail/not-yet-valid", func(t *testing.T) []byte {
			c := issue(t, func(o *testpki.HolderOptions) { o.NotBefore, o.NotAfter = now.Add(time.Hour), now.Add(48*time.Hour) })
			return mustSign(t, w.form, signWith(c))
		}, pdfverify.NotYetValid, "chain"},
		{"fail/key-usage-encipherment-only", func(t *testing.T) []byte {
			c := issue(t, func(o *testpki.HolderOptions) {
				o.KeyUsage, o.KeyUsageOverride = x509.KeyUsageKeyAgreement, true
			})
			return mustSign(t, w.form, signWith(c))
		}, pdfverify.KeyUsageNotAllowed, "key-usage"},
		{"fail/policy-not-accepted", func(t *testing.T) []byte {
			c := issue(t, func(o *testpki.HolderOptions) {
				o.Policies = []asn1.ObjectIdentifier{{1, 2, 250, 1, 96, 1, 7, 1, 1, 1}}
			})
			return mustSign(t, w.form, signWith(c))
		}, pdfverify.PolicyNotAccepted, "policy"},
		{"fail/untrusted-root", func(t *testing.T) []byte {
			c, err := w.attacker.IssueHolder(holderOptions(testpki.ECDSAP256))
			if err != nil {
				t.Fatal(err)
			}
			return mustSign(t, w.form, signWith(c))
		}, pdfverify.NoCertificateChainFound, "chain"},
		{"fail/revocation-unknown", func(t *testing.T) []byte {
			c, err := w.offline.IssueHolder(holderOptions(testpki.ECDSAP256))
			if err != nil {
				t.Fatal(err)
			}
			return mustSign(t, w.form, signWith(c))
		}, pdfverify.TryLater, "revocation"},
		{"fail/cades-without-signing-certificate", func(t *testing.T) []byte {
			o := signWith(rsa)
			o.SubFilter = "ETSI.CAdES.detached"
			o.OmitESS = true
			return mustSign(t, w.form, o)
		}, pdfverify.SignerCertificateSwap, "cms"},
		{"fail/document-timestamp-over-other-bytes", attack(func(b []byte) ([]byte, error) {
			return testsign.AddDocTimestamp(b, func(d []byte, h crypto.Hash) ([]byte, error) {
				other := append([]byte{}, d...)
				other[0] ^= 0xff
				return w.pki.Timestamp(other, h, now)
			})
		}), pdfverify.ModifiedAfterSigning, "document-timestamp"},
		{"fail/document-timestamp-untrusted-tsa", attack(func(b []byte) ([]byte, error) {
			return testsign.AddDocTimestamp(b, func(d []byte, h crypto.Hash) ([]byte, error) {
				return w.attacker.Timestamp(d, h, now)
			})
		}), pdfverify.ModifiedAfterSigning, "document-timestamp"},
		{"fail/field-changed-after-document-timestamp", attack(func(b []byte) ([]byte, error) {
			stamped, err := testsign.AddDocTimestamp(b, w.timestamper(now))
			if err != nil {
				return nil, err
			}
			return testsign.ChangeFieldAfterSigning(stamped, "raison", "Non paiement")
		}), pdfverify.ModifiedAfterSigning, "coverage"},
		{"fail/unsigned", func(t *testing.T) []byte { return w.form }, pdfverify.NotSigned, "signatures"},
		{"fail/truncated", func(t *testing.T) []byte { return genuine[:len(genuine)*2/3] }, pdfverify.FormatFailure, "structure"},
		{"fail/truncated-in-header", func(t *testing.T) []byte { return genuine[:3] }, pdfverify.FormatFailure, "structure"},
		{"fail/garbage", func(t *testing.T) []byte { return testsign.Garbage(4096, 1) }, pdfverify.FormatFailure, "structure"},
		{"fail/empty", func(t *testing.T) []byte { return nil }, pdfverify.FormatFailure, "structure"},
		{"fail/appended-garbage", func(t *testing.T) []byte {
			return append(append([]byte{}, genuine...), "\n1 0 obj (x) endobj\n"...)
		}, pdfverify.FormatFailure, "structure"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := verify(t, tc.make(t), w.opts())
			if rep.Indication == pdfverify.TotalPassed || rep.SubIndication != tc.sub {
				t.Fatalf("Verify = %s/%s (%s), want sub-indication %s", rep.Indication, rep.SubIndication, rep.Reason, tc.sub)
			}
			if tc.check != "" && !hasCheck(rep, tc.check) {
				t.Errorf("no failed check %q in %+v %+v", tc.check, rep.Checks, rep.Signatures)
			}
			if rep.Reason == "" {
				t.Error("Reason is empty")
			}
		})
	}
}

// TestFormFromSignedRevision checks that a forged later revision never shows
// through: the form comes from the bytes the signature covers.
func TestFormFromSignedRevision(t *testing.T) {
	w := getWorld(t)
	genuine := mustSign(t, w.form, signWith(w.holders[testpki.RSA2048]))
	forged, err := testsign.ChangeFieldAfterSigning(genuine, "certificat_numero_serie", "deadbeef")
	if err != nil {
		t.Fatal(err)
	}
	rep := verify(t, forged, w.opts())
	if rep.Accepted() {
		t.Fatal("forged file accepted")
	}
	if got := rep.Form["certificat_numero_serie"]; got != "" && got != "0a1b2c3d" {
		t.Errorf("Form[serial] = %q: a later revision leaked into the report", got)
	}
}

func TestVerifyOptionsValidation(t *testing.T) {
	_, err := pdfverify.Verify(context.Background(), nil, &pdfverify.Options{Policies: []string{"not an oid"}})
	if err == nil {
		t.Fatal("Verify accepted a malformed policy OID")
	}
	_, err = pdfverify.Verify(context.Background(), nil, &pdfverify.Options{MaxFileBytes: -1})
	if err == nil {
		t.Fatal("Verify accepted a negative MaxFileBytes")
	}
}

func TestOversizeIsFormatFailure(t *testing.T) {
	w := getWorld(t)
	o := w.opts()
	o.MaxFileBytes = 1000
	rep := verify(t, w.form, o)
	if rep.SubIndication != pdfverify.FormatFailure || !hasCheck(rep, "size") {
		t.Errorf("oversize: %s/%s, want FORMAT_FAILURE from the size check", rep.Indication, rep.SubIndication)
	}
}

func TestNilOptionsTrustNothing(t *testing.T) {
	w := getWorld(t)
	rep, err := pdfverify.Verify(context.Background(), mustSign(t, w.form, signWith(w.holders[testpki.RSA2048])), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.SubIndication != pdfverify.NoCertificateChainFound {
		t.Errorf("nil options: %s/%s, want NO_CERTIFICATE_CHAIN_FOUND", rep.Indication, rep.SubIndication)
	}
}

// TestCAPolicyRestrictsTheSigner: a CA of the chain that states policies
// must allow the signer's accepted policy.
func TestCAPolicyRestrictsTheSigner(t *testing.T) {
	w := getWorld(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := x509.ParseOID("1.2.250.1.96.1.7.1.1.3")
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(4242),
		Subject:               pkix.Name{CommonName: "AC 3 Etoiles seulement", Organization: []string{"Test"}, Country: []string{"FR"}},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		Policies:              []x509.OID{other},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, w.pki.Root.Cert, &key.PublicKey, w.pki.Root.Key)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	o := holderOptions(testpki.ECDSAP256) // policy AC 2 étoiles
	o.Issuer = &testpki.Cert{Cert: sub, Key: key, Chain: []*x509.Certificate{w.pki.Root.Cert}}
	h, err := w.pki.IssueHolder(o)
	if err != nil {
		t.Fatal(err)
	}
	rep := verify(t, mustSign(t, w.form, signWith(h)), w.opts())
	if rep.SubIndication != pdfverify.PolicyNotAccepted || !hasCheck(rep, "policy") {
		t.Errorf("signer under a CA that does not allow its policy: %s/%s (%s), want POLICY_NOT_ACCEPTED", rep.Indication, rep.SubIndication, rep.Reason)
	}
}

// TestReportHashesTheWholeFile: the report's SHA-256 is the file's, whether
// it is computed inline (a small form) or beside the checks (a large one).
func TestReportHashesTheWholeFile(t *testing.T) {
	w := getWorld(t)
	large, err := testsign.Form(formValues, testsign.FormOptions{PadTo: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for name, form := range map[string][]byte{"small": w.form, "large": large} {
		signed := mustSign(t, form, signWith(w.holders[testpki.ECDSAP256]))
		rep := verify(t, signed, w.opts())
		if !rep.Accepted() {
			t.Fatalf("%s: %s/%s: %s", name, rep.Indication, rep.SubIndication, rep.Reason)
		}
		sum := sha256.Sum256(signed)
		if want := hex.EncodeToString(sum[:]); rep.SHA256 != want {
			t.Errorf("%s (%d bytes): SHA256 = %s, want %s", name, len(signed), rep.SHA256, want)
		}
	}
}
