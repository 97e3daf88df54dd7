package ingest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// TestReadHeaderFrom: the sender's address is read from the From fields
// that clients and gateways really write, raw 8-bit bytes included, and
// the raw bytes are kept when the standard parser refused them.
func TestReadHeaderFrom(t *testing.T) {
	tests := []struct {
		name         string
		from         string
		wantAddr     string
		wantName     string
		wantDecoding string
	}{
		{"ok/rfc2047-windows-1252", "=?windows-1252?Q?Jeanne_T=E9steur?= <jeanne.testeur@example.fr>",
			"jeanne.testeur@example.fr", "Jeanne Tésteur", FromStandard},
		{"ok/raw-windows-1252", "Jeanne T\xe9steur <jeanne.testeur@example.fr>",
			"jeanne.testeur@example.fr", "Jeanne Tésteur", FromWindows1252},
		{"ok/raw-latin-1-quoted", "\"L\xe9a M\xfcller\" <lea.muller@example.fr>",
			"lea.muller@example.fr", "Léa Müller", FromWindows1252},
		{"ok/raw-windows-1252-curly-quote", "Fran\xe7ois d\x92Alembert <fda@example.fr>",
			"fda@example.fr", "François d’Alembert", FromWindows1252},
		{"ok/raw-utf-8", "Jeanne Téstéur <jeanne.testeur@example.fr>",
			"jeanne.testeur@example.fr", "Jeanne Téstéur", FromStandard},
		{"ok/raw-utf-8-with-specials", "Dupont, Hélène (DSI) <helene.dupont@example.fr>",
			"helene.dupont@example.fr", "", FromAddressOnly},
		{"ok/bare-address-in-junk", "\xff\xfe jeanne@example.fr \xff",
			"jeanne@example.fr", "", FromAddressOnly},
		{"fail/no-address", "Jeanne T\xe9steur", "", "", FromStandard},
		{"fail/two-bare-addresses-in-junk", "\xff a@example.fr b@example.fr", "", "", FromStandard},
		{"fail/brackets-without-an-address", "Jeanne <not an address>", "", "", FromStandard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "From: " + tt.from + "\r\nSubject: Demande\r\nMessage-ID: <a@b>\r\n\r\nbody\r\n"
			h, err := ReadHeader([]byte(raw))
			if err != nil {
				t.Fatalf("ReadHeader() error = %v", err)
			}
			gotAddr, gotName := "", ""
			if h.From != nil {
				gotAddr, gotName = h.From.Address, h.From.Name
			}
			if gotAddr != tt.wantAddr || gotName != tt.wantName || h.FromDecoding != tt.wantDecoding {
				t.Errorf("From = %q %q (%q), want %q %q (%q)", gotName, gotAddr, h.FromDecoding, tt.wantName, tt.wantAddr, tt.wantDecoding)
			}
			if tt.wantDecoding != FromStandard && string(h.FromRaw) != tt.from {
				t.Errorf("FromRaw = %q, want the raw field %q", h.FromRaw, tt.from)
			}
			if tt.wantDecoding == FromStandard && h.FromRaw != nil {
				t.Errorf("FromRaw = %q, want nil for a standard field", h.FromRaw)
			}
		})
	}
}

// The header of a mail over the size cap comes alone (IMAP
// BODY.PEEK[HEADER]) and may be cut short by the fetch's bound.
func TestReadHeaderAlone(t *testing.T) {
	tests := []struct {
		name, raw, wantID, wantFrom, wantSubject string
	}{
		{"ok/header-section", "Message-ID: <big-1@example.fr>\r\nFrom: Jeanne T\xe9steur <jeanne@example.fr>\r\nSubject: Gros fichier\r\n\r\n",
			"big-1@example.fr", "jeanne@example.fr", "Gros fichier"},
		{"ok/cut-short", "Message-ID: <big-2@example.fr>\r\nFrom: jeanne@example.fr\r\nSubject: Gros fich",
			"big-2@example.fr", "jeanne@example.fr", ""},
		{"ok/raw-8-bit-subject", "From: jeanne@example.fr\r\nSubject: R\xe9vocation\r\n\r\n", "", "jeanne@example.fr", "Révocation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ReadHeader([]byte(tt.raw))
			if err != nil {
				t.Fatalf("ReadHeader() error = %v", err)
			}
			from := ""
			if h.From != nil {
				from = h.From.Address
			}
			if h.MessageID != tt.wantID || from != tt.wantFrom || h.Subject != tt.wantSubject {
				t.Errorf("ReadHeader() = %q %q %q, want %q %q %q", h.MessageID, from, h.Subject, tt.wantID, tt.wantFrom, tt.wantSubject)
			}
		})
	}
}

// TestVerifyDKIM signs with go-msgauth and serves the key from a fake DNS:
// DKIM is recorded as it is, pass or fail, never an error of the mail.
func TestVerifyDKIM(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw := "From: jeanne@example.fr\r\nTo: revocation@ca.example\r\nSubject: Demande\r\nMessage-ID: <d-1@example.fr>\r\n\r\nBonjour.\r\n"
	var signed bytes.Buffer
	if err := dkim.Sign(&signed, strings.NewReader(raw), &dkim.SignOptions{
		Domain: "example.fr", Selector: "s1", Signer: priv, HeaderKeys: []string{"From", "To", "Subject", "Message-ID"},
	}); err != nil {
		t.Fatal(err)
	}
	record := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	dns := func(_ context.Context, name string) ([]string, error) {
		if name == "s1._domainkey.example.fr" {
			return []string{record}, nil
		}
		return nil, errors.New("no such name")
	}
	down := func(context.Context, string) ([]string, error) { return nil, &timeoutError{} }
	tests := []struct {
		name   string
		raw    []byte
		lookup LookupTXT
		want   string // result of the one signature; "" for no signature
	}{
		{"ok/pass", signed.Bytes(), dns, DKIMPass},
		{"ok/no-signature", []byte(raw), dns, ""},
		{"fail/body-changed", bytes.Replace(signed.Bytes(), []byte("Bonjour."), []byte("Bonsoir."), 1), dns, DKIMFail},
		{"fail/dns-down", signed.Bytes(), down, DKIMTempError},
		{"fail/no-key-published", bytes.Replace(signed.Bytes(), []byte("s=s1"), []byte("s=s2"), 1), dns, DKIMPermError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := VerifyDKIM(context.Background(), tt.raw, tt.lookup)
			switch {
			case tt.want == "" && got != nil:
				t.Errorf("VerifyDKIM() = %+v, want nil", got)
			case tt.want != "" && (len(got) != 1 || got[0].Result != tt.want || got[0].Domain != "example.fr"):
				t.Errorf("VerifyDKIM() = %+v, want one %s for example.fr", got, tt.want)
			}
		})
	}
}

type timeoutError struct{}

func (*timeoutError) Error() string   { return "i/o timeout" }
func (*timeoutError) Timeout() bool   { return true }
func (*timeoutError) Temporary() bool { return true }
