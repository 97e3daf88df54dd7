package testpki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testNow is a fixed instant so that validity and freshness are checked
// against known times.
var testNow = time.Date(2026, time.March, 14, 10, 0, 0, 0, time.UTC)

func newPKI(t *testing.T, o Options) *PKI {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatalf("New(%+v) error = %v", o, err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close() error = %v", err)
		}
	})
	return p
}

func jeanne() HolderOptions {
	return HolderOptions{
		Surname:        "Dupont",
		GivenName:      "Jeanne",
		Email:          "jeanne.dupont@example.fr",
		IdentitySerial: "1234567890",
		Organization:   "Exemple SAS",
		SIREN:          "732829320",
	}
}

func verifyOpts(p *PKI, at time.Time) x509.VerifyOptions {
	roots := x509.NewCertPool()
	roots.AddCert(p.Root.Cert)
	inter := x509.NewCertPool()
	inter.AddCert(p.Intermediate.Cert)
	return x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
}

func TestIssueHolderChainVerifies(t *testing.T) {
	p := newPKI(t, Options{Now: testNow, NoServer: true})
	defaultPolicy := mustOID(1, 2, 250, 1, 96, 1, 7, 2, 4, 1)
	tests := []struct {
		name    string
		keyType KeyType
		wantKey func(crypto.PublicKey) bool
	}{
		{"ok/RSA2048", RSA2048, rsaBits(2048)},
		{"ok/RSA3072", RSA3072, rsaBits(3072)},
		{"ok/ECDSAP256", ECDSAP256, func(k crypto.PublicKey) bool { _, ok := k.(*ecdsa.PublicKey); return ok }},
		{"ok/RSAPSS", RSAPSS, rsaBits(2048)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := jeanne()
			o.KeyType = tt.keyType
			h, err := p.IssueHolder(o)
			if err != nil {
				t.Fatalf("IssueHolder() error = %v", err)
			}
			if !tt.wantKey(h.Cert.PublicKey) {
				t.Errorf("public key is %T, want %v", h.Cert.PublicKey, tt.keyType)
			}
			opts := verifyOpts(p, testNow)
			opts.CertificatePolicies = []x509.OID{defaultPolicy}
			chains, err := h.Cert.Verify(opts)
			if err != nil {
				t.Fatalf("Verify() error = %v", err)
			}
			if got, want := len(chains[0]), 3; got != want {
				t.Errorf("chain length = %d, want %d", got, want)
			}
			if !slices.ContainsFunc(h.Cert.Policies, defaultPolicy.Equal) {
				t.Errorf("Policies = %v, want %v", h.Cert.Policies, defaultPolicy)
			}
			if got, want := h.Chain, []*x509.Certificate{p.Intermediate.Cert, p.Root.Cert}; !slices.EqualFunc(got, want, (*x509.Certificate).Equal) {
				t.Errorf("Chain has %d certificates, want intermediate and root", len(got))
			}
			if got, want := h.Cert.KeyUsage, x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment; got != want {
				t.Errorf("KeyUsage = %v, want %v", got, want)
			}
			if got, want := h.Cert.NotBefore, testNow.Add(-time.Hour); !got.Equal(want) {
				t.Errorf("NotBefore = %v, want %v", got, want)
			}
			if len(h.Cert.CRLDistributionPoints)+len(h.Cert.OCSPServer) != 0 {
				t.Errorf("NoServer certificate has URLs %v %v", h.Cert.CRLDistributionPoints, h.Cert.OCSPServer)
			}
			checkSigns(t, h)
		})
	}
}

func rsaBits(bits int) func(crypto.PublicKey) bool {
	return func(k crypto.PublicKey) bool {
		r, ok := k.(*rsa.PublicKey)
		return ok && r.N.BitLen() == bits
	}
}

// checkSigns signs with the holder's key and SignerOpts and checks the
// signature with the scheme the key type promises.
func checkSigns(t *testing.T, h *Cert) {
	t.Helper()
	digest := sha256.Sum256([]byte("demande de révocation"))
	sig, err := h.Key.Sign(rand.Reader, digest[:], h.SignerOpts(crypto.SHA256))
	if err != nil {
		t.Fatalf("Sign() error = %v", err)
	}
	switch pub := h.Cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if h.KeyType == RSAPSS {
			err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, nil)
		} else {
			err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest[:], sig) {
			err = errors.New("ECDSA signature does not verify")
		}
	}
	if err != nil {
		t.Errorf("signature of %v holder: %v", h.KeyType, err)
	}
}

