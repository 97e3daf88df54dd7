package cades

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"sync"
	"testing"
	"time"
)

// This file builds CMS structures for the tests with encoding/asn1, so that
// each test can break exactly one thing.

// testNow is the fixed clock of every test certificate and attribute.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type leaf struct {
	cert *x509.Certificate
	key  crypto.Signer
}

type testPKI struct {
	root      leaf
	rsa       leaf // RSA 2048 signer
	ec        leaf // P-256 signer
	other     leaf // another RSA 2048 key and certificate
	tsa       leaf // P-256 TSA with id-kp-timeStamping
	tsaNoEKU  leaf // P-256 certificate without id-kp-timeStamping
	twinOfRSA leaf // same issuer and serial as rsa, another key
}

var (
	pkiOnce sync.Once
	pkiVal  *testPKI
)

// pki returns the test PKI, built once: RSA key generation is slow.
func pki(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() { pkiVal = newPKI() })
	return pkiVal
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func newPKI() *testPKI {
	p := &testPKI{}
	rootKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	rootTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Test Root CA", Organization: []string{"revokd tests"}},
		NotBefore:             testNow.AddDate(-5, 0, 0),
		NotAfter:              testNow.AddDate(5, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	rootCert := must(x509.ParseCertificate(must(x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey))))
	p.root = leaf{rootCert, rootKey}

	issue := func(serial int64, cn string, key crypto.Signer, eku []x509.ExtKeyUsage) leaf {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    testNow.AddDate(-1, 0, 0),
			NotAfter:     testNow.AddDate(1, 0, 0),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
			ExtKeyUsage:  eku,
			SubjectKeyId: big.NewInt(serial).Bytes(),
		}
		der := must(x509.CreateCertificate(rand.Reader, tmpl, rootCert, key.Public(), rootKey))
		return leaf{must(x509.ParseCertificate(der)), key}
	}
	rsaKey := must(rsa.GenerateKey(rand.Reader, 2048))
	otherKey := must(rsa.GenerateKey(rand.Reader, 2048))
	p.rsa = issue(100, "Alice RSA", rsaKey, nil)
	p.ec = issue(101, "Bob ECDSA", must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)), nil)
	p.other = issue(102, "Mallory", otherKey, nil)
	p.tsa = issue(200, "Test TSA", must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)), []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping})
	p.tsaNoEKU = issue(201, "Not a TSA", must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)), nil)
	p.twinOfRSA = issue(100, "Alice RSA", otherKey, nil)
	return p
}

// signSpec describes one CMS SignedData to build. The zero value of each
// field is the well-formed PAdES choice.
type signSpec struct {
	signer   leaf
	sidCert  *x509.Certificate   // certificate the sid names; default signer.cert
	skiSID   bool                // use subjectKeyIdentifier as sid
	certs    []*x509.Certificate // embedded; default signer.cert and the root
	noCerts  bool
	hash     crypto.Hash // default SHA-256
	digestID asn1.ObjectIdentifier
	scheme   string // "pkcs1" (default for RSA), "ecdsa", "pss"
	sigAlgID asn1.ObjectIdentifier
	pssSalt  int // 0: the hash size; negative: no salt
	mgfHash  crypto.Hash

	content       []byte // what messageDigest hashes
	messageDigest []byte // overrides the computed digest
	contentType   asn1.ObjectIdentifier
	eContentType  asn1.ObjectIdentifier
	encapsulate   []byte // eContent; nil: detached

	noSignedAttrs bool
	noContentType bool
	signingTime   time.Time
	essV2         *x509.Certificate
	essV2Hash     crypto.Hash
	essV2Serial   *big.Int // issuerSerial with this serial (and the cert's issuer)
	essV1         *x509.Certificate
	extraSigned   [][]byte // more encoded Attributes
	unsortedAttrs bool     // sign the attributes in written order, unsorted
	adobeCRLs     [][]byte
	adobeOCSPs    [][]byte
	cmsCRLs       [][]byte
	cmsOCSPs      [][]byte

	timestamp  func(signature []byte) []byte // returns a token for the unsigned attribute
	twoSigners bool
	tamperSig  bool
}

func oidOf(h crypto.Hash) asn1.ObjectIdentifier {
	switch h {
	case crypto.SHA1:
		return oidSHA1
	case crypto.SHA256:
		return oidSHA256
	case crypto.SHA384:
		return oidSHA384
	case crypto.SHA512:
		return oidSHA512
	}
	panic("no OID for hash")
}

