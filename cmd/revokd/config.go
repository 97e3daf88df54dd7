package main

import (
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/notify"
	"github.com/revokd/revokd/pdfverify"
	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/review"
	"github.com/revokd/revokd/worker"
)

// Config is revokd.toml. Every key has a default (see defaultConfig and the
// README); a missing file is an error, an empty path gives the defaults.
type Config struct {
	DataDir string `toml:"data_dir"`

	IMAP struct {
		Address         string `toml:"address"`
		Security        string `toml:"security"`
		Username        string `toml:"username"`
		Password        string `toml:"password"`
		PasswordFile    string `toml:"password_file"`
		Mailbox         string `toml:"mailbox"`
		ProcessedFolder string `toml:"processed_folder"`
		RejectedFolder  string `toml:"rejected_folder"`
		// OAuth2TokenFile holds a current OAuth 2.0 access token (kept fresh
		// by the site's token agent); when set, XOAUTH2 is used.
		OAuth2TokenFile string `toml:"oauth2_token_file"`
		// CAFile is a PEM bundle that verifies the server's certificate
		// instead of the system roots.
		CAFile          string   `toml:"ca_file"`
		MaxMessageBytes int64    `toml:"max_message_bytes"`
		PollInterval    duration `toml:"poll_interval"`
		// Parallel is how many fetched mails wait for their outcome at
		// once: enough to keep every worker's verifiers busy.
		Parallel int `toml:"parallel"`
		// LeaseTTL is no longer used: the mailbox lease is a lock held by
		// the live process. Kept so that existing files still load.
		LeaseTTL duration `toml:"lease_ttl"`
		// AuthRetry is the wait before trying again after the server
		// refused the credentials.
		AuthRetry duration `toml:"auth_retry"`
	} `toml:"imap"`

	CA struct {
		// Issuers are the PEM files of the CA certificates that issue the
		// certificates revokd may revoke.
		Issuers []string `toml:"issuers"`
	} `toml:"ca"`

	SMTP struct {
		// Address is the relay; empty means notifications stay in the
		// outbox (`revokd run` warns).
		Address  string `toml:"address"`
		Security string `toml:"security"`
		From     string `toml:"from"`
		// Username enables AUTH PLAIN; the password comes from
		// REVOKD_SMTP_PASSWORD, else PasswordFile.
		Username     string `toml:"username"`
		PasswordFile string `toml:"password_file"`
		// CAFile is a PEM bundle that verifies the relay's certificate
		// instead of the system roots.
		CAFile string `toml:"ca_file"`
		// Timeout bounds one delivery and Lease keeps a claimed mail from
		// the other senders; zero: notify's defaults.
		Timeout duration `toml:"timeout"`
		Lease   duration `toml:"lease"`
		// The delivery's retry policy (the outbox).
		retryPolicy
	} `toml:"smtp"`

	// Queue is the retry policy of revocation jobs, the same for every
	// sub-command (queue next gives a job up after MaxAttempts, as queue
	// failed does).
	Queue retryPolicy `toml:"queue"`

	// Store is where the store lives: empty, the SQLite database in
	// data_dir; a postgres:// URL, that PostgreSQL database (several
	// workers share it). The URL may hold a password: it can come from
	// the environment (REVOKD_STORE_URL, which wins) or a file (url_file)
	// instead of the configuration.
	Store struct {
		URL     string `toml:"url"`
		URLFile string `toml:"url_file"`
	} `toml:"store"`

	Trust struct {
		Roots    []string `toml:"roots"`
		Policies []string `toml:"policies"`
		// CRLDir is a folder of CRL files consulted before fetching online.
		CRLDir string `toml:"crl_dir"`
		// Online allows fetching CRLs and OCSP responses from the URLs of
		// certificates already chained to a trust anchor.
		Online *bool `toml:"online"`
		// FetchTimeout bounds one CRL or OCSP fetch, e.g. "5s".
		FetchTimeout duration `toml:"fetch_timeout"`
		// Algorithms replaces the default algorithm table
		// (pdfverify.DefaultAlgorithms) when not empty.
		Algorithms []algorithmRule `toml:"algorithms"`
	} `toml:"trust"`

	Verify struct {
		// MaxFileBytes caps one PDF; larger files are rejected unread.
		MaxFileBytes int64 `toml:"max_file_bytes"`
		// TimeBudget bounds the verification of one file, e.g. "10s".
		TimeBudget duration `toml:"time_budget"`
		// Workers is how many mails this process verifies at once,
		// whichever worker sharing the store fetched them. Zero: one per
		// CPU.
		Workers int `toml:"workers"`
		// Lease is how long a verifier holds a mail without renewing it:
		// the mail of a verifier that died waits that long for another.
		Lease duration `toml:"lease"`
	} `toml:"verify"`

	HTTP struct {
		Address string `toml:"address"`
		// TLSCert and TLSKey serve the operators' UI over TLS; required
		// for an address that is not loopback.
		TLSCert string `toml:"tls_cert"`
		TLSKey  string `toml:"tls_key"`
		// ClientCA verifies operators' client certificates, a second
		// factor in place of a TOTP code.
		ClientCA string `toml:"client_ca"`
		// IdleTimeout ends an operator's session left unused.
		IdleTimeout duration `toml:"idle_timeout"`
	} `toml:"http"`

	SMIME struct {
		// CertFile and KeyFile are the desk's S/MIME certificate and RSA
		// key (PEM), to open mail encrypted to it; both or neither. The
		// key file must be private to its owner (mode 0600 or 0400).
		CertFile string `toml:"cert_file"`
		KeyFile  string `toml:"key_file"`
	} `toml:"smime"`

	Form struct {
		Fields map[string]string `toml:"fields"`
	} `toml:"form"`

	// Notify is what revokd's mails say and to whom (see notifyConfig).
	Notify notifyConfig `toml:"notify"`
}

