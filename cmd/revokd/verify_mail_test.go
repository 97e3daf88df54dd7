package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/revokd/revokd/internal/mailtest"
	"github.com/revokd/revokd/internal/scenario"
)

// `revokd verify FILE.eml` opens every shape the worker opens: the form of
// the scenario's holder inside opaque and detached S/MIME, encrypted
// S/MIME (with [smime] set), a zip; and says what it could not read.
func TestVerifyMailShapes(t *testing.T) {
	mailtest.RequireTool(t, "openssl")
	mailtest.RequireTool(t, "zip")
	sc, err := scenario.New(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	dir := t.TempDir()
	desk, err := mailtest.NewIdentity(dir, "Revocation desk", "revocation@ca.example")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := mailtest.NewIdentity(dir, "Hélène Dupont", "helene.dupont@example.fr")
	if err != nil {
		t.Fatal(err)
	}
	form, err := scenario.SignedForm(map[string]string{"titulaire_nom": "Dupont", "titulaire_prenom": "Hélène",
		"certificat_numero_serie": "1a2b3c", "raison": "Clé privée compromise", "demandeur_qualite": "Titulaire"}, sc.Holder, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	entity := mailtest.Entity("application/pdf", "demande.pdf", form)
	root := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(root, sc.RootPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	openKey := filepath.Join(dir, "open.key")
	if err := os.WriteFile(openKey, desk.KeyPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	config := func(key string) string {
		p := filepath.Join(t.TempDir(), "revokd.toml")
		toml := fmt.Sprintf("[trust]\nroots = [%q]\n", root)
		if key != "" {
			toml += fmt.Sprintf("[smime]\ncert_file = %q\nkey_file = %q\n", desk.CertFile, key)
		}
		if err := os.WriteFile(p, []byte(toml), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	from := "Hélène Dupont <helene.dupont@example.fr>"
	tests := []struct {
		name     string
		raw      []byte
		key      string
		wantExit int
		wantOut  string
	}{
		{"ok/opaque-signed", mailtest.Mail(from, "R", "v1@example.fr", mailtest.SMIMESign(t, signer, entity, true, false)), "",
			exitOK, `"smime"`},
		{"ok/detached-signed", mailtest.Mail(from, "R", "v2@example.fr", mailtest.SMIMESign(t, signer, entity, false, false)), "",
			exitOK, `"attachments"`},
		{"ok/encrypted-with-the-desk-key", mailtest.Mail(from, "R", "v3@example.fr", mailtest.SMIMEEncrypt(t, desk, entity)), desk.KeyFile,
			exitOK, `"enveloped-data"`},
		{"ok/zip", mailtest.Mail(from, "R", "v4@example.fr", mailtest.Entity("application/zip", "demande.zip",
			mailtest.Zip(t, map[string][]byte{"demande.pdf": form}, ""))), "", exitOK, `demande.zip/demande.pdf`},
		{"fail/encrypted-without-a-key", mailtest.Mail(from, "R", "v5@example.fr", mailtest.SMIMEEncrypt(t, desk, entity)), "",
			exitRejected, `"smime-encrypted"`},
		{"fail/winmail", mailtest.Mail(from, "R", "v6@example.fr", mailtest.Entity("application/ms-tnef", "winmail.dat", []byte{0x78, 0x9f, 0x3e, 0x22})), "",
			exitRejected, `"winmail"`},
		{"fail/key-file-readable-by-others", mailtest.Mail(from, "R", "v7@example.fr", mailtest.SMIMEEncrypt(t, desk, entity)), openKey,
			exitUsage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eml := filepath.Join(t.TempDir(), "mail.eml")
			if err := os.WriteFile(eml, tt.raw, 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := cmdVerify(context.Background(), []string{"--config", config(tt.key), "--json", eml}, nil, &stdout, &stderr)
			if code != tt.wantExit {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantExit, stdout.String(), stderr.String())
			}
			if tt.wantExit == exitUsage {
				if !strings.Contains(stderr.String(), "smime") {
					t.Errorf("stderr %q does not name [smime]", stderr.String())
				}
				return
			}
			if !json.Valid(stdout.Bytes()) || !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("output lacks %s:\n%s", tt.wantOut, stdout.String())
			}
		})
	}
}
