package testpki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/ocsp"
)

// Freshness of CRLs and OCSP responses: thisUpdate a little in the past
// so a verifier whose clock lags still accepts them, nextUpdate a week on
// as many CAs publish.
const (
	revocationBackdate = time.Hour
	revocationLifetime = 7 * 24 * time.Hour
)

// Revoke marks the certificate with serial as revoked at time at, for
// reason (an RFC 5280 CRLReason code). CRLs and OCSP responses made from
// then on say so, whatever the clock says. A serial this PKI never issued
// is listed by all its CAs.
func (p *PKI) Revoke(serial *big.Int, at time.Time, reason int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.revoked[serialKey(serial)] = revocation{at: at, reason: reason}
}

// certStatus is what issuer id knows of serial: ocsp.Good, ocsp.Revoked
// (with the revocation) or ocsp.Unknown (not issued by that CA).
// p.mu must be held.
func (p *PKI) certStatus(id string, serial *big.Int) (int, revocation) {
	k := serialKey(serial)
	issuers, known := p.issued[k]
	if known && !contains(issuers, id) {
		return ocsp.Unknown, revocation{}
	}
	if r, ok := p.revoked[k]; ok {
		return ocsp.Revoked, r
	}
	if known {
		return ocsp.Good, revocation{}
	}
	return ocsp.Unknown, revocation{}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// CRL returns the current DER CRL of issuer (one of this PKI's CAs, or any
// CA that issued through IssueHolder), signed by it: thisUpdate one hour
// before the clock's now, nextUpdate seven days after, and every revoked
// serial that issuer issued.
func (p *PKI) CRL(issuer *Cert) ([]byte, error) {
	return p.CRLWith(issuer, StatusOptions{})
}

// CRLWith is CRL with the signature made as o says.
func (p *PKI) CRLWith(issuer *Cert, o StatusOptions) ([]byte, error) {
	if issuer == nil || issuer.Cert == nil || issuer.Key == nil {
		return nil, errors.New("CRL issuer needs a certificate and a private key")
	}
	id := p.register(issuer)
	now := p.now()
	p.mu.Lock()
	p.crlNumber++
	number := big.NewInt(p.crlNumber)
	var entries []x509.RevocationListEntry
	for k, r := range p.revoked {
		serial, _ := new(big.Int).SetString(k, 16)
		if st, _ := p.certStatus(id, serial); st != ocsp.Revoked {
			continue
		}
		entries = append(entries, x509.RevocationListEntry{
			SerialNumber:   serial,
			RevocationTime: r.at.UTC(),
			ReasonCode:     r.reason,
		})
	}
	p.mu.Unlock()
	alg, err := x509Algorithm(issuer.Key.Public(), o.hash())
	if err != nil {
		return nil, err
	}
	tmpl := &x509.RevocationList{
		SignatureAlgorithm:        alg,
		Number:                    number,
		ThisUpdate:                now.Add(-revocationBackdate),
		NextUpdate:                now.Add(revocationLifetime),
		RevokedCertificateEntries: entries,
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer.Cert, issuer.Key)
	if err != nil {
		return nil, fmt.Errorf("creating CRL of %s: %w", issuer.Cert.Subject.CommonName, err)
	}
	return der, nil
}

// OCSPResponse returns a DER OCSP response for cert, signed by its issuer
// (which must be one of this PKI's CAs) with a SHA-1 CertID: good,
// revoked, or unknown when this PKI did not issue that serial.
func (p *PKI) OCSPResponse(cert *x509.Certificate) ([]byte, error) {
	return p.OCSPResponseWith(cert, StatusOptions{})
}

// OCSPResponseWith is OCSPResponse with the signature made as o says.
func (p *PKI) OCSPResponseWith(cert *x509.Certificate, o StatusOptions) ([]byte, error) {
	issuer, id := p.issuerOf(cert)
	if issuer == nil {
		return nil, fmt.Errorf("issuer of %q is not a CA of this PKI", cert.Subject.String())
	}
	return p.ocspResponse(issuer, id, cert.SerialNumber, crypto.SHA1, o.hash())
}

// issuerOf finds the registered CA that signed cert.
func (p *PKI) issuerOf(cert *x509.Certificate) (*Cert, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, c := range p.cas {
		if bytes.Equal(c.Cert.RawSubject, cert.RawIssuer) && cert.CheckSignatureFrom(c.Cert) == nil {
			return c, id
		}
	}
	return nil, ""
}

// The structures of RFC 6960 section 4.2.1, as golang.org/x/crypto/ocsp
// declares them. The response is built here rather than with
// ocsp.CreateResponse because that stamps producedAt with the wall clock,
// and tests need it on the PKI's clock.
type ocspResponseASN1 struct {
	Status   asn1.Enumerated
	Response ocspResponseBytes `asn1:"explicit,tag:0,optional"`
}

type ocspResponseBytes struct {
	ResponseType asn1.ObjectIdentifier
	Response     []byte
}

type ocspBasicResponse struct {
	TBSResponseData    asn1.RawValue
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          asn1.BitString
}

type ocspResponseData struct {
	RawResponderID asn1.RawValue
	ProducedAt     time.Time `asn1:"generalized"`
	Responses      []ocspSingleResponse
}

type ocspCertID struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	NameHash      []byte
	IssuerKeyHash []byte
	SerialNumber  *big.Int
}

