package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/notify"
	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/worker"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "revokd.toml", "configuration `file`")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, "revokd:", err)
		return exitUsage
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	if err := serve(ctx, cfg, log); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "revokd:", err)
		return exitRejected
	}
	return exitOK
}

// app is a running worker with its store, for run and demo.
type app struct {
	store   *queue.Store
	worker  *worker.Worker
	mailbox *ingest.Mailbox
	lease   string
	// leaseTTL is how long the mailbox lease lasts without renewal: a
	// worker that died lets another take the mailbox over within it.
	leaseTTL time.Duration
}

// newApp wires the store, the verifier, the authorisation and the mailbox
// from the configuration.
func newApp(ctx context.Context, cfg *Config, log *slog.Logger, tokenSource func(context.Context) (string, error)) (*app, error) {
	if cfg.Store.URL != "" {
		return nil, errors.New("store.url: only the embedded SQLite store is available (leave store.url empty)")
	}
	issuers, err := loadCertificates(cfg.CA.Issuers)
	if err != nil {
		return nil, fmt.Errorf("ca.issuers: %w", err)
	}
	opts, err := verifyOptions(cfg, true)
	if err != nil {
		return nil, err
	}
	store, err := queue.OpenWith(ctx, cfg.DataDir, cfg.storeOptions())
	if err != nil {
		return nil, err
	}
	w, err := worker.New(worker.Config{
		Store:     store,
		Registry:  store,
		Authorize: authorize.Options{Fields: authorize.FormFieldsFromMap(cfg.Form.Fields), Issuers: issuers},
		Verify:    opts,
		// The MIME walk takes whatever the mailbox lets through, and a PDF
		// as large as the verifier takes.
		Limits:  ingest.Limits{MaxMessageBytes: cfg.IMAP.MaxMessageBytes, MaxAttachmentBytes: cfg.Verify.MaxFileBytes},
		Address: firstNonEmpty(cfg.SMTP.From, cfg.IMAP.Username),
		Logger:  log,
	})
	if err != nil {
		store.Close()
		return nil, err
	}
	mc := ingest.MailboxConfig{
		Address:         cfg.IMAP.Address,
		Security:        ingest.Security(cfg.IMAP.Security),
		Username:        cfg.IMAP.Username,
		Mailbox:         cfg.IMAP.Mailbox,
		ProcessedFolder: cfg.IMAP.ProcessedFolder,
		RejectedFolder:  cfg.IMAP.RejectedFolder,
		MaxMessageBytes: cfg.IMAP.MaxMessageBytes,
		PollInterval:    cfg.IMAP.PollInterval.Duration,
		Logger:          log,
		TokenSource:     tokenSource,
	}
	if tokenSource == nil {
		if mc.TokenSource, mc.Password, err = imapCredentials(cfg); err != nil {
			store.Close()
			return nil, err
		}
	}
	if cfg.IMAP.CAFile != "" {
		roots, err := loadRoots([]string{cfg.IMAP.CAFile})
		if err != nil {
			store.Close()
			return nil, fmt.Errorf("imap.ca_file: %w", err)
		}
		host, _, _ := net.SplitHostPort(cfg.IMAP.Address)
		mc.TLSConfig = &tls.Config{RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12}
	}
	mbox, err := ingest.NewMailbox(mc)
	if err != nil {
		store.Close()
		return nil, err
	}
	return &app{store: store, worker: w, mailbox: mbox, lease: "imap:" + cfg.IMAP.Username + "@" + cfg.IMAP.Address + "/" + cfg.IMAP.Mailbox,
		leaseTTL: cfg.IMAP.LeaseTTL.Duration}, nil
}

// imapCredentials finds the IMAP secret: an OAuth 2.0 token file, else
// REVOKD_IMAP_PASSWORD, else imap.password_file, else imap.password.
func imapCredentials(cfg *Config) (func(context.Context) (string, error), string, error) {
	if path := cfg.IMAP.OAuth2TokenFile; path != "" {
		return func(context.Context) (string, error) {
			b, err := os.ReadFile(path)
			if err != nil {
				return "", fmt.Errorf("reading imap.oauth2_token_file: %w", err)
			}
			return strings.TrimSpace(string(b)), nil
		}, "", nil
	}
	if p := os.Getenv("REVOKD_IMAP_PASSWORD"); p != "" {
		return nil, p, nil
	}
	if cfg.IMAP.PasswordFile != "" {
		b, err := os.ReadFile(cfg.IMAP.PasswordFile)
		if err != nil {
			return nil, "", fmt.Errorf("imap.password_file: %w", err)
		}
		return nil, strings.TrimRight(string(b), "\r\n"), nil
	}
	return nil, cfg.IMAP.Password, nil
}

