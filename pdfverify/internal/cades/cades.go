// Package cades verifies the CMS SignedData (PKCS #7 / CAdES) of a PAdES
// signature: the detached signature over a PDF's ByteRange bytes, its
// signed attributes, the ESS binding of the signer certificate, and an
// RFC 3161 signature timestamp.
//
// Verify answers one question: did the private key of the embedded
// certificate that the SignerInfo designates sign these bytes? It does NOT
// build a chain to trust anchors, check validity periods, key usage,
// policies or revocation, nor trust the claimed signing time: the caller
// does all of that with Result.Signer and Result.Certificates. A *Result
// with a nil error therefore proves possession of a key, not identity.
//
// The decoder accepts BER (indefinite lengths, segmented OCTET STRINGs) as
// written by streaming producers, within fixed size and nesting limits.
//
// This package does not use go.mozilla.org/pkcs7's Verify: it rejects a
// signingTime attribute outside the certificate's validity (a claimed time,
// which proves nothing either way; the caller checks validity at the
// validation time), reports every failure but a digest mismatch as an
// untyped string, lacks RSASSA-PSS and the subjectKeyIdentifier signer
// identifier, takes quadratic time on indefinite-length BER, and ignores
// decoding errors in SignedData. The checks it makes are made here, in the
// same order: message digest first, then the signature over the DER
// re-encoding of the signed attributes with the key of the certificate
// matching the signer identifier.
package cades

import (
	"crypto"
	_ "crypto/sha256" // registers SHA-256 for crypto.Hash
	_ "crypto/sha512" // registers SHA-384 and SHA-512 for crypto.Hash
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"
)

// maxSignatureBytes bounds the CMS we decode. A PAdES signature with its
// chain, a timestamp and embedded OCSP responses is tens of KiB; Adobe's
// revocation archive can carry full CRLs, a few MiB for a large CA. 16 MiB
// keeps that while bounding the memory a hostile file can make us use.
const maxSignatureBytes = 16 << 20

// Reason says why verification failed. The values are stable identifiers,
// safe to store and compare.
type Reason string

// Reasons of an *Error.
const (
	// Malformed: not a DER/BER CMS SignedData, wrong content type, missing
	// signed attributes, duplicated single-valued attributes, ...
	Malformed Reason = "malformed"
	// NotDetached: the signature encapsulates its content; PAdES requires
	// a detached signature.
	NotDetached Reason = "not-detached"
	// SignerCount: not exactly one SignerInfo.
	SignerCount Reason = "signer-count"
	// NoSignerCertificate: the signer identifier matches no embedded
	// certificate.
	NoSignerCertificate Reason = "no-signer-certificate"
	// DigestMismatch: the messageDigest attribute is not the hash of the
	// content (ETSI HASH_FAILURE).
	DigestMismatch Reason = "digest-mismatch"
	// BadSignature: the signature over the signed attributes does not
	// verify with the signer certificate's key (ETSI SIG_CRYPTO_FAILURE).
	BadSignature Reason = "bad-signature"
	// SigningCertMismatch: the ESS signing-certificate(-v2) attribute is
	// absent although required, or names another certificate.
	SigningCertMismatch Reason = "signing-certificate-mismatch"
	// UnsupportedAlgorithm: a digest or signature algorithm we do not
	// accept (MD5, SHA-1, unknown identifiers, inconsistent parameters).
	UnsupportedAlgorithm Reason = "unsupported-algorithm"
	// ImprintMismatch: a timestamp token's messageImprint is not the hash
	// of the data it should time-stamp.
	ImprintMismatch Reason = "imprint-mismatch"
	// NotTimestampingCert: the certificate that signed a timestamp token
	// lacks the id-kp-timeStamping extended key usage.
	NotTimestampingCert Reason = "not-timestamping-certificate"
)

// Error is the error type of Verify and VerifyTimestampToken.
type Error struct {
	Reason Reason
	Err    error
}