// notifyConfig is the [notify] table: the templates, the site's words,
// the abuse limits and the operators' alerts.
type notifyConfig struct {
	// TemplatesDir holds the operator's template files, each replacing
	// the embedded one of the same name; empty: the embedded ones.
	TemplatesDir string `toml:"templates_dir"`
	// FormURL is where the request form is published, for the "not a
	// request" answer.
	FormURL string `toml:"form_url"`
	// CommitmentFR and CommitmentEN are the delay the CA commits to, in
	// the acknowledgement; empty leaves the sentence out.
	CommitmentFR string `toml:"commitment_fr"`
	CommitmentEN string `toml:"commitment_en"`
	// The abuse limits on answers to senders, per LimitWindow; a
	// negative limit is none.
	LimitPerAddress int      `toml:"limit_per_address"`
	LimitPerDomain  int      `toml:"limit_per_domain"`
	LimitTotal      int      `toml:"limit_total"`
	LimitWindow     duration `toml:"limit_window"`
	// Operators receive the alert digests; empty: no alerts.
	Operators []string `toml:"operators"`
	// AlertAfter is how long a refused request may wait for review, and
	// an accepted one for its revocation, before operators are alerted.
	AlertAfter duration `toml:"alert_after"`
	// AlertInterval is the least time between two digests.
	AlertInterval duration `toml:"alert_interval"`
}

// retryPolicy is the TOML of a queue.RetryPolicy: [queue] for revocation
// jobs, [smtp] for the outbox.
type retryPolicy struct {
	MaxAttempts   int      `toml:"max_attempts"`
	RetryDelay    duration `toml:"retry_delay"`
	MaxRetryDelay duration `toml:"max_retry_delay"`
}

func (p retryPolicy) policy() queue.RetryPolicy {
	return queue.RetryPolicy{MaxAttempts: p.MaxAttempts, RetryDelay: p.RetryDelay.Duration, MaxRetryDelay: p.MaxRetryDelay.Duration}
}

// storeOptions are the store's options from the configuration: every
// sub-command opens the store with them, so that the retry policy is the
// same whoever claims or fails a job.
func (c *Config) storeOptions() *queue.Options {
	return &queue.Options{Jobs: c.Queue.policy(), Outbox: c.SMTP.retryPolicy.policy(), URL: c.Store.URL}
}

// algorithmRule is one line of trust.algorithms, a pdfverify.AlgorithmRule
// with its end date written YYYY-MM-DD (allowed through that day, UTC).
type algorithmRule struct {
	Algorithm string `toml:"algorithm"`
	MinBits   int    `toml:"min_bits"`
	Until     string `toml:"until"`
}