func TestIssueHolderSubject(t *testing.T) {
	p := newPKI(t, Options{Now: testNow, NoServer: true})
	o := jeanne()
	o.EmailInSubject = true
	h, err := p.IssueHolder(o)
	if err != nil {
		t.Fatalf("IssueHolder() error = %v", err)
	}
	want := map[string]string{
		"2.5.4.6":              "FR",
		"2.5.4.10":             "Exemple SAS",
		"2.5.4.11":             "0002 732829320",
		"2.5.4.97":             "NTRFR-732829320",
		"2.5.4.4":              "Dupont",
		"2.5.4.42":             "Jeanne",
		"2.5.4.5":              "1234567890",
		"2.5.4.3":              "Jeanne Dupont",
		"1.2.840.113549.1.9.1": "jeanne.dupont@example.fr",
	}
	got := map[string]string{}
	for _, n := range h.Cert.Subject.Names {
		got[n.Type.String()], _ = n.Value.(string)
	}
	for oid, v := range want {
		if got[oid] != v {
			t.Errorf("subject %s = %q, want %q", oid, got[oid], v)
		}
	}
	if got, want := h.Cert.EmailAddresses, []string{o.Email}; !slices.Equal(got, want) {
		t.Errorf("EmailAddresses = %q, want %q", got, want)
	}
	if got, want := h.Cert.Issuer.CommonName, "Test AC 2 Etoiles"; got != want {
		t.Errorf("issuer CN = %q, want %q", got, want)
	}
	if !bytes.Equal(h.Cert.AuthorityKeyId, p.Intermediate.Cert.SubjectKeyId) || len(h.Cert.SubjectKeyId) == 0 {
		t.Errorf("AuthorityKeyId = %x, want the intermediate's %x (SubjectKeyId %x)", h.Cert.AuthorityKeyId, p.Intermediate.Cert.SubjectKeyId, h.Cert.SubjectKeyId)
	}
}

func TestCAs(t *testing.T) {
	p := newPKI(t, Options{Now: testNow})
	r, i, ts := p.Root.Cert, p.Intermediate.Cert, p.TSA.Cert
	if !r.IsCA || r.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("root IsCA = %v, KeyUsage = %v, want CA with keyCertSign|cRLSign", r.IsCA, r.KeyUsage)
	}
	if !i.IsCA || i.MaxPathLen != 0 || !i.MaxPathLenZero {
		t.Errorf("intermediate IsCA = %v MaxPathLen = %d Zero = %v, want CA with pathlen 0", i.IsCA, i.MaxPathLen, i.MaxPathLenZero)
	}
	if got, want := i.NotAfter.Sub(i.NotBefore), intermediateValidity; got != want {
		t.Errorf("intermediate validity = %v, want %v", got, want)
	}
	if got, want := r.NotAfter.Sub(r.NotBefore), rootValidity; got != want {
		t.Errorf("root validity = %v, want %v", got, want)
	}
	if got := i.Subject.String(); !strings.Contains(got, "CN=Test AC 2 Etoiles") || !strings.Contains(got, "OU=0002 "+p.siren) {
		t.Errorf("intermediate subject = %q, want CN and OU of a French CA", got)
	}
	if len(p.siren) != 9 || luhnCheckDigit(p.siren[:8]) != int(p.siren[8]-'0') {
		t.Errorf("CA SIREN = %q, want nine digits passing the Luhn check", p.siren)
	}
	var eku *struct{ critical bool }
	for _, e := range ts.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			eku = &struct{ critical bool }{e.Critical}
		}
	}
	if eku == nil || !eku.critical || !slices.Equal(ts.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}) {
		t.Errorf("TSA extended key usage = %v (extension %+v), want critical timeStamping only", ts.ExtKeyUsage, eku)
	}
	opts := verifyOpts(p, testNow)
	opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}
	if _, err := ts.Verify(opts); err != nil {
		t.Errorf("TSA Verify() error = %v", err)
	}
	if got, want := i.CRLDistributionPoints, []string{p.BaseURL + "/crl/root.crl"}; !slices.Equal(got, want) {
		t.Errorf("intermediate CRLDistributionPoints = %q, want %q", got, want)
	}
}

