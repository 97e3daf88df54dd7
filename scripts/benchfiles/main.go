// Command benchfiles writes the inputs of scripts/bench-verify.sh: a test
// PKI's root, and signed reference forms of about 100 KB and 5 MB whose
// revocation evidence is embedded, so that both verifiers run offline.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/revokd/revokd/internal/scenario"
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
	signer, err := scenario.NewOffline(now, testpki.RSA2048)
	if err != nil {
		return err
	}
	defer signer.PKI.Close()
	if err := os.WriteFile(filepath.Join(dir, "root.pem"), signer.RootPEM, 0o644); err != nil {
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
		signed, err := signer.Sign(form, testsign.SubFilterPKCS7, now)
		if err != nil {
			return fmt.Errorf("signing %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), signed, 0o644); err != nil {
			return err
		}
	}
	return nil
}
