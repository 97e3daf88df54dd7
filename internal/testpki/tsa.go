package testpki

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// The token is built by hand with encoding/asn1 rather than with
// github.com/digitorus/timestamp because that package stamps the CMS
// signingTime attribute with the wall clock (go.mozilla.org/pkcs7 then
// checks the TSA certificate's validity at that time, not at genTime) and
// ties the ESS certificate hash to the message imprint's hash.

// Object identifiers of RFC 3161, RFC 5652 and RFC 5035.
var (
	oidSignedData           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidTSTInfo              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidAttrContentType      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrMessageDigest    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningTime      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidAttrSigningCert      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	oidAttrSigningCertV2    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	errDigestLengthMismatch = errors.New("digest length does not match its hash")
)

// TSAPolicy is the policy of the time-stamps this package makes: ETSI EN
// 319 421's best-practices time-stamp policy.
var TSAPolicy = asn1.ObjectIdentifier{0, 4, 0, 2023, 1, 1}

// OIDSignatureTimeStampToken is the CMS unsigned attribute
// (id-aa-signatureTimeStampToken, RFC 3161 appendix A) under which a
// signature time-stamp is attached to a SignerInfo.
var OIDSignatureTimeStampToken = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}

// ESSVersion selects the ESS signing-certificate attribute of a token.
type ESSVersion int

const (
	// ESSv2 is signing-certificate-v2 (RFC 5035) with a SHA-256 hash.
	ESSv2 ESSVersion = iota
	// ESSv1 is signing-certificate (RFC 2634) with a SHA-1 hash.
	ESSv1
	// ESSNone leaves the attribute out, which RFC 3161 forbids.
	ESSNone
)

// TimestampOptions describes a time-stamp token for TimestampWith.
type TimestampOptions struct {
	// Digest is the hash of the time-stamped data, made with Hash.
	Digest []byte
	// Hash is the hash of Digest; 0 means SHA-256.
	Hash crypto.Hash
	// Time is the genTime; zero means the clock's now. It is truncated to
	// the second.
	Time time.Time
	// Nonce, when set, is copied into the TSTInfo.
	Nonce *big.Int
	// Signer signs the token; nil means the PKI's TSA. Any certificate
	// with a key works, which makes tokens from a non-TSA certificate.
	Signer *Cert
	// ESS selects the signing-certificate attribute; zero means ESSv2.
	ESS ESSVersion
	// NoCertificates leaves the signer's certificate out of the token.
	NoCertificates bool
	// Policy is the TSTInfo policy; nil means TSAPolicy.
	Policy asn1.ObjectIdentifier
}

// Timestamp returns a DER TimeStampToken (RFC 3161: a CMS ContentInfo
// with SignedData over a TSTInfo) for digest, made with h, at time at:
// signed by the TSA with SHA-256, with an ESS signing-certificate-v2
// attribute, signingTime at, and the TSA certificate embedded.
func (p *PKI) Timestamp(digest []byte, h crypto.Hash, at time.Time) ([]byte, error) {
	return p.TimestampWith(TimestampOptions{Digest: digest, Hash: h, Time: at})
}

// TimestampWith returns a DER TimeStampToken described by o; see
// Timestamp for the defaults.
func (p *PKI) TimestampWith(o TimestampOptions) ([]byte, error) {
	if o.Hash == 0 {
		o.Hash = crypto.SHA256
	}
	oid, ok := hashOIDs[o.Hash]
	if !ok {
		return nil, fmt.Errorf("unsupported message imprint hash %v", o.Hash)
	}
	if len(o.Digest) != o.Hash.Size() {
		return nil, fmt.Errorf("%w: %d bytes for %v", errDigestLengthMismatch, len(o.Digest), o.Hash)
	}
	return p.token(messageImprint{HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oid}, HashedMessage: o.Digest}, o)
}

type messageImprint struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	HashedMessage []byte
}

