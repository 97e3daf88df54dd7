package ingest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/revokd/revokd/internal/mailtest"
)

// shapeSeeds are mails built once with openssl and zip, kept in testdata/
// as seeds of the fuzz targets and as samples that need no tool to read.
// `go test ./ingest -run TestShapeSeeds -update` rebuilds them (and the
// test key the encrypted one is addressed to).
var shapeSeeds = []struct {
	file     string
	build    func(t *testing.T, sender, desk *mailtest.Identity) []byte
	wantPDF  bool
	unopened string
}{
	{"shape-smime-opaque.eml", func(t *testing.T, s, _ *mailtest.Identity) []byte {
		return smimeMail(mailtest.SMIMESign(t, s, mailtest.Entity("application/pdf", "demande.pdf", samplePDF), true, false))
	}, true, ""},
	{"shape-smime-opaque-ber.eml", func(t *testing.T, s, _ *mailtest.Identity) []byte {
		return smimeMail(mailtest.SMIMESign(t, s, mailtest.Entity("application/pdf", "demande.pdf", samplePDF), true, true))
	}, true, ""},
	{"shape-smime-detached.eml", func(t *testing.T, s, _ *mailtest.Identity) []byte {
		return smimeMail(mailtest.SMIMESign(t, s, mailtest.Entity("application/pdf", "demande.pdf", samplePDF), false, false))
	}, true, ""},
	{"shape-smime-encrypted.eml", func(t *testing.T, _, d *mailtest.Identity) []byte {
		return smimeMail(mailtest.SMIMEEncrypt(t, d, mailtest.Entity("application/pdf", "demande.pdf", samplePDF)))
	}, true, ""},
	{"shape-zip.eml", func(t *testing.T, _, _ *mailtest.Identity) []byte {
		return zipMail("application/zip", "demande.zip", mailtest.Zip(t, map[string][]byte{"demande.pdf": samplePDF}, ""))
	}, true, ""},
	{"shape-zip-encrypted.eml", func(t *testing.T, _, _ *mailtest.Identity) []byte {
		return zipMail("application/zip", "demande.zip", mailtest.Zip(t, map[string][]byte{"demande.pdf": samplePDF}, "secret"))
	}, false, UnopenedArchive},
	{"shape-winmail.eml", func(t *testing.T, _, _ *mailtest.Identity) []byte {
		return zipMail("application/ms-tnef", "winmail.dat", []byte{0x78, 0x9f, 0x3e, 0x22, 0x01, 0x00})
	}, false, UnopenedTNEF},
	{"shape-raw-8bit-from.eml", func(t *testing.T, _, _ *mailtest.Identity) []byte {
		return mailtest.Mail("Jeanne T\xe9steur <jeanne.testeur@example.fr>", "Révocation", "raw-1@example.fr",
			mailtest.Entity("application/pdf", "demande.pdf", samplePDF))
	}, true, ""},
}

const seedKeyFile, seedCertFile = "testdata/desk-test-smime.key", "testdata/desk-test-smime.crt"

func TestShapeSeeds(t *testing.T) {
	if *update {
		sender, desk, _ := testIdentities(t)
		if err := os.WriteFile(seedKeyFile, desk.KeyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(seedCertFile, desk.CertPEM, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, s := range shapeSeeds {
			if err := os.WriteFile(filepath.Join("testdata", s.file), s.build(t, sender, desk), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// git keeps no permissions but the executable bit: the key comes out
	// 0644 from a checkout, which LoadDecrypter rightly refuses.
	os.Chmod(seedKeyFile, 0o600)
	dec, err := LoadDecrypter(seedCertFile, seedKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range shapeSeeds {
		t.Run(s.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", s.file))
			if err != nil {
				t.Fatalf("%v (rebuild with -update)", err)
			}
			msg, err := ParseMessageWith(bytes.NewReader(raw), Options{Decrypter: dec})
			if err != nil {
				t.Fatal(err)
			}
			gotPDF := len(msg.Attachments) == 1 && bytes.Equal(msg.Attachments[0].Data, samplePDF)
			gotUnopened := ""
			if len(msg.Unopened) == 1 {
				gotUnopened = msg.Unopened[0].Kind
			}
			if gotPDF != s.wantPDF || gotUnopened != s.unopened || len(msg.Unopened) > 1 {
				t.Errorf("PDF %v, unopened %+v; want PDF %v, unopened %q", gotPDF, msg.Unopened, s.wantPDF, s.unopened)
			}
		})
	}
}