// run holds the mailbox lease and reads the mailbox until ctx ends. When
// another worker holds the lease, it waits for it.
func (a *app) run(ctx context.Context, log *slog.Logger) error {
	host, _ := os.Hostname()
	holder := fmt.Sprintf("%s/%d", host, os.Getpid())
	for {
		ok, err := a.store.AcquireLease(ctx, a.lease, holder, a.leaseTTL)
		if err != nil {
			return fmt.Errorf("taking the mailbox lease: %w", err)
		}
		if ok {
			break
		}
		log.InfoContext(ctx, "another worker reads this mailbox; waiting", "lease", a.lease)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(a.leaseTTL / 3):
		}
	}
	defer a.store.ReleaseLease(context.WithoutCancel(ctx), a.lease, holder)

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		t := time.NewTicker(a.leaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				if ok, err := a.store.AcquireLease(runCtx, a.lease, holder, a.leaseTTL); err != nil || !ok {
					cancel(fmt.Errorf("lost the mailbox lease (err %v)", err))
					return
				}
			}
		}
	}()
	err := a.mailbox.Run(runCtx, a.worker)
	if cause := context.Cause(runCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

func serve(ctx context.Context, cfg *Config, log *slog.Logger) error {
	a, err := newApp(ctx, cfg, log, nil)
	if err != nil {
		return err
	}
	defer a.store.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		ob, err := a.store.OutboxStats(r.Context())
		if err != nil {
			http.Error(w, "the store cannot be read", http.StatusServiceUnavailable)
			return
		}
		writeMetrics(w, a.mailbox.Stats(), ob)
	})
	srv := &http.Server{Addr: cfg.HTTP.Address, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", cfg.HTTP.Address)
	if err != nil {
		return fmt.Errorf("http.address: %w", err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.WithoutCancel(ctx))
	log.InfoContext(ctx, "revokd running", "http", "http://"+ln.Addr().String(), "imap", cfg.IMAP.Address, "mailbox", cfg.IMAP.Mailbox, "data_dir", cfg.DataDir)

	snd, err := newSender(cfg, a.store, log)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	sent := make(chan struct{})
	if snd == nil {
		close(sent)
		log.WarnContext(ctx, "smtp.address is empty: acknowledgements and results stay in the outbox")
	} else {
		go func() {
			defer close(sent)
			if err := snd.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				log.ErrorContext(ctx, "the notification sender stopped", "err", err)
			}
		}()
	}
	err = a.run(runCtx, log)
	stop()
	<-sent
	return err
}

// newSender builds the outbox's sender from [smtp], checked; nil when no
// relay is configured.
func newSender(cfg *Config, store notify.Store, log *slog.Logger) (*notify.Sender, error) {
	if cfg.SMTP.Address == "" {
		return nil, nil
	}
	s := &notify.Sender{
		Store:    store,
		Address:  cfg.SMTP.Address,
		Security: notify.Security(cfg.SMTP.Security),
		Username: cfg.SMTP.Username,
		From:     firstNonEmpty(cfg.SMTP.From, cfg.IMAP.Username),
		Logger:   log,
	}
	if s.Username != "" {
		var err error
		if s.Password, err = smtpPassword(cfg); err != nil {
			return nil, err
		}
	}
	if cfg.SMTP.CAFile != "" {
		roots, err := loadRoots([]string{cfg.SMTP.CAFile})
		if err != nil {
			return nil, fmt.Errorf("smtp.ca_file: %w", err)
		}
		s.TLSConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return s, nil
}

// smtpPassword finds the relay's secret: REVOKD_SMTP_PASSWORD, else
// smtp.password_file.
func smtpPassword(cfg *Config) (string, error) {
	if p := os.Getenv("REVOKD_SMTP_PASSWORD"); p != "" {
		return p, nil
	}
	if cfg.SMTP.PasswordFile == "" {
		return "", errors.New("smtp.username is set without a password: set REVOKD_SMTP_PASSWORD or smtp.password_file")
	}
	b, err := os.ReadFile(cfg.SMTP.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("smtp.password_file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func writeMetrics(w io.Writer, s ingest.Stats, ob queue.OutboxStats) {
	for _, m := range []struct {
		name, help string
		v          uint64
	}{
		{"revokd_imap_connects_total", "IMAP sessions opened", s.Connects},
		{"revokd_imap_reconnects_total", "IMAP sessions ended by an error", s.Reconnects},
		{"revokd_mails_fetched_total", "mails handed to the worker", s.Fetched},
		{"revokd_mails_over_cap_total", "mails over the size cap", s.OverCap},
		{"revokd_mails_processed_total", "mails moved to the processed folder", s.Processed},
		{"revokd_mails_rejected_total", "mails moved to the rejected folder", s.Rejected},
		{"revokd_handler_errors_total", "mails left for a retry after an error", s.HandlerErrors},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", m.name, m.help, m.name, m.name, m.v)
	}
	fmt.Fprintf(w, "# HELP revokd_mails_failing mails waiting for a retry after their handling failed\n# TYPE revokd_mails_failing gauge\nrevokd_mails_failing %d\n", s.Failing)
	fmt.Fprint(w, "# HELP revokd_outbox_messages notifications in the outbox, by state\n# TYPE revokd_outbox_messages gauge\n")
	fmt.Fprintf(w, "revokd_outbox_messages{state=\"pending\"} %d\nrevokd_outbox_messages{state=\"sent\"} %d\nrevokd_outbox_messages{state=\"failed\"} %d\n", ob.Pending, ob.Sent, ob.Failed)
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