// algorithmTable returns trust.algorithms as a pdfverify table; nil when
// the defaults apply. On error it also names the key at fault.
func (c *Config) algorithmTable() (pdfverify.AlgorithmTable, string, error) {
	var t pdfverify.AlgorithmTable
	for i, r := range c.Trust.Algorithms {
		rule := pdfverify.AlgorithmRule{Algorithm: r.Algorithm, MinBits: r.MinBits}
		if r.Until != "" {
			d, err := time.Parse(time.DateOnly, r.Until)
			if err != nil {
				return nil, fmt.Sprintf("trust.algorithms[%d].until", i), fmt.Errorf("%q: want YYYY-MM-DD, the last day allowed", r.Until)
			}
			rule.Until = d.AddDate(0, 0, 1).Add(-time.Nanosecond)
		}
		t = append(t, rule)
	}
	if err := t.Validate(); err != nil {
		return nil, "trust.algorithms", err
	}
	return t, "", nil
}

type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// defaultFormFields maps meanings to the reference form's AcroForm names.
var defaultFormFields = map[string]string{
	"serial":                    "certificat_numero_serie",
	"reason":                    "raison",
	"role":                      "demandeur_qualite",
	"holder_surname":            "titulaire_nom",
	"holder_given_name":         "titulaire_prenom",
	"holder_email":              "titulaire_email",
	"siren":                     "entreprise_siren",
	"company_name":              "entreprise_raison_sociale",
	"representative_surname":    "representant_nom",
	"representative_given_name": "representant_prenom",
	"representative_email":      "representant_email",
	"date":                      "date",
	"place":                     "lieu",
}

func defaultConfig() *Config {
	c := &Config{DataDir: "./revokd-data"}
	c.IMAP.Security = "tls"
	c.IMAP.Mailbox = "INBOX"
	c.IMAP.ProcessedFolder = "Processed"
	c.IMAP.RejectedFolder = "Rejected"
	c.SMTP.Security = "starttls"
	c.Queue = retryPolicy{queue.DefaultJobRetry.MaxAttempts, duration{queue.DefaultJobRetry.RetryDelay}, duration{queue.DefaultJobRetry.MaxRetryDelay}}
	c.SMTP.retryPolicy = retryPolicy{queue.DefaultOutboxRetry.MaxAttempts, duration{queue.DefaultOutboxRetry.RetryDelay}, duration{queue.DefaultOutboxRetry.MaxRetryDelay}}
	c.HTTP.Address = "127.0.0.1:8080"
	c.Notify.CommitmentFR, c.Notify.CommitmentEN = notify.DefaultCommitment["fr"], notify.DefaultCommitment["en"]
	c.Notify.LimitPerAddress = notify.DefaultLimitPerAddress
	c.Notify.LimitPerDomain = notify.DefaultLimitPerDomain
	c.Notify.LimitTotal = notify.DefaultLimitTotal
	c.Notify.LimitWindow.Duration = notify.DefaultLimitWindow
	c.Notify.AlertAfter.Duration = notify.DefaultAlertAfter
	c.Notify.AlertInterval.Duration = notify.DefaultAlertInterval
	c.HTTP.IdleTimeout.Duration = review.DefaultIdleTimeout
	c.Verify.MaxFileBytes = 20 << 20
	c.Verify.TimeBudget.Duration = 10 * time.Second
	c.Verify.Lease.Duration = worker.DefaultVerifyLease
	c.Trust.FetchTimeout.Duration = 5 * time.Second
	c.IMAP.LeaseTTL.Duration = 60 * time.Second
	c.IMAP.AuthRetry.Duration = 5 * time.Minute
	// Enough mails in flight for three workers of two verifiers each,
	// and a batch's worth waiting behind them.
	c.IMAP.Parallel = 16
	c.Form.Fields = map[string]string{}
	for k, v := range defaultFormFields {
		c.Form.Fields[k] = v
	}
	return c
}

// loadConfig reads the TOML file at path over the defaults. Relative paths
// inside the file are taken relative to the file's folder, so a config
// works whatever the current directory of the process. Every problem with
// the file's keys and values is reported at once, as a *ConfigError
// naming each key; whether the files it names exist is checkForRun's
// business.
func loadConfig(path string) (*Config, error) {
	c, ps, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	if err := ps.err(path); err != nil {
		return nil, err
	}
	return c, nil
}

