package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/revokd/revokd/internal/scenario"
	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"revokd": func() {
			os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
		},
	})
}

// TestScripts runs the command end to end, as a user would, on the files
// that writeFixtures leaves in each script's work folder.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			return writeFixtures(env.WorkDir)
		},
	})
}

var scriptForm = map[string]string{
	"titulaire_nom":             "Dupont",
	"titulaire_prenom":          "Hélène",
	"titulaire_email":           "helene.dupont@example.fr",
	"certificat_numero_serie":   "0a1b2c3d",
	"raison":                    "Clé privée compromise",
	"demandeur_qualite":         "Titulaire",
	"entreprise_raison_sociale": "Société Exemple",
	"entreprise_siren":          "732829320",
	"date":                      "25/11/2026",
	"lieu":                      "Paris",
}

// writeFixtures writes root.pem and signed, forged and broken files. The
// PKI is issued around the real clock because `revokd verify` validates at
// the current time; revocation evidence is embedded so --offline works.
func writeFixtures(dir string) error {
	now := time.Now()
	signer, err := scenario.NewOffline(now, testpki.ECDSAP256)
	if err != nil {
		return err
	}
	defer signer.PKI.Close()
	form, err := testsign.Form(scriptForm, testsign.FormOptions{})
	if err != nil {
		return err
	}
	genuine, err := signer.Sign(form, testsign.SubFilterCAdES, now)
	if err != nil {
		return err
	}
	forged, err := testsign.ChangeFieldAfterSigning(genuine, "certificat_numero_serie", "deadbeef")
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"root.pem":     signer.RootPEM,
		"genuine.pdf":  genuine,
		"forged.pdf":   forged,
		"unsigned.pdf": form,
		"garbage.pdf":  testsign.Garbage(2048, 1),
		"mail.eml":     mailWith(map[string][]byte{"forged.pdf": forged, "Demande de révocation.pdf": genuine}),
		"forged.eml":   mailWith(map[string][]byte{"forged.pdf": forged}),
		"nopdf.eml":    mailWith(nil),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// mailWith builds a multipart mail with the given PDFs, names encoded as
// RFC 2231 parameters; the forged one, when present, comes first.
func mailWith(pdfs map[string][]byte) []byte {
	var b bytes.Buffer
	b.WriteString("From: Hélène Dupont <helene.dupont@example.fr>\r\nTo: revocation@example.fr\r\n" +
		"Subject: Demande de revocation\r\nMessage-ID: <1@example.fr>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour,\r\n")
	names := []string{}
	if _, ok := pdfs["forged.pdf"]; ok {
		names = append(names, "forged.pdf")
	}
	for n := range pdfs {
		if n != "forged.pdf" {
			names = append(names, n)
		}
	}
	for _, n := range names {
		fmt.Fprintf(&b, "--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"+
			"Content-Disposition: attachment; filename*=UTF-8''%s\r\n\r\n", pctEncode(n))
		enc := make([]byte, 0, len(pdfs[n])*4/3+4)
		enc = appendBase64Lines(enc, pdfs[n])
		b.Write(enc)
	}
	b.WriteString("--b1--\r\n")
	return b.Bytes()
}
