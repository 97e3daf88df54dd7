package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/notify"
	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/worker"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", stdout, stderr)
	configPath := fs.String("config", "revokd.toml", "configuration `file`")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "revokd: run takes no arguments, got %q\n", fs.Args())
		return exitUsage
	}
	cfg, err := loadRunConfig(*configPath)
	if err != nil {
		// Nothing is created before the whole configuration is known to
		// be usable: no store, no listener.
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
	// relay records the SMTP relay's health; nil when no relay is
	// configured.
	relay *notify.RelayHealth
	// verifySeconds observes each PDF's verification time.
	verifySeconds prometheus.Histogram
	// leaseState says whether this process holds the mailbox, or who
	// does.
	leaseState leaseState
	// verifyWorkers is how many mails this process verifies at once.
	verifyWorkers int
}

// maxVerifyWorkers bounds verify.workers: each holds a mail and its PDFs
// in memory.
const maxVerifyWorkers = 64

// newApp wires the store, the verifier, the authorisation and the mailbox
// from the configuration, which passed checkForRun.
func newApp(ctx context.Context, cfg *Config, log *slog.Logger, tokenSource func(context.Context) (string, error)) (*app, error) {
	a := &app{verifySeconds: newVerifyHistogram(), verifyWorkers: cfg.Verify.Workers}
	if a.verifyWorkers == 0 {
		a.verifyWorkers = runtime.GOMAXPROCS(0)
	}
	var err error
	if a.mailbox, err = newMailbox(cfg, log, tokenSource); err != nil {
		return nil, err
	}
	decrypter, err := smimeDecrypter(cfg)
	if err != nil {
		return nil, err
	}
	// The store last: a configuration that fails above leaves nothing
	// behind.
	if a.store, err = queue.OpenWith(ctx, cfg.DataDir, cfg.storeOptions()); err != nil {
		return nil, err
	}
	a.worker, err = newWorker(cfg, a.store, log, func(c *worker.Config) {
		c.Decrypter = decrypter
		c.Verified = func(d time.Duration) { a.verifySeconds.Observe(d.Seconds()) }
	})
	if err != nil {
		a.store.Close()
		return nil, err
	}
	a.lease = "imap:" + cfg.IMAP.Username + "@" + cfg.IMAP.Address + "/" + cfg.IMAP.Mailbox
	return a, nil
}

// newMailbox builds the mailbox reader from [imap]; tokenSource, when
// set, replaces the configured secret (the demo).
func newMailbox(cfg *Config, log *slog.Logger, tokenSource func(context.Context) (string, error)) (*ingest.Mailbox, error) {
	mc := ingest.MailboxConfig{
		Address:         cfg.IMAP.Address,
		Security:        ingest.Security(cfg.IMAP.Security),
		Username:        cfg.IMAP.Username,
		Mailbox:         cfg.IMAP.Mailbox,
		ProcessedFolder: cfg.IMAP.ProcessedFolder,
		RejectedFolder:  cfg.IMAP.RejectedFolder,
		MaxMessageBytes: cfg.IMAP.MaxMessageBytes,
		PollInterval:    cfg.IMAP.PollInterval.Duration,
		Parallel:        cfg.IMAP.Parallel,
		AuthRetry:       cfg.IMAP.AuthRetry.Duration,
		Logger:          log,
		TokenSource:     tokenSource,
	}
	if tokenSource == nil {
		if mc.TokenSource, mc.PasswordSource, mc.Password = imapCredentials(cfg); mc.Password == "" && mc.TokenSource == nil && mc.PasswordSource == nil {
			return nil, errors.New("imap.password: no IMAP secret: set REVOKD_IMAP_PASSWORD, imap.password_file or imap.password")
		}
	}
	if cfg.IMAP.CAFile != "" {
		roots, err := loadRoots([]string{cfg.IMAP.CAFile})
		if err != nil {
			return nil, fmt.Errorf("imap.ca_file: %w", err)
		}
		host, _, _ := net.SplitHostPort(cfg.IMAP.Address)
		mc.TLSConfig = &tls.Config{RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12}
	}
	return ingest.NewMailbox(mc)
}

