package ingest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/revokd/revokd/internal/mailtest"
)

var (
	identitiesOnce sync.Once
	identities     struct {
		sender, desk, stranger *mailtest.Identity
		err                    error
	}
)

// testIdentities makes the RSA identities once per run: the sender who
// signs, the desk mail is encrypted to, and someone else.
func testIdentities(t testing.TB) (sender, desk, stranger *mailtest.Identity) {
	t.Helper()
	identitiesOnce.Do(func() {
		dir, err := os.MkdirTemp("", "smime-ids")
		if err != nil {
			identities.err = err
			return
		}
		for _, p := range []struct {
			id          **mailtest.Identity
			name, email string
		}{
			{&identities.sender, "Jeanne Testeur", "jeanne.testeur@example.fr"},
			{&identities.desk, "Revocation desk", "revocation@ca.example"},
			{&identities.stranger, "Someone else", "someone@example.org"},
		} {
			if *p.id, err = mailtest.NewIdentity(dir, p.name, p.email); err != nil {
				identities.err = err
				return
			}
		}
	})
	if identities.err != nil {
		t.Fatal(identities.err)
	}
	return identities.sender, identities.desk, identities.stranger
}

func smimeMail(entity []byte) []byte {
	return mailtest.Mail("Jeanne Testeur <jeanne.testeur@example.fr>", "Révocation", "smime-1@example.fr", entity)
}

// TestParseMessageSMIME builds each S/MIME shape with openssl and checks
// that the form inside is found, and what is recorded of the layer.
func TestParseMessageSMIME(t *testing.T) {
	sender, desk, stranger := testIdentities(t)
	deskKey, err := LoadDecrypter(desk.CertFile, desk.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	inner := mailtest.Entity("application/pdf", "demande.pdf", samplePDF)
	opaque := mailtest.SMIMESign(t, sender, inner, true, false)
	detached := mailtest.SMIMESign(t, sender, inner, false, false)
	tests := []struct {
		name         string
		raw          []byte
		dec          *Decrypter
		wantPDF      bool
		wantLayers   []string // kinds
		wantValid    bool
		wantUnopened string
	}{
		{name: "ok/opaque-signed-x-pkcs7-mime", raw: smimeMail(opaque),
			wantPDF: true, wantLayers: []string{SMIMESigned}, wantValid: true},
		{name: "ok/opaque-signed-pkcs7-mime", raw: smimeMail(bytes.Replace(opaque, []byte("application/x-pkcs7-mime"), []byte("application/pkcs7-mime"), 1)),
			wantPDF: true, wantLayers: []string{SMIMESigned}, wantValid: true},
		{name: "ok/opaque-signed-streamed-ber", raw: smimeMail(mailtest.SMIMESign(t, sender, inner, true, true)),
			wantPDF: true, wantLayers: []string{SMIMESigned}, wantValid: true},
		{name: "ok/detached-multipart-signed", raw: smimeMail(detached),
			wantPDF: true, wantLayers: []string{SMIMEDetached}, wantValid: true},
		{name: "ok/detached-then-encrypted", raw: smimeMail(mailtest.SMIMEEncrypt(t, desk, detached)), dec: deskKey,
			wantPDF: true, wantLayers: []string{SMIMEEncrypted, SMIMEDetached}, wantValid: true},
		{name: "fail/detached-signed-text-changed", raw: smimeMail(bytes.Replace(detached, []byte("Bonjour"), []byte("bonjour"), 1)),
			wantPDF: true, wantLayers: []string{SMIMEDetached}, wantValid: false},
		{name: "ok/encrypted-to-the-desk", raw: smimeMail(mailtest.SMIMEEncrypt(t, desk, inner)), dec: deskKey,
			wantPDF: true, wantLayers: []string{SMIMEEncrypted}},
		{name: "ok/signed-then-encrypted", raw: smimeMail(mailtest.SMIMEEncrypt(t, desk, opaque)), dec: deskKey,
			wantPDF: true, wantLayers: []string{SMIMEEncrypted, SMIMESigned}, wantValid: true},
		{name: "fail/encrypted-without-a-key", raw: smimeMail(mailtest.SMIMEEncrypt(t, desk, inner)),
			wantUnopened: UnopenedEncrypted},
		{name: "fail/encrypted-to-someone-else", raw: smimeMail(mailtest.SMIMEEncrypt(t, stranger, inner)), dec: deskKey,
			wantUnopened: UnopenedEncrypted},
		{name: "fail/not-cms", raw: smimeMail([]byte("Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\n" +
			"Content-Transfer-Encoding: base64\r\n\r\nTm90IGEgQ01TIHN0cnVjdHVyZQ==\r\n")),
			wantUnopened: UnopenedSMIME},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := ParseMessageWith(bytes.NewReader(tt.raw), Options{Decrypter: tt.dec})
			if err != nil {
				t.Fatalf("ParseMessageWith() error = %v", err)
			}
			gotPDF := len(msg.Attachments) == 1 && msg.Attachments[0].Err == nil && bytes.Equal(msg.Attachments[0].Data, samplePDF)
			if gotPDF != tt.wantPDF {
				t.Errorf("PDF found = %v, want %v (attachments %v)", gotPDF, tt.wantPDF, summary(msg.Attachments))
			}
			var kinds []string
			for _, l := range msg.SMIME {
				kinds = append(kinds, l.Kind)
				if l.Kind == SMIMESigned || l.Kind == SMIMEDetached {
					if l.SignatureValid != tt.wantValid {
						t.Errorf("signature valid = %v (%s), want %v", l.SignatureValid, l.SignatureError, tt.wantValid)
					}
					if l.Signer == nil || len(l.Signer.Emails) != 1 || l.Signer.Emails[0] != sender.EmailAddress {
						t.Errorf("signer = %+v, want %s", l.Signer, sender.EmailAddress)
					}
				}
				if l.Kind == SMIMEEncrypted && (l.Recipient == nil || l.Recipient.Subject != desk.Cert.Subject.String()) {
					t.Errorf("recipient = %+v, want the desk's certificate", l.Recipient)
				}
			}
			if strings.Join(kinds, ",") != strings.Join(tt.wantLayers, ",") {
				t.Errorf("layers = %v, want %v", kinds, tt.wantLayers)
			}
			gotUnopened := ""
			if len(msg.Unopened) > 0 {
				gotUnopened = msg.Unopened[0].Kind
			}
			if gotUnopened != tt.wantUnopened || len(msg.Unopened) > 1 {
				t.Errorf("unopened = %+v, want one of kind %q", msg.Unopened, tt.wantUnopened)
			}
		})
	}
}