type ocspSingleResponse struct {
	CertID     ocspCertID
	Good       asn1.Flag       `asn1:"tag:0,optional"`
	Revoked    ocspRevokedInfo `asn1:"tag:1,optional"`
	Unknown    asn1.Flag       `asn1:"tag:2,optional"`
	ThisUpdate time.Time       `asn1:"generalized"`
	NextUpdate time.Time       `asn1:"generalized,explicit,tag:0,optional"`
}

type ocspRevokedInfo struct {
	RevocationTime time.Time       `asn1:"generalized"`
	Reason         asn1.Enumerated `asn1:"explicit,tag:0,optional"`
}

var oidOCSPBasic = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}

// ocspResponse builds a successful response about serial from issuer,
// with a CertID hashed with h.
func (p *PKI) ocspResponse(issuer *Cert, id string, serial *big.Int, h, sigHash crypto.Hash) ([]byte, error) {
	nameHash, keyHash, err := issuerHashes(issuer.Cert, h)
	if err != nil {
		return nil, err
	}
	hashOID, ok := hashOIDs[h]
	if !ok {
		return nil, fmt.Errorf("unsupported CertID hash %v", h)
	}
	now := p.now().UTC().Truncate(time.Second)
	p.mu.Lock()
	status, rev := p.certStatus(id, serial)
	p.mu.Unlock()

	single := ocspSingleResponse{
		CertID: ocspCertID{
			HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: hashOID, Parameters: asn1.NullRawValue},
			NameHash:      nameHash,
			IssuerKeyHash: keyHash,
			SerialNumber:  serial,
		},
		ThisUpdate: now.Add(-revocationBackdate),
		NextUpdate: now.Add(revocationLifetime),
	}
	switch status {
	case ocsp.Good:
		single.Good = true
	case ocsp.Revoked:
		single.Revoked = ocspRevokedInfo{
			RevocationTime: rev.at.UTC().Truncate(time.Second),
			Reason:         asn1.Enumerated(rev.reason),
		}
	default:
		single.Unknown = true
	}
	tbs, err := asn1.Marshal(ocspResponseData{
		RawResponderID: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, IsCompound: true, Bytes: issuer.Cert.RawSubject},
		ProducedAt:     now,
		Responses:      []ocspSingleResponse{single},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding OCSP response data: %w", err)
	}
	sig, alg, err := sign(issuer, tbs, sigHash)
	if err != nil {
		return nil, fmt.Errorf("signing OCSP response: %w", err)
	}
	basic, err := asn1.Marshal(ocspBasicResponse{
		TBSResponseData:    asn1.RawValue{FullBytes: tbs},
		SignatureAlgorithm: alg,
		Signature:          asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding OCSP basic response: %w", err)
	}
	der, err := asn1.Marshal(ocspResponseASN1{
		Status:   asn1.Enumerated(ocsp.Success),
		Response: ocspResponseBytes{ResponseType: oidOCSPBasic, Response: basic},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding OCSP response: %w", err)
	}
	return der, nil
}

// issuerHashes returns the CertID hashes of issuer's name and public key.
func issuerHashes(issuer *x509.Certificate, h crypto.Hash) (nameHash, keyHash []byte, err error) {
	if !h.Available() {
		return nil, nil, fmt.Errorf("hash %v not available", h)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, nil, fmt.Errorf("decoding issuer public key: %w", err)
	}
	hh := h.New()
	hh.Write(issuer.RawSubject)
	nameHash = hh.Sum(nil)
	hh.Reset()
	hh.Write(spki.PublicKey.RightAlign())
	return nameHash, hh.Sum(nil), nil
}

// Algorithm identifiers of the hashes and signatures this package makes.
var (
	hashOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
		crypto.SHA1:   {1, 3, 14, 3, 2, 26},
		crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1},
		crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
		crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3},
	}
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA1WithRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidECDSAWithSHA1   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	oidRSASSAPSS       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
)

