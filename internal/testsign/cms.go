package testsign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // registers SHA-1 for the forgeries of Digest
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// Object identifiers of the CMS this package writes.
var (
	oidData                  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidSHA256                = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA1                  = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidECDSAWithSHA1         = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	oidRSAEncryption         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSASSAPSS             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1                  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidECDSAWithSHA256       = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidAttrContentType       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrMessageDigest     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningTime       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidAttrSigningCertV2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidAttrSignatureTSToken  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}
	oidAttrAdbeRevocationArc = asn1.ObjectIdentifier{1, 2, 840, 113583, 1, 1, 8}
)

// OIDAdbeRevocationInfoArchival is the signed attribute in which Sign embeds
// CRLs and OCSP responses (Adobe's adbe-revocationInfoArchival).
var OIDAdbeRevocationInfoArchival = oidAttrAdbeRevocationArc

// OIDSigningCertificateV2 is the ESS signing-certificate-v2 signed
// attribute (RFC 5035) that binds the signer's certificate.
var OIDSigningCertificateV2 = oidAttrSigningCertV2

// OIDSignatureTimeStampToken is the unsigned attribute that carries a
// time-stamp over the signature value (RFC 3161 appendix A).
var OIDSignatureTimeStampToken = oidAttrSignatureTSToken

// cmsParams is what one SignedData with one SignerInfo needs.
type cmsParams struct {
	key   crypto.Signer
	cert  *x509.Certificate   // named by the SignerInfo and bound by ESS
	certs []*x509.Certificate // embedded, in this order
	pss   bool

	digest []byte      // hash of the signed content (detached, id-data)
	hash   crypto.Hash // of digest and of the signed attributes; 0: SHA-256

	signingTime time.Time // zero: no signingTime attribute
	omitESS     bool
	crls, ocsps [][]byte

	timestamper func(digest []byte, h crypto.Hash) ([]byte, error)
}

// buildCMS returns a DER ContentInfo holding a SignedData.
func buildCMS(p cmsParams) ([]byte, error) {
	if p.key == nil || p.cert == nil {
		return nil, errors.New("a key and a certificate are required")
	}
	attrs := [][]byte{
		attribute(oidAttrContentType, derOID(oidData)),
		attribute(oidAttrMessageDigest, derTLV(0x04, p.digest)),
	}
	if !p.signingTime.IsZero() {
		attrs = append(attrs, attribute(oidAttrSigningTime, derTime(p.signingTime)))
	}
	if !p.omitESS {
		h := sha256.Sum256(p.cert.Raw)
		issuerSerial := derSeq(
			derSeq(derTLV(0xA4, p.cert.RawIssuer)), // GeneralNames{directoryName}
			derInt(p.cert.SerialNumber),
		)
		// hashAlgorithm is left out: SHA-256 is its DEFAULT, and DER omits
		// default values.
		essCertID := derSeq(derTLV(0x04, h[:]), issuerSerial)
		attrs = append(attrs, attribute(oidAttrSigningCertV2, derSeq(derSeq(essCertID))))
	}
	if len(p.crls) > 0 || len(p.ocsps) > 0 {
		var parts [][]byte
		if len(p.crls) > 0 {
			parts = append(parts, derTLV(0xA0, derSeq(p.crls...)))
		}
		if len(p.ocsps) > 0 {
			parts = append(parts, derTLV(0xA1, derSeq(p.ocsps...)))
		}
		attrs = append(attrs, attribute(oidAttrAdbeRevocationArc, derSeq(parts...)))
	}
	// DER orders a SET OF by the encodings of its elements; the signature
	// is over that DER encoding, so the order matters.
	slices.SortFunc(attrs, bytes.Compare)
	signedAttrs := bytes.Join(attrs, nil)

	hash, digestAlg := crypto.SHA256, oidSHA256
	if p.hash == crypto.SHA1 {
		hash, digestAlg = crypto.SHA1, oidSHA1
	}
	ah := hash.New()
	ah.Write(derTLV(0x31, signedAttrs))
	sigAlg, sig, err := signDigest(p.key, ah.Sum(nil), p.pss, hash)
	if err != nil {
		return nil, err
	}

	signerInfo := [][]byte{
		derIntSmall(1),
		derSeq(p.cert.RawIssuer, derInt(p.cert.SerialNumber)),
		derSeq(derOID(digestAlg)),
		derTLV(0xA0, signedAttrs),
		sigAlg,
		derTLV(0x04, sig),
	}
	if p.timestamper != nil {
		sh := sha256.Sum256(sig)
		tst, err := p.timestamper(sh[:], crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("time-stamping the signature: %w", err)
		}
		signerInfo = append(signerInfo, derTLV(0xA1, attribute(oidAttrSignatureTSToken, tst)))
	}

	var certs []byte
	for _, c := range p.certs {
		certs = append(certs, c.Raw...)
	}
	// Version 1: id-data content, IssuerAndSerialNumber signer, X.509
	// certificates only (RFC 5652, 5.1).
	sd := derSeq(
		derIntSmall(1),
		derTLV(0x31, derSeq(derOID(digestAlg))),
		derSeq(derOID(oidData)), // no eContent: detached
		derTLV(0xA0, certs),
		derTLV(0x31, derSeq(signerInfo...)),
	)
	return derSeq(derOID(oidSignedData), derTLV(0xA0, sd)), nil
}

