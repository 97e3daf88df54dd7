package revocation

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

func TestCheckEmbedded(t *testing.T) {
	ca := newCA(t, "Test CA")
	impostor := newCA(t, "Test CA") // same name, another key
	other := newCA(t, "Other CA")
	leaf := ca.issue("Alice", leafOpts{crlURL: "http://crl.example/ca.crl"})
	caLeaf := ca.issue("Sub CA", leafOpts{isCA: true})
	responder := ca.issue("OCSP responder", leafOpts{eku: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}})
	rogue := ca.issue("Mallory", leafOpts{})
	before, after := at.Add(-30*time.Minute), at.Add(30*time.Minute)
	expiredLeaf := ca.issue("Bob", leafOpts{notAfter: at.Add(15 * time.Minute)})

	type idpT struct {
		OnlySomeReasons asn1.BitString `asn1:"optional,tag:3"`
	}
	type idpUser struct {
		OnlyUser bool `asn1:"optional,tag:1"`
	}
	type idpDP struct {
		DP asn1.RawValue `asn1:"optional,tag:0"`
	}
	dp := func(uri string) idpDP {
		gn := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(uri)}
		gnDER, _ := asn1.Marshal(gn)
		full := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: gnDER}
		fullDER, _ := asn1.Marshal(full)
		return idpDP{DP: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: fullDER}}
	}

	tests := []struct {
		name       string
		cert       *x509.Certificate
		ev         Evidence
		want       Status
		wantSource string
		wantReason int
		wantDetail string // a substring of Detail
	}{
		{name: "ok/good-by-crl", ev: Evidence{CRLs: [][]byte{ca.crl(crlOpts{})}}, want: Good, wantSource: SourceEmbeddedCRL},
		{name: "ok/good-by-ocsp", ev: Evidence{OCSPs: [][]byte{ca.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Good})}}, want: Good, wantSource: SourceEmbeddedOCSP},
		{
			name: "ok/good-by-delegated-ocsp",
			ev:   Evidence{OCSPs: [][]byte{ca.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Good, responder: &responder})}},
			want: Good, wantSource: SourceEmbeddedOCSP,
		},
		{
			name: "ok/good-ocsp-within-clock-skew",
			ev:   Evidence{OCSPs: [][]byte{ca.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Good, thisUpdate: at.Add(2 * time.Minute)})}},
			want: Good, wantSource: SourceEmbeddedOCSP,
		},
		{
			name: "ok/good-crl-listing-other-serials",
			ev:   Evidence{CRLs: [][]byte{ca.crl(crlOpts{revoked: []x509.RevocationListEntry{revokedEntry(rogue.cert, before, 1)}})}},
			want: Good, wantSource: SourceEmbeddedCRL,
		},
		{
			name: "ok/good-crl-user-certs-only",
			ev:   Evidence{CRLs: [][]byte{ca.crl(crlOpts{extensions: []pkix.Extension{idpExtension(t, idpUser{true})}})}},
			want: Good, wantSource: SourceEmbeddedCRL,
		},
		{
			name: "ok/good-crl-matching-distribution-point",
			ev:   Evidence{CRLs: [][]byte{ca.crl(crlOpts{extensions: []pkix.Extension{idpExtension(t, dp("http://crl.example/ca.crl"))}})}},
			want: Good, wantSource: SourceEmbeddedCRL,
		},
		{
			name: "fail/revoked-crl",
			ev:   Evidence{CRLs: [][]byte{ca.crl(crlOpts{revoked: []x509.RevocationListEntry{revokedEntry(leaf.cert, before, 1)}})}},
			want: Revoked, wantSource: SourceEmbeddedCRL, wantReason: 1,
		},
		{
			name: "fail/revoked-ocsp",
			ev:   Evidence{OCSPs: [][]byte{ca.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Revoked, revokedAt: before, reason: ocsp.KeyCompromise})}},
			want: Revoked, wantSource: SourceEmbeddedOCSP, wantReason: ocsp.KeyCompromise,
		},
		{
			// A CRL issued after the validation time proves an earlier
			// revocation as well.
			name: "fail/revoked-by-later-crl",
			ev: Evidence{CRLs: [][]byte{ca.crl(crlOpts{thisUpdate: at.Add(48 * time.Hour), nextUpdate: at.Add(72 * time.Hour),
				revoked: []x509.RevocationListEntry{revokedEntry(leaf.cert, before, 4)}})}},
			want: Revoked, wantSource: SourceEmbeddedCRL, wantReason: 4,
		},
		{
			// The embedded OCSP response is good and current, but a CRL
			// lists a revocation before the validation time: Revoked wins.
			name: "fail/revoked-overrides-good",
			ev: Evidence{
				OCSPs: [][]byte{ca.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Good, thisUpdate: at.Add(-2 * time.Hour)})},
				CRLs:  [][]byte{ca.crl(crlOpts{revoked: []x509.RevocationListEntry{revokedEntry(leaf.cert, at.Add(-time.Minute), 1)}})},
			},
			want: Revoked, wantSource: SourceEmbeddedCRL, wantReason: 1,
		},
		{
			name: "fail/revoked-ca-certificate-by-crl",
			cert: caLeaf.cert,
			ev:   Evidence{CRLs: [][]byte{ca.crl(crlOpts{revoked: []x509.RevocationListEntry{revokedEntry(caLeaf.cert, before, 2)}})}},
			want: Revoked, wantSource: SourceEmbeddedCRL, wantReason: 2,
		},
		{
			name: "ok/revoked-after-at",
			ev: Evidence{CRLs: [][]byte{
				ca.crl(crlOpts{}),
				ca.crl(crlOpts{thisUpdate: at.Add(2 * time.Hour), revoked: []x509.RevocationListEntry{revokedEntry(leaf.cert, at.Add(time.Hour), 1)}}),
			}},
			want: Good, wantSource: SourceEmbeddedCRL, wantDetail: "later revocation on 2026-03-01T13:00:00Z",
		},
		{
			name: "ok/ocsp-revoked-just-after-at",
			ev: Evidence{OCSPs: [][]byte{ca.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Revoked, revokedAt: at.Add(time.Minute),
				thisUpdate: at.Add(2 * time.Minute)})}},
			want: Good, wantSource: SourceEmbeddedOCSP, wantDetail: "later revocation",
		},
		{name: "unknown/no-source", want: Unknown, wantDetail: "online checking is off"},
		{
			name: "unknown/crl-wrong-signer",
			ev:   Evidence{CRLs: [][]byte{impostor.crl(crlOpts{revoked: []x509.RevocationListEntry{revokedEntry(leaf.cert, before, 1)}})}},
			want: Unknown, wantDetail: "not signed by the issuer",
		},
		{
			name: "unknown/crl-other-issuer",
			ev:   Evidence{CRLs: [][]byte{other.crl(crlOpts{})}},
			want: Unknown, wantDetail: "is issued by",
		},
		{
			name: "unknown/expired-crl",
			ev:   Evidence{CRLs: [][]byte{ca.crl(crlOpts{thisUpdate: at.Add(-48 * time.Hour), nextUpdate: at.Add(-24 * time.Hour)})}},
			want: Unknown, wantDetail: "expired on",
		},
		{
			// Issued after at, while the certificate was valid: a revocation
			// before at would be listed.
			name: "ok/crl-issued-after-at-before-expiry",
			ev:   Evidence{CRLs: [][]byte{ca.crl(crlOpts{thisUpdate: after, nextUpdate: at.Add(48 * time.Hour)})}},
			want: Good, wantSource: SourceEmbeddedCRL,
		},
		{
			// Issued after the certificate expired: CAs drop expired
			// certificates from their CRLs, so silence proves nothing.
			name: "unknown/crl-issued-after-expiry",
			cert: expiredLeaf.cert,
			ev:   Evidence{CRLs: [][]byte{ca.crl(crlOpts{thisUpdate: after, nextUpdate: at.Add(48 * time.Hour)})}},
			want: Unknown, wantDetail: "after the certificate expired",
		},
		{
			name: "unknown/crl-some-reasons",
			ev:   Evidence{CRLs: [][]byte{ca.crl(crlOpts{extensions: []pkix.Extension{idpExtension(t, idpT{asn1.BitString{Bytes: []byte{0x40}, BitLength: 2}})}})}},
			want: Unknown, wantDetail: "partitioned",
		},
		{
			name: "unknown/crl-other-distribution-point",
			ev:   Evidence{CRLs: [][]byte{ca.crl(crlOpts{extensions: []pkix.Extension{idpExtension(t, dp("http://crl.example/part2.crl"))}})}},
			want: Unknown, wantDetail: "partitioned",
		},
		{
			name: "unknown/crl-user-certs-only-for-ca",
			cert: caLeaf.cert,
			ev:   Evidence{CRLs: [][]byte{ca.crl(crlOpts{extensions: []pkix.Extension{idpExtension(t, idpUser{true})}})}},
			want: Unknown, wantDetail: "partitioned",
		},
		{
			name: "unknown/delta-crl",
			ev: Evidence{CRLs: [][]byte{ca.crl(crlOpts{extensions: []pkix.Extension{
				{Id: oidDeltaCRLIndicator, Critical: true, Value: []byte{0x02, 0x01, 0x01}}}})}},
			want: Unknown, wantDetail: "delta",
		},
		{
			name: "unknown/crl-unknown-critical-extension",
			ev: Evidence{CRLs: [][]byte{ca.crl(crlOpts{extensions: []pkix.Extension{
				{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Critical: true, Value: []byte{0x05, 0x00}}}})}},
			want: Unknown, wantDetail: "critical",
		},
		{name: "unknown/crl-garbage", ev: Evidence{CRLs: [][]byte{[]byte("not a CRL")}}, want: Unknown, wantDetail: "does not parse"},
		{
			name: "unknown/ocsp-delegated-without-eku",
			ev:   Evidence{OCSPs: [][]byte{ca.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Good, responder: &rogue})}},
			want: Unknown, wantDetail: "lacks the OCSPSigning",
		},
		{
			name: "unknown/ocsp-wrong-signer",
			ev:   Evidence{OCSPs: [][]byte{impostor.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Good})}},
			want: Unknown, wantDetail: "not signed by the issuer",
		},
		{
			name: "unknown/ocsp-revoked-wrong-signer",
			ev:   Evidence{OCSPs: [][]byte{impostor.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Revoked, revokedAt: before})}},
			want: Unknown, wantDetail: "not signed by the issuer",
		},
		{
			name: "unknown/ocsp-cert-id-of-other-issuer",
			ev:   Evidence{OCSPs: [][]byte{ca.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Good, issuerForID: other.cert})}},
			want: Unknown, wantDetail: "another issuer",
		},
		{
			name: "unknown/ocsp-other-serial",
			ev:   Evidence{OCSPs: [][]byte{ca.ocspResponse(rogue.cert, ocspOpts{status: ocsp.Good})}},
			want: Unknown, wantDetail: "does not concern",
		},
		{name: "unknown/ocsp-status-unknown", ev: Evidence{OCSPs: [][]byte{ca.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Unknown})}}, want: Unknown, wantDetail: "does not know"},
		{
			name: "unknown/ocsp-expired",
			ev:   Evidence{OCSPs: [][]byte{ca.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Good, thisUpdate: at.Add(-48 * time.Hour), nextUpdate: at.Add(-24 * time.Hour)})}},
			want: Unknown, wantDetail: "expired on",
		},
		{
			name: "unknown/ocsp-without-next-update-long-ago",
			ev:   Evidence{OCSPs: [][]byte{ca.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Good, thisUpdate: at.Add(-time.Hour), noNextUpdate: true})}},
			want: Unknown, wantDetail: "no nextUpdate",
		},
		{name: "unknown/ocsp-garbage", ev: Evidence{OCSPs: [][]byte{{0x30, 0x03, 0x0a, 0x01, 0x03}}}, want: Unknown, wantDetail: "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := leaf.cert
			if tt.cert != nil {
				cert = tt.cert
			}
			var c Checker
			got := c.Check(context.Background(), cert, ca.cert, at, tt.ev)
			if got.Status != tt.want || got.Source != tt.wantSource {
				t.Fatalf("Check() = %v from %q (%s), want %v from %q", got.Status, got.Source, got.Detail, tt.want, tt.wantSource)
			}
			if tt.want == Revoked && (got.Reason != tt.wantReason || got.RevokedAt.IsZero()) {
				t.Errorf("Check() reason %d at %v, want reason %d and a time", got.Reason, got.RevokedAt, tt.wantReason)
			}
			if !strings.Contains(got.Detail, tt.wantDetail) || got.Detail == "" || !strings.HasSuffix(got.Detail, ".") {
				t.Errorf("Check() Detail = %q, want a sentence containing %q", got.Detail, tt.wantDetail)
			}
		})
	}
}