// hashForOID returns the hash named by oid, or 0.
func hashForOID(oid asn1.ObjectIdentifier) crypto.Hash {
	for h, o := range hashOIDs {
		if o.Equal(oid) {
			return h
		}
	}
	return 0
}

type pssParameters struct {
	Hash       pkix.AlgorithmIdentifier `asn1:"explicit,tag:0"`
	MGF        pkix.AlgorithmIdentifier `asn1:"explicit,tag:1"`
	SaltLength int                      `asn1:"explicit,tag:2"`
}

// sign signs data with c's key and h (SHA-256, or SHA-1 for forgeries),
// with PSS for an RSAPSS key and SHA-256, and returns the signature and
// its algorithm identifier.
func sign(c *Cert, data []byte, h crypto.Hash) ([]byte, pkix.AlgorithmIdentifier, error) {
	alg, err := signatureAlgorithm(c, h)
	if err != nil {
		return nil, alg, err
	}
	opts := crypto.SignerOpts(h)
	if h == crypto.SHA256 {
		opts = c.SignerOpts(h)
	}
	digest := h.New()
	digest.Write(data)
	sig, err := c.Key.Sign(rand.Reader, digest.Sum(nil), opts)
	if err != nil {
		return nil, alg, err
	}
	return sig, alg, nil
}

// signatureAlgorithm is the identifier of a signature by c's key with h.
func signatureAlgorithm(c *Cert, h crypto.Hash) (pkix.AlgorithmIdentifier, error) {
	if h != crypto.SHA256 && h != crypto.SHA1 {
		return pkix.AlgorithmIdentifier{}, fmt.Errorf("unsupported signature hash %v", h)
	}
	switch c.Key.Public().(type) {
	case *rsa.PublicKey:
		switch {
		case h == crypto.SHA1:
			return pkix.AlgorithmIdentifier{Algorithm: oidSHA1WithRSA, Parameters: asn1.NullRawValue}, nil
		case c.KeyType == RSAPSS:
			sha256AI := pkix.AlgorithmIdentifier{Algorithm: hashOIDs[crypto.SHA256], Parameters: asn1.NullRawValue}
			sha256DER, err := asn1.Marshal(sha256AI)
			if err != nil {
				return pkix.AlgorithmIdentifier{}, err
			}
			params, err := asn1.Marshal(pssParameters{
				Hash:       sha256AI,
				MGF:        pkix.AlgorithmIdentifier{Algorithm: oidMGF1, Parameters: asn1.RawValue{FullBytes: sha256DER}},
				SaltLength: crypto.SHA256.Size(),
			})
			if err != nil {
				return pkix.AlgorithmIdentifier{}, err
			}
			return pkix.AlgorithmIdentifier{Algorithm: oidRSASSAPSS, Parameters: asn1.RawValue{FullBytes: params}}, nil
		}
		return pkix.AlgorithmIdentifier{Algorithm: oidSHA256WithRSA, Parameters: asn1.NullRawValue}, nil
	case *ecdsa.PublicKey:
		if h == crypto.SHA1 {
			return pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA1}, nil
		}
		return pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA256}, nil
	}
	return pkix.AlgorithmIdentifier{}, fmt.Errorf("unsupported key type %T", c.Key.Public())
}
