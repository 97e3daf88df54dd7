// Package testpki is a throwaway public key infrastructure for tests and for
// the demo: a root CA, an intermediate CA shaped like a French RGS ** ("AC 2
// étoiles") CA, a time-stamping authority, and holders' signing
// certificates, with CRLs, OCSP and RFC 3161 time-stamps served over HTTP
// on the loopback interface.
//
// Use it like this:
//
//	p, err := testpki.New(testpki.Options{Now: now})
//	if err != nil { ... }
//	defer p.Close()
//	holder, err := p.IssueHolder(testpki.HolderOptions{
//		Surname: "Dupont", GivenName: "Jeanne", Email: "jeanne.dupont@example.fr",
//		Organization: "Exemple SAS", SIREN: "732829320",
//	})
//
// A second PKI made with New(Options{Name: "Attacker", Mimic: p}) has names
// identical to p's, byte for byte, but its own keys: a certificate it
// issues looks like one of p's to a careless verifier and must not chain
// to p.Root.
//
// Security caveats: everything here is for tests. RSA keys come from a
// process-wide pool and are reused once the pool wraps (see KeyType), the
// private keys live in memory unprotected, and the HTTP server answers
// anyone who can reach the loopback interface.
package testpki

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Validity periods of the CA certificates, centred on Options.Now so that
// tests can backdate holders' certificates and time-stamps by years.
const (
	rootValidity         = 20 * 365 * 24 * time.Hour
	intermediateValidity = 10 * 365 * 24 * time.Hour
	tsaValidity          = 10 * 365 * 24 * time.Hour

	// holderBackdate keeps a certificate issued "now" valid at a "now"
	// read a moment earlier by a test (and with a little clock skew).
	holderBackdate = time.Hour
	// holderValidity is what a French CA gives a qualified signing
	// certificate (two or three years).
	holderValidity = 2 * 365 * 24 * time.Hour
)

// DefaultPolicy is the certificate policy of a ChamberSign "AC 2 étoiles"
// (RGS **) signing certificate, which IssueHolder sets when
// HolderOptions.Policies is nil.
var DefaultPolicy = asn1.ObjectIdentifier{1, 2, 250, 1, 96, 1, 7, 2, 4, 1}

// Attribute types of X.520 and PKCS #9 names used in French CA subjects.
var (
	oidCountry                = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidOrganization           = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOrganizationalUnit     = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidCommonName             = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidSurname                = asn1.ObjectIdentifier{2, 5, 4, 4}
	oidGivenName              = asn1.ObjectIdentifier{2, 5, 4, 42}
	oidSerialNumber           = asn1.ObjectIdentifier{2, 5, 4, 5}
	oidOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}
	oidEmailAddress           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

	oidExtKeyUsage        = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidKPTimeStamping     = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	oidAnyPolicy          = mustOID(2, 5, 29, 32, 0)
	errNoName             = errors.New("holder needs a surname or a given name")
	errSerialNotPositive  = errors.New("serial number must be positive")
	errNotAfterBeforeFrom = errors.New("NotAfter is before NotBefore")
)

// Options configures New. The zero value is valid.
type Options struct {
	// Now is the time around which the CA certificates are valid (root
	// 20 years, intermediate and TSA 10 years, half before and half after)
	// and the initial value of the clock (see PKI.SetClock). Zero means
	// time.Now(), and a clock that follows the wall clock.
	Now time.Time
	// NoServer, when true, starts no HTTP server; certificates then carry
	// no CRL distribution point nor authority information access.
	NoServer bool
	// Name distinguishes several PKIs in names ("<Name> AC 2 Etoiles");
	// empty means "Test". It also seeds the CA's SIREN.
	Name string
	// CAKeyType is the key type of the root, intermediate and TSA; the zero
	// value is RSA2048. RSAPSS is not supported for CAs.
	CAKeyType KeyType
	// Mimic, when set, makes this PKI's root, intermediate and TSA
	// subjects byte-for-byte copies of Mimic's, with different keys and
	// serial numbers: a look-alike for "signer from another CA" attacks.
	Mimic *PKI
}

// withDefaults returns a copy of o with zero fields filled in.
func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "Test"
	}
	return o
}

func (o Options) validate() error {
	switch o.CAKeyType {
	case RSA2048, RSA3072, ECDSAP256:
	default:
		return fmt.Errorf("CA key type %v is not supported", o.CAKeyType)
	}
	return nil
}

// Cert is a certificate with its private key and its issuers.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain holds the issuers, nearest first, root last; it is empty for
	// the root itself.
	Chain []*x509.Certificate
	// KeyType is the kind of Key, and says whether to sign with PSS.
	KeyType KeyType
}