func mustMarshal(v any) []byte { return must(asn1.Marshal(v)) }

func encodeAttr(oid asn1.ObjectIdentifier, values ...[]byte) []byte {
	vals := make([]asn1.RawValue, len(values))
	for i, v := range values {
		vals[i] = asn1.RawValue{FullBytes: v}
	}
	return mustMarshal(struct {
		Type   asn1.ObjectIdentifier
		Values []asn1.RawValue `asn1:"set"`
	}{oid, vals})
}

func explicit(tag int, inner []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, IsCompound: true, Bytes: inner}
}

func essV2Attr(cert *x509.Certificate, h crypto.Hash, serial *big.Int) []byte {
	type issuerSerialT struct {
		Issuer []asn1.RawValue
		Serial *big.Int
	}
	type idT struct {
		HashAlgorithm pkix.AlgorithmIdentifier `asn1:"optional"`
		CertHash      []byte
		IssuerSerial  issuerSerialT `asn1:"optional"`
	}
	id := idT{CertHash: digest(h, cert.Raw)}
	if h != crypto.SHA256 {
		id.HashAlgorithm = pkix.AlgorithmIdentifier{Algorithm: oidOf(h)}
	}
	if serial != nil {
		id.IssuerSerial = issuerSerialT{
			Issuer: []asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: cert.RawIssuer}},
			Serial: serial,
		}
	}
	return encodeAttr(oidAttrSigningCertV2, mustMarshal(struct{ Certs []idT }{[]idT{id}}))
}

func essV1Attr(cert *x509.Certificate) []byte {
	type idT struct{ CertHash []byte }
	return encodeAttr(oidAttrSigningCertificate, mustMarshal(struct{ Certs []idT }{[]idT{{digest(crypto.SHA1, cert.Raw)}}}))
}

