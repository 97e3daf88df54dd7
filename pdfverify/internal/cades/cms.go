package cades

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// Object identifiers of RFC 5652 (CMS), RFC 5035 (ESS), RFC 3161
// (time-stamps) and Adobe's PDF reference.
var (
	oidData                   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidTSTInfo                = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidAttrContentType        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrMessageDigest      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningTime        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidAttrSigningCertificate = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	oidAttrSigningCertV2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidAttrTimestampToken     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}
	oidAttrAdobeRevocation    = asn1.ObjectIdentifier{1, 2, 840, 113583, 1, 1, 8}
	oidRevInfoOCSPResponse    = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 16, 2}
)

// contentInfo is RFC 5652 ContentInfo.
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

// signedData is RFC 5652 SignedData. Certificates, CRLs and SignerInfos stay
// raw: they are SETs of CHOICEs that encoding/asn1 cannot decode directly.
type signedData struct {
	Version          int
	DigestAlgorithms asn1.RawValue
	EncapContentInfo encapContentInfo
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos      asn1.RawValue
}

type encapContentInfo struct {
	EContentType asn1.ObjectIdentifier
	EContent     asn1.RawValue `asn1:"optional,explicit,tag:0"`
}

// signerInfo is RFC 5652 SignerInfo.
type signerInfo struct {
	Version            int
	SID                asn1.RawValue
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue `asn1:"optional,tag:0"`
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
	UnsignedAttrs      asn1.RawValue `asn1:"optional,tag:1"`
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

// attribute is RFC 5652 Attribute; Values is the SET OF AttributeValue.
type attribute struct {
	Raw    asn1.RawContent // must stay first: encoding/asn1 fills it only there
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue
}

// parsedCMS is a decoded SignedData with the parts verification needs.
type parsedCMS struct {
	eContentType asn1.ObjectIdentifier
	eContent     []byte // nil when absent (detached)
	hasEContent  bool
	certs        []*x509.Certificate
	crls         [][]byte // CertificateList DER
	ocsps        [][]byte // OCSPResponse DER from the crls field
	signers      []signerInfo
}

// errorf builds an *Error with a formatted message.
func errorf(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Err: fmt.Errorf(format, args...)}
}

// parseSignedData decodes a DER or BER ContentInfo holding SignedData. Every
// failure is Malformed.
func parseSignedData(b []byte) (*parsedCMS, *Error) {
	if len(b) == 0 {
		return nil, errorf(Malformed, "empty signature")
	}
	if len(b) > maxSignatureBytes {
		return nil, errorf(Malformed, "signature of %d bytes exceeds the limit of %d", len(b), maxSignatureBytes)
	}
	der, rest, err := toDER(b)
	if err != nil {
		return nil, errorf(Malformed, "decoding BER: %w", err)
	}
	// QUIRK: a PDF /Contents string is reserved larger than the CMS and
	// padded with zero bytes, which callers may pass along; any other
	// trailing byte is refused.
	for _, c := range rest {
		if c != 0 {
			return nil, errorf(Malformed, "trailing data after the CMS structure")
		}
	}

	var ci contentInfo
	if err := unmarshalAll(der, &ci); err != nil {
		return nil, errorf(Malformed, "decoding ContentInfo: %w", err)
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, errorf(Malformed, "content type %s is not signedData", ci.ContentType)
	}
	var sd signedData
	if err := unmarshalAll(ci.Content.Bytes, &sd); err != nil {
		return nil, errorf(Malformed, "decoding SignedData: %w", err)
	}
	if sd.Version < 1 || sd.Version > 5 {
		return nil, errorf(Malformed, "SignedData version %d", sd.Version)
	}
	if sd.DigestAlgorithms.Tag != asn1.TagSet || sd.SignerInfos.Tag != asn1.TagSet ||
		sd.DigestAlgorithms.Class != asn1.ClassUniversal || sd.SignerInfos.Class != asn1.ClassUniversal {
		return nil, errorf(Malformed, "SignedData digestAlgorithms or signerInfos is not a SET")
	}

	p := &parsedCMS{eContentType: sd.EncapContentInfo.EContentType}
	if len(sd.EncapContentInfo.EContent.FullBytes) > 0 {
		p.hasEContent = true
		var octets []byte
		if err := unmarshalAll(sd.EncapContentInfo.EContent.Bytes, &octets); err != nil {
			return nil, errorf(Malformed, "decoding eContent: %w", err)
		}
		p.eContent = octets
	}

	if len(sd.Certificates.FullBytes) > 0 {
		if p.certs, err = parseCertificates(sd.Certificates.Bytes); err != nil {
			return nil, errorf(Malformed, "%w", err)
		}
	}
	if len(sd.CRLs.FullBytes) > 0 {
		if p.crls, p.ocsps, err = parseRevocationChoices(sd.CRLs.Bytes); err != nil {
			return nil, errorf(Malformed, "%w", err)
		}
	}

	for rest := sd.SignerInfos.Bytes; len(rest) > 0; {
		var si signerInfo
		if rest, err = asn1.Unmarshal(rest, &si); err != nil {
			return nil, errorf(Malformed, "decoding SignerInfo: %w", err)
		}
		p.signers = append(p.signers, si)
	}
	return p, nil
}