// SignerOpts returns the options to pass to c.Key.Sign for a digest made
// with h: *rsa.PSSOptions (salt as long as the hash) for an RSAPSS holder,
// h itself otherwise.
func (c *Cert) SignerOpts(h crypto.Hash) crypto.SignerOpts {
	if c.KeyType == RSAPSS {
		return &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
	}
	return h
}

// PKI is a root CA, an intermediate CA and a TSA, with the revocation
// state of what they issued and an optional HTTP server publishing it.
// Its methods are safe for concurrent use.
type PKI struct {
	// Root is the self-signed trust anchor.
	Root *Cert
	// Intermediate is the RGS **-like issuing CA (path length 0), the
	// default issuer of IssueHolder.
	Intermediate *Cert
	// TSA is the time-stamping unit, issued by Root, with the critical
	// extended key usage timeStamping.
	TSA *Cert
	// BaseURL is "http://127.0.0.1:PORT" of the server, "" with NoServer.
	BaseURL string

	name  string
	siren string

	srv  *http.Server
	done chan struct{} // closed when the server's Serve returns

	mu        sync.Mutex
	clock     func() time.Time
	cas       map[string]*Cert      // by issuer id, as in /crl/<id>.crl
	issued    map[string][]string   // serial (hex) to ids of the issuers that used it
	revoked   map[string]revocation // serial (hex) to its revocation
	crlNumber int64
	tstSerial int64
	requests  map[string]int // URL path to number of requests
	closed    bool
}

type revocation struct {
	at     time.Time
	reason int
}

// Issuer ids: the path component of CRL and CA certificate URLs.
const (
	rootID         = "root"
	intermediateID = "intermediate"
)

// New creates a PKI and, unless o.NoServer, starts its HTTP server on
// 127.0.0.1. Call Close to stop the server.
func New(o Options) (*PKI, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	now := o.Now
	clock := time.Now
	if !now.IsZero() {
		clock = func() time.Time { return o.Now }
	} else {
		now = time.Now()
	}
	p := &PKI{
		name:     o.Name,
		siren:    sirenFor(o.Name),
		clock:    clock,
		cas:      map[string]*Cert{},
		issued:   map[string][]string{},
		revoked:  map[string]revocation{},
		requests: map[string]int{},
	}

	var ln net.Listener
	if !o.NoServer {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("listening on loopback: %w", err)
		}
		p.BaseURL = "http://" + ln.Addr().String()
	}
	if err := p.makeCAs(o, now); err != nil {
		if ln != nil {
			ln.Close()
		}
		return nil, err
	}
	if ln != nil {
		p.serve(ln)
	}
	return p, nil
}

// makeCAs creates the root, intermediate and TSA certificates.
func (p *PKI) makeCAs(o Options, now time.Time) error {
	var avoid []crypto.PublicKey
	var rootName, intName, tsaName []byte
	if o.Mimic != nil {
		rootName = o.Mimic.Root.Cert.RawSubject
		intName = o.Mimic.Intermediate.Cert.RawSubject
		tsaName = o.Mimic.TSA.Cert.RawSubject
		avoid = []crypto.PublicKey{o.Mimic.Root.Key.Public(), o.Mimic.Intermediate.Key.Public(), o.Mimic.TSA.Key.Public()}
	} else {
		var err error
		if rootName, err = p.caName("AC Racine"); err != nil {
			return err
		}
		if intName, err = p.caName("AC 2 Etoiles"); err != nil {
			return err
		}
		if tsaName, err = p.caName("Horodatage"); err != nil {
			return err
		}
	}

	keys := make([]crypto.Signer, 0, 3)
	for len(keys) < 3 {
		k, err := drawKey(o.CAKeyType)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(avoid, func(pub crypto.PublicKey) bool { return sameKey(pub, k.Public()) }) {
			keys = append(keys, k)
			avoid = append(avoid, k.Public())
		}
	}

	rootTmpl := &x509.Certificate{
		RawSubject:            rootName,
		NotBefore:             now.Add(-rootValidity / 2),
		NotAfter:              now.Add(rootValidity / 2),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	root, err := p.issue(rootTmpl, nil, keys[0], o.CAKeyType, rootID)
	if err != nil {
		return fmt.Errorf("issuing root: %w", err)
	}
	p.Root = root

	intTmpl := &x509.Certificate{
		RawSubject:            intName,
		NotBefore:             now.Add(-intermediateValidity / 2),
		NotAfter:              now.Add(intermediateValidity / 2),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		Policies:              []x509.OID{oidAnyPolicy},
	}
	if p.Intermediate, err = p.issue(intTmpl, root, keys[1], o.CAKeyType, intermediateID); err != nil {
		return fmt.Errorf("issuing intermediate: %w", err)
	}

	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidKPTimeStamping})
	if err != nil {
		return fmt.Errorf("encoding extended key usage: %w", err)
	}
	tsaTmpl := &x509.Certificate{
		RawSubject:            tsaName,
		NotBefore:             now.Add(-tsaValidity / 2),
		NotAfter:              now.Add(tsaValidity / 2),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
		// RFC 3161 section 2.3: the TSA's certificate MUST contain only
		// this one extended key usage, marked critical; crypto/x509 never
		// marks it critical, so it is written by hand.
		ExtraExtensions: []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}},
	}
	if p.TSA, err = p.issue(tsaTmpl, root, keys[2], o.CAKeyType, ""); err != nil {
		return fmt.Errorf("issuing TSA: %w", err)
	}
	return nil
}

