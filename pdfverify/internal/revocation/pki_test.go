package revocation

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// at is the validation time of every test.
var at = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// testCA is a tiny CA: a root that issues leaves, responders and CRLs.
type testCA struct {
	authority
	t      testing.TB
	serial int64
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newCA returns a self-signed CA named cn.
func newCA(t testing.TB, cn string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{authority: authority{cert, key}, t: t, serial: 100}
}

type leafOpts struct {
	ocspURL, crlURL string
	eku             []x509.ExtKeyUsage
	isCA            bool
	notAfter        time.Time // zero: 2039
}

// issue returns a new certificate signed by the CA.
func (ca *testCA) issue(cn string, o leafOpts) authority {
	ca.t.Helper()
	ca.serial++
	key := newKey(ca.t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(ca.serial),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2039, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           o.eku,
		IsCA:                  o.isCA,
		BasicConstraintsValid: true,
	}
	if !o.notAfter.IsZero() {
		tmpl.NotAfter = o.notAfter
	}
	if o.ocspURL != "" {
		tmpl.OCSPServer = []string{o.ocspURL}
	}
	if o.crlURL != "" {
		tmpl.CRLDistributionPoints = []string{o.crlURL}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		ca.t.Fatal(err)
	}
	return authority{cert, key}
}

type crlOpts struct {
	thisUpdate, nextUpdate time.Time
	revoked                []x509.RevocationListEntry
	extensions             []pkix.Extension
}

// crl returns a DER CRL signed by signer with the CA's name.
func (ca *testCA) crl(o crlOpts) []byte { return ca.crlBy(ca.authority, o) }

func (ca *testCA) crlBy(signer authority, o crlOpts) []byte {
	ca.t.Helper()
	if o.thisUpdate.IsZero() {
		o.thisUpdate = at.Add(-time.Hour)
	}
	if o.nextUpdate.IsZero() {
		o.nextUpdate = at.Add(24 * time.Hour)
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(1),
		ThisUpdate:                o.thisUpdate,
		NextUpdate:                o.nextUpdate,
		RevokedCertificateEntries: o.revoked,
		ExtraExtensions:           o.extensions,
	}, signer.cert, signer.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	return der
}

func revokedEntry(cert *x509.Certificate, when time.Time, reason int) x509.RevocationListEntry {
	return x509.RevocationListEntry{SerialNumber: cert.SerialNumber, RevocationTime: when, ReasonCode: reason}
}

type ocspOpts struct {
	status                 int
	revokedAt              time.Time
	reason                 int
	thisUpdate, nextUpdate time.Time
	noNextUpdate           bool
	responder              *authority // nil: the CA itself
	issuerForID            *x509.Certificate
}

// ocspResponse returns a DER OCSP response about cert.
func (ca *testCA) ocspResponse(cert *x509.Certificate, o ocspOpts) []byte {
	ca.t.Helper()
	if o.thisUpdate.IsZero() {
		o.thisUpdate = at.Add(-time.Hour)
	}
	if o.nextUpdate.IsZero() && !o.noNextUpdate {
		o.nextUpdate = at.Add(24 * time.Hour)
	}
	signer := ca.authority
	tmpl := ocsp.Response{
		Status:           o.status,
		SerialNumber:     cert.SerialNumber,
		ThisUpdate:       o.thisUpdate,
		NextUpdate:       o.nextUpdate,
		RevokedAt:        o.revokedAt,
		RevocationReason: o.reason,
	}
	if o.responder != nil {
		signer = *o.responder
		tmpl.Certificate = signer.cert
	}
	idIssuer := ca.cert
	if o.issuerForID != nil {
		idIssuer = o.issuerForID
	}
	der, err := ocsp.CreateResponse(idIssuer, signer.cert, tmpl, signer.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	return der
}

// idpExtension returns a critical issuing distribution point extension.
func idpExtension(t testing.TB, v any) pkix.Extension {
	t.Helper()
	der, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: oidIssuingDistributionPoint, Critical: true, Value: der}
}
