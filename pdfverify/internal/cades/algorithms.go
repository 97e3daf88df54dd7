package cades

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

var (
	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}

	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidRSASSAPSS     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}

	oidECPublicKey     = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
)

// digestHash maps a digest algorithm identifier to the hashes PAdES
// accepts. SHA-1 is refused: collisions for it can be computed.
func digestHash(oid asn1.ObjectIdentifier) (crypto.Hash, *Error) {
	switch {
	case oid.Equal(oidSHA256):
		return crypto.SHA256, nil
	case oid.Equal(oidSHA384):
		return crypto.SHA384, nil
	case oid.Equal(oidSHA512):
		return crypto.SHA512, nil
	case oid.Equal(oidSHA1):
		return 0, errorf(UnsupportedAlgorithm, "digest algorithm SHA-1 is not accepted")
	}
	return 0, errorf(UnsupportedAlgorithm, "digest algorithm %s is not supported", oid)
}

// scheme verifies one kind of signature over the signed attributes.
type scheme struct {
	name   string
	verify func(pub crypto.PublicKey, h crypto.Hash, signed, sig []byte) error
}

// signatureScheme maps the SignerInfo's signatureAlgorithm to a verifier.
// An algorithm identifier that names a hash must name the digest algorithm:
// a signature made with one hash and described with another is refused
// rather than guessed at.
func signatureScheme(alg pkix.AlgorithmIdentifier, h crypto.Hash) (scheme, *Error) {
	oid := alg.Algorithm
	mustHash := func(want crypto.Hash) *Error {
		if want != h {
			return errorf(UnsupportedAlgorithm, "signature algorithm %s does not match digest algorithm %v", oid, h)
		}
		return nil
	}
	pkcs1 := scheme{name: "RSA-PKCS1v15", verify: verifyPKCS1v15}
	ecdsaScheme := scheme{name: "ECDSA", verify: verifyECDSA}
	switch {
	case oid.Equal(oidRSAEncryption):
		return pkcs1, nil
	case oid.Equal(oidSHA256WithRSA):
		return pkcs1, mustHash(crypto.SHA256)
	case oid.Equal(oidSHA384WithRSA):
		return pkcs1, mustHash(crypto.SHA384)
	case oid.Equal(oidSHA512WithRSA):
		return pkcs1, mustHash(crypto.SHA512)
	case oid.Equal(oidECPublicKey):
		return ecdsaScheme, nil
	case oid.Equal(oidECDSAWithSHA256):
		return ecdsaScheme, mustHash(crypto.SHA256)
	case oid.Equal(oidECDSAWithSHA384):
		return ecdsaScheme, mustHash(crypto.SHA384)
	case oid.Equal(oidECDSAWithSHA512):
		return ecdsaScheme, mustHash(crypto.SHA512)
	case oid.Equal(oidRSASSAPSS):
		salt, err := pssSaltLength(alg.Parameters, h)
		if err != nil {
			return scheme{}, err
		}
		return scheme{name: "RSASSA-PSS", verify: func(pub crypto.PublicKey, h crypto.Hash, signed, sig []byte) error {
			k, ok := pub.(*rsa.PublicKey)
			if !ok {
				return fmt.Errorf("RSASSA-PSS signature but the certificate holds a %T key", pub)
			}
			return rsa.VerifyPSS(k, h, digest(h, signed), sig, &rsa.PSSOptions{SaltLength: salt, Hash: h})
		}}, nil
	}
	return scheme{}, errorf(UnsupportedAlgorithm, "signature algorithm %s is not supported", oid)
}

func digest(h crypto.Hash, b []byte) []byte {
	d := h.New()
	d.Write(b)
	return d.Sum(nil)
}

func verifyPKCS1v15(pub crypto.PublicKey, h crypto.Hash, signed, sig []byte) error {
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("RSA signature but the certificate holds a %T key", pub)
	}
	return rsa.VerifyPKCS1v15(k, h, digest(h, signed), sig)
}

func verifyECDSA(pub crypto.PublicKey, h crypto.Hash, signed, sig []byte) error {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("ECDSA signature but the certificate holds a %T key", pub)
	}
	if !ecdsa.VerifyASN1(k, digest(h, signed), sig) {
		return errors.New("ECDSA verification failed")
	}
	return nil
}

// pssParams is RSASSA-PSS-params (RFC 4055 section 3.1). Absent fields take
// the RFC's SHA-1 defaults, which the checks below then refuse.
type pssParams struct {
	Hash         pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:0"`
	MGF          pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:1"`
	SaltLength   int                      `asn1:"optional,explicit,tag:2,default:20"`
	TrailerField int                      `asn1:"optional,explicit,tag:3,default:1"`
}

// maxPSSSalt bounds the salt length we pass on: longer than any RSA
// modulus we would accept, it can only be garbage.
const maxPSSSalt = 1024

