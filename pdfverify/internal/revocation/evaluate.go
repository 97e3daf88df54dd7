package revocation

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"golang.org/x/crypto/ocsp"
)

var (
	oidIssuingDistributionPoint = asn1.ObjectIdentifier{2, 5, 29, 28}
	oidDeltaCRLIndicator        = asn1.ObjectIdentifier{2, 5, 29, 27}
	oidAuthorityKeyID           = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidCRLNumber                = asn1.ObjectIdentifier{2, 5, 29, 20}
)

// reasonRemoveFromCRL is RFC 5280's removeFromCRL: an entry with it
// announces that a certificate is no longer revoked (delta CRLs only).
const reasonRemoveFromCRL = 8

// window returns whether a response with [thisUpdate, nextUpdate] speaks
// for the time at. A missing nextUpdate means the issuer promises nothing
// beyond thisUpdate (RFC 6960 section 4.2.2.1 for OCSP; RFC 5280 makes it
// mandatory in CRLs), so the information then covers only thisUpdate,
// within maxClockSkew.
//
// A response issued after at also speaks for at when it was issued while
// the certificate was still valid (thisUpdate <= notAfter): a CA lists a
// revoked certificate until it expires (RFC 5280 section 3.3), so silence
// then means "not revoked at at" too. That is what lets a timestamped
// signature be checked against today's CRL.
// QUIRK: a certificateHold released between at and thisUpdate is missed;
// RGS CAs do not suspend certificates.
func window(thisUpdate, nextUpdate, at, notAfter time.Time) (bool, string) {
	if thisUpdate.After(at.Add(maxClockSkew)) {
		if !thisUpdate.After(notAfter) {
			return true, ""
		}
		return false, fmt.Sprintf("was issued on %s, after the validation time %s and after the certificate expired", stamp(thisUpdate), stamp(at))
	}
	if nextUpdate.IsZero() {
		if at.After(thisUpdate.Add(maxClockSkew)) {
			return false, fmt.Sprintf("has no nextUpdate and was issued on %s, before the validation time %s", stamp(thisUpdate), stamp(at))
		}
		return true, ""
	}
	if at.After(nextUpdate) {
		return false, fmt.Sprintf("expired on %s, before the validation time %s", stamp(nextUpdate), stamp(at))
	}
	return true, ""
}

func validity(thisUpdate, nextUpdate time.Time) string {
	if nextUpdate.IsZero() {
		return "issued " + stamp(thisUpdate)
	}
	return "valid " + stamp(thisUpdate) + " to " + stamp(nextUpdate)
}

// evalCRL says what an already parsed CRL proves about cert at time at.
func evalCRL(rl *x509.RevocationList, cert, issuer *x509.Certificate, at time.Time, accept AlgorithmCheck) answer {
	if !bytes.Equal(rl.RawIssuer, issuer.RawSubject) {
		return answer{note: fmt.Sprintf("is issued by %q, not by %q", rl.Issuer.String(), issuer.Subject.String())}
	}
	if err := rl.CheckSignatureFrom(issuer); err != nil {
		return answer{note: "is not signed by the issuer: " + err.Error()}
	}
	if err := judgeAlgorithm(accept, rl.SignatureAlgorithm, issuer); err != nil {
		return answer{note: err.Error(), weak: true}
	}
	scope, err := crlScope(rl, cert)
	if err != nil {
		return answer{note: err.Error()}
	}
	if scope == scopeIndirect {
		// Entries of an indirect CRL may name another CA's certificates
		// with the same serial number.
		return answer{note: "is an indirect CRL, which is not supported"}
	}

	var listed *x509.RevocationListEntry
	for i := range rl.RevokedCertificateEntries {
		e := &rl.RevokedCertificateEntries[i]
		if e.SerialNumber != nil && e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			listed = e
			break
		}
	}
	if listed != nil && listed.ReasonCode != reasonRemoveFromCRL && !listed.RevocationTime.After(at) {
		return answer{status: Revoked, revokedAt: listed.RevocationTime, reason: listed.ReasonCode}
	}

	var a answer
	if listed != nil && listed.ReasonCode != reasonRemoveFromCRL {
		a.revokedAt, a.reason = listed.RevocationTime, listed.ReasonCode // after the validation time
	}
	if ok, why := window(rl.ThisUpdate, rl.NextUpdate, at, cert.NotAfter); !ok {
		a.note = "proves nothing at the validation time: it " + why
		return a
	}
	if scope != scopeComplete {
		a.note = "does not cover every certificate and reason (" + scopeNames[scope] + "), so its silence proves nothing"
		return a
	}
	a.status = Good
	a.note = fmt.Sprintf("(%s) does not list the certificate as revoked at %s", validity(rl.ThisUpdate, rl.NextUpdate), stamp(at))
	return a
}

type crlScopeKind int

const (
	scopeComplete crlScopeKind = iota
	scopeDelta
	scopePartial
	scopeIndirect
	scopeUnknownCritical
)