// A signature that does not verify is recorded as such, and the form it
// carries is still examined: the S/MIME layer is evidence, and the PDF's
// own signature decides.
func TestParseMessageSMIMETamperedSignature(t *testing.T) {
	sender, _, _ := testIdentities(t)
	inner := mailtest.Entity("application/pdf", "demande.pdf", samplePDF)
	signed := mailtest.SMIMESign(t, sender, inner, true, false)
	layer, content, err := openSMIME(tamperedDER(t, signed), nil)
	if err != nil {
		t.Fatalf("openSMIME(tampered) error = %v", err)
	}
	if layer.SignatureValid || layer.SignatureError == "" {
		t.Errorf("tampered layer = %+v, want an invalid signature with its error", layer)
	}
	if !bytes.Contains(content, []byte("multipart/mixed")) {
		t.Errorf("content of the tampered layer not returned")
	}
}

func tamperedDER(t *testing.T, entity []byte) []byte {
	_, der := mailtest.TamperSMIME(t, entity)
	return der
}

func TestLoadDecrypter(t *testing.T) {
	_, desk, stranger := testIdentities(t)
	dir := t.TempDir()
	open := filepath.Join(dir, "open.key")
	if err := os.WriteFile(open, desk.KeyPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cert, key, wantErr string
	}{
		{"ok/private-key-file", desk.CertFile, desk.KeyFile, ""},
		{"fail/key-readable-by-others", desk.CertFile, open, "mode 0644"},
		{"fail/key-of-another-certificate", stranger.CertFile, desk.KeyFile, "does not hold the key"},
		{"fail/missing-key", desk.CertFile, filepath.Join(dir, "none.key"), "no such file"},
		{"fail/certificate-is-a-key", desk.KeyFile, desk.KeyFile, "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadDecrypter(tt.cert, tt.key)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("LoadDecrypter() error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestBERToDER(t *testing.T) {
	deep := bytes.Repeat([]byte{0x30, 0x80}, maxBERNesting+2)
	deep = append(deep, bytes.Repeat([]byte{0, 0}, maxBERNesting+2)...)
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr string
	}{
		{"ok/der-unchanged", []byte{0x30, 0x03, 0x02, 0x01, 0x05}, []byte{0x30, 0x03, 0x02, 0x01, 0x05}, ""},
		{"ok/indefinite", []byte{0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00}, []byte{0x30, 0x03, 0x02, 0x01, 0x05}, ""},
		{"ok/nested-indefinite-in-definite", []byte{0x30, 0x06, 0x30, 0x80, 0x05, 0x00, 0x00, 0x00}, []byte{0x30, 0x04, 0x30, 0x02, 0x05, 0x00}, ""},
		{"fail/too-deep", deep, nil, "nested"},
		{"fail/no-end-of-contents", []byte{0x30, 0x80, 0x02, 0x01, 0x05}, nil, "end-of-contents"},
		{"fail/length-beyond-data", []byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff}, nil, "beyond"},
		{"fail/trailing-bytes", []byte{0x05, 0x00, 0x01}, nil, "after"},
		{"fail/indefinite-primitive", []byte{0x04, 0x80, 0x00, 0x00}, nil, "primitive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := berToDER(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("berToDER(% x) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Errorf("berToDER(% x) = % x, %v; want % x", tt.in, got, err, tt.want)
			}
		})
	}
}