// build returns the DER ContentInfo for s.
func build(t testing.TB, s signSpec) []byte {
	t.Helper()
	if s.hash == 0 {
		s.hash = crypto.SHA256
	}
	if s.digestID == nil {
		s.digestID = oidOf(s.hash)
	}
	if s.sidCert == nil {
		s.sidCert = s.signer.cert
	}
	if s.certs == nil && !s.noCerts {
		s.certs = []*x509.Certificate{s.signer.cert, pki(t).root.cert}
	}
	if s.contentType == nil {
		s.contentType = oidData
	}
	if s.eContentType == nil {
		s.eContentType = oidData
	}
	if s.scheme == "" {
		if _, ok := s.signer.key.(*ecdsa.PrivateKey); ok {
			s.scheme = "ecdsa"
		} else {
			s.scheme = "pkcs1"
		}
	}

	// Signed attributes.
	var attrs [][]byte
	if !s.noContentType {
		attrs = append(attrs, encodeAttr(oidAttrContentType, mustMarshal(s.contentType)))
	}
	md := s.messageDigest
	if md == nil {
		md = digest(s.hash, s.content)
	}
	attrs = append(attrs, encodeAttr(oidAttrMessageDigest, mustMarshal(md)))
	if !s.signingTime.IsZero() {
		attrs = append(attrs, encodeAttr(oidAttrSigningTime, mustMarshal(s.signingTime)))
	}
	if s.essV2 != nil {
		h := s.essV2Hash
		if h == 0 {
			h = crypto.SHA256
		}
		attrs = append(attrs, essV2Attr(s.essV2, h, s.essV2Serial))
	}
	if s.essV1 != nil {
		attrs = append(attrs, essV1Attr(s.essV1))
	}
	if s.adobeCRLs != nil || s.adobeOCSPs != nil {
		var archive struct {
			CRLs  []asn1.RawValue `asn1:"optional,explicit,tag:0"`
			OCSPs []asn1.RawValue `asn1:"optional,explicit,tag:1"`
		}
		for _, c := range s.adobeCRLs {
			archive.CRLs = append(archive.CRLs, asn1.RawValue{FullBytes: c})
		}
		for _, o := range s.adobeOCSPs {
			archive.OCSPs = append(archive.OCSPs, asn1.RawValue{FullBytes: o})
		}
		attrs = append(attrs, encodeAttr(oidAttrAdobeRevocation, mustMarshal(archive)))
	}
	attrs = append(attrs, s.extraSigned...)
	if !s.unsortedAttrs {
		sortDER(attrs)
	} else {
		// Written in reverse of DER order, so the two encodings differ.
		sortDER(attrs)
		for i, j := 0, len(attrs)-1; i < j; i, j = i+1, j-1 {
			attrs[i], attrs[j] = attrs[j], attrs[i]
		}
	}
	setDER := encodeSet(attrs)

	// Signature.
	signed := setDER
	if s.noSignedAttrs {
		signed = s.content
	}
	d := digest(s.hash, signed)
	var sig []byte
	var sigAlg pkix.AlgorithmIdentifier
	switch s.scheme {
	case "pkcs1":
		sig = must(rsa.SignPKCS1v15(rand.Reader, s.signer.key.(*rsa.PrivateKey), s.hash, d))
		sigAlg.Algorithm = map[crypto.Hash]asn1.ObjectIdentifier{
			crypto.SHA1: {1, 2, 840, 113549, 1, 1, 5}, crypto.SHA256: oidSHA256WithRSA,
			crypto.SHA384: oidSHA384WithRSA, crypto.SHA512: oidSHA512WithRSA}[s.hash]
	case "ecdsa":
		sig = must(ecdsa.SignASN1(rand.Reader, s.signer.key.(*ecdsa.PrivateKey), d))
		sigAlg.Algorithm = map[crypto.Hash]asn1.ObjectIdentifier{
			crypto.SHA1: {1, 2, 840, 10045, 4, 1}, crypto.SHA256: oidECDSAWithSHA256,
			crypto.SHA384: oidECDSAWithSHA384, crypto.SHA512: oidECDSAWithSHA512}[s.hash]
	case "pss":
		salt := s.pssSalt
		switch {
		case salt == 0:
			salt = s.hash.Size()
		case salt < 0:
			salt = 0
		}
		mgf := s.mgfHash
		if mgf == 0 {
			mgf = s.hash
		}
		sig = must(rsa.SignPSS(rand.Reader, s.signer.key.(*rsa.PrivateKey), s.hash, d, &rsa.PSSOptions{SaltLength: salt, Hash: s.hash}))
		params := mustMarshal(struct {
			Hash pkix.AlgorithmIdentifier `asn1:"explicit,tag:0"`
			MGF  pkix.AlgorithmIdentifier `asn1:"explicit,tag:1"`
			Salt int                      `asn1:"explicit,tag:2"`
		}{
			Hash: pkix.AlgorithmIdentifier{Algorithm: oidOf(s.hash)},
			MGF: pkix.AlgorithmIdentifier{Algorithm: oidMGF1, Parameters: asn1.RawValue{
				FullBytes: mustMarshal(pkix.AlgorithmIdentifier{Algorithm: oidOf(mgf)})}},
			Salt: salt,
		})
		sigAlg = pkix.AlgorithmIdentifier{Algorithm: oidRSASSAPSS, Parameters: asn1.RawValue{FullBytes: params}}
	default:
		panic("unknown scheme " + s.scheme)
	}
	if s.sigAlgID != nil {
		sigAlg.Algorithm = s.sigAlgID
	}
	if s.tamperSig {
		sig[len(sig)/2] ^= 0x01
	}

	// SignerInfo.
	type signerInfoT struct {
		Version            int
		SID                asn1.RawValue
		DigestAlgorithm    pkix.AlgorithmIdentifier
		SignedAttrs        asn1.RawValue `asn1:"optional"`
		SignatureAlgorithm pkix.AlgorithmIdentifier
		Signature          []byte
		UnsignedAttrs      asn1.RawValue `asn1:"optional"`
	}
	si := signerInfoT{
		Version:            1,
		DigestAlgorithm:    pkix.AlgorithmIdentifier{Algorithm: s.digestID},
		SignatureAlgorithm: sigAlg,
		Signature:          sig,
	}
	if s.skiSID {
		si.Version = 3
		si.SID = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, Bytes: s.sidCert.SubjectKeyId}
	} else {
		si.SID = asn1.RawValue{FullBytes: mustMarshal(struct {
			Issuer asn1.RawValue
			Serial *big.Int
		}{asn1.RawValue{FullBytes: s.sidCert.RawIssuer}, s.sidCert.SerialNumber})}
	}
	if !s.noSignedAttrs {
		tagged := append([]byte{0xa0}, setDER[1:]...)
		si.SignedAttrs = asn1.RawValue{FullBytes: tagged}
	}
	if s.timestamp != nil {
		unsigned := encodeSet([][]byte{encodeAttr(oidAttrTimestampToken, s.timestamp(sig))})
		si.UnsignedAttrs = asn1.RawValue{FullBytes: append([]byte{0xa1}, unsigned[1:]...)}
	}
	siDER := mustMarshal(si)
	signerInfos := [][]byte{siDER}
	if s.twoSigners {
		signerInfos = append(signerInfos, siDER)
	}

	// SignedData.
	type encapT struct {
		EContentType asn1.ObjectIdentifier
		EContent     asn1.RawValue `asn1:"optional"`
	}
	type signedDataT struct {
		Version          int
		DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
		Encap            encapT
		Certificates     asn1.RawValue `asn1:"optional"`
		CRLs             asn1.RawValue `asn1:"optional"`
		SignerInfos      asn1.RawValue
	}
	sd := signedDataT{
		Version:          1,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{{Algorithm: s.digestID}},
		Encap:            encapT{EContentType: s.eContentType},
		SignerInfos:      asn1.RawValue{FullBytes: encodeSet(signerInfos)},
	}
	if s.skiSID {
		sd.Version = 3
	}
	if s.encapsulate != nil {
		sd.Encap.EContent = explicit(0, mustMarshal(s.encapsulate))
	}
	if len(s.certs) > 0 {
		var raw []byte
		for _, c := range s.certs {
			raw = append(raw, c.Raw...)
		}
		sd.Certificates = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: raw}
	}
	if s.cmsCRLs != nil || s.cmsOCSPs != nil {
		var raw []byte
		for _, c := range s.cmsCRLs {
			raw = append(raw, c...)
		}
		for _, o := range s.cmsOCSPs {
			raw = append(raw, mustMarshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, IsCompound: true,
				Bytes: append(mustMarshal(oidRevInfoOCSPResponse), o...)})...)
		}
		sd.CRLs = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, IsCompound: true, Bytes: raw}
	}
	return mustMarshal(struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue
	}{oidSignedData, explicit(0, mustMarshal(sd))})
}