// signDigest signs a digest made with h (SHA-256, or SHA-1 for
// forgeries) and returns the DER AlgorithmIdentifier to put in the
// SignerInfo with the signature value.
func signDigest(key crypto.Signer, digest []byte, pss bool, h crypto.Hash) ([]byte, []byte, error) {
	if h == crypto.SHA1 {
		if pss {
			return nil, nil, errors.New("PSS is written with SHA-256 only")
		}
		sig, err := key.Sign(rand.Reader, digest, crypto.SHA1)
		if err != nil {
			return nil, nil, fmt.Errorf("signing (SHA-1): %w", err)
		}
		if _, ok := key.Public().(*ecdsa.PublicKey); ok {
			return derSeq(derOID(oidECDSAWithSHA1)), sig, nil
		}
		return derSeq(derOID(oidRSAEncryption), derNull()), sig, nil
	}
	switch key.Public().(type) {
	case *rsa.PublicKey:
		if pss {
			sig, err := key.Sign(rand.Reader, digest, &rsa.PSSOptions{SaltLength: sha256.Size, Hash: crypto.SHA256})
			if err != nil {
				return nil, nil, fmt.Errorf("signing (RSASSA-PSS): %w", err)
			}
			hashAlg := derSeq(derOID(oidSHA256), derNull())
			params := derSeq(
				derTLV(0xA0, hashAlg),
				derTLV(0xA1, derSeq(derOID(oidMGF1), hashAlg)),
				derTLV(0xA2, derIntSmall(sha256.Size)),
			)
			return derSeq(derOID(oidRSASSAPSS), params), sig, nil
		}
		sig, err := key.Sign(rand.Reader, digest, crypto.SHA256)
		if err != nil {
			return nil, nil, fmt.Errorf("signing (RSA): %w", err)
		}
		return derSeq(derOID(oidRSAEncryption), derNull()), sig, nil
	case *ecdsa.PublicKey:
		if pss {
			return nil, nil, errors.New("PSS needs an RSA key")
		}
		sig, err := key.Sign(rand.Reader, digest, crypto.SHA256)
		if err != nil {
			return nil, nil, fmt.Errorf("signing (ECDSA): %w", err)
		}
		return derSeq(derOID(oidECDSAWithSHA256)), sig, nil
	case ed25519.PublicKey:
		return nil, nil, errors.New("Ed25519 keys are not supported")
	}
	return nil, nil, fmt.Errorf("unsupported key type %T", key.Public())
}

func attribute(oid asn1.ObjectIdentifier, values ...[]byte) []byte {
	return derSeq(derOID(oid), derTLV(0x31, values...))
}

// derTLV encodes one element with a single-byte identifier.
func derTLV(tag byte, content ...[]byte) []byte {
	n := 0
	for _, c := range content {
		n += len(c)
	}
	out := []byte{tag}
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	default:
		var l []byte
		for v := n; v > 0; v >>= 8 {
			l = append([]byte{byte(v)}, l...)
		}
		out = append(out, 0x80|byte(len(l)))
		out = append(out, l...)
	}
	for _, c := range content {
		out = append(out, c...)
	}
	return out
}

func derSeq(parts ...[]byte) []byte { return derTLV(0x30, parts...) }

func derNull() []byte { return []byte{0x05, 0x00} }

func derOID(oid asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(oid)
	if err != nil {
		panic(fmt.Sprintf("testsign: marshalling OID %v: %v", oid, err))
	}
	return b
}

func derInt(v *big.Int) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("testsign: marshalling integer: %v", err))
	}
	return b
}

func derIntSmall(v int64) []byte { return derInt(big.NewInt(v)) }

// derTime encodes t as UTCTime from 1950 to 2049 and GeneralizedTime
// otherwise (RFC 5280 section 4.1.2.5, which CMS signingTime follows).
func derTime(t time.Time) []byte {
	t = t.UTC()
	if y := t.Year(); y >= 1950 && y < 2050 {
		return derTLV(0x17, []byte(t.Format("060102150405Z")))
	}
	return derTLV(0x18, []byte(t.Format("20060102150405Z")))
}