// caName returns the DER subject of one of this PKI's CAs, shaped like a
// French CA's: C, O, OU "0002 <SIREN>", organizationIdentifier, CN.
func (p *PKI) caName(cn string) ([]byte, error) {
	return marshalName([]nameAttr{
		{oidCountry, asn1.TagPrintableString, "FR"},
		{oidOrganization, asn1.TagUTF8String, p.name + " Certification"},
		{oidOrganizationalUnit, asn1.TagUTF8String, "0002 " + p.siren},
		{oidOrganizationIdentifier, asn1.TagUTF8String, "NTRFR-" + p.siren},
		{oidCommonName, asn1.TagUTF8String, p.name + " " + cn},
	})
}

// issue signs tmpl with issuer (self-signed when issuer is nil), parses
// the result, records its serial, and registers it as a CA under id when
// id is not empty. It fills in the serial, subject key identifier and
// the URLs pointing at the issuer.
func (p *PKI) issue(tmpl *x509.Certificate, issuer *Cert, key crypto.Signer, kt KeyType, id string) (*Cert, error) {
	if tmpl.SerialNumber == nil {
		s, err := randomSerial()
		if err != nil {
			return nil, err
		}
		tmpl.SerialNumber = s
	}
	if tmpl.SubjectKeyId == nil {
		ski, err := subjectKeyID(key.Public())
		if err != nil {
			return nil, err
		}
		tmpl.SubjectKeyId = ski
	}
	parent, signer := tmpl, key
	var chain []*x509.Certificate
	issuerID := id
	if issuer != nil {
		parent, signer = issuer.Cert, issuer.Key
		chain = append([]*x509.Certificate{issuer.Cert}, issuer.Chain...)
		issuerID = p.register(issuer)
		if p.BaseURL != "" {
			tmpl.CRLDistributionPoints = []string{p.BaseURL + "/crl/" + issuerID + ".crl"}
			tmpl.OCSPServer = []string{p.BaseURL + "/ocsp"}
			tmpl.IssuingCertificateURL = []string{p.BaseURL + "/ca/" + issuerID + ".cer"}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("creating certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing created certificate: %w", err)
	}
	c := &Cert{Cert: cert, Key: key, Chain: chain, KeyType: kt}
	p.mu.Lock()
	defer p.mu.Unlock()
	sk := serialKey(cert.SerialNumber)
	p.issued[sk] = append(p.issued[sk], issuerID)
	if id != "" {
		p.cas[id] = c
	}
	return c, nil
}

// register returns the id under which issuer's CRL and certificate are
// served, registering it when it is not yet one of this PKI's CAs (a
// holder made issuer by a test, or another PKI's CA).
func (p *PKI) register(issuer *Cert) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, c := range p.cas {
		if c == issuer || c.Cert.Equal(issuer.Cert) {
			return id
		}
	}
	id := fmt.Sprintf("ca%d", len(p.cas))
	p.cas[id] = issuer
	return id
}