// tsSpec describes a timestamp token to build.
type tsSpec struct {
	tsa       leaf
	imprint   []byte // overrides the hash of the time-stamped data
	genTime   time.Time
	noESS     bool
	tamperSig bool
}

// buildToken returns an RFC 3161 token over data.
func buildToken(t testing.TB, s tsSpec, data []byte) []byte {
	t.Helper()
	if s.genTime.IsZero() {
		s.genTime = testNow
	}
	imprint := s.imprint
	if imprint == nil {
		imprint = digest(crypto.SHA256, data)
	}
	info := mustMarshal(struct {
		Version        int
		Policy         asn1.ObjectIdentifier
		MessageImprint messageImprint
		SerialNumber   *big.Int
		GenTime        time.Time `asn1:"generalized"`
	}{1, asn1.ObjectIdentifier{1, 2, 3, 4}, messageImprint{pkix.AlgorithmIdentifier{Algorithm: oidSHA256}, imprint}, big.NewInt(42), s.genTime})
	spec := signSpec{
		signer:       s.tsa,
		content:      info,
		encapsulate:  info,
		contentType:  oidTSTInfo,
		eContentType: oidTSTInfo,
		tamperSig:    s.tamperSig,
	}
	if !s.noESS {
		spec.essV2 = s.tsa.cert
	}
	return build(t, spec)
}

// toBER rewrites DER as a streaming producer would: every constructed
// element with an indefinite length, and every OCTET STRING longer than
// four bytes split into segments of three.
func toBER(t testing.TB, der []byte) []byte {
	t.Helper()
	var out []byte
	for rest := der; len(rest) > 0; {
		h, err := readHeader(rest)
		if err != nil {
			t.Fatalf("toBER: %v", err)
		}
		content := rest[h.size : h.size+h.length]
		switch {
		case h.constructed:
			out = append(out, h.tag...)
			out = append(out, 0x80)
			out = append(out, toBER(t, content)...)
			out = append(out, 0, 0)
		case len(h.tag) == 1 && h.tag[0] == tagOctetString && len(content) > 4:
			out = append(out, tagConstructedOctetString, 0x80)
			for i := 0; i < len(content); i += 3 {
				out = appendElement(out, []byte{tagOctetString}, content[i:min(i+3, len(content))])
			}
			out = append(out, 0, 0)
		default:
			out = append(out, rest[:h.size+h.length]...)
		}
		rest = rest[h.size+h.length:]
	}
	return out
}
