package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/revokd/revokd/internal/scenario"
	"github.com/revokd/revokd/queue"
)

var deliveredLine = regexp.MustCompile(`(?m)^(\d+) notifications delivered to the senders \(in-process SMTP server\)$`)

// The demo's notifications all reach its SMTP server: as many as the
// outbox holds, each marked sent.
func TestDemoDeliversNotifications(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), demoTimeout)
	defer cancel()
	dir := t.TempDir()
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := demo(ctx, dir, log, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	m := deliveredLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no delivery line in the demo's output:\n%s", out.String())
	}
	delivered, _ := strconv.Atoi(m[1])

	store, err := queue.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st, err := store.OutboxStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != 0 || st.Failed != 0 || st.Sent != delivered || delivered == 0 {
		t.Errorf("outbox %+v after the demo, %d delivered; want every notification sent and delivered", st, delivered)
	}
	// Each request mail gets an acknowledgement and a result, a mail that
	// is not a request one reply.
	sc, err := scenario.New(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	want := 0
	for _, m := range sc.Mails {
		if m.Want == "not_a_request" {
			want++
		} else {
			want += 2
		}
	}
	// The demo then revokes both queued certificates: the holder who asked
	// herself gets one confirmation, the representative's request one for
	// the representative and one for the holder.
	want += 3
	if delivered != want {
		t.Errorf("%d notifications delivered, want %d for the scenario's %d mails and its 3 confirmations", delivered, want, len(sc.Mails))
	}
	for _, w := range []string{"Mails sent (first lines of each):", "Subject: Accusé de réception", "Subject: Résultat de votre demande",
		"Subject: Confirmation de la révocation", "Subject: Votre message n’est pas une demande", "| Bonjour,", "[réf. "} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("the demo's output lacks %q", w)
		}
	}
	rows, err := store.ListRequests(ctx, queue.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		d, err := store.Request(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range d.Outbox {
			if o.State != queue.OutboxSent || o.SentAt == nil || o.Attempts != 1 {
				t.Errorf("request %d: outbox %d is %s after %d attempts, want sent at the first", r.ID, o.ID, o.State, o.Attempts)
			}
		}
	}
}

// `revokd run` sends the outbox beside reading the mailbox, and stops
// both with its context.
func TestServeSendsNotifications(t *testing.T) {
	imapAddr, stopIMAP, err := startMemIMAP()
	if err != nil {
		t.Fatal(err)
	}
	defer stopIMAP()
	relay, err := startDemoSMTP()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.close()
	raw := []byte("From: Jean Martin <jean.martin@example.fr>\r\nTo: " + demoUser + "\r\nSubject: Bonjour\r\n" +
		"Message-ID: <serve-1@example.fr>\r\n\r\nJe voudrais révoquer mon certificat.\r\n")
	if err := appendMails(imapAddr, []scenario.Mail{{Name: "no PDF", Raw: raw}}); err != nil {
		t.Fatal(err)
	}

	sc, err := scenario.New(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	issuer := filepath.Join(t.TempDir(), "issuer.pem")
	if err := os.WriteFile(issuer, sc.IssuerPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.CA.Issuers = []string{issuer}
	cfg.HTTP.Address = "127.0.0.1:0"
	cfg.IMAP.Address, cfg.IMAP.Security = imapAddr, "none"
	cfg.IMAP.Username, cfg.IMAP.Password = demoUser, demoPassword
	cfg.SMTP.Address, cfg.SMTP.Security, cfg.SMTP.From = relay.addr, "none", demoUser

	ctx, cancel := context.WithTimeout(context.Background(), demoTimeout)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- serve(runCtx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))) }()

	// The sender polls every DefaultPollInterval: the reply comes within
	// one.
	tick := time.NewTicker(demoPoll)
	defer tick.Stop()
	for relay.count() < 1 {
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v", err)
		case <-ctx.Done():
			t.Fatal("no notification delivered in time")
		case <-tick.C:
		}
	}
	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("serve = %v, want nil or context.Canceled", err)
	}
	if n := relay.count(); n != 1 {
		t.Errorf("%d notifications delivered, want 1", n)
	}
}

func TestNewSender(t *testing.T) {
	dir := t.TempDir()
	passFile := filepath.Join(dir, "smtp.pass")
	if err := os.WriteFile(passFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		smtp         func(c *Config)
		env          string
		wantNil      bool
		wantPassword string
		wantErr      string
	}{
		{name: "ok/no-relay-configured", smtp: func(c *Config) {}, wantNil: true},
		{name: "ok/no-auth", smtp: func(c *Config) { c.SMTP.Address = "smtp.example.fr:587" }},
		{name: "ok/password-from-file", smtp: func(c *Config) {
			c.SMTP.Address, c.SMTP.Username, c.SMTP.PasswordFile = "smtp.example.fr:587", "desk", passFile
		}, wantPassword: "from-file"},
		{name: "ok/password-from-environment-first", smtp: func(c *Config) {
			c.SMTP.Address, c.SMTP.Username, c.SMTP.PasswordFile = "smtp.example.fr:587", "desk", passFile
		}, env: "from-env", wantPassword: "from-env"},
		{name: "fail/username-without-password", smtp: func(c *Config) {
			c.SMTP.Address, c.SMTP.Username = "smtp.example.fr:587", "desk"
		}, wantErr: "without a password"},
		{name: "fail/missing-password-file", smtp: func(c *Config) {
			c.SMTP.Address, c.SMTP.Username, c.SMTP.PasswordFile = "smtp.example.fr:587", "desk", filepath.Join(dir, "none")
		}, wantErr: "smtp.password_file"},
		{name: "fail/ca-file-without-certificate", smtp: func(c *Config) {
			c.SMTP.Address, c.SMTP.CAFile = "smtp.example.fr:587", notPEM
		}, wantErr: "smtp.ca_file"},
		{name: "fail/plain-text-to-a-remote-relay", smtp: func(c *Config) {
			c.SMTP.Address, c.SMTP.Security = "smtp.example.fr:25", "none"
		}, wantErr: "only for a relay on loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("REVOKD_SMTP_PASSWORD", tt.env)
			cfg := defaultConfig()
			cfg.SMTP.From = "revocation@example.fr"
			tt.smtp(cfg)
			store, err := queue.Open(context.Background(), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			s, err := newSender(cfg, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("newSender = %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("newSender: %v", err)
			}
			if (s == nil) != tt.wantNil {
				t.Fatalf("newSender = %v, want nil %v", s, tt.wantNil)
			}
			if s != nil && s.Password != tt.wantPassword {
				t.Errorf("password %q, want %q", s.Password, tt.wantPassword)
			}
		})
	}
}

// The [smtp] keys are read from the file, paths relative to it.
func TestSMTPConfigKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "revokd.toml")
	if err := os.WriteFile(path, []byte(`[smtp]
address = "smtp.example.fr:465"
security = "tls"
from = "revocation@example.fr"
username = "desk"
password_file = "secrets/smtp"
ca_file = "relay-ca.pem"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SMTP.Username != "desk" || cfg.SMTP.PasswordFile != filepath.Join(dir, "secrets/smtp") ||
		cfg.SMTP.CAFile != filepath.Join(dir, "relay-ca.pem") || cfg.SMTP.Security != "tls" {
		t.Errorf("[smtp] = %+v, want the file's keys with paths under %s", cfg.SMTP, dir)
	}
}
