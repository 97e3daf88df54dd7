package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/notify"
	"github.com/revokd/revokd/pdfverify"
)

// configProblem is one thing wrong with the configuration: the TOML key at
// fault and what to do about it.
type configProblem struct {
	Key     string // e.g. "trust.roots"
	Problem string // a sentence: what is wrong and what to do
}

// ConfigError lists every problem found in a configuration file, so that
// an operator fixes them in one go rather than one start at a time.
type ConfigError struct {
	Path     string
	Problems []configProblem
}

// Error names the file and each problem on its own line, by key.
func (e *ConfigError) Error() string {
	var b strings.Builder
	name := orDefault(e.Path, "the default configuration")
	if len(e.Problems) == 1 {
		fmt.Fprintf(&b, "config %s: %s: %s", name, e.Problems[0].Key, e.Problems[0].Problem)
		return b.String()
	}
	fmt.Fprintf(&b, "config %s: %d problems:", name, len(e.Problems))
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s: %s", p.Key, p.Problem)
	}
	return b.String()
}

// problems collects configuration problems.
type problems []configProblem

func (ps *problems) add(key, format string, args ...any) {
	*ps = append(*ps, configProblem{Key: key, Problem: fmt.Sprintf(format, args...)})
}

// err returns the problems as a *ConfigError, or nil when there are none.
func (ps problems) err(path string) error {
	if len(ps) == 0 {
		return nil
	}
	return &ConfigError{Path: path, Problems: ps}
}

// checkForRun finds everything that would keep `revokd run` from doing its
// job with cfg, without touching the network or creating anything: the
// keys it needs, the files and folders they name (present, readable,
// holding what they should), and the values the mailbox and the relay
// would refuse. cfg has passed loadConfig.
func checkForRun(cfg *Config) problems {
	var ps problems
	checkIMAP(cfg, &ps)
	checkSMTP(cfg, &ps)
	if len(cfg.CA.Issuers) == 0 {
		ps.add("ca.issuers", "empty: revokd cannot tell which certificates it may revoke and would refuse every request; list the PEM files of the issuing CA certificates")
	}
	for i, p := range cfg.CA.Issuers {
		checkCertificateFile(&ps, fmt.Sprintf("ca.issuers[%d]", i), p)
	}
	if len(cfg.Trust.Roots) == 0 {
		ps.add("trust.roots", "empty: no signature could chain to a trust anchor, so every genuine request would be refused (no_certificate_chain_found); list the PEM bundles of the trust anchors")
	}
	for i, p := range cfg.Trust.Roots {
		checkCertificateFile(&ps, fmt.Sprintf("trust.roots[%d]", i), p)
	}
	if cfg.Trust.CRLDir != "" {
		checkFolder(&ps, "trust.crl_dir", cfg.Trust.CRLDir)
	}
	for i, p := range cfg.Trust.Policies {
		if _, err := pdfverify.ParseOID(p); err != nil {
			ps.add(fmt.Sprintf("trust.policies[%d]", i), "%q is not an OID (%v): write it as dotted numbers, e.g. 0.4.0.194112.1.2", p, err)
		}
	}
	checkDataDir(&ps, cfg.DataDir)
	if cfg.SMIME.KeyFile != "" && cfg.SMIME.CertFile != "" {
		// The key file's permissions are checked here, at start-up.
		if _, err := ingest.LoadDecrypter(cfg.SMIME.CertFile, cfg.SMIME.KeyFile); err != nil {
			ps.add("smime.key_file", "%v", err)
		}
	}
	// Every word revokd sends: a template missing or broken stops revokd
	// before it answers anyone.
	if _, err := notify.LoadTemplates(cfg.Notify.TemplatesDir, cfg.Notify.textConfig(deskAddress(cfg))); err != nil {
		ps.add("notify.templates_dir", "%s", strings.ReplaceAll(err.Error(), "\n", "\n    "))
	}
	if _, _, err := net.SplitHostPort(cfg.HTTP.Address); err != nil {
		ps.add("http.address", "%q is not host:port (%v): e.g. 127.0.0.1:8080", cfg.HTTP.Address, err)
	} else if _, err := deskTLS(cfg); err != nil {
		ps.add("http", "%v", err)
	}
	if cfg.HTTP.IdleTimeout.Duration <= 0 {
		ps.add("http.idle_timeout", "must be positive, e.g. \"15m\"")
	}
	return ps
}

// imapFieldKeys maps ingest.MailboxConfig's fields to the keys they come
// from, so that the mailbox's own validation speaks the operator's words.
var imapFieldKeys = map[string]string{
	"Address":         "imap.address",
	"Security":        "imap.security",
	"Username":        "imap.username",
	"Password":        "imap.password",
	"TokenSource":     "imap.oauth2_token_file",
	"TLSConfig":       "imap.ca_file",
	"Mailbox":         "imap.mailbox",
	"ProcessedFolder": "imap.processed_folder",
	"RejectedFolder":  "imap.rejected_folder",
	"MaxMessageBytes": "imap.max_message_bytes",
	"PollInterval":    "imap.poll_interval",
	"Parallel":        "imap.parallel",
}

