package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
)

// CAOptions describes a further CA for IssueCA.
type CAOptions struct {
	// Name ends the CA's common name ("<PKI name> <Name>"); empty means
	// "AC Secondaire".
	Name string
	// KeyType is the CA's key; the zero value is RSA2048. RSA1024 and
	// ECDSAP224 make a CA below the algorithm rules.
	KeyType KeyType
	// SignatureAlgorithm is the issuer's signature on the CA certificate;
	// zero lets crypto/x509 choose.
	SignatureAlgorithm x509.SignatureAlgorithm
	// Issuer signs the CA certificate; nil means the PKI's Root.
	Issuer *Cert
}

// IssueCA issues a CA certificate (path length 0, anyPolicy) valid as long
// as the Intermediate, registers it so that its CRL is served and OCSP
// answers for what it issues, and returns it: pass it as
// HolderOptions.Issuer. Revoke its serial to make a revoked CA.
func (p *PKI) IssueCA(o CAOptions) (*Cert, error) {
	issuer := o.Issuer
	if issuer == nil {
		issuer = p.Root
	}
	if o.Name == "" {
		o.Name = "AC Secondaire"
	}
	name, key, err := p.nameAndKey(o.Name, o.KeyType)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		RawSubject:            name,
		NotBefore:             p.Intermediate.Cert.NotBefore,
		NotAfter:              p.Intermediate.Cert.NotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		Policies:              []x509.OID{oidAnyPolicy},
		SignatureAlgorithm:    o.SignatureAlgorithm,
	}
	c, err := p.issue(tmpl, issuer, key, o.KeyType, "")
	if err != nil {
		return nil, fmt.Errorf("issuing CA %q: %w", o.Name, err)
	}
	p.register(c)
	return c, nil
}

// TSAOptions describes a further time-stamping unit for IssueTSA.
type TSAOptions struct {
	// Name ends the TSA's common name; empty means "Horodatage 2".
	Name string
	// KeyType is the TSA's key; the zero value is RSA2048.
	KeyType KeyType
	// NonCriticalEKU marks the timeStamping extended key usage non-critical,
	// against RFC 3161 section 2.3.
	NonCriticalEKU bool
	// ExtraPurposes are extended key usages listed after timeStamping.
	ExtraPurposes []asn1.ObjectIdentifier
}

// IssueTSA issues a time-stamping unit's certificate under the Root, with
// the Root's CRL and OCSP URLs (so Revoke on its serial shows), for
// TimestampOptions.Signer.
func (p *PKI) IssueTSA(o TSAOptions) (*Cert, error) {
	if o.Name == "" {
		o.Name = "Horodatage 2"
	}
	name, key, err := p.nameAndKey(o.Name, o.KeyType)
	if err != nil {
		return nil, err
	}
	eku, err := asn1.Marshal(append([]asn1.ObjectIdentifier{oidKPTimeStamping}, o.ExtraPurposes...))
	if err != nil {
		return nil, fmt.Errorf("encoding extended key usage: %w", err)
	}
	tmpl := &x509.Certificate{
		RawSubject:            name,
		NotBefore:             p.TSA.Cert.NotBefore,
		NotAfter:              p.TSA.Cert.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
		ExtraExtensions:       []pkix.Extension{{Id: oidExtKeyUsage, Critical: !o.NonCriticalEKU, Value: eku}},
	}
	c, err := p.issue(tmpl, p.Root, key, o.KeyType, "")
	if err != nil {
		return nil, fmt.Errorf("issuing TSA %q: %w", o.Name, err)
	}
	return c, nil
}

// nameAndKey returns the subject of a new authority of this PKI named cn
// and a key of type kt for it.
func (p *PKI) nameAndKey(cn string, kt KeyType) ([]byte, crypto.Signer, error) {
	name, err := p.caName(cn)
	if err != nil {
		return nil, nil, err
	}
	key, err := drawKey(kt)
	if err != nil {
		return nil, nil, err
	}
	return name, key, nil
}

// StatusOptions tune CRLWith and OCSPResponseWith.
type StatusOptions struct {
	// Hash is the hash of the signature; zero means SHA-256. crypto.SHA1
	// makes revocation data below the algorithm rules.
	Hash crypto.Hash
}

func (o StatusOptions) hash() crypto.Hash {
	if o.Hash == 0 {
		return crypto.SHA256
	}
	return o.Hash
}

// x509Algorithm returns the crypto/x509 signature algorithm of key with h.
func x509Algorithm(key crypto.PublicKey, h crypto.Hash) (x509.SignatureAlgorithm, error) {
	switch key.(type) {
	case *rsa.PublicKey:
		switch h {
		case crypto.SHA1:
			return x509.SHA1WithRSA, nil
		case crypto.SHA256:
			return x509.SHA256WithRSA, nil
		case crypto.SHA384:
			return x509.SHA384WithRSA, nil
		case crypto.SHA512:
			return x509.SHA512WithRSA, nil
		}
	case *ecdsa.PublicKey:
		switch h {
		case crypto.SHA1:
			return x509.ECDSAWithSHA1, nil
		case crypto.SHA256:
			return x509.ECDSAWithSHA256, nil
		case crypto.SHA384:
			return x509.ECDSAWithSHA384, nil
		case crypto.SHA512:
			return x509.ECDSAWithSHA512, nil
		}
	}
	return 0, fmt.Errorf("no signature algorithm for a %T key with %v", key, h)
}
