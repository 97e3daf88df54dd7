package pdfverify_test

import (
	"crypto/x509"
	"encoding/asn1"
	"testing"
	"time"

	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/pdfverify"
)

// CRL reason codes of RFC 5280 used below.
const (
	reasonKeyCompromise = 1
	reasonSuperseded    = 4
)

// TestTrustedParties: every party whose word the decision takes is
// checked: the TSA whose timestamp moves the validation time (valid,
// critical timeStamping usage, chained, not revoked at the token's time,
// not revoked later for key compromise), the signer certificate's
// extended key usage, and every CA of the chain's revocation.
func TestTrustedParties(t *testing.T) {
	w := getWorld(t)
	// stampedBy signs with a holder edited by edit, time-stamped at ts by
	// a new TSA described by tsa, after prepare has run (it may revoke
	// the holder or the TSA).
	stampedBy := func(edit func(*testpki.HolderOptions), tsa testpki.TSAOptions, ts time.Time, prepare func(h, tsa *testpki.Cert)) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			h := w.issue(t, w.pki, edit)
			unit := mustTSA(t, w.pki, tsa)
			if prepare != nil {
				prepare(h, unit)
			}
			o := signWith(h)
			o.Timestamper = stampBy(w.pki, unit, ts)
			return mustSign(t, w.form, o)
		}
	}
	revoke := func(c *testpki.Cert, at time.Time, reason int) {
		w.pki.Revoke(c.Cert.SerialNumber, at, reason)
	}
	withEKU := func(eku []x509.ExtKeyUsage, unknown ...asn1.ObjectIdentifier) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			h := w.issue(t, w.pki, func(o *testpki.HolderOptions) { o.ExtKeyUsage, o.UnknownExtKeyUsage = eku, unknown })
			return mustSign(t, w.form, signWith(h))
		}
	}
	underRevokedCA := func(p *testpki.PKI, embed bool) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			ca := mustCA(t, p, testpki.CAOptions{Name: "AC Revoquee"})
			p.Revoke(ca.Cert.SerialNumber, now.Add(-3*time.Hour), reasonKeyCompromise)
			h := w.issue(t, p, func(o *testpki.HolderOptions) { o.Issuer = ca })
			o := signWith(h)
			if embed {
				ocsp, err := p.OCSPResponse(h.Cert)
				if err != nil {
					t.Fatal(err)
				}
				crl, err := p.CRL(p.Root)
				if err != nil {
					t.Fatal(err)
				}
				o.OCSPs, o.CRLs = [][]byte{ocsp}, [][]byte{crl}
			}
			return mustSign(t, w.form, o)
		}
	}
	tokenAt := now.Add(-50 * time.Minute)
	revokedSigner := func(h, _ *testpki.Cert) { revoke(h, now.Add(-30*time.Minute), reasonKeyCompromise) }

	runOutcomeCases(t, w, []outcomeCase{
		// A revoked signer whose signature a trusted timestamp proves
		// older than the revocation passes (ETSI's best signature time);
		// the same token from a TSA since revoked for key compromise
		// proves nothing, since whoever holds that key can date anything.
		{name: "ok/revoked-signer-timestamped-before-the-revocation",
			make: stampedBy(nil, testpki.TSAOptions{Name: "Horodatage A"}, tokenAt, revokedSigner)},
		{name: "fail/tsa-revoked-for-key-compromise-after-the-token", make: stampedBy(nil, testpki.TSAOptions{Name: "Horodatage B"}, tokenAt, func(h, tsa *testpki.Cert) {
			revokedSigner(h, tsa)
			revoke(tsa, now.Add(-10*time.Minute), reasonKeyCompromise)
		}), sub: pdfverify.Revoked, check: "revocation", timestamp: "reason 1"},
		{name: "fail/tsa-revoked-without-reason-after-the-token", make: stampedBy(expiredSigner, testpki.TSAOptions{Name: "Horodatage C"}, tokenAt, func(_, tsa *testpki.Cert) {
			revoke(tsa, now.Add(-10*time.Minute), 0)
		}), sub: pdfverify.OutOfBoundsNoPOE, check: "chain", timestamp: "reason 0"},
		{name: "ok/tsa-superseded-after-the-token", make: stampedBy(expiredSigner, testpki.TSAOptions{Name: "Horodatage D"}, tokenAt, func(_, tsa *testpki.Cert) {
			revoke(tsa, now.Add(-10*time.Minute), reasonSuperseded)
		})},
		{name: "fail/tsa-revoked-before-the-token", make: stampedBy(expiredSigner, testpki.TSAOptions{Name: "Horodatage E"}, tokenAt, func(_, tsa *testpki.Cert) {
			revoke(tsa, now.Add(-2*time.Hour), reasonSuperseded)
		}), sub: pdfverify.OutOfBoundsNoPOE, check: "chain", timestamp: "before the token's time"},
		{name: "fail/tsa-usage-not-critical", make: stampedBy(expiredSigner, testpki.TSAOptions{Name: "Horodatage F", NonCriticalEKU: true}, tokenAt, nil),
			sub: pdfverify.OutOfBoundsNoPOE, check: "chain", timestamp: "not critical"},
		{name: "fail/tsa-usage-not-timestamping-alone", make: stampedBy(expiredSigner, testpki.TSAOptions{
			Name: "Horodatage G", ExtraPurposes: []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 1}},
		}, tokenAt, nil), sub: pdfverify.OutOfBoundsNoPOE, check: "chain", timestamp: "timeStamping alone"},
		{name: "fail/tsa-status-unknown", make: func(t *testing.T) []byte {
			h := w.issue(t, w.pki, expiredSigner)
			o := signWith(h)
			o.Timestamper = stampBy(w.offline, w.offline.TSA, tokenAt) // no CRL nor OCSP anywhere
			return mustSign(t, w.form, o)
		}, sub: pdfverify.OutOfBoundsNoPOE, check: "chain", timestamp: "unknown"},

		{name: "ok/signer-usage-email-protection", make: withEKU([]x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageClientAuth})},
		{name: "ok/signer-usage-any", make: withEKU([]x509.ExtKeyUsage{x509.ExtKeyUsageAny})},
		{name: "ok/signer-usage-document-signing", make: withEKU(nil, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36})},
		{name: "ok/signer-usage-adobe-authentic-documents", make: withEKU(nil, asn1.ObjectIdentifier{1, 2, 840, 113583, 1, 1, 5})},
		{name: "fail/signer-usage-ocsp-signing-only", make: withEKU([]x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}),
			sub: pdfverify.KeyUsageNotAllowed, check: "extended-key-usage"},
		{name: "fail/signer-usage-tls-client-and-server", make: withEKU([]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}),
			sub: pdfverify.KeyUsageNotAllowed, check: "extended-key-usage"},
		{name: "fail/signer-usage-timestamping", make: withEKU([]x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}),
			sub: pdfverify.KeyUsageNotAllowed, check: "extended-key-usage"},

		{name: "fail/revoked-intermediate-online", make: underRevokedCA(w.pki, false),
			sub: pdfverify.RevokedCANoPOE, check: "revocation"},
		{name: "fail/revoked-intermediate-embedded-crl", make: underRevokedCA(w.offline, true),
			opts: func(o *pdfverify.Options) { o.Revocation = nil }, sub: pdfverify.RevokedCANoPOE, check: "revocation"},
	})
}