// HolderOptions describes a holder's certificate for IssueHolder.
// Empty name fields are left out of the subject.
type HolderOptions struct {
	// KeyType is the holder's key type; the zero value is RSA2048.
	KeyType KeyType
	// Surname and GivenName make the subject SN, GN and CN "GivenName
	// Surname"; at least one is required.
	Surname, GivenName string
	// Email goes into the subject alternative name as an rfc822Name.
	Email string
	// EmailInSubject also puts Email in the subject as a PKCS #9
	// emailAddress, as some French CAs still do.
	EmailInSubject bool
	// IdentitySerial is the subject SERIALNUMBER (2.5.4.5): the person's
	// identifier at the CA, e.g. "1234567890".
	IdentitySerial string
	// Organization is the subject O.
	Organization string
	// SIREN, when set, gives the subject OU "0002 <SIREN>" and
	// organizationIdentifier (2.5.4.97) "NTRFR-<SIREN>".
	SIREN string
	// Policies are the certificate policies; nil means DefaultPolicy.
	Policies []asn1.ObjectIdentifier
	// NoPolicies leaves out the certificate policies extension.
	NoPolicies bool
	// KeyUsage is the key usage; zero means DigitalSignature|
	// ContentCommitment unless KeyUsageOverride is set.
	KeyUsage x509.KeyUsage
	// KeyUsageOverride uses KeyUsage exactly as given; zero then leaves
	// out the key usage extension.
	KeyUsageOverride bool
	// ExtKeyUsage is the extended key usage; nil (and no
	// UnknownExtKeyUsage) leaves the extension out.
	ExtKeyUsage []x509.ExtKeyUsage
	// UnknownExtKeyUsage are purposes crypto/x509 has no constant for,
	// e.g. id-kp-documentSigning 1.3.6.1.5.5.7.3.36.
	UnknownExtKeyUsage []asn1.ObjectIdentifier
	// SignatureAlgorithm is the issuer's signature on the certificate;
	// zero lets crypto/x509 choose (SHA-256). x509.SHA1WithRSA makes a
	// certificate below the algorithm rules.
	SignatureAlgorithm x509.SignatureAlgorithm
	// NotBefore and NotAfter bound the validity; zero means one hour
	// before the clock's now and two years after it.
	NotBefore, NotAfter time.Time
	// Issuer signs the certificate; nil means the PKI's Intermediate.
	Issuer *Cert
	// Serial is the certificate serial number; nil means a random
	// positive 128-bit number.
	Serial *big.Int
}