var scopeNames = map[crlScopeKind]string{
	scopeComplete:        "complete",
	scopeDelta:           "a delta CRL",
	scopePartial:         "a partitioned CRL that excludes this certificate",
	scopeIndirect:        "an indirect CRL",
	scopeUnknownCritical: "an unknown critical extension",
}

// issuingDistributionPoint is RFC 5280 section 5.2.5.
type issuingDistributionPoint struct {
	DistributionPoint          asn1.RawValue  `asn1:"optional,tag:0"`
	OnlyContainsUserCerts      bool           `asn1:"optional,tag:1"`
	OnlyContainsCACerts        bool           `asn1:"optional,tag:2"`
	OnlySomeReasons            asn1.BitString `asn1:"optional,tag:3"`
	IndirectCRL                bool           `asn1:"optional,tag:4"`
	OnlyContainsAttributeCerts bool           `asn1:"optional,tag:5"`
}

// crlScope decides whether the CRL's silence about cert means something:
// a delta CRL, a CRL limited to some reasons, to CA or user certificates
// or to another distribution point, or one with a critical extension we
// do not know, only proves the revocations it lists (RFC 5280 section
// 6.3.3).
func crlScope(rl *x509.RevocationList, cert *x509.Certificate) (crlScopeKind, error) {
	scope := scopeComplete
	for _, ext := range rl.Extensions {
		switch {
		case ext.Id.Equal(oidDeltaCRLIndicator):
			scope = max(scope, scopeDelta)
		case ext.Id.Equal(oidIssuingDistributionPoint):
			var idp issuingDistributionPoint
			if rest, err := asn1.Unmarshal(ext.Value, &idp); err != nil || len(rest) > 0 {
				return 0, fmt.Errorf("has a malformed issuing distribution point")
			}
			switch {
			case idp.IndirectCRL:
				return scopeIndirect, nil
			case idp.OnlySomeReasons.BitLength > 0,
				idp.OnlyContainsAttributeCerts,
				idp.OnlyContainsUserCerts && cert.IsCA,
				idp.OnlyContainsCACerts && !cert.IsCA,
				len(idp.DistributionPoint.FullBytes) > 0 && !matchesDistributionPoint(idp.DistributionPoint.Bytes, cert):
				scope = max(scope, scopePartial)
			}
		case ext.Id.Equal(oidAuthorityKeyID), ext.Id.Equal(oidCRLNumber):
		default:
			if ext.Critical {
				scope = max(scope, scopeUnknownCritical)
			}
		}
	}
	return scope, nil
}

// matchesDistributionPoint reports whether a DistributionPointName (the
// contents of the IDP's [0]) names one of cert's CRL distribution point
// URIs. Only fullName URIs are compared; a name relative to the issuer
// never matches.
func matchesDistributionPoint(dpn []byte, cert *x509.Certificate) bool {
	var fullName asn1.RawValue
	if _, err := asn1.Unmarshal(dpn, &fullName); err != nil {
		return false
	}
	if fullName.Class != asn1.ClassContextSpecific || fullName.Tag != 0 {
		return false
	}
	for rest := fullName.Bytes; len(rest) > 0; {
		var gn asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &gn); err != nil {
			return false
		}
		// uniformResourceIdentifier [6] IA5String
		if gn.Class == asn1.ClassContextSpecific && gn.Tag == 6 && slices.Contains(cert.CRLDistributionPoints, string(gn.Bytes)) {
			return true
		}
	}
	return false
}

// evalOCSP says what a DER OCSP response proves about cert at time at.
func evalOCSP(der []byte, cert, issuer *x509.Certificate, at time.Time, accept AlgorithmCheck) answer {
	resp, err := parseOCSP(der, cert, issuer, accept)
	if err != nil {
		var weak *algorithmError
		return answer{note: err.Error(), weak: errors.As(err, &weak)}
	}
	return ocspAnswer(resp, cert, at)
}

func ocspAnswer(resp *ocsp.Response, cert *x509.Certificate, at time.Time) answer {
	if resp.Status == ocsp.Revoked && !resp.RevokedAt.After(at) {
		return answer{status: Revoked, revokedAt: resp.RevokedAt, reason: resp.RevocationReason}
	}
	if resp.Status == ocsp.Unknown {
		return answer{note: "the responder does not know the certificate"}
	}
	var a answer
	if resp.Status == ocsp.Revoked {
		a.revokedAt, a.reason = resp.RevokedAt, resp.RevocationReason // after the validation time
	}
	if ok, why := window(resp.ThisUpdate, resp.NextUpdate, at, cert.NotAfter); !ok {
		a.note = "proves nothing at the validation time: it " + why
		return a
	}
	a.status = Good
	a.note = fmt.Sprintf("(%s) says good at %s", validity(resp.ThisUpdate, resp.NextUpdate), stamp(at))
	return a
}

