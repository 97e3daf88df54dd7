package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-smtp"

	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/internal/mailtest"
	"github.com/revokd/revokd/internal/scenario"
	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/notify"
	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/revocation"
)

// TestMailShapesThroughDovecot runs `revokd run` (serve) against a real
// Dovecot and an SMTP relay with each shape of mail people send, built
// with the real tools (openssl smime, zip), and checks the outcome of
// every request and the answer every sender gets. It also checks that the
// store's files are private although the data folder was created 0755,
// and that no INFO log line names a sender, a holder or a serial.
func TestMailShapesThroughDovecot(t *testing.T) {
	mailtest.RequireTool(t, "openssl")
	mailtest.RequireTool(t, "zip")
	dv := startDovecot(t)
	user, err := dv.NewUser()
	if err != nil {
		t.Fatal(err)
	}
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
	stranger, err := mailtest.NewIdentity(dir, "Someone else", "someone@example.org")
	if err != nil {
		t.Fatal(err)
	}

	// Each request comes from a holder of its own, so that each is a new
	// revocation (a replayed form would be accepted without a new job).
	var serials []string
	var holders []*testpki.Cert
	form := func(i int, email string) []byte {
		t.Helper()
		h, err := sc.PKI.IssueHolder(testpki.HolderOptions{
			KeyType: testpki.ECDSAP256, GivenName: "Jeanne", Surname: fmt.Sprintf("Testeur%d", i),
			Email: email, IdentitySerial: fmt.Sprintf("31%08d", i), Organization: scenario.Company, SIREN: scenario.SIREN,
		})
		if err != nil {
			t.Fatal(err)
		}
		holders = append(holders, h)
		serials = append(serials, strings.ToLower(h.Cert.SerialNumber.Text(16)))
		sc.Certificates = append(sc.Certificates, certificateOf(h))
		pdf, err := scenario.SignedForm(map[string]string{
			"titulaire_nom": fmt.Sprintf("Testeur%d", i), "titulaire_prenom": "Jeanne", "titulaire_email": email,
			"certificat_numero_serie": h.Cert.SerialNumber.Text(16), "raison": "Clé privée compromise",
			"demandeur_qualite": "Titulaire", "entreprise_siren": scenario.SIREN,
		}, h, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return pdf
	}
	pdfEntity := func(pdf []byte) []byte { return mailtest.Entity("application/pdf", "demande.pdf", pdf) }
	zipEntity := func(pdf []byte, password string) []byte {
		return mailtest.Entity("application/zip", "demande.zip", mailtest.Zip(t, map[string][]byte{"demande.pdf": pdf}, password))
	}
	const capBytes = 2 << 20
	bigPDF := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("0123456789abcdef"), (capBytes/16)+1024)...)

	type shape struct {
		name, from string
		raw        []byte
		wantState  revocation.State
		wantCode   string
		// wantReply are phrases of the one result the sender gets (an
		// acknowledgement comes before it for a request).
		wantReply []string
	}
	accepted := []string{"demande acceptée", "request accepted"}
	shapes := []shape{
		{name: "raw 8-bit From", from: "jeanne.testeur@example.fr",
			raw:       mailtest.Mail("Jeanne T\xe9steur <jeanne.testeur@example.fr>", "Révocation", "shape-1@example.fr", pdfEntity(form(1, "jeanne.testeur@example.fr"))),
			wantState: revocation.StateQueued, wantReply: accepted},
		{name: "over the size cap", from: "gros.fichier@example.fr",
			raw:       mailtest.Mail("Gros Fichier <gros.fichier@example.fr>", "Révocation", "shape-2@example.fr", pdfEntity(bigPDF)),
			wantState: revocation.StateNotARequest, wantCode: string(notify.WhyOverSize),
			wantReply: []string{"formulaire signé seul, en pièce jointe PDF de moins de 1 Mo", "form alone, as a PDF attachment under 1 MB"}},
		{name: "S/MIME opaque signed", from: "opaque@example.fr",
			raw:       mailtest.Mail("opaque@example.fr", "Révocation", "shape-3@example.fr", mailtest.SMIMESign(t, stranger, pdfEntity(form(3, "opaque@example.fr")), true, false)),
			wantState: revocation.StateQueued, wantReply: accepted},
		{name: "S/MIME detached signed", from: "detached@example.fr",
			raw:       mailtest.Mail("detached@example.fr", "Révocation", "shape-4@example.fr", mailtest.SMIMESign(t, stranger, pdfEntity(form(4, "detached@example.fr")), false, false)),
			wantState: revocation.StateQueued, wantReply: accepted},
		{name: "S/MIME encrypted to the desk", from: "chiffre@example.fr",
			raw:       mailtest.Mail("chiffre@example.fr", "Révocation", "shape-5@example.fr", mailtest.SMIMEEncrypt(t, desk, pdfEntity(form(5, "chiffre@example.fr")))),
			wantState: revocation.StateQueued, wantReply: accepted},
		{name: "S/MIME encrypted to someone else", from: "mauvaise.cle@example.fr",
			raw:       mailtest.Mail("mauvaise.cle@example.fr", "Révocation", "shape-6@example.fr", mailtest.SMIMEEncrypt(t, stranger, pdfEntity(form(6, "mauvaise.cle@example.fr")))),
			wantState: revocation.StateNotARequest, wantCode: string(notify.WhyEncrypted),
			wantReply: []string{"Renvoyez-le sans chiffrement", "Send it again unencrypted"}},
		{name: "form in a zip", from: "archive@example.fr",
			raw:       mailtest.Mail("archive@example.fr", "Révocation", "shape-7@example.fr", zipEntity(form(7, "archive@example.fr"), "")),
			wantState: revocation.StateQueued, wantReply: accepted},
		{name: "form in an encrypted zip", from: "zip.chiffre@example.fr",
			raw:       mailtest.Mail("zip.chiffre@example.fr", "Révocation", "shape-8@example.fr", zipEntity(form(8, "zip.chiffre@example.fr"), "secret")),
			wantState: revocation.StateNotARequest, wantCode: string(notify.WhyArchiveUnreadable),
			wantReply: []string{"l’archive jointe n’a pas pu être ouverte", "sans archive (zip) ni mot de passe", "without an archive (zip) or a password"}},
		{name: "winmail.dat", from: "outlook@example.fr",
			raw: mailtest.Mail("outlook@example.fr", "Révocation", "shape-9@example.fr",
				mailtest.Entity("application/ms-tnef", "winmail.dat", []byte{0x78, 0x9f, 0x3e, 0x22, 0x01, 0x00})),
			wantState: revocation.StateNotARequest, wantCode: string(notify.WhyWinmail),
			wantReply: []string{"fichier winmail.dat", "format HTML ou texte brut", "in HTML or plain-text format"}},
	}

	// The data folder as an installer leaves it.
	dataDir := filepath.Join(dir, "data")
	if err := os.Mkdir(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), demoTimeout)
	defer cancel()
	store, err := queue.Open(ctx, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Load(ctx, store); err != nil {
		t.Fatal(err)
	}
	store.Close()

	relay := startCaptureSMTP(t)
	cfg := defaultConfig()
	cfg.DataDir = dataDir
	issuer, root := filepath.Join(dir, "issuer.pem"), filepath.Join(dir, "root.pem")
	for p, b := range map[string][]byte{issuer: sc.IssuerPEM, root: sc.RootPEM} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg.CA.Issuers, cfg.Trust.Roots = []string{issuer}, []string{root}
	cfg.HTTP.Address = "127.0.0.1:0"
	cfg.IMAP.Address, cfg.IMAP.Security, cfg.IMAP.Username, cfg.IMAP.Password = dv.Addr, "none", user, dv.Password
	cfg.IMAP.MaxMessageBytes = capBytes
	cfg.SMTP.Address, cfg.SMTP.Security, cfg.SMTP.From = relay.addr, "none", "revocation@ca.example"
	cfg.SMIME.CertFile, cfg.SMIME.KeyFile = desk.CertFile, desk.KeyFile

	c := imapLogin(t, dv, user)
	for _, s := range shapes {
		imapAppend(t, c, s.raw)
	}
	wantMails := 0
	for _, s := range shapes {
		wantMails++
		if s.wantState != revocation.StateNotARequest {
			wantMails++
		}
	}

	var logs syncBuffer
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- serve(runCtx, cfg, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for relay.count() < wantMails {
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v\n%s", err, logs.String())
		case <-ctx.Done():
			t.Fatalf("%d of %d answers delivered in time\n%s", relay.count(), wantMails, logs.String())
		case <-tick.C:
		}
	}
	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("serve = %v", err)
	}

	store, err = queue.Open(ctx, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rows, err := store.ListRequests(ctx, queue.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]queue.RequestSummary{}
	for _, r := range rows {
		byID[r.MessageID] = r
	}
	got := relay.byRecipient()
	for i, s := range shapes {
		r, ok := byID[fmt.Sprintf("<shape-%d@example.fr>", i+1)]
		if !ok {
			t.Errorf("%s: no request recorded", s.name)
			continue
		}
		if r.State != s.wantState || string(r.ReasonCode) != s.wantCode || r.Sender != s.from {
			t.Errorf("%s: %s %q from %q, want %s %q from %q (%s)", s.name, r.State, r.ReasonCode, r.Sender, s.wantState, s.wantCode, s.from, r.Reason)
		}
		msgs := got[s.from]
		wantN := 1
		if s.wantState != revocation.StateNotARequest {
			wantN = 2
		}
		if len(msgs) != wantN {
			t.Errorf("%s: %d answers to %s, want %d", s.name, len(msgs), s.from, wantN)
			continue
		}
		result := msgs[len(msgs)-1]
		for _, phrase := range s.wantReply {
			if !strings.Contains(result, phrase) {
				t.Errorf("%s: the answer lacks %q:\n%s", s.name, phrase, result)
			}
		}
	}

	// The evidence kept for operators: the S/MIME signer and the From
	// read leniently.
	checkEvidence := func(messageID string, check func(ev ingest.Evidence) bool) {
		t.Helper()
		d, err := store.Request(ctx, byID[messageID].ID)
		if err != nil {
			t.Fatal(err)
		}
		var ev ingest.Evidence
		if err := json.Unmarshal(d.Mail.Evidence, &ev); err != nil || !check(ev) {
			t.Errorf("%s: evidence %s (%v)", messageID, d.Mail.Evidence, err)
		}
	}
	checkEvidence("<shape-1@example.fr>", func(ev ingest.Evidence) bool {
		return ev.FromDecoding == ingest.FromWindows1252 && string(ev.FromRaw) == "Jeanne T\xe9steur <jeanne.testeur@example.fr>"
	})
	checkEvidence("<shape-3@example.fr>", func(ev ingest.Evidence) bool {
		return len(ev.SMIME) == 1 && ev.SMIME[0].SignatureValid && ev.SMIME[0].Signer != nil &&
			ev.SMIME[0].Signer.Emails[0] == stranger.EmailAddress
	})
	checkEvidence("<shape-4@example.fr>", func(ev ingest.Evidence) bool {
		return len(ev.SMIME) == 1 && ev.SMIME[0].Kind == ingest.SMIMEDetached && ev.SMIME[0].SignatureValid
	})
	checkEvidence("<shape-5@example.fr>", func(ev ingest.Evidence) bool {
		return len(ev.SMIME) == 1 && ev.SMIME[0].Kind == ingest.SMIMEEncrypted
	})

	// The operator sees the S/MIME signer in `revokd queue show`.
	cfgFile := filepath.Join(dir, "revokd.toml")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf("data_dir = %q\n", dataDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	var showOut, showErr bytes.Buffer
	if code := cmdQueue(ctx, []string{"show", "--config", cfgFile, fmt.Sprint(byID["<shape-3@example.fr>"].ID)}, &showOut, &showErr); code != exitOK ||
		!regexp.MustCompile(`s/mime +signed-data \(part 1\) by CN=Someone else, serial [0-9a-f]+: signature valid`).MatchString(showOut.String()) {
		t.Errorf("queue show = %d, want the S/MIME signer:\n%s%s", code, showOut.String(), showErr.String())
	}

	// The store is private although its folder was created 0755.
	for _, name := range []string{queue.DatabaseFile, queue.DatabaseFile + "-wal", queue.DatabaseFile + "-shm"} {
		fi, err := os.Stat(filepath.Join(dataDir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", name, perm)
		}
	}
	if fi, err := os.Stat(dataDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data folder mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}

	// No INFO line names a person or a certificate.
	personal := []string{"jeanne", "testeur", "Jeanne", "Testeur", desk.EmailAddress}
	for _, s := range shapes {
		personal = append(personal, s.from)
	}
	for _, sr := range serials {
		personal = append(personal, sr, strings.ToUpper(sr))
	}
	addr := regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+`)
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) < len(shapes) {
		t.Fatalf("%d log lines, want at least one per mail", len(lines))
	}
	for _, line := range lines {
		if m := addr.FindString(line); m != "" {
			t.Errorf("log line carries an address (%s): %s", m, line)
		}
		for _, p := range personal {
			if strings.Contains(line, p) {
				t.Errorf("log line carries %q: %s", p, line)
			}
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// captureSMTP is go-smtp's server keeping every message by recipient.
type captureSMTP struct {
	addr string
	mu   sync.Mutex
	msgs map[string][]string
	n    int
}

func startCaptureSMTP(t *testing.T) *captureSMTP {
	t.Helper()
	c := &captureSMTP{msgs: map[string][]string{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &captureSession{c: c}, nil }))
	srv.Domain = "localhost"
	srv.MaxMessageBytes = 1 << 20
	srv.ReadTimeout, srv.WriteTimeout = demoTimeout, demoTimeout
	srv.ErrorLog = stdlog.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c.addr = ln.Addr().String()
	return c
}

func (c *captureSMTP) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *captureSMTP) byRecipient() map[string][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]string{}
	for k, v := range c.msgs {
		out[k] = append([]string(nil), v...)
	}
	return out
}

type captureSession struct {
	c  *captureSMTP
	to []string
}

func (s *captureSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *captureSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *captureSession) Reset()        { s.to = nil }
func (s *captureSession) Logout() error { return nil }

func (s *captureSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	body := decodedBody(raw)
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	for _, to := range s.to {
		s.c.msgs[to] = append(s.c.msgs[to], body)
	}
	s.c.n++
	return nil
}

// decodedBody is the text of a notification, decoded from its transfer
// encoding and charset.
func decodedBody(raw []byte) string {
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		return string(raw)
	}
	b, err := io.ReadAll(e.Body)
	if err != nil {
		return string(raw)
	}
	return string(b)
}
