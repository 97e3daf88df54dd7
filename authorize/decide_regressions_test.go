package authorize

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// The legal representative who is also the holder (the manager of a small
// company revoking her own certificate) ticks "Titulaire" and leaves the
// representative's fields empty, as the form asks: she is accepted as the
// holder, the representative's fields are not compared.
func TestHolderWhoIsAlsoRepresentativeSignsAsHolder(t *testing.T) {
	f := newFixture(t)
	// Alice becomes a representative of her own company.
	mustRepresentative(t, f.reg, alice, sirenAcme, "2024-01-01", "")
	d, err := Decide(context.Background(), signedReport(f.certs["alice"], holderForm(alice, "1001")), f.reg, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Accepted() {
		t.Errorf("holder who is also a representative, role Titulaire: refused %s %v (%s); want accepted", d.Code, d.FormFields(), d.Cause)
	}
}

// Unicode case rules lower-case U+212A KELVIN SIGN to ASCII "k": a
// certificate whose e-mail is "\u212Aarl.klein@acme.fr" (another mailbox,
// which another CA may have validated) must not pass for the representative
// karl.klein@acme.fr.
func TestUnicodeCaseFoldingNeverMatchesAnEmail(t *testing.T) {
	f := newFixture(t)
	karl := person{surname: "Klein", given: "Karl", email: "karl.klein@acme.fr"}
	mustRepresentative(t, f.reg, karl, sirenAcme, "2024-01-01", "")

	other := newTestCA(t, "Some other trusted CA")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x7777),
		Subject: pkix.Name{CommonName: "Karl Klein", ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: oidSurname, Value: "Klein"}, {Type: oidGivenName, Value: "Karl"},
			{Type: oidEmailAttribute, Value: "\u212Aarl.klein@acme.fr"},
		}},
		NotBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, other.cert, &key.PublicKey, other.key)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decide(context.Background(), signedReport(signer, representativeForm(alice, karl, "1001")), f.reg, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if d.Accepted() {
		t.Errorf("signer with e-mail %q accepted as representative %s", CertificateFromX509(signer).Email, karl.email)
	}
}