func TestAttackerLookAlike(t *testing.T) {
	p := newPKI(t, Options{Now: testNow, NoServer: true})
	a := newPKI(t, Options{Now: testNow, NoServer: true, Name: "Attacker", Mimic: p})
	for _, pair := range [][2]*Cert{{p.Root, a.Root}, {p.Intermediate, a.Intermediate}, {p.TSA, a.TSA}} {
		if !bytes.Equal(pair[0].Cert.RawSubject, pair[1].Cert.RawSubject) {
			t.Errorf("look-alike subject %q, want %q", pair[1].Cert.Subject, pair[0].Cert.Subject)
		}
		if sameKey(pair[0].Key.Public(), pair[1].Key.Public()) {
			t.Errorf("look-alike %q shares its key with the original", pair[1].Cert.Subject)
		}
	}
	h, err := a.IssueHolder(jeanne())
	if err != nil {
		t.Fatalf("IssueHolder() error = %v", err)
	}
	opts := verifyOpts(p, testNow)
	opts.Intermediates.AddCert(a.Intermediate.Cert)
	_, err = h.Cert.Verify(opts)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("Verify(attacker's holder) with the real roots error = %v, want UnknownAuthorityError", err)
	}

	other := newPKI(t, Options{Now: testNow, NoServer: true, Name: "Attacker"})
	if got := other.Intermediate.Cert.Subject.CommonName; got != "Attacker AC 2 Etoiles" {
		t.Errorf("named PKI intermediate CN = %q, want %q", got, "Attacker AC 2 Etoiles")
	}
}