// loadRunConfig is loadConfig with checkForRun's problems added, for run
// and check: one report with everything.
func loadRunConfig(path string) (*Config, error) {
	c, ps, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	ps = append(ps, checkForRun(c)...)
	if err := ps.err(path); err != nil {
		return nil, err
	}
	return c, nil
}

// readConfig decodes the file and lists the problems of its keys and
// values; err is set only when the file cannot be read or parsed.
func readConfig(path string) (*Config, problems, error) {
	c := defaultConfig()
	if path == "" {
		var ps problems
		c.resolveStoreURL(&ps)
		return c, ps, nil
	}
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("reading config: %w", err)
		}
		return nil, nil, fmt.Errorf("reading config %s: %w", path, err)
	}
	var ps problems
	for _, k := range md.Undecoded() {
		ps.add(k.String(), "unknown key %q: see revokd.example.toml for the keys revokd reads", k.String())
	}
	for k, v := range defaultFormFields {
		if c.Form.Fields[k] == "" {
			c.Form.Fields[k] = v
		}
	}
	base := filepath.Dir(path)
	c.DataDir = resolvePath(base, c.DataDir)
	c.Trust.CRLDir = resolvePath(base, c.Trust.CRLDir)
	for i, r := range c.Trust.Roots {
		c.Trust.Roots[i] = resolvePath(base, r)
	}
	c.IMAP.PasswordFile = resolvePath(base, c.IMAP.PasswordFile)
	c.IMAP.OAuth2TokenFile = resolvePath(base, c.IMAP.OAuth2TokenFile)
	c.IMAP.CAFile = resolvePath(base, c.IMAP.CAFile)
	c.SMTP.PasswordFile = resolvePath(base, c.SMTP.PasswordFile)
	c.SMTP.CAFile = resolvePath(base, c.SMTP.CAFile)
	c.SMIME.CertFile = resolvePath(base, c.SMIME.CertFile)
	c.SMIME.KeyFile = resolvePath(base, c.SMIME.KeyFile)
	c.Notify.TemplatesDir = resolvePath(base, c.Notify.TemplatesDir)
	c.HTTP.TLSCert = resolvePath(base, c.HTTP.TLSCert)
	c.HTTP.TLSKey = resolvePath(base, c.HTTP.TLSKey)
	c.HTTP.ClientCA = resolvePath(base, c.HTTP.ClientCA)
	for i, r := range c.CA.Issuers {
		c.CA.Issuers[i] = resolvePath(base, r)
	}
	c.Store.URLFile = resolvePath(base, c.Store.URLFile)
	c.resolveStoreURL(&ps)
	c.validate(&ps)
	return c, ps, nil
}

// resolveStoreURL sets store.url from REVOKD_STORE_URL or store.url_file,
// and checks that it names a PostgreSQL database.
func (c *Config) resolveStoreURL(ps *problems) {
	switch env := os.Getenv("REVOKD_STORE_URL"); {
	case env != "":
		c.Store.URL = env
	case c.Store.URLFile != "":
		b, err := os.ReadFile(c.Store.URLFile)
		if err != nil {
			ps.add("store.url_file", "%v", err)
			return
		}
		c.Store.URL = strings.TrimSpace(string(b))
	}
	if c.Store.URL != "" && !queue.IsPostgresURL(c.Store.URL) {
		ps.add("store.url", "%s: want empty (SQLite in data_dir) or postgres://user@host/db", redactURL(c.Store.URL))
	}
}