// unmarshalAll decodes b into v and refuses trailing bytes.
func unmarshalAll(b []byte, v any) error {
	rest, err := asn1.Unmarshal(b, v)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return errors.New("trailing data")
	}
	return nil
}

// parseCertificates decodes the members of a CertificateSet. Attribute
// certificates and the other CHOICEs (all context-tagged) say nothing about
// who signed, so they are skipped; an X.509 certificate that does not parse
// makes the whole CMS malformed rather than silently disappearing.
func parseCertificates(set []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := set; len(rest) > 0; {
		var raw asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &raw); err != nil {
			return nil, fmt.Errorf("decoding certificate set: %w", err)
		}
		if raw.Class != asn1.ClassUniversal || raw.Tag != asn1.TagSequence {
			continue
		}
		c, err := x509.ParseCertificate(raw.FullBytes)
		if err != nil {
			return nil, fmt.Errorf("parsing embedded certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// parseRevocationChoices splits RevocationInfoChoices into CRLs and OCSP
// responses (RFC 5940 other format id-ri-ocsp-response). Other formats are
// skipped: the revocation checker could not use them.
func parseRevocationChoices(set []byte) (crls, ocsps [][]byte, err error) {
	for rest := set; len(rest) > 0; {
		var raw asn1.RawValue
		if rest, err = asn1.Unmarshal(rest, &raw); err != nil {
			return nil, nil, fmt.Errorf("decoding revocation info: %w", err)
		}
		switch {
		case raw.Class == asn1.ClassUniversal && raw.Tag == asn1.TagSequence:
			crls = append(crls, raw.FullBytes)
		case raw.Class == asn1.ClassContextSpecific && raw.Tag == 1:
			// [1] IMPLICIT OtherRevocationInfoFormat: the SEQUENCE's
			// members follow the tag directly.
			var format asn1.ObjectIdentifier
			var info asn1.RawValue
			more, err := asn1.Unmarshal(raw.Bytes, &format)
			if err == nil {
				err = unmarshalAll(more, &info)
			}
			if err != nil {
				return nil, nil, fmt.Errorf("decoding other revocation info: %w", err)
			}
			if format.Equal(oidRevInfoOCSPResponse) {
				ocsps = append(ocsps, info.FullBytes)
			}
		}
	}
	return crls, ocsps, nil
}

// parseAttributes decodes a SET OF Attribute given its contents.
func parseAttributes(contents []byte) ([]attribute, error) {
	var attrs []attribute
	for rest := contents; len(rest) > 0; {
		var a attribute
		var err error
		if rest, err = asn1.Unmarshal(rest, &a); err != nil {
			return nil, fmt.Errorf("decoding attribute: %w", err)
		}
		if a.Values.Class != asn1.ClassUniversal || a.Values.Tag != asn1.TagSet {
			return nil, fmt.Errorf("attribute %s values are not a SET", a.Type)
		}
		attrs = append(attrs, a)
	}
	return attrs, nil
}

// attributeValues returns the DER values of every attribute of type oid.
func attributeValues(attrs []attribute, oid asn1.ObjectIdentifier) ([][]byte, error) {
	var vals [][]byte
	for _, a := range attrs {
		if !a.Type.Equal(oid) {
			continue
		}
		for rest := a.Values.Bytes; len(rest) > 0; {
			var v asn1.RawValue
			var err error
			if rest, err = asn1.Unmarshal(rest, &v); err != nil {
				return nil, fmt.Errorf("decoding attribute %s: %w", oid, err)
			}
			vals = append(vals, v.FullBytes)
		}
	}
	return vals, nil
}

// singleAttribute returns the one value of a single-valued attribute,
// nil when absent. RFC 5652 section 11 forbids several instances or values
// of contentType, messageDigest and signingTime; ESS does the same for the
// signing-certificate attributes. Accepting two would let a forger add a
// value that one verifier reads and another ignores.
func singleAttribute(attrs []attribute, oid asn1.ObjectIdentifier, name string) ([]byte, error) {
	count := 0
	for _, a := range attrs {
		if a.Type.Equal(oid) {
			count++
		}
	}
	if count == 0 {
		return nil, nil
	}
	vals, err := attributeValues(attrs, oid)
	if err != nil {
		return nil, err
	}
	if count != 1 || len(vals) != 1 {
		return nil, fmt.Errorf("attribute %s must have exactly one value", name)
	}
	return vals[0], nil
}

// signedAttrsDER returns the encodings over which the signature may have
// been computed: the DER re-encoding of the SET OF (members sorted, as RFC
// 5652 section 5.4 requires) and, when it differs, the signer's own member
// order under a SET tag.
func signedAttrsDER(attrs []attribute) [][]byte {
	members := make([][]byte, len(attrs))
	for i, a := range attrs {
		members[i] = a.Raw
	}
	sorted := make([][]byte, len(members))
	copy(sorted, members)
	sortDER(sorted)
	der := encodeSet(sorted)
	asSent := encodeSet(members)
	if bytes.Equal(der, asSent) {
		return [][]byte{der}
	}
	// QUIRK: some producers sign their attributes in the order they wrote
	// them. Both encodings carry the same attribute values, so accepting
	// either changes nothing about what was signed.
	return [][]byte{der, asSent}
}

func encodeSet(members [][]byte) []byte {
	total := 0
	for _, m := range members {
		total += len(m)
	}
	out := appendHeader(make([]byte, 0, total+6), []byte{0x31}, total)
	for _, m := range members {
		out = append(out, m...)
	}
	return out
}

// sortDER orders SET OF members as X.690 section 11.6 requires: by their
// encodings compared as octet strings, the shorter padded with zeros.
func sortDER(members [][]byte) {
	for i := 1; i < len(members); i++ {
		for j := i; j > 0 && derLess(members[j], members[j-1]); j-- {
			members[j], members[j-1] = members[j-1], members[j]
		}
	}
}

func derLess(a, b []byte) bool {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y byte
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// findSigner returns the embedded certificate that the SignerInfo's sid
// designates: by issuer and serial number, or by subject key identifier
// ([0] IMPLICIT, SignerInfo version 3). Two different certificates that
// both match make the choice ambiguous and are refused.
func findSigner(sid asn1.RawValue, certs []*x509.Certificate) (*x509.Certificate, *Error) {
	var match func(*x509.Certificate) bool
	switch {
	case sid.Class == asn1.ClassUniversal && sid.Tag == asn1.TagSequence:
		var ias issuerAndSerial
		if err := unmarshalAll(sid.FullBytes, &ias); err != nil {
			return nil, errorf(Malformed, "decoding signer identifier: %w", err)
		}
		match = func(c *x509.Certificate) bool {
			return c.SerialNumber.Cmp(ias.Serial) == 0 && bytes.Equal(c.RawIssuer, ias.Issuer.FullBytes)
		}
	case sid.Class == asn1.ClassContextSpecific && sid.Tag == 0 && !sid.IsCompound:
		ski := sid.Bytes
		if len(ski) == 0 {
			return nil, errorf(Malformed, "empty subject key identifier in signer identifier")
		}
		match = func(c *x509.Certificate) bool { return bytes.Equal(c.SubjectKeyId, ski) }
	default:
		return nil, errorf(Malformed, "signer identifier is neither issuerAndSerialNumber nor subjectKeyIdentifier")
	}
	var found *x509.Certificate
	for _, c := range certs {
		if !match(c) {
			continue
		}
		if found != nil && !bytes.Equal(found.Raw, c.Raw) {
			return nil, errorf(Malformed, "signer identifier matches two different embedded certificates")
		}
		found = c
	}
	if found == nil {
		return nil, errorf(NoSignerCertificate, "no embedded certificate matches the signer identifier")
	}
	return found, nil
}
