// Command mkfixture writes a long-lived test PKI and the unsigned reference
// form, the inputs testdata/pdfsig/make.sh hands to poppler's pdfsig to
// make signatures by an independent producer.
//
// Usage:
//
//	go run ./internal/testsign/cmd/mkfixture -out DIR
//
// It writes DIR/root.pem, intermediate.pem, holder.pem, holder.key (PKCS #8,
// unencrypted) and form.pdf. The certificates are RSA, carry no CRL or OCSP
// URL (a verifier of the fixtures must not go online) and are valid from
// NotBefore for decades, so that files signed once stay verifiable at a
// fixed validation time.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
)

// Validity of the fixture PKI. NotBefore is fixed in the past so that the
// validity does not depend on when the script runs.
var notBefore = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// validationTime is the fixed time the fixtures are verified at (README);
// the CRLs written beside them cover it.
var validationTime = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// Validity periods, in years.
const (
	rootYears         = 30
	intermediateYears = 28
	holderYears       = 25
	// rsaBits: pdfsig signs with RSA only, and 2048 bits is what the
	// French RGS ** CAs issue to holders.
	rsaBits = 2048
)

// The holder, and what the form says about them.
const (
	surname      = "Dupont"
	givenName    = "Jeanne"
	email        = "jeanne.dupont@example.fr"
	organization = "Exemple SAS"
	siren        = "732829320"
)

func main() {
	out := flag.String("out", "", "directory to write to (created if missing)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "mkfixture: -out is required")
		os.Exit(2)
	}
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "mkfixture:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := newCA("Fixture AC Racine", nil, rootYears)
	if err != nil {
		return fmt.Errorf("making the root: %w", err)
	}
	inter, err := newCA("Fixture AC 2 Etoiles", root, intermediateYears)
	if err != nil {
		return fmt.Errorf("making the intermediate: %w", err)
	}
	// testpki shapes the holder like a French RGS ** certificate; with
	// NoServer it adds no CRL or OCSP URL.
	pki, err := testpki.New(testpki.Options{Now: notBefore, NoServer: true, Name: "Fixture"})
	if err != nil {
		return err
	}
	defer pki.Close()
	holder, err := pki.IssueHolder(testpki.HolderOptions{
		KeyType:        testpki.RSA2048,
		Surname:        surname,
		GivenName:      givenName,
		Email:          email,
		IdentitySerial: "FX-0001",
		Organization:   organization,
		SIREN:          siren,
		NotBefore:      notBefore,
		NotAfter:       notBefore.AddDate(holderYears, 0, 0),
		Issuer:         inter,
	})
	if err != nil {
		return fmt.Errorf("issuing the holder: %w", err)
	}

	key, err := x509.MarshalPKCS8PrivateKey(holder.Key)
	if err != nil {
		return err
	}
	form, err := testsign.Form(map[string]string{
		"titulaire_nom":             surname,
		"titulaire_prenom":          givenName,
		"titulaire_email":           email,
		"certificat_numero_serie":   strings.ToLower(holder.Cert.SerialNumber.Text(16)),
		"raison":                    "Clé privée compromise",
		"demandeur_qualite":         "Titulaire",
		"entreprise_raison_sociale": organization,
		"entreprise_siren":          siren,
		"date":                      time.Now().UTC().Format("2006-01-02"),
		"lieu":                      "Saint-Étienne",
	}, testsign.FormOptions{})
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{"root.pem", certPEM(root.Cert), 0o644},
		{"intermediate.pem", certPEM(inter.Cert), 0o644},
		{"holder.pem", certPEM(holder.Cert), 0o644},
		{"holder.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600},
		{"form.pdf", form, 0o644},
	}
	for _, ca := range []struct {
		name string
		c    *testpki.Cert
	}{{"root.crl", root}, {"intermediate.crl", inter}} {
		crl, err := emptyCRL(ca.c)
		if err != nil {
			return fmt.Errorf("making %s: %w", ca.name, err)
		}
		files = append(files, struct {
			name string
			data []byte
			perm os.FileMode
		}{filepath.Join("crl", ca.name), crl, 0o644})
	}
	if err := os.MkdirAll(filepath.Join(dir, "crl"), 0o755); err != nil {
		return err
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return err
		}
	}
	return nil
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// newCA makes a CA certificate signed by issuer (self-signed when nil).
func newCA(cn string, issuer *testpki.Cert, years int) (*testpki.Cert, error) {
	key, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	var pub struct {
		Alg asn1.RawValue
		Key asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &pub); err != nil {
		return nil, err
	}
	ski := sha1.Sum(pub.Key.Bytes) // RFC 5280 4.2.1.2, method 1
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject: pkix.Name{
			Country:      []string{"FR"},
			Organization: []string{"Fixture Certification"},
			CommonName:   cn,
		},
		NotBefore:             notBefore,
		NotAfter:              notBefore.AddDate(years, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          ski[:],
	}
	parent, signer := tmpl, any(key)
	var chain []*x509.Certificate
	if issuer != nil {
		parent, signer = issuer.Cert, issuer.Key
		chain = append([]*x509.Certificate{issuer.Cert}, issuer.Chain...)
		tmpl.MaxPathLenZero = true
		tmpl.Policies = []x509.OID{mustOID(2, 5, 29, 32, 0)} // anyPolicy
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &testpki.Cert{Cert: c, Key: key, Chain: chain, KeyType: testpki.RSA2048}, nil
}

func mustOID(ints ...uint64) x509.OID {
	oid, err := x509.OIDFromInts(ints)
	if err != nil {
		panic(err)
	}
	return oid
}

// emptyCRL is ca's CRL listing nothing, issued a day before the validation
// time and valid for a month after it.
func emptyCRL(ca *testpki.Cert) ([]byte, error) {
	return x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:     big.NewInt(1),
		ThisUpdate: validationTime.Add(-24 * time.Hour),
		NextUpdate: validationTime.AddDate(0, 1, 0),
	}, ca.Cert, ca.Key)
}
