package pdfverify_test

import (
	"crypto"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
	"github.com/revokd/revokd/pdfverify"
)

// outcomeCase is one forgery or genuine file with the outcome it must get.
type outcomeCase struct {
	name string
	make func(t *testing.T) []byte
	// opts edits the world's options, when set.
	opts func(o *pdfverify.Options)
	// sub is the wanted sub-indication; "" wants TOTAL_PASSED.
	sub pdfverify.SubIndication
	// check is the check that must have failed (or be unknown).
	check string
	// timestamp, when set, must appear in the detail of the
	// signature's "timestamp" check.
	timestamp string
}

func runOutcomeCases(t *testing.T, w *world, cases []outcomeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.make(t)
			o := w.opts()
			if tc.opts != nil {
				tc.opts(o)
			}
			rep := verify(t, data, o)
			if tc.sub == "" {
				if rep.Indication != pdfverify.TotalPassed {
					t.Fatalf("Verify = %s/%s (%s), want TOTAL_PASSED\nchecks: %+v", rep.Indication, rep.SubIndication, rep.Reason, rep.Signatures)
				}
			} else {
				if rep.Indication == pdfverify.TotalPassed || rep.SubIndication != tc.sub {
					t.Fatalf("Verify = %s/%s (%s), want sub-indication %s\nchecks: %+v", rep.Indication, rep.SubIndication, rep.Reason, tc.sub, rep.Signatures)
				}
				if !hasCheck(rep, tc.check) {
					t.Errorf("no failed check %q in %+v", tc.check, rep.Signatures)
				}
			}
			if tc.timestamp != "" {
				if d := checkDetail(rep, "timestamp"); !strings.Contains(d, tc.timestamp) {
					t.Errorf("timestamp check says %q, want it to mention %q", d, tc.timestamp)
				}
			}
		})
	}
}

// checkDetail returns the detail of the decisive signature's check name.
func checkDetail(r *pdfverify.Report, name string) string {
	s := r.DecisiveSignature()
	if s == nil {
		return ""
	}
	for _, c := range s.Checks {
		if c.Name == name {
			return c.Detail
		}
	}
	return ""
}