func checkIMAP(cfg *Config, ps *problems) {
	c := &cfg.IMAP
	if c.Address == "" {
		ps.add("imap.address", "empty: set the IMAP server as host:port, e.g. imap.example.fr:993")
	} else if host, port, err := net.SplitHostPort(c.Address); err != nil || host == "" || port == "" {
		ps.add("imap.address", "%q is not host:port: e.g. imap.example.fr:993", c.Address)
	}
	if c.Username == "" {
		ps.add("imap.username", "empty: set the mailbox's account")
	}
	secret := c.OAuth2TokenFile != "" || os.Getenv("REVOKD_IMAP_PASSWORD") != "" || c.PasswordFile != "" || c.Password != ""
	if !secret {
		ps.add("imap.password", "no IMAP secret: set the environment variable REVOKD_IMAP_PASSWORD, imap.password_file or imap.password (or imap.oauth2_token_file for XOAUTH2)")
	}
	if c.PasswordFile != "" {
		checkReadableFile(ps, "imap.password_file", c.PasswordFile)
	}
	if c.OAuth2TokenFile != "" {
		checkReadableFile(ps, "imap.oauth2_token_file", c.OAuth2TokenFile)
	}
	if c.CAFile != "" {
		checkCertificateFile(ps, "imap.ca_file", c.CAFile)
	}
	if c.Address == "" || c.Username == "" || !secret {
		return
	}
	// The rest of the mailbox's own rules (loopback for plain text,
	// distinct folders, bounds), with a stand-in secret: only the keys
	// matter here.
	_, err := ingest.NewMailbox(ingest.MailboxConfig{
		Address: c.Address, Security: ingest.Security(c.Security), Username: c.Username, Password: "x",
		Mailbox: c.Mailbox, ProcessedFolder: c.ProcessedFolder, RejectedFolder: c.RejectedFolder,
		MaxMessageBytes: c.MaxMessageBytes, PollInterval: c.PollInterval.Duration, Parallel: c.Parallel,
	})
	var ce *ingest.ConfigError
	switch {
	case errors.As(err, &ce):
		key := imapFieldKeys[ce.Field]
		if key == "" {
			key = "imap"
		}
		if key != "imap.address" && key != "imap.username" && key != "imap.password" {
			ps.add(key, "%v", ce.Err)
		}
	case err != nil:
		ps.add("imap", "%v", err)
	}
}

func checkSMTP(cfg *Config, ps *problems) {
	c := &cfg.SMTP
	if c.Address == "" {
		return // nothing is sent; run warns at start
	}
	host, port, err := net.SplitHostPort(c.Address)
	if err != nil || host == "" || port == "" {
		ps.add("smtp.address", "%q is not host:port: e.g. smtp.example.fr:587, or leave it empty to send nothing", c.Address)
	} else if c.Security == "none" && !isLoopbackHost(host) {
		ps.add("smtp.security", `"none" sends in plain text and is allowed only for a loopback relay: use starttls or tls`)
	}
	if firstNonEmpty(c.From, cfg.IMAP.Username) == "" {
		ps.add("smtp.from", "empty, and imap.username too: set the desk's address the notifications come from")
	}
	if c.Username != "" && os.Getenv("REVOKD_SMTP_PASSWORD") == "" {
		if c.PasswordFile == "" {
			ps.add("smtp.password_file", "smtp.username is set without a password: set REVOKD_SMTP_PASSWORD or smtp.password_file")
		} else {
			checkReadableFile(ps, "smtp.password_file", c.PasswordFile)
		}
	}
	if c.CAFile != "" {
		checkCertificateFile(ps, "smtp.ca_file", c.CAFile)
	}
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkReadableFile reports a file that is missing, a folder, or unreadable.
func checkReadableFile(ps *problems, key, path string) bool {
	f, err := os.Open(path)
	if err != nil {
		ps.add(key, "%s: %v: give the path of a file revokd can read", path, unwrapPathError(err))
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err == nil && st.IsDir() {
		ps.add(key, "%s is a folder: give the path of a file", path)
		return false
	}
	return true
}

// checkCertificateFile reports a file that does not hold PEM certificates.
func checkCertificateFile(ps *problems, key, path string) {
	if !checkReadableFile(ps, key, path) {
		return
	}
	if _, err := loadCertificates([]string{path}); err != nil {
		ps.add(key, "%v: give a PEM file of certificates", err)
	}
}

// checkFolder reports a folder that is missing, a file, or unreadable.
func checkFolder(ps *problems, key, path string) {
	st, err := os.Stat(path)
	if err != nil {
		ps.add(key, "%s: %v: create it or fix the path", path, unwrapPathError(err))
		return
	}
	if !st.IsDir() {
		ps.add(key, "%s is not a folder", path)
		return
	}
	if _, err := os.ReadDir(path); err != nil {
		ps.add(key, "%s: %v: revokd must be able to read it", path, unwrapPathError(err))
	}
}

// checkDataDir reports a data folder that revokd could not create or write
// to. It creates nothing.
func checkDataDir(ps *problems, dir string) {
	if dir == "" {
		ps.add("data_dir", "empty: set the folder of the store")
		return
	}
	p := dir
	for {
		st, err := os.Stat(p)
		if err == nil {
			if !st.IsDir() {
				ps.add("data_dir", "%s is not a folder", p)
			} else if perm := st.Mode().Perm(); p == dir && perm&0o022 != 0 {
				ps.add("data_dir", "%s has mode %04o: users other than its owner may write to it, and the store holds every mail; make it private (chmod 700)", p, perm)
			} else if !writable(p) {
				ps.add("data_dir", "%s is not writable by this user: revokd keeps its store there", p)
			}
			return
		}
		if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			ps.add("data_dir", "%s: %v", p, unwrapPathError(err))
			return
		}
		parent := filepath.Dir(p)
		if parent == p {
			return
		}
		p = parent
	}
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