// parseOCSP parses and authenticates an OCSP response about cert.
//
// golang.org/x/crypto/ocsp matches the single response by serial number
// only, and accepts any certificate issued by the issuer as a delegated
// responder; so the responder's authority (the issuer itself, or a
// certificate it issued with id-kp-OCSPSigning, RFC 6960 section 4.2.2.2)
// and the issuer half of the CertID are checked here.
func parseOCSP(der []byte, cert, issuer *x509.Certificate, accept AlgorithmCheck) (*ocsp.Response, error) {
	// With a nil issuer the library only checks the signature against the
	// certificate the response embeds, if any; authority is decided below.
	resp, err := ocsp.ParseResponseForCert(der, cert, nil)
	if err != nil {
		return nil, fmt.Errorf("does not parse or does not concern the certificate: %w", err)
	}
	signer := issuer
	switch {
	case resp.Certificate == nil:
		if err := resp.CheckSignatureFrom(issuer); err != nil {
			return nil, fmt.Errorf("is not signed by the issuer: %w", err)
		}
	case bytes.Equal(resp.Certificate.Raw, issuer.Raw):
		// Signed by the issuer, which the responder chose to include.
	default:
		signer = resp.Certificate
		rc := resp.Certificate
		if err := rc.CheckSignatureFrom(issuer); err != nil {
			return nil, fmt.Errorf("is signed by %q, which the issuer did not certify: %w", rc.Subject.String(), err)
		}
		if !slices.Contains(rc.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
			return nil, fmt.Errorf("is signed by %q, which lacks the OCSPSigning extended key usage", rc.Subject.String())
		}
		if resp.ProducedAt.Before(rc.NotBefore) || resp.ProducedAt.After(rc.NotAfter) {
			return nil, fmt.Errorf("was produced on %s, outside the validity of its responder certificate", stamp(resp.ProducedAt))
		}
	}
	if err := judgeAlgorithm(accept, resp.SignatureAlgorithm, signer); err != nil {
		return nil, err
	}
	if signer != issuer {
		// The delegated responder's certificate is signed by the issuer.
		if err := judgeAlgorithm(accept, signer.SignatureAlgorithm, issuer); err != nil {
			return nil, err
		}
	}
	if err := checkCertID(der, cert, issuer); err != nil {
		return nil, err
	}
	return resp, nil
}

// Minimal RFC 6960 structures, to read the CertID that
// golang.org/x/crypto/ocsp does not expose. encoding/asn1 ignores the
// trailing members of a SEQUENCE that a struct does not declare.
type ocspResponseASN1 struct {
	Status   asn1.Enumerated
	Response struct {
		Type  asn1.ObjectIdentifier
		Bytes []byte
	} `asn1:"explicit,tag:0"`
}

type basicOCSPResponse struct {
	TBS struct {
		Version     int `asn1:"optional,explicit,tag:0,default:0"`
		ResponderID asn1.RawValue
		ProducedAt  time.Time `asn1:"generalized"`
		Responses   []struct {
			CertID struct {
				HashAlgorithm  pkix.AlgorithmIdentifier
				IssuerNameHash []byte
				IssuerKeyHash  []byte
				SerialNumber   *big.Int
			}
		}
	}
}

var ocspHashes = map[string]crypto.Hash{
	"1.3.14.3.2.26":          crypto.SHA1,
	"2.16.840.1.101.3.4.2.1": crypto.SHA256,
	"2.16.840.1.101.3.4.2.2": crypto.SHA384,
	"2.16.840.1.101.3.4.2.3": crypto.SHA512,
}

// checkCertID checks that the first single response about cert's serial
// number (the one golang.org/x/crypto/ocsp returned) names cert's issuer.
func checkCertID(der []byte, cert, issuer *x509.Certificate) error {
	var outer ocspResponseASN1
	if _, err := asn1.Unmarshal(der, &outer); err != nil {
		return fmt.Errorf("does not parse: %w", err)
	}
	var basic basicOCSPResponse
	if _, err := asn1.Unmarshal(outer.Response.Bytes, &basic); err != nil {
		return fmt.Errorf("does not parse: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		return fmt.Errorf("reading the issuer's public key: %w", err)
	}
	for _, r := range basic.TBS.Responses {
		id := r.CertID
		if id.SerialNumber == nil || id.SerialNumber.Cmp(cert.SerialNumber) != 0 {
			continue
		}
		h, ok := ocspHashes[id.HashAlgorithm.Algorithm.String()]
		if !ok || !h.Available() {
			return fmt.Errorf("uses an unsupported CertID hash %s", id.HashAlgorithm.Algorithm)
		}
		name := h.New()
		name.Write(issuer.RawSubject)
		key := h.New()
		key.Write(spki.PublicKey.RightAlign())
		if !bytes.Equal(name.Sum(nil), id.IssuerNameHash) || !bytes.Equal(key.Sum(nil), id.IssuerKeyHash) {
			return fmt.Errorf("concerns serial %x of another issuer", cert.SerialNumber)
		}
		return nil
	}
	return fmt.Errorf("does not concern serial %x", cert.SerialNumber)
}