// newWorker wires the verifier and the authorisation of the
// configuration to store; adjust, when not nil, completes the worker's
// configuration (what only the running worker needs).
func newWorker(cfg *Config, store *queue.Store, log *slog.Logger, adjust func(*worker.Config)) (*worker.Worker, error) {
	issuers, err := loadCertificates(cfg.CA.Issuers)
	if err != nil {
		return nil, fmt.Errorf("ca.issuers: %w", err)
	}
	opts, err := verifyOptions(cfg, true)
	if err != nil {
		return nil, err
	}
	wc := worker.Config{
		Store:     store,
		Registry:  store,
		Authorize: authorize.Options{Fields: authorize.FormFieldsFromMap(cfg.Form.Fields), Issuers: issuers},
		Verify:    opts,
		// The MIME walk takes whatever the mailbox lets through, and a PDF
		// as large as the verifier takes.
		Limits:      ingest.Limits{MaxMessageBytes: cfg.IMAP.MaxMessageBytes, MaxAttachmentBytes: cfg.Verify.MaxFileBytes},
		Address:     firstNonEmpty(cfg.SMTP.From, cfg.IMAP.Username),
		Logger:      log,
		VerifyLease: cfg.Verify.Lease.Duration,
	}
	if adjust != nil {
		adjust(&wc)
	}
	return worker.New(wc)
}

// imapCredentials finds the IMAP secret: an OAuth 2.0 token file, else
// REVOKD_IMAP_PASSWORD, else imap.password_file, else imap.password. The
// files are read at each connection, so that a secret fixed on disk is
// taken without a restart.
func imapCredentials(cfg *Config) (token, passwordSource func(context.Context) (string, error), password string) {
	if path := cfg.IMAP.OAuth2TokenFile; path != "" {
		return func(context.Context) (string, error) {
			b, err := os.ReadFile(path)
			if err != nil {
				return "", fmt.Errorf("reading imap.oauth2_token_file: %w", err)
			}
			return strings.TrimSpace(string(b)), nil
		}, nil, ""
	}
	if p := os.Getenv("REVOKD_IMAP_PASSWORD"); p != "" {
		return nil, nil, p
	}
	if path := cfg.IMAP.PasswordFile; path != "" {
		return nil, func(context.Context) (string, error) {
			b, err := os.ReadFile(path)
			if err != nil {
				return "", fmt.Errorf("reading imap.password_file: %w", err)
			}
			return strings.TrimRight(string(b), "\r\n"), nil
		}, ""
	}
	return nil, nil, cfg.IMAP.Password
}

// leaseRetry is how often a worker that waits for the mailbox tries the
// lease again. The lease is a lock the kernel drops when its holder dies,
// so a restarted worker gets it within this after its predecessor's end.
const leaseRetry = time.Second

// leaseState is whether this process holds the mailbox lease, or who does.
type leaseState struct {
	mu     sync.Mutex
	held   bool
	holder queue.LeaseHolder // when not held: who holds it
	known  bool              // a first attempt was made
}

func (l *leaseState) set(held bool, holder queue.LeaseHolder) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held, l.holder, l.known = held, holder, true
}

func (l *leaseState) get() (held, known bool, holder queue.LeaseHolder) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held, l.known, l.holder
}

// run holds the mailbox lease and reads the mailbox until ctx ends. While
// another live revokd holds the lease, it waits, and says who holds it.
func (a *app) run(ctx context.Context, log *slog.Logger) error {
	// Every process verifies, whether it reads the mailbox or waits for
	// it: the mails one worker fetches are decided by all.
	vctx, stopVerifiers := context.WithCancel(ctx)
	var verifiers sync.WaitGroup
	verifiers.Go(func() { a.worker.RunVerifiers(vctx, a.verifyWorkers, worker.DefaultVerifierPoll) })
	defer verifiers.Wait()
	defer stopVerifiers()
	lease := a.store.Lease(a.lease)
	for {
		if err := a.awaitLease(ctx, lease, log); err != nil {
			return err
		}
		log.InfoContext(ctx, "holding the mailbox")
		log.DebugContext(ctx, "mailbox lease", "lease", a.lease)
		lost, err := a.readMailbox(ctx, lease)
		if !lost {
			return err
		}
		// Another worker may hold the mailbox by now: wait for it as at
		// the start. What this one was handling is retried by whoever
		// reads the mailbox next (the store's keys make it idempotent).
		a.leaseState.set(false, queue.LeaseHolder{})
		log.WarnContext(ctx, "lost the mailbox lease (the database cut its session): stopped reading the mailbox", "err", err)
	}
}