func resolvePath(base, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

// validate adds the problems of the values themselves, whatever the
// sub-command.
func (c *Config) validate(ps *problems) {
	c.Notify.validate(ps)
	switch c.IMAP.Security {
	case "tls", "starttls", "none":
	default:
		ps.add("imap.security", "%q: want tls, starttls or none", c.IMAP.Security)
	}
	switch c.SMTP.Security {
	case "tls", "starttls", "none":
	default:
		ps.add("smtp.security", "%q: want tls, starttls or none", c.SMTP.Security)
	}
	if c.Verify.MaxFileBytes <= 0 {
		ps.add("verify.max_file_bytes", "%d: must be positive", c.Verify.MaxFileBytes)
	}
	if c.IMAP.AuthRetry.Duration <= 0 {
		ps.add("imap.auth_retry", "%v: must be positive, e.g. \"5m\"", c.IMAP.AuthRetry.Duration)
	}
	if c.Verify.Workers < 0 || c.Verify.Workers > maxVerifyWorkers {
		ps.add("verify.workers", "%d: must be between 0 (one per CPU) and %d", c.Verify.Workers, maxVerifyWorkers)
	}
	if c.Verify.Lease.Duration < time.Second {
		ps.add("verify.lease", "%v: must be at least 1s", c.Verify.Lease.Duration)
	}
	if c.Verify.TimeBudget.Duration <= 0 {
		ps.add("verify.time_budget", "%v: must be positive", c.Verify.TimeBudget.Duration)
	}
	if (c.SMIME.CertFile == "") != (c.SMIME.KeyFile == "") {
		ps.add("smime.key_file", "smime.cert_file and smime.key_file go together: set both or neither")
	}
	for k := range c.Form.Fields {
		if _, ok := defaultFormFields[k]; !ok {
			ps.add("form.fields."+k, "unknown meaning %q: see revokd.example.toml for the meanings", k)
		}
	}
	if _, key, err := c.algorithmTable(); err != nil {
		ps.add(key, "%v", err)
	}
	c.Queue.validate(ps, "queue")
	c.SMTP.retryPolicy.validate(ps, "smtp")
}

func (p retryPolicy) validate(ps *problems, section string) {
	if p.MaxAttempts < 1 {
		ps.add(section+".max_attempts", "%d: must be at least 1", p.MaxAttempts)
	}
	if p.RetryDelay.Duration <= 0 {
		ps.add(section+".retry_delay", "%v: must be positive, e.g. \"1m\"", p.RetryDelay.Duration)
	}
	if p.MaxRetryDelay.Duration < p.RetryDelay.Duration {
		ps.add(section+".max_retry_delay", "%v: must be at least retry_delay (%v)", p.MaxRetryDelay.Duration, p.RetryDelay.Duration)
	}
}

// smimeDecrypter loads [smime] when set; nil when not. The key file's
// permissions are checked here, at start-up.
func smimeDecrypter(c *Config) (*ingest.Decrypter, error) {
	if c.SMIME.KeyFile == "" {
		return nil, nil
	}
	d, err := ingest.LoadDecrypter(c.SMIME.CertFile, c.SMIME.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("smime: %w", err)
	}
	return d, nil
}

func (n *notifyConfig) validate(ps *problems) {
	for key, v := range map[string]int{"limit_per_address": n.LimitPerAddress, "limit_per_domain": n.LimitPerDomain, "limit_total": n.LimitTotal} {
		if v == 0 {
			ps.add("notify."+key, "0: must be positive, or negative for no limit")
		}
	}
	for key, v := range map[string]time.Duration{"limit_window": n.LimitWindow.Duration, "alert_after": n.AlertAfter.Duration,
		"alert_interval": n.AlertInterval.Duration} {
		if v <= 0 {
			ps.add("notify."+key, "%v: must be positive, e.g. \"1h\"", v)
		}
	}
	for _, a := range n.Operators {
		if _, err := mail.ParseAddress(a); err != nil || strings.ContainsAny(a, "\r\n") {
			ps.add("notify.operators", "%q is not an address", a)
		}
	}
}

// textConfig is the site's words for the templates.
func (n *notifyConfig) textConfig(desk string) notify.TextConfig {
	commit := map[string]string{}
	if n.CommitmentFR != "" {
		commit["fr"] = n.CommitmentFR
	}
	if n.CommitmentEN != "" {
		commit["en"] = n.CommitmentEN
	}
	return notify.TextConfig{Commitment: commit, FormURL: n.FormURL, Desk: desk}
}

// limits are the abuse limits of the sender.
func (n *notifyConfig) limits() notify.Limits {
	return notify.Limits{PerAddress: n.LimitPerAddress, PerDomain: n.LimitPerDomain, Total: n.LimitTotal, Window: n.LimitWindow.Duration}
}
