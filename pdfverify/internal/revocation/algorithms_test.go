package revocation

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// TestCheckWithAlgorithmRules: an item whose algorithm the caller refuses
// proves nothing either way, and the result says so when nothing else
// decides.
func TestCheckWithAlgorithmRules(t *testing.T) {
	ca := newCA(t, "Test CA")
	leaf := ca.issue("Alice", leafOpts{})
	responder := ca.issue("OCSP responder", leafOpts{eku: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}})
	refuseAll := func(x509.SignatureAlgorithm, *x509.Certificate) error { return errors.New("refused") }
	refuseResponder := func(_ x509.SignatureAlgorithm, signer *x509.Certificate) error {
		if signer.Equal(responder.cert) {
			return errors.New("weak responder")
		}
		return nil
	}
	good := ca.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Good})
	delegated := ca.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Good, responder: &responder})
	revokedCRL := ca.crl(crlOpts{revoked: []x509.RevocationListEntry{revokedEntry(leaf.cert, at.Add(-time.Minute), 1)}})

	tests := []struct {
		name        string
		ev          Evidence
		accept      AlgorithmCheck
		want        Status
		wantRefused bool
	}{
		{"ok/nil-accepts", Evidence{OCSPs: [][]byte{good}}, nil, Good, false},
		{"fail/ocsp-refused", Evidence{OCSPs: [][]byte{good}}, refuseAll, Unknown, true},
		{"fail/crl-refused-even-when-it-says-revoked", Evidence{CRLs: [][]byte{revokedCRL}}, refuseAll, Unknown, true},
		{"fail/delegated-responder-refused", Evidence{OCSPs: [][]byte{delegated}}, refuseResponder, Unknown, true},
		{"ok/refused-item-beside-an-accepted-one", Evidence{OCSPs: [][]byte{delegated, good}}, refuseResponder, Good, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := (&Checker{}).CheckWith(context.Background(), leaf.cert, ca.cert, at, tc.ev, tc.accept)
			if res.Status != tc.want || res.AlgorithmRefused != tc.wantRefused {
				t.Errorf("CheckWith = %v (refused %v: %s), want %v (refused %v)", res.Status, res.AlgorithmRefused, res.Detail, tc.want, tc.wantRefused)
			}
		})
	}
}

// TestLaterRevocationReason: a revocation after the validation time is
// reported with its reason, from a CRL and from an OCSP response.
func TestLaterRevocationReason(t *testing.T) {
	ca := newCA(t, "Test CA")
	leaf := ca.issue("Alice", leafOpts{})
	later := at.Add(time.Hour)
	for name, ev := range map[string]Evidence{
		"crl":  {CRLs: [][]byte{ca.crl(crlOpts{revoked: []x509.RevocationListEntry{revokedEntry(leaf.cert, later, 1)}})}},
		"ocsp": {OCSPs: [][]byte{ca.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Revoked, revokedAt: later, reason: 1})}},
	} {
		res := (&Checker{}).Check(context.Background(), leaf.cert, ca.cert, at, ev)
		if res.Status != Good || !res.LaterRevokedAt.Equal(later) || res.LaterReason != 1 {
			t.Errorf("%s: Check = %v, later %v reason %d, want good, later %v reason 1", name, res.Status, res.LaterRevokedAt, res.LaterReason, later)
		}
	}
}