// awaitLease waits until this process holds the mailbox lease. A store
// that does not answer (PostgreSQL restarting) is waited for too.
func (a *app) awaitLease(ctx context.Context, lease queue.Lease, log *slog.Logger) error {
	var shown queue.LeaseHolder
	for {
		ok, holder, err := lease.TryAcquire(ctx)
		switch {
		case err != nil:
			a.leaseState.set(false, queue.LeaseHolder{})
			log.WarnContext(ctx, "cannot take the mailbox lease; trying again", "err", err)
		case ok:
			a.leaseState.set(true, holder)
			return nil
		default:
			a.leaseState.set(false, holder)
			if holder != shown {
				shown = holder
				log.InfoContext(ctx, "another revokd reads this mailbox; waiting until it stops",
					"holder_host", holder.Host, "holder_pid", holder.PID, "holder_since", holder.Since)
				log.DebugContext(ctx, "mailbox lease held by another revokd", "lease", a.lease)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(leaseRetry):
		}
	}
}

// readMailbox reads the mailbox until ctx ends or the lease is lost
// (lost is then true).
func (a *app) readMailbox(ctx context.Context, lease queue.Lease) (lost bool, err error) {
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gone := lease.Lost()
	go func() {
		select {
		case <-gone:
			cancel()
		case <-mctx.Done():
		}
	}()
	err = a.mailbox.Run(mctx, a.worker)
	select {
	case <-gone:
		return true, err
	default:
	}
	lease.Release(context.WithoutCancel(ctx))
	return false, err
}

func serve(ctx context.Context, cfg *Config, log *slog.Logger) error {
	tlsCfg, err := deskTLS(cfg)
	if err != nil {
		return err
	}
	// Listen before the store is created: an address in use is found
	// without leaving anything behind.
	ln, err := net.Listen("tcp", cfg.HTTP.Address)
	if err != nil {
		return fmt.Errorf("http.address: %w", err)
	}
	defer ln.Close()
	a, err := newApp(ctx, cfg, log, nil)
	if err != nil {
		return err
	}
	defer a.store.Close()
	snd, err := newSender(cfg, a.store, log)
	if err != nil {
		return err
	}
	if snd != nil {
		a.relay = snd.Health
	}

	mux := http.NewServeMux()
	a.mount(mux)
	if err := mountDesk(mux, cfg, a.store, a.worker, log); err != nil {
		return err
	}
	stopHTTP, url := serveHTTP(ln, mux, tlsCfg)
	defer stopHTTP(context.WithoutCancel(ctx))
	log.InfoContext(ctx, "revokd running", "http", url, "imap", cfg.IMAP.Address, "mailbox", cfg.IMAP.Mailbox, "data_dir", cfg.DataDir)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	alerts := make(chan struct{})
	if len(cfg.Notify.Operators) == 0 {
		close(alerts)
		log.WarnContext(ctx, "notify.operators is empty: no alert digests are sent to operators")
	} else {
		al := &notify.Alerter{Store: a.store, Operators: cfg.Notify.Operators, After: cfg.Notify.AlertAfter.Duration,
			Interval: cfg.Notify.AlertInterval.Duration, Logger: log}
		go func() {
			defer close(alerts)
			al.Run(runCtx)
		}()
	}
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
	<-alerts
	return err
}

// loadTemplates reads and checks the mails' templates of [notify].
func loadTemplates(cfg *Config) (*notify.Templates, error) {
	tpl, err := notify.LoadTemplates(cfg.Notify.TemplatesDir, cfg.Notify.textConfig(deskAddress(cfg)))
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	return tpl, nil
}

// deskAddress is the desk's own address: the From of its mails.
func deskAddress(cfg *Config) string {
	a := firstNonEmpty(cfg.SMTP.From, cfg.IMAP.Username)
	if p, err := mail.ParseAddress(a); err == nil {
		return p.Address
	}
	return a
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
		Limits:   cfg.Notify.limits(),
		Timeout:  cfg.SMTP.Timeout.Duration,
		Lease:    cfg.SMTP.Lease.Duration,
		Logger:   log,
		Health:   new(notify.RelayHealth),
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
	var err error
	if s.Templates, err = loadTemplates(cfg); err != nil {
		return nil, err
	}
	if store == nil {
		// revokd check: Probe validates the relay's settings itself.
		return s, nil
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

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
