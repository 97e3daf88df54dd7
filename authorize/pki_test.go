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

	"github.com/revokd/revokd/pdfverify"
)

// The clock of every test: the time the verifier checked the signature at.
var validationTime = time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC)

const (
	sirenAcme  = "552081317"
	sirenOther = "732829320"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t testing.TB, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Test CA"}, Country: []string{"FR"}},
		NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

// person is the subject of a test certificate.
type person struct {
	surname, given, email, idSerial, siren string
	// cnOnly leaves out the surname and given-name attributes.
	cnOnly bool
}

var (
	alice   = person{surname: "Martin", given: "Alice", email: "alice.martin@acme.fr", idSerial: "ID-ALICE-01", siren: sirenAcme}
	bob     = person{surname: "Durand", given: "Bob", email: "bob.durand@acme.fr", idSerial: "ID-BOB-01", siren: sirenAcme}
	carol   = person{surname: "Petit", given: "Carol", email: "carol.petit@other.fr", idSerial: "ID-CAROL-01", siren: sirenOther}
	dave    = person{surname: "Leroy", given: "Dave", email: "dave.leroy@acme.fr", idSerial: "ID-DAVE-01", siren: sirenAcme}
	mallory = person{surname: "Martin", given: "Alice", email: "alice.martin@acme.fr", idSerial: "ID-MALLORY-01", siren: sirenAcme}
)

func (ca *testCA) issue(t testing.TB, serial int64, p person) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	subj := pkix.Name{
		CommonName:   p.given + " " + p.surname,
		SerialNumber: p.idSerial,
		Country:      []string{"FR"},
	}
	if !p.cnOnly {
		subj.ExtraNames = append(subj.ExtraNames,
			pkix.AttributeTypeAndValue{Type: oidSurname, Value: p.surname},
			pkix.AttributeTypeAndValue{Type: oidGivenName, Value: p.given})
	}
	if p.siren != "" {
		subj.Organization = []string{"ACME SA"}
		subj.OrganizationalUnit = []string{"0002 " + p.siren}
	}
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(serial),
		Subject:        subj,
		NotBefore:      time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:       time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:       x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		EmailAddresses: []string{p.email},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// signedReport is a TOTAL_PASSED report of a form signed by signer.
func signedReport(signer *x509.Certificate, form map[string]string) *pdfverify.Report {
	return &pdfverify.Report{
		Indication: pdfverify.TotalPassed,
		Form:       form,
		Signatures: []pdfverify.SignatureReport{{
			Indication:     pdfverify.TotalPassed,
			Signer:         &pdfverify.Signer{Subject: signer.Subject.String(), Issuer: signer.Issuer.String(), SerialNumber: signer.SerialNumber.Text(16), CertificateDER: signer.Raw},
			ValidationTime: validationTime,
		}},
	}
}

// holderForm is the reference form filled in by p for the certificate
// with that serial.
func holderForm(p person, serial string) map[string]string {
	return map[string]string{
		"titulaire_nom":             p.surname,
		"titulaire_prenom":          p.given,
		"titulaire_email":           p.email,
		"entreprise_siren":          p.siren,
		"entreprise_raison_sociale": "ACME SA",
		"certificat_numero_serie":   serial,
		"raison":                    "Clé privée compromise",
		"demandeur_qualite":         "Titulaire",
		"date":                      "15/03/2026",
		"lieu":                      "Paris",
	}
}

// representativeForm is holderForm signed by the representative rep.
func representativeForm(holder, rep person, serial string) map[string]string {
	f := holderForm(holder, serial)
	f["demandeur_qualite"] = "Représentant légal"
	f["representant_nom"] = rep.surname
	f["representant_prenom"] = rep.given
	f["representant_email"] = rep.email
	return f
}

func mustRegister(t testing.TB, reg RegistryWriter, c *x509.Certificate, revoked bool) {
	t.Helper()
	rec := CertificateFromX509(c)
	if revoked {
		rec.Revoked = true
		rec.RevokedAt = time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	}
	if _, err := reg.UpsertCertificate(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
}

func mustRepresentative(t testing.TB, reg RegistryWriter, p person, siren, from, to string) {
	t.Helper()
	r := Representative{SIREN: siren, Surname: p.surname, GivenName: p.given, Email: p.email}
	var err error
	if r.ValidFrom, err = ParseDate(from); err != nil {
		t.Fatal(err)
	}
	if to != "" {
		end, err := ParseDate(to)
		if err != nil {
			t.Fatal(err)
		}
		r.ValidTo = &end
	}
	if _, err := reg.UpsertRepresentative(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}