// Error returns the reason and the underlying message.
func (e *Error) Error() string {
	if e.Err == nil {
		return "cades: " + string(e.Reason)
	}
	return "cades: " + string(e.Reason) + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of the first *Error in err's chain, or "" when
// there is none.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// Options tunes Verify. The zero value is the adbe.pkcs7.detached profile.
type Options struct {
	// RequireSigningCertificate makes the ESS signing-certificate-v2 (or
	// v1) attribute mandatory, as ETSI.CAdES.detached requires. When false
	// the attribute is optional, but checked whenever present.
	RequireSigningCertificate bool
}

// Result is what Verify established. On error it is returned as far as it
// got (Certificates once decoded, Claimed once found), for reports; only
// a nil error makes its Signer meaningful.
type Result struct {
	// Signer is the certificate whose key verified the signature: the one
	// the SignerInfo designates, never merely some embedded certificate.
	// Nil unless Verify returned a nil error.
	Signer *x509.Certificate
	// Claimed is the embedded certificate that the signer identifier
	// designates, set even when the signature then fails to verify.
	// It proves nothing on its own.
	Claimed *x509.Certificate
	// Certificates are all the X.509 certificates embedded in the CMS, in
	// order; they are candidates for chain building, not trusted.
	Certificates []*x509.Certificate
	// Digest is the hash algorithm of the SignerInfo.
	Digest crypto.Hash
	// SignatureAlgorithm is "RSA-PKCS1v15", "ECDSA" or "RSASSA-PSS".
	SignatureAlgorithm string
	// SigningTime is the claimed signingTime attribute, zero if absent.
	// It is the signer's own clock and proves nothing.
	SigningTime time.Time
	// SigningCertificateAttr is "v2" or "v1" when that ESS attribute is
	// present and matches Signer (v2 when both are), "" when absent.
	SigningCertificateAttr string
	// Timestamp is the signature-time-stamp unsigned attribute, nil when
	// absent. Its Err says whether it is usable.
	Timestamp *Timestamp
	// CRLs and OCSPs are the revocation values the CMS carries, DER, from
	// its crls field and from Adobe's revocationInfoArchival signed
	// attribute. They are unverified evidence for the revocation checker.
	CRLs, OCSPs [][]byte
}

// Verify checks that signature, a DER or BER ContentInfo holding a detached
// CMS SignedData, signs content (the bytes of a PDF's ByteRange), following
// the PAdES rules: exactly one SignerInfo; signed attributes with
// contentType id-data and messageDigest; digest SHA-256, SHA-384 or
// SHA-512; signature RSA PKCS #1 v1.5, RSASSA-PSS or ECDSA. The content is
// hashed once.
//
// The returned error is an *Error. A signature-time-stamp that fails its own
// checks does not fail Verify: it is reported in Result.Timestamp.Err.
func Verify(signature []byte, content []byte, o Options) (*Result, error) {
	return VerifyParts(signature, [][]byte{content}, o)
}

// VerifyParts is Verify over content given in parts, hashed in order: the
// two ranges of a PDF ByteRange, without copying them together.
func VerifyParts(signature []byte, content [][]byte, o Options) (*Result, error) {
	p, err := parseSignedData(signature)
	if err != nil {
		return nil, err
	}
	res := &Result{Certificates: p.certs, CRLs: p.crls, OCSPs: p.ocsps}
	if !p.eContentType.Equal(oidData) {
		return res, errorf(Malformed, "encapsulated content type %s is not id-data", p.eContentType)
	}
	if p.hasEContent {
		return res, errorf(NotDetached, "the signature encapsulates %d bytes of content", len(p.eContent))
	}
	if len(p.signers) != 1 {
		return res, errorf(SignerCount, "%d SignerInfos, want exactly 1", len(p.signers))
	}
	si := &p.signers[0]

	v, verr := verifySignerInfo(si, p.certs, content, oidData, o.RequireSigningCertificate)
	res.Claimed = v.claimed
	res.Digest = v.hash
	res.SignatureAlgorithm = v.algorithm
	res.SigningTime = v.signingTime
	if verr != nil {
		return res, verr
	}
	res.Signer = v.claimed
	res.SigningCertificateAttr = v.essVersion

	crls, ocsps, aerr := adobeRevocationValues(v.signedAttrs)
	if aerr != nil {
		res.Signer = nil
		return res, errorf(Malformed, "%w", aerr)
	}
	res.CRLs = append(res.CRLs, crls...)
	res.OCSPs = append(res.OCSPs, ocsps...)

	res.Timestamp = signatureTimestamp(si)
	return res, nil
}

// verified is what verifySignerInfo found.
type verified struct {
	claimed     *x509.Certificate
	hash        crypto.Hash
	algorithm   string
	signingTime time.Time
	essVersion  string
	signedAttrs []attribute
}

// verifySignerInfo checks one SignerInfo over content: digest algorithm,
// signed attributes (contentType must equal wantContentType), message
// digest, signer certificate, signature, ESS binding. The content is hashed
// once here.
func verifySignerInfo(si *signerInfo, certs []*x509.Certificate, content [][]byte, wantContentType asn1.ObjectIdentifier, requireESS bool) (verified, *Error) {
	var v verified
	h, err := digestHash(si.DigestAlgorithm.Algorithm)
	if err != nil {
		return v, err
	}
	v.hash = h
	scheme, err := signatureScheme(si.SignatureAlgorithm, h)
	if err != nil {
		return v, err
	}
	v.algorithm = scheme.name

	if len(si.SignedAttrs.FullBytes) == 0 {
		return v, errorf(Malformed, "the SignerInfo has no signed attributes")
	}
	attrs, perr := parseAttributes(si.SignedAttrs.Bytes)
	if perr != nil {
		return v, errorf(Malformed, "%w", perr)
	}
	v.signedAttrs = attrs

	ctRaw, perr := singleAttribute(attrs, oidAttrContentType, "contentType")
	if perr != nil {
		return v, errorf(Malformed, "%w", perr)
	}
	var ct asn1.ObjectIdentifier
	if ctRaw == nil {
		return v, errorf(Malformed, "the contentType signed attribute is missing")
	}
	if perr := unmarshalAll(ctRaw, &ct); perr != nil {
		return v, errorf(Malformed, "decoding contentType: %w", perr)
	}
	if !ct.Equal(wantContentType) {
		return v, errorf(Malformed, "contentType attribute is %s, want %s", ct, wantContentType)
	}

	mdRaw, perr := singleAttribute(attrs, oidAttrMessageDigest, "messageDigest")
	if perr != nil {
		return v, errorf(Malformed, "%w", perr)
	}
	if mdRaw == nil {
		return v, errorf(Malformed, "the messageDigest signed attribute is missing")
	}
	var md []byte
	if perr := unmarshalAll(mdRaw, &md); perr != nil {
		return v, errorf(Malformed, "decoding messageDigest: %w", perr)
	}

	if stRaw, perr := singleAttribute(attrs, oidAttrSigningTime, "signingTime"); perr != nil {
		return v, errorf(Malformed, "%w", perr)
	} else if stRaw != nil {
		if perr := unmarshalAll(stRaw, &v.signingTime); perr != nil {
			return v, errorf(Malformed, "decoding signingTime: %w", perr)
		}
	}

	cert, ferr := findSigner(si.SID, certs)
	if ferr != nil {
		return v, ferr
	}
	v.claimed = cert

	hasher := h.New()
	n := 0
	for _, part := range content {
		hasher.Write(part)
		n += len(part)
	}
	if subtle.ConstantTimeCompare(md, hasher.Sum(nil)) != 1 {
		return v, errorf(DigestMismatch, "messageDigest does not match the %v hash of the %d signed bytes", h, n)
	}

	var sigErr error
	for _, enc := range signedAttrsDER(attrs) {
		if sigErr = scheme.verify(cert.PublicKey, h, enc, si.Signature); sigErr == nil {
			break
		}
	}
	if sigErr != nil {
		return v, errorf(BadSignature, "signature by %q: %w", cert.Subject.String(), sigErr)
	}

	ess, eerr := checkSigningCertificate(attrs, cert)
	if eerr != nil {
		return v, eerr
	}
	if ess == "" && requireESS {
		return v, errorf(SigningCertMismatch, "the ESS signing-certificate-v2 attribute is missing")
	}
	v.essVersion = ess
	return v, nil
}

// adobeRevocationValues decodes Adobe's revocationInfoArchival signed
// attribute (PDF 1.7, section 12.8.3.3.2):
//
//	RevocationInfoArchival ::= SEQUENCE {
//	    crl          [0] EXPLICIT SEQUENCE OF CRLs OPTIONAL,
//	    ocsp         [1] EXPLICIT SEQUENCE OF OCSPResponse OPTIONAL,
//	    otherRevInfo [2] EXPLICIT SEQUENCE OF OtherRevInfo OPTIONAL }
func adobeRevocationValues(attrs []attribute) (crls, ocsps [][]byte, err error) {
	raw, err := singleAttribute(attrs, oidAttrAdobeRevocation, "revocationInfoArchival")
	if err != nil || raw == nil {
		return nil, nil, err
	}
	var archive struct {
		CRLs  []asn1.RawValue `asn1:"optional,explicit,tag:0"`
		OCSPs []asn1.RawValue `asn1:"optional,explicit,tag:1"`
		Other asn1.RawValue   `asn1:"optional,explicit,tag:2"`
	}
	if err := unmarshalAll(raw, &archive); err != nil {
		return nil, nil, fmt.Errorf("decoding revocationInfoArchival: %w", err)
	}
	for _, c := range archive.CRLs {
		crls = append(crls, c.FullBytes)
	}
	for _, o := range archive.OCSPs {
		ocsps = append(ocsps, o.FullBytes)
	}
	return crls, ocsps, nil
}