// pssSaltLength checks RSASSA-PSS parameters against the digest algorithm:
// the same hash for the message and for MGF1, the standard trailer, and a
// sane salt length, which it returns.
func pssSaltLength(raw asn1.RawValue, h crypto.Hash) (int, *Error) {
	if len(raw.FullBytes) == 0 {
		return 0, errorf(UnsupportedAlgorithm, "RSASSA-PSS without parameters means SHA-1")
	}
	var p pssParams
	if err := unmarshalAll(raw.FullBytes, &p); err != nil {
		return 0, errorf(Malformed, "decoding RSASSA-PSS parameters: %w", err)
	}
	if len(p.Hash.Algorithm) == 0 {
		return 0, errorf(UnsupportedAlgorithm, "RSASSA-PSS with the default hash SHA-1")
	}
	ph, err := digestHash(p.Hash.Algorithm)
	if err != nil {
		return 0, err
	}
	if ph != h {
		return 0, errorf(UnsupportedAlgorithm, "RSASSA-PSS hash %v differs from digest algorithm %v", ph, h)
	}
	if !p.MGF.Algorithm.Equal(oidMGF1) {
		return 0, errorf(UnsupportedAlgorithm, "RSASSA-PSS mask generation %s is not MGF1", p.MGF.Algorithm)
	}
	var mgfHash pkix.AlgorithmIdentifier
	if err := unmarshalAll(p.MGF.Parameters.FullBytes, &mgfHash); err != nil {
		return 0, errorf(Malformed, "decoding MGF1 parameters: %w", err)
	}
	mh, err := digestHash(mgfHash.Algorithm)
	if err != nil {
		return 0, err
	}
	if mh != h {
		return 0, errorf(UnsupportedAlgorithm, "MGF1 hash %v differs from digest algorithm %v", mh, h)
	}
	if p.TrailerField != 1 {
		return 0, errorf(UnsupportedAlgorithm, "RSASSA-PSS trailer field %d", p.TrailerField)
	}
	if p.SaltLength < 0 || p.SaltLength > maxPSSSalt {
		return 0, errorf(Malformed, "RSASSA-PSS salt length %d", p.SaltLength)
	}
	return p.SaltLength, nil
}

// essCertIDv2 is RFC 5035 ESSCertIDv2; hashAlgorithm defaults to SHA-256.
type essCertIDv2 struct {
	HashAlgorithm pkix.AlgorithmIdentifier `asn1:"optional"`
	CertHash      []byte
	IssuerSerial  issuerSerial `asn1:"optional"`
}

// essCertID is RFC 2634 ESSCertID, hashed with SHA-1.
type essCertID struct {
	CertHash     []byte
	IssuerSerial issuerSerial `asn1:"optional"`
}

// issuerSerial is RFC 5035 IssuerSerial.
type issuerSerial struct {
	Raw    asn1.RawContent
	Issuer []asn1.RawValue // GeneralNames
	Serial *big.Int
}

// checkSigningCertificate checks the ESS signing-certificate-v2 and v1
// attributes against cert. Only the first ESSCertID identifies the signer
// (RFC 5035 section 5.4); the others may name its chain. It returns "v2" or
// "v1" for the attribute that bound the certificate, "" when neither is
// present, and a SigningCertMismatch when one present names another
// certificate.
func checkSigningCertificate(attrs []attribute, cert *x509.Certificate) (string, *Error) {
	v2, err := singleAttribute(attrs, oidAttrSigningCertV2, "signing-certificate-v2")
	if err != nil {
		return "", errorf(Malformed, "%w", err)
	}
	v1, err := singleAttribute(attrs, oidAttrSigningCertificate, "signing-certificate")
	if err != nil {
		return "", errorf(Malformed, "%w", err)
	}
	version := ""
	if v1 != nil {
		var sc struct {
			Certs    []essCertID
			Policies asn1.RawValue `asn1:"optional"`
		}
		if err := unmarshalAll(v1, &sc); err != nil {
			return "", errorf(Malformed, "decoding signing-certificate: %w", err)
		}
		if len(sc.Certs) == 0 {
			return "", errorf(SigningCertMismatch, "signing-certificate lists no certificate")
		}
		sum := sha1.Sum(cert.Raw)
		if err := matchCertID(sc.Certs[0].CertHash, sum[:], sc.Certs[0].IssuerSerial, cert); err != nil {
			return "", errorf(SigningCertMismatch, "signing-certificate: %w", err)
		}
		version = "v1"
	}
	if v2 != nil {
		var sc struct {
			Certs    []essCertIDv2
			Policies asn1.RawValue `asn1:"optional"`
		}
		if err := unmarshalAll(v2, &sc); err != nil {
			return "", errorf(Malformed, "decoding signing-certificate-v2: %w", err)
		}
		if len(sc.Certs) == 0 {
			return "", errorf(SigningCertMismatch, "signing-certificate-v2 lists no certificate")
		}
		id := sc.Certs[0]
		h := crypto.SHA256
		if len(id.HashAlgorithm.Algorithm) > 0 {
			var herr *Error
			if h, herr = essHash(id.HashAlgorithm.Algorithm); herr != nil {
				return "", herr
			}
		}
		if err := matchCertID(id.CertHash, digest(h, cert.Raw), id.IssuerSerial, cert); err != nil {
			return "", errorf(SigningCertMismatch, "signing-certificate-v2: %w", err)
		}
		version = "v2"
	}
	return version, nil
}

// essHash maps the hash of an ESSCertIDv2. Unlike the message digest,
// SHA-1 is tolerated here: it is what v1 uses anyway, and binding a known
// certificate needs only second-preimage resistance.
func essHash(oid asn1.ObjectIdentifier) (crypto.Hash, *Error) {
	if oid.Equal(oidSHA1) {
		return crypto.SHA1, nil
	}
	return digestHash(oid)
}

func matchCertID(got, want []byte, is issuerSerial, cert *x509.Certificate) error {
	if !bytes.Equal(got, want) {
		return fmt.Errorf("certificate hash does not match %q", cert.Subject.String())
	}
	if len(is.Raw) == 0 {
		return nil
	}
	if is.Serial == nil || is.Serial.Cmp(cert.SerialNumber) != 0 {
		return fmt.Errorf("issuerSerial serial number does not match %q", cert.Subject.String())
	}
	for _, gn := range is.Issuer {
		// directoryName [4] EXPLICIT Name
		if gn.Class == asn1.ClassContextSpecific && gn.Tag == 4 && bytes.Equal(gn.Bytes, cert.RawIssuer) {
			return nil
		}
	}
	return fmt.Errorf("issuerSerial issuer does not match %q", cert.Issuer.String())
}