func TestIssueHolderOptions(t *testing.T) {
	p := newPKI(t, Options{Now: testNow, NoServer: true})
	other := asn1.ObjectIdentifier{0, 4, 0, 194112, 1, 2}
	tests := []struct {
		name    string
		modify  func(*HolderOptions)
		check   func(*testing.T, *Cert)
		wantErr error
	}{
		{
			name:   "ok/policies",
			modify: func(o *HolderOptions) { o.Policies = []asn1.ObjectIdentifier{other} },
			check: func(t *testing.T, c *Cert) {
				if len(c.Cert.Policies) != 1 || c.Cert.Policies[0].String() != other.String() {
					t.Errorf("Policies = %v, want [%v]", c.Cert.Policies, other)
				}
			},
		},
		{
			name:   "ok/no-policies",
			modify: func(o *HolderOptions) { o.NoPolicies = true },
			check: func(t *testing.T, c *Cert) {
				if len(c.Cert.Policies) != 0 {
					t.Errorf("Policies = %v, want none", c.Cert.Policies)
				}
			},
		},
		{
			name:   "ok/key-usage-override-zero",
			modify: func(o *HolderOptions) { o.KeyUsageOverride = true },
			check: func(t *testing.T, c *Cert) {
				if c.Cert.KeyUsage != 0 {
					t.Errorf("KeyUsage = %v, want none", c.Cert.KeyUsage)
				}
			},
		},
		{
			name:   "ok/key-encipherment-only",
			modify: func(o *HolderOptions) { o.KeyUsage, o.KeyUsageOverride = x509.KeyUsageKeyEncipherment, true },
			check: func(t *testing.T, c *Cert) {
				if c.Cert.KeyUsage != x509.KeyUsageKeyEncipherment {
					t.Errorf("KeyUsage = %v, want KeyEncipherment", c.Cert.KeyUsage)
				}
			},
		},
		{
			name: "ok/serial-validity-issuer",
			modify: func(o *HolderOptions) {
				o.Serial = big.NewInt(0x1234)
				o.NotBefore, o.NotAfter = testNow.AddDate(-3, 0, 0), testNow.AddDate(-1, 0, 0)
				o.Issuer = p.Root
			},
			check: func(t *testing.T, c *Cert) {
				if c.Cert.SerialNumber.Int64() != 0x1234 || !c.Cert.NotAfter.Equal(testNow.AddDate(-1, 0, 0)) {
					t.Errorf("serial %x NotAfter %v, want 1234 and %v", c.Cert.SerialNumber, c.Cert.NotAfter, testNow.AddDate(-1, 0, 0))
				}
				if err := c.Cert.CheckSignatureFrom(p.Root.Cert); err != nil || len(c.Chain) != 1 {
					t.Errorf("CheckSignatureFrom(root) = %v with chain of %d, want signed by the root alone", err, len(c.Chain))
				}
				var invalid x509.CertificateInvalidError
				if _, err := c.Cert.Verify(verifyOpts(p, testNow)); !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
					t.Errorf("Verify(expired) error = %v, want Expired", err)
				}
			},
		},
		{name: "fail/no-name", modify: func(o *HolderOptions) { o.Surname, o.GivenName = "", "" }, wantErr: errNoName},
		{name: "fail/zero-serial", modify: func(o *HolderOptions) { o.Serial = new(big.Int) }, wantErr: errSerialNotPositive},
		{name: "fail/validity-reversed", modify: func(o *HolderOptions) { o.NotAfter = testNow.AddDate(-1, 0, 0) }, wantErr: errNotAfterBeforeFrom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := jeanne()
			tt.modify(&o)
			c, err := p.IssueHolder(o)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("IssueHolder() error = %v, want %v", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestNewRejectsPSSCA(t *testing.T) {
	_, err := New(Options{NoServer: true, CAKeyType: RSAPSS})
	if err == nil || !strings.Contains(err.Error(), "RSAPSS") {
		t.Errorf("New(CAKeyType: RSAPSS) error = %v, want unsupported CA key type", err)
	}
}

func TestWritePEM(t *testing.T) {
	p := newPKI(t, Options{Now: testNow, NoServer: true})
	h, err := p.IssueHolder(jeanne())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WritePEM(dir, "holder", h); err != nil {
		t.Fatalf("WritePEM() error = %v", err)
	}
	chain, err := os.ReadFile(filepath.Join(dir, "holder-chain.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count(chain, []byte("BEGIN CERTIFICATE")); got != 2 {
		t.Errorf("holder-chain.pem has %d certificates, want 2", got)
	}
	fi, err := os.Stat(filepath.Join(dir, "holder.key"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("holder.key mode = %v, want 0600", got)
	}
	if !bytes.Contains(p.RootsPEM(), []byte("BEGIN CERTIFICATE")) {
		t.Errorf("RootsPEM() = %q, want a PEM certificate", p.RootsPEM())
	}
}

func TestKeyPoolDistinct(t *testing.T) {
	// Consecutive draws must differ, or a test's two holders (or a PKI and
	// its look-alike) would share a key.
	a, err := drawKey(RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	b, err := drawKey(RSAPSS)
	if err != nil {
		t.Fatal(err)
	}
	if sameKey(a.Public(), b.Public()) {
		t.Errorf("two consecutive RSA-2048 draws returned the same key")
	}
}

func TestSIREN(t *testing.T) {
	// 732829320 is a real SIREN; its check digit is 0.
	if got := luhnCheckDigit("73282932"); got != 0 {
		t.Errorf("luhnCheckDigit(73282932) = %d, want 0", got)
	}
	if sirenFor("Test") == sirenFor("Attacker") {
		t.Errorf("sirenFor gives Test and Attacker the same SIREN %s", sirenFor("Test"))
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		p, err := New(Options{NoServer: true})
		if err != nil {
			b.Fatal(err)
		}
		p.Close()
	}
}

func BenchmarkNewWithServer(b *testing.B) {
	for b.Loop() {
		p, err := New(Options{})
		if err != nil {
			b.Fatal(err)
		}
		p.Close()
	}
}

func BenchmarkIssueHolder(b *testing.B) {
	p, err := New(Options{NoServer: true})
	if err != nil {
		b.Fatal(err)
	}
	for _, kt := range []KeyType{RSA2048, RSA3072, ECDSAP256, RSAPSS} {
		b.Run(kt.String(), func(b *testing.B) {
			o := jeanne()
			o.KeyType = kt
			for b.Loop() {
				if _, err := p.IssueHolder(o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