func (w *world) issue(t *testing.T, p *testpki.PKI, edit func(*testpki.HolderOptions)) *testpki.Cert {
	t.Helper()
	o := holderOptions(testpki.ECDSAP256)
	if edit != nil {
		edit(&o)
	}
	c, err := p.IssueHolder(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustCA(t *testing.T, p *testpki.PKI, o testpki.CAOptions) *testpki.Cert {
	t.Helper()
	ca, err := p.IssueCA(o)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustTSA(t *testing.T, p *testpki.PKI, o testpki.TSAOptions) *testpki.Cert {
	t.Helper()
	tsa, err := p.IssueTSA(o)
	if err != nil {
		t.Fatal(err)
	}
	return tsa
}

// stampBy time-stamps with tsa at time at.
func stampBy(p *testpki.PKI, tsa *testpki.Cert, at time.Time) func([]byte, crypto.Hash) ([]byte, error) {
	return func(d []byte, h crypto.Hash) ([]byte, error) {
		return p.TimestampWith(testpki.TimestampOptions{Digest: d, Hash: h, Time: at, Signer: tsa})
	}
}

// expiredSigner is valid two hours ago, expired half an hour ago: only a
// trusted timestamp of that time lets its signature pass.
func expiredSigner(o *testpki.HolderOptions) {
	o.NotBefore, o.NotAfter = now.Add(-48*time.Hour), now.Add(-30*time.Minute)
}

// withRule returns the default algorithm table with extra rules, which win
// over the defaults of the same algorithm and size.
func withRule(extra ...pdfverify.AlgorithmRule) func(o *pdfverify.Options) {
	return func(o *pdfverify.Options) {
		o.Algorithms = slices.DeleteFunc(slices.Clone(pdfverify.DefaultAlgorithms), func(r pdfverify.AlgorithmRule) bool {
			return slices.ContainsFunc(extra, func(e pdfverify.AlgorithmRule) bool { return e.Algorithm == r.Algorithm && e.MinBits == r.MinBits })
		})
		o.Algorithms = append(o.Algorithms, extra...)
	}
}

// TestAlgorithmRules: every key and digest the decision relies on (the
// signer's, its chain's, the timestamp's and its TSA's, the CRLs' and the
// OCSP responses') must meet the algorithm table.
func TestAlgorithmRules(t *testing.T) {
	w := getWorld(t)
	signedBy := func(edit func(*testpki.HolderOptions), sign func(*testsign.SignOptions)) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			h := w.issue(t, w.pki, edit)
			o := signWith(h)
			if sign != nil {
				sign(&o)
			}
			return mustSign(t, w.form, o)
		}
	}
	keyType := func(kt testpki.KeyType) func(*testpki.HolderOptions) {
		return func(o *testpki.HolderOptions) { o.KeyType = kt }
	}
	underCA := func(ca testpki.CAOptions) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			issuer := mustCA(t, w.pki, ca)
			return signedBy(func(o *testpki.HolderOptions) { o.Issuer = issuer }, nil)(t)
		}
	}
	stampedAt := func(at time.Time) func(*testsign.SignOptions) {
		return func(o *testsign.SignOptions) { o.Timestamper = w.timestamper(at) }
	}
	// offlineWith signs with a holder of the offline PKI, whose
	// certificates name no CRL nor OCSP URL, embedding only the given
	// evidence (and the root's good CRL for the intermediate).
	offlineWith := func(evidence func(t *testing.T, h *testpki.Cert) (crls, ocsps [][]byte)) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			h := w.issue(t, w.offline, nil)
			o := signWith(h)
			o.CRLs, o.OCSPs = evidence(t, h)
			rootCRL, err := w.offline.CRL(w.offline.Root)
			if err != nil {
				t.Fatal(err)
			}
			o.CRLs = append(o.CRLs, rootCRL)
			return mustSign(t, w.form, o)
		}
	}
	sha1 := testpki.StatusOptions{Hash: crypto.SHA1}
	crlOf := func(t *testing.T, o testpki.StatusOptions) []byte {
		crl, err := w.offline.CRLWith(w.offline.Intermediate, o)
		if err != nil {
			t.Fatal(err)
		}
		return crl
	}
	ocspOf := func(t *testing.T, h *testpki.Cert, o testpki.StatusOptions) []byte {
		resp, err := w.offline.OCSPResponseWith(h.Cert, o)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	rsa1024 := keyType(testpki.RSA1024)

	runOutcomeCases(t, w, []outcomeCase{
		{name: "ok/ecdsa-p384-signer", make: signedBy(keyType(testpki.ECDSAP384), nil)},
		{name: "ok/rsa3072-signer-under-rsa3072-ca", make: underCA(testpki.CAOptions{KeyType: testpki.RSA3072})},
		{name: "ok/sha1-crl-beside-a-good-ocsp-response", make: offlineWith(func(t *testing.T, h *testpki.Cert) ([][]byte, [][]byte) {
			return [][]byte{crlOf(t, sha1)}, [][]byte{ocspOf(t, h, testpki.StatusOptions{})}
		}), opts: func(o *pdfverify.Options) { o.Revocation = nil }},

		{name: "fail/rsa1024-signer", make: signedBy(rsa1024, nil),
			sub: pdfverify.CryptoConstraintsFailed, check: "algorithms"},
		{name: "fail/ecdsa-p224-signer", make: signedBy(keyType(testpki.ECDSAP224), nil),
			sub: pdfverify.CryptoConstraintsFailed, check: "algorithms"},
		{name: "fail/sha1-cms-digest", make: signedBy(nil, func(o *testsign.SignOptions) { o.Digest = crypto.SHA1 }),
			sub: pdfverify.CryptoConstraintsFailed, check: "cms"},
		{name: "fail/rsa1024-signer-timestamped-while-allowed", make: signedBy(rsa1024, stampedAt(now.Add(-50*time.Minute))),
			opts: withRule(pdfverify.AlgorithmRule{Algorithm: "RSA", MinBits: 1024, Until: now.Add(-45 * time.Minute)}),
			sub:  pdfverify.CryptoConstraintsFailure, check: "algorithms"},
		{name: "fail/rsa1024-signer-timestamped-after-the-end-date", make: signedBy(rsa1024, stampedAt(now.Add(-time.Hour))),
			sub: pdfverify.CryptoConstraintsFailure, check: "algorithms"},
		{name: "fail/rsa1024-signer-timestamped-after-a-configured-end-date", make: signedBy(rsa1024, stampedAt(now.Add(-50*time.Minute))),
			opts: withRule(pdfverify.AlgorithmRule{Algorithm: "RSA", MinBits: 1024, Until: now.Add(-55 * time.Minute)}),
			sub:  pdfverify.CryptoConstraintsFailure, check: "algorithms"},
		{name: "fail/rsa2048-signer-past-a-configured-end-date", make: signedBy(keyType(testpki.RSA2048), nil),
			opts: withRule(pdfverify.AlgorithmRule{Algorithm: "RSA", MinBits: 2048, Until: now.Add(-time.Minute)}),
			sub:  pdfverify.CryptoConstraintsFailed, check: "algorithms"},
		{name: "fail/rsa1024-intermediate", make: underCA(testpki.CAOptions{KeyType: testpki.RSA1024}),
			sub: pdfverify.CryptoConstraintsFailed, check: "algorithms"},
		{name: "fail/ecdsa-p224-intermediate", make: underCA(testpki.CAOptions{KeyType: testpki.ECDSAP224}),
			sub: pdfverify.CryptoConstraintsFailed, check: "algorithms"},
		{name: "fail/sha1-signed-intermediate", make: underCA(testpki.CAOptions{SignatureAlgorithm: x509.SHA1WithRSA}),
			sub: pdfverify.CryptoConstraintsFailed, check: "algorithms"},
		{name: "fail/sha1-signed-signer-certificate", make: signedBy(func(o *testpki.HolderOptions) {
			o.SignatureAlgorithm = x509.SHA1WithRSA
		}, nil), sub: pdfverify.CryptoConstraintsFailed, check: "algorithms"},
		{name: "fail/sha1-signed-crl-is-the-only-evidence", make: offlineWith(func(t *testing.T, h *testpki.Cert) ([][]byte, [][]byte) {
			return [][]byte{crlOf(t, sha1)}, nil
		}), opts: func(o *pdfverify.Options) { o.Revocation = nil },
			sub: pdfverify.CryptoConstraintsFailed, check: "revocation"},
		{name: "fail/sha1-signed-ocsp-response-is-the-only-evidence", make: offlineWith(func(t *testing.T, h *testpki.Cert) ([][]byte, [][]byte) {
			return nil, [][]byte{ocspOf(t, h, sha1)}
		}), opts: func(o *pdfverify.Options) { o.Revocation = nil },
			sub: pdfverify.CryptoConstraintsFailed, check: "revocation"},
		{name: "ok/strong-tsa-backdates-an-expired-signer", make: signedBy(expiredSigner, func(o *testsign.SignOptions) {
			o.Timestamper = stampBy(w.pki, mustTSA(t, w.pki, testpki.TSAOptions{Name: "Horodatage RSA-3072", KeyType: testpki.RSA3072}), now.Add(-2*time.Hour))
		})},
		{name: "fail/rsa1024-tsa-does-not-backdate", make: signedBy(expiredSigner, func(o *testsign.SignOptions) {
			o.Timestamper = stampBy(w.pki, mustTSA(t, w.pki, testpki.TSAOptions{Name: "Horodatage RSA-1024", KeyType: testpki.RSA1024}), now.Add(-2*time.Hour))
		}), sub: pdfverify.OutOfBoundsNoPOE, check: "chain", timestamp: "RSA-1024"},
		{name: "fail/p224-tsa-does-not-backdate", make: signedBy(expiredSigner, func(o *testsign.SignOptions) {
			o.Timestamper = stampBy(w.pki, mustTSA(t, w.pki, testpki.TSAOptions{Name: "Horodatage P-224", KeyType: testpki.ECDSAP224}), now.Add(-2*time.Hour))
		}), sub: pdfverify.OutOfBoundsNoPOE, check: "chain", timestamp: "P-224"},
	})
}

func TestAlgorithmTableValidation(t *testing.T) {
	for name, table := range map[string]pdfverify.AlgorithmTable{
		"unknown algorithm":   {{Algorithm: "DSA", MinBits: 2048}},
		"key without size":    {{Algorithm: "RSA"}},
		"digest with a size":  {{Algorithm: "SHA-256", MinBits: 256}},
		"lower-case spelling": {{Algorithm: "sha-256"}},
	} {
		if _, err := pdfverify.Verify(t.Context(), nil, &pdfverify.Options{Algorithms: table}); err == nil {
			t.Errorf("%s: Verify accepted the table %+v", name, table)
		}
	}
}