// IssueHolder issues a natural person's signing certificate: subject C=FR,
// O, OU "0002 <SIREN>", organizationIdentifier, SN, GN, SERIALNUMBER, CN
// "GivenName Surname"; rfc822 subject alternative name; and, with a
// server, CRL distribution point BaseURL/crl/<issuer-id>.crl and AIA OCSP
// BaseURL/ocsp and caIssuers BaseURL/ca/<issuer-id>.cer.
func (p *PKI) IssueHolder(o HolderOptions) (*Cert, error) {
	issuer := o.Issuer
	if issuer == nil {
		issuer = p.Intermediate
	}
	if issuer.Cert == nil || issuer.Key == nil {
		return nil, errors.New("issuer needs a certificate and a private key")
	}
	cn := o.GivenName
	if o.Surname != "" {
		if cn != "" {
			cn += " "
		}
		cn += o.Surname
	}
	if cn == "" {
		return nil, errNoName
	}
	if o.Serial != nil && o.Serial.Sign() <= 0 {
		return nil, errSerialNotPositive
	}
	now := p.now()
	notBefore, notAfter := o.NotBefore, o.NotAfter
	if notBefore.IsZero() {
		notBefore = now.Add(-holderBackdate)
	}
	if notAfter.IsZero() {
		notAfter = now.Add(holderValidity)
	}
	if notAfter.Before(notBefore) {
		return nil, errNotAfterBeforeFrom
	}

	attrs := []nameAttr{
		{oidCountry, asn1.TagPrintableString, "FR"},
		{oidOrganization, asn1.TagUTF8String, o.Organization},
	}
	if o.SIREN != "" {
		attrs = append(attrs,
			nameAttr{oidOrganizationalUnit, asn1.TagUTF8String, "0002 " + o.SIREN},
			nameAttr{oidOrganizationIdentifier, asn1.TagUTF8String, "NTRFR-" + o.SIREN})
	}
	attrs = append(attrs,
		nameAttr{oidSurname, asn1.TagUTF8String, o.Surname},
		nameAttr{oidGivenName, asn1.TagUTF8String, o.GivenName},
		nameAttr{oidSerialNumber, printableOrUTF8(o.IdentitySerial), o.IdentitySerial},
		nameAttr{oidCommonName, asn1.TagUTF8String, cn})
	if o.EmailInSubject {
		attrs = append(attrs, nameAttr{oidEmailAddress, asn1.TagIA5String, o.Email})
	}
	subject, err := marshalName(attrs)
	if err != nil {
		return nil, err
	}

	ku := x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	if o.KeyUsageOverride || o.KeyUsage != 0 {
		ku = o.KeyUsage
	}
	var policies []x509.OID
	if !o.NoPolicies {
		ps := o.Policies
		if ps == nil {
			ps = []asn1.ObjectIdentifier{DefaultPolicy}
		}
		for _, oid := range ps {
			x, err := toX509OID(oid)
			if err != nil {
				return nil, err
			}
			policies = append(policies, x)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          o.Serial,
		RawSubject:            subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              ku,
		ExtKeyUsage:           o.ExtKeyUsage,
		UnknownExtKeyUsage:    o.UnknownExtKeyUsage,
		SignatureAlgorithm:    o.SignatureAlgorithm,
		BasicConstraintsValid: true,
		Policies:              policies,
	}
	if o.Email != "" {
		tmpl.EmailAddresses = []string{o.Email}
	}
	key, err := drawKey(o.KeyType)
	if err != nil {
		return nil, err
	}
	c, err := p.issue(tmpl, issuer, key, o.KeyType, "")
	if err != nil {
		return nil, fmt.Errorf("issuing holder %q: %w", cn, err)
	}
	return c, nil
}

// SetClock replaces the clock that dates CRLs, OCSP responses, time-stamps
// served over HTTP and the default validity of holders' certificates.
func (p *PKI) SetClock(clock func() time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clock = clock
}

func (p *PKI) now() time.Time {
	p.mu.Lock()
	clock := p.clock
	p.mu.Unlock()
	return clock()
}

// nameAttr is one attribute of a distinguished name with its string type.
type nameAttr struct {
	oid   asn1.ObjectIdentifier
	tag   int
	value string
}

// marshalName encodes attrs as an RDNSequence, one attribute per RDN, in
// the given order, skipping empty values. It is written by hand because
// pkix.Name fixes the order and picks PrintableString where RFC 5280
// wants UTF8String.
func marshalName(attrs []nameAttr) ([]byte, error) {
	var seq pkix.RDNSequence
	for _, a := range attrs {
		if a.value == "" {
			continue
		}
		seq = append(seq, pkix.RelativeDistinguishedNameSET{{
			Type:  a.oid,
			Value: asn1.RawValue{Tag: a.tag, Bytes: []byte(a.value)},
		}})
	}
	der, err := asn1.Marshal(seq)
	if err != nil {
		return nil, fmt.Errorf("encoding name: %w", err)
	}
	return der, nil
}

// printableOrUTF8 returns PrintableString's tag when s fits in it, as
// X.520 requires of serialNumber, and UTF8String's otherwise.
func printableOrUTF8(s string) int {
	for _, r := range s {
		ok := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
		switch r {
		case ' ', '\'', '(', ')', '+', ',', '-', '.', '/', ':', '=', '?':
			ok = true
		}
		if !ok {
			return asn1.TagUTF8String
		}
	}
	return asn1.TagPrintableString
}

func mustOID(ints ...uint64) x509.OID {
	oid, err := x509.OIDFromInts(ints)
	if err != nil {
		panic(err)
	}
	return oid
}

func toX509OID(oid asn1.ObjectIdentifier) (x509.OID, error) {
	ints := make([]uint64, len(oid))
	for i, n := range oid {
		if n < 0 {
			return x509.OID{}, fmt.Errorf("invalid policy OID %v", oid)
		}
		ints[i] = uint64(n)
	}
	x, err := x509.OIDFromInts(ints)
	if err != nil {
		return x509.OID{}, fmt.Errorf("policy OID %v: %w", oid, err)
	}
	return x, nil
}

// serialBits is the size of random serial numbers: RFC 5280 allows 20
// octets, CA/Browser Forum rules ask for at least 64 bits of entropy.
const serialBits = 128

func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), serialBits)
	for {
		s, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generating serial number: %w", err)
		}
		if s.Sign() > 0 {
			return s, nil
		}
	}
}

func serialKey(s *big.Int) string { return s.Text(16) }

// subjectKeyID is the SHA-1 of the subject public key bits (RFC 5280
// section 4.2.1.2, method 1), which crypto/x509 computes for CAs only.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("decoding public key: %w", err)
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}

func sameKey(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// sirenFor derives a valid-looking SIREN (eight digits and a Luhn check
// digit) from name, so that each PKI's CA has its own stable one.
func sirenFor(name string) string {
	sum := sha256.Sum256([]byte(name))
	n := binary.BigEndian.Uint64(sum[:8]) % 100_000_000
	digits := fmt.Sprintf("%08d", n)
	return digits + string(rune('0'+luhnCheckDigit(digits)))
}

// luhnCheckDigit returns the digit that makes digits+d pass the Luhn
// check used by INSEE for SIREN numbers.
func luhnCheckDigit(digits string) int {
	sum := 0
	double := true // the rightmost digit of the payload is doubled
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return (10 - sum%10) % 10
}