type tstAccuracy struct {
	Seconds int `asn1:"optional"`
	Millis  int `asn1:"optional,tag:0"`
	Micros  int `asn1:"optional,tag:1"`
}

type tstInfo struct {
	Version        int
	Policy         asn1.ObjectIdentifier
	MessageImprint messageImprint
	SerialNumber   *big.Int
	GenTime        time.Time   `asn1:"generalized"`
	Accuracy       tstAccuracy `asn1:"optional"`
	Nonce          *big.Int    `asn1:"optional"`
	TSA            asn1.RawValue
}

// tokenAccuracySeconds is the accuracy the TSTInfo claims: genTime is
// truncated to the second.
const tokenAccuracySeconds = 1

// token builds the TimeStampToken for imprint; o's Digest and Hash are
// ignored.
func (p *PKI) token(imprint messageImprint, o TimestampOptions) ([]byte, error) {
	signer := o.Signer
	if signer == nil {
		signer = p.TSA
	}
	if signer == nil || signer.Cert == nil || signer.Key == nil {
		return nil, errors.New("time-stamp signer needs a certificate and a private key")
	}
	genTime := o.Time
	if genTime.IsZero() {
		genTime = p.now()
	}
	genTime = genTime.UTC().Truncate(time.Second)
	policy := o.Policy
	if policy == nil {
		policy = TSAPolicy
	}
	p.mu.Lock()
	p.tstSerial++
	serial := big.NewInt(p.tstSerial)
	p.mu.Unlock()

	// tsa [0] GeneralName: a CHOICE, so explicitly tagged, holding the
	// directoryName [4] (also explicit: Name is a CHOICE too).
	dirName, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: signer.Cert.RawSubject})
	if err != nil {
		return nil, fmt.Errorf("encoding TSA name: %w", err)
	}
	info, err := asn1.Marshal(tstInfo{
		Version:        1,
		Policy:         policy,
		MessageImprint: imprint,
		SerialNumber:   serial,
		GenTime:        genTime,
		Accuracy:       tstAccuracy{Seconds: tokenAccuracySeconds},
		Nonce:          o.Nonce,
		TSA:            asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: dirName},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding TSTInfo: %w", err)
	}

	attrs := []cmsAttribute{
		{oidAttrContentType, oidTSTInfo},
		{oidAttrSigningTime, genTime},
		{oidAttrMessageDigest, sha256Sum(info)},
	}
	switch o.ESS {
	case ESSv2:
		h := sha256.Sum256(signer.Cert.Raw)
		attrs = append(attrs, cmsAttribute{oidAttrSigningCertV2, signingCertificate{
			Certs: []essCertID{{CertHash: h[:], IssuerSerial: issuerSerialOf(signer.Cert)}},
		}})
	case ESSv1:
		h := sha1.Sum(signer.Cert.Raw)
		attrs = append(attrs, cmsAttribute{oidAttrSigningCert, signingCertificate{
			Certs: []essCertID{{CertHash: h[:], IssuerSerial: issuerSerialOf(signer.Cert)}},
		}})
	case ESSNone:
	default:
		return nil, fmt.Errorf("unknown ESS version %d", o.ESS)
	}
	var certs []*x509.Certificate
	if !o.NoCertificates {
		certs = []*x509.Certificate{signer.Cert}
	}
	return signedData(signer, oidTSTInfo, info, attrs, certs)
}

// essCertID is ESSCertIDv2 with the default SHA-256 hash algorithm left
// out (as DER requires), which makes it the same shape as ESSCertID.
type essCertID struct {
	CertHash     []byte
	IssuerSerial issuerSerial
}

type signingCertificate struct {
	Certs []essCertID
}

type issuerSerial struct {
	Issuer []asn1.RawValue // GeneralNames
	Serial *big.Int
}

func issuerSerialOf(c *x509.Certificate) issuerSerial {
	return issuerSerial{
		Issuer: []asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: c.RawIssuer}},
		Serial: c.SerialNumber,
	}
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// cmsAttribute is a signed attribute with a single value.
type cmsAttribute struct {
	Type  asn1.ObjectIdentifier
	Value any
}

type cmsContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue // [0] EXPLICIT, built by hand: encoding/asn1 ignores tags on a RawValue
}

type cmsEncapContentInfo struct {
	EContentType asn1.ObjectIdentifier
	EContent     []byte `asn1:"explicit,tag:0"`
}

type cmsSignedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo cmsEncapContentInfo
	Certificates     asn1.RawValue   `asn1:"optional"`
	SignerInfos      []cmsSignerInfo `asn1:"set"`
}

type cmsIssuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type cmsSignerInfo struct {
	Version            int
	SID                cmsIssuerAndSerial
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
}

// signedData returns a DER ContentInfo holding a SignedData (RFC 5652)
// that encapsulates content of type contentType, signed by signer over
// attrs with SHA-256, carrying certs.
func signedData(signer *Cert, contentType asn1.ObjectIdentifier, content []byte, attrs []cmsAttribute, certs []*x509.Certificate) ([]byte, error) {
	set, err := derSetOfAttributes(attrs)
	if err != nil {
		return nil, err
	}
	sig, sigAlg, err := sign(signer, set, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("signing attributes: %w", err)
	}
	// In the SignerInfo the attributes are [0] IMPLICIT; the signature
	// covers them with the SET tag (RFC 5652 section 5.4).
	implicit := append([]byte{0xa0}, set[1:]...)
	sha256AI := pkix.AlgorithmIdentifier{Algorithm: hashOIDs[crypto.SHA256]}
	sd := cmsSignedData{
		// Version 3: the encapsulated content is not id-data.
		Version:          3,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{sha256AI},
		EncapContentInfo: cmsEncapContentInfo{EContentType: contentType, EContent: content},
		SignerInfos: []cmsSignerInfo{{
			Version:            1,
			SID:                cmsIssuerAndSerial{Issuer: asn1.RawValue{FullBytes: signer.Cert.RawIssuer}, Serial: signer.Cert.SerialNumber},
			DigestAlgorithm:    sha256AI,
			SignedAttrs:        asn1.RawValue{FullBytes: implicit},
			SignatureAlgorithm: sigAlg,
			Signature:          sig,
		}},
	}
	if len(certs) > 0 {
		var raw []byte
		for _, c := range certs {
			raw = append(raw, c.Raw...)
		}
		sd.Certificates = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: raw}
	}
	inner, err := asn1.Marshal(sd)
	if err != nil {
		return nil, fmt.Errorf("encoding SignedData: %w", err)
	}
	der, err := asn1.Marshal(cmsContentInfo{ContentType: oidSignedData, Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}})
	if err != nil {
		return nil, fmt.Errorf("encoding ContentInfo: %w", err)
	}
	return der, nil
}

// derSetOfAttributes encodes attrs as a DER SET OF Attribute, sorted by
// their encodings as DER requires.
func derSetOfAttributes(attrs []cmsAttribute) ([]byte, error) {
	encoded := make([][]byte, 0, len(attrs))
	for _, a := range attrs {
		v, err := asn1.Marshal(a.Value)
		if err != nil {
			return nil, fmt.Errorf("encoding attribute %v: %w", a.Type, err)
		}
		values, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSet, IsCompound: true, Bytes: v})
		if err != nil {
			return nil, err
		}
		e, err := asn1.Marshal(struct {
			Type   asn1.ObjectIdentifier
			Values asn1.RawValue
		}{a.Type, asn1.RawValue{FullBytes: values}})
		if err != nil {
			return nil, fmt.Errorf("encoding attribute %v: %w", a.Type, err)
		}
		encoded = append(encoded, e)
	}
	slices.SortFunc(encoded, bytes.Compare)
	set, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSet, IsCompound: true, Bytes: bytes.Join(encoded, nil)})
	if err != nil {
		return nil, fmt.Errorf("encoding signed attributes: %w", err)
	}
	return set, nil
}
