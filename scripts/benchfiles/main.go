// Command benchfiles writes the inputs of scripts/bench-verify.sh: a test
// PKI's root, and signed reference forms of about 100 KB and 5 MB whose
// revocation evidence is embedded, so that both verifiers run offline.
package main

import (
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
)

func main() {
	out := flag.String("out", ".", "output `folder`")
	flag.Parse()
	if err := write(*out); err != nil {
		log.Fatal("benchfiles: ", err)
	}
}

func write(dir string) error {
	now := time.Now()
	pki, err := testpki.New(testpki.Options{Now: now, NoServer: true})
	if err != nil {
		return err
	}
	defer pki.Close()
	h, err := pki.IssueHolder(testpki.HolderOptions{
		KeyType: testpki.RSA2048, Surname: "Dupont", GivenName: "Hélène",
		Email: "helene.dupont@example.fr", IdentitySerial: "1234567890",
		Organization: "Société Exemple", SIREN: "732829320",
	})
	if err != nil {
		return err
	}
	ocsp, err := pki.OCSPResponse(h.Cert)
	if err != nil {
		return err
	}
	crl, err := pki.CRL(pki.Root)
	if err != nil {
		return err
	}
	root := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Root.Cert.Raw})
	if err := os.WriteFile(filepath.Join(dir, "root.pem"), root, 0o644); err != nil {
		return err
	}
	values := map[string]string{
		"titulaire_nom": "Dupont", "titulaire_prenom": "Hélène",
		"titulaire_email": "helene.dupont@example.fr", "certificat_numero_serie": "0a1b2c3d",
		"raison": "Clé privée compromise", "demandeur_qualite": "Titulaire",
		"entreprise_raison_sociale": "Société Exemple", "entreprise_siren": "732829320",
		"date": now.Format("02/01/2006"), "lieu": "Paris",
	}
	for name, size := range map[string]int{"form-100k.pdf": 100 << 10, "form-5m.pdf": 5 << 20} {
		form, err := testsign.Form(values, testsign.FormOptions{PadTo: size})
		if err != nil {
			return err
		}
		signed, err := testsign.Sign(form, testsign.SignOptions{
			Key: h.Key, Cert: h.Cert, Chain: h.Chain, SigningTime: now,
			OCSPs: [][]byte{ocsp}, CRLs: [][]byte{crl},
		})
		if err != nil {
			return fmt.Errorf("signing %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), signed, 0o644); err != nil {
			return err
		}
	}
	return nil
}
