package queue

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/pdfverify"
)

// TestImportThenDecide runs the registry's real path: certificates and
// representatives imported from files into SQLite, then a decision read
// from it.
func TestImportThenDecide(t *testing.T) {
	ctx := context.Background()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Our CA"},
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, surname, given, email string) *x509.Certificate {
		subj := pkix.Name{CommonName: given + " " + surname, SerialNumber: "ID-" + surname, OrganizationalUnit: []string{"0002 552081317"},
			ExtraNames: []pkix.AttributeTypeAndValue{
				{Type: asn1.ObjectIdentifier{2, 5, 4, 4}, Value: surname},
				{Type: asn1.ObjectIdentifier{2, 5, 4, 42}, Value: given},
			}}
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: subj, EmailAddresses: []string{email},
			NotBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC),
		}, ca, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}
	alice := issue(0x1001, "Martin", "Alice", "alice@acme.fr")
	bob := issue(0x2001, "Durand", "Bob", "bob@acme.fr")

	dir := t.TempDir()
	pemFile := filepath.Join(dir, "issued.pem")
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: alice.Raw}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: bob.Raw})...)
	if err := os.WriteFile(pemFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, filepath.Join(dir, "data"))
	if res, err := authorize.ImportCertificates(ctx, s, []string{pemFile}, nil); err != nil || res.Added != 2 {
		t.Fatalf("ImportCertificates = %+v, %v, want 2 added", res, err)
	}
	if res, err := authorize.ImportRepresentatives(ctx, s, strings.NewReader(
		"siren,surname,given_name,email,valid_from,valid_to\n552081317,Durand,Bob,bob@acme.fr,2024-01-01,\n")); err != nil || res.Added != 1 {
		t.Fatalf("ImportRepresentatives = %+v, %v, want 1 added", res, err)
	}

	report := &pdfverify.Report{
		Indication: pdfverify.TotalPassed,
		Form: map[string]string{
			"certificat_numero_serie": "10:01", "raison": "Départ ou mutation du titulaire", "demandeur_qualite": "Représentant légal",
			"titulaire_nom": "Martin", "titulaire_prenom": "Alice", "titulaire_email": "alice@acme.fr", "entreprise_siren": "552081317",
			"representant_nom": "Durand", "representant_prenom": "Bob", "representant_email": "bob@acme.fr",
		},
		Signatures: []pdfverify.SignatureReport{{
			Indication: pdfverify.TotalPassed, ValidationTime: time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC),
			Signer: &pdfverify.Signer{CertificateDER: bob.Raw},
		}},
	}
	d, err := authorize.Decide(ctx, report, s, authorize.Options{Issuers: []*x509.Certificate{ca}})
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	if !d.Accepted() || d.Role != authorize.RoleLegalRepresentative || authorize.FormatSerial(d.Serial) != "1001" {
		t.Errorf("Decide = %+v, want serial 1001 accepted for a legal representative", d)
	}
}