func TestWindow(t *testing.T) {
	tests := []struct {
		name             string
		thisUpdate, next time.Time
		want             bool
	}{
		{"ok/inside", at.Add(-time.Hour), at.Add(time.Hour), true},
		{"ok/at-next-update", at.Add(-time.Hour), at, true},
		{"ok/this-update-within-skew", at.Add(maxClockSkew), at.Add(time.Hour), true},
		{"ok/no-next-update-at-this-update", at, time.Time{}, true},
		{"fail/this-update-beyond-skew", at.Add(maxClockSkew + time.Second), at.Add(time.Hour), false},
		{"fail/expired", at.Add(-2 * time.Hour), at.Add(-time.Second), false},
		{"fail/no-next-update-long-ago", at.Add(-time.Hour), time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, why := window(tt.thisUpdate, tt.next, at, time.Time{}); got != tt.want {
				t.Errorf("window(%v, %v, %v) = %v (%s), want %v", tt.thisUpdate, tt.next, at, got, why, tt.want)
			}
		})
	}
}

func TestStatusString(t *testing.T) {
	for s, want := range map[Status]string{Unknown: "unknown", Good: "good", Revoked: "revoked", Status(9): "Status(9)"} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d).String() = %q, want %q", int(s), got, want)
		}
	}
	var zero Result
	if zero.Status != Unknown {
		t.Errorf("zero Result status = %v, want unknown", zero.Status)
	}
}
