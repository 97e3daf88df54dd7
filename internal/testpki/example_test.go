package testpki_test

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"log"
	"time"

	"github.com/revokd/revokd/internal/testpki"
)

func Example() {
	now := time.Date(2026, time.March, 14, 10, 0, 0, 0, time.UTC)
	p, err := testpki.New(testpki.Options{Now: now})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	holder, err := p.IssueHolder(testpki.HolderOptions{
		KeyType:   testpki.ECDSAP256,
		Surname:   "Dupont",
		GivenName: "Jeanne",
		Email:     "jeanne.dupont@example.fr",
		SIREN:     "732829320",
	})
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.Root.Cert)
	inter := x509.NewCertPool()
	inter.AddCert(p.Intermediate.Cert)
	_, err = holder.Cert.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	fmt.Println(holder.Cert.Subject.CommonName, "issued by", holder.Cert.Issuer.CommonName, "verifies:", err == nil)

	p.Revoke(holder.Cert.SerialNumber, now, 1) // keyCompromise
	crl, err := p.CRL(p.Intermediate)
	if err != nil {
		log.Fatal(err)
	}
	list, err := x509.ParseRevocationList(crl)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("revoked entries:", len(list.RevokedCertificateEntries))

	digest := sha256.Sum256([]byte("signed bytes"))
	token, err := p.Timestamp(digest[:], crypto.SHA256, now)
	fmt.Println("time-stamp token:", len(token) > 0, err)
	// Output:
	// Jeanne Dupont issued by Test AC 2 Etoiles verifies: true
	// revoked entries: 1
	// time-stamp token: true <nil>
}
