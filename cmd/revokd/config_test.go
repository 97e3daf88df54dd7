package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/revokd/revokd/pdfverify"
)

// TestExampleConfig keeps revokd.example.toml loadable and equal to the
// defaults it documents.
func TestExampleConfig(t *testing.T) {
	cfg, err := loadConfig(filepath.Join("..", "..", "revokd.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	def := defaultConfig()
	if cfg.IMAP.Security != def.IMAP.Security || cfg.Verify.MaxFileBytes != def.Verify.MaxFileBytes ||
		cfg.Verify.TimeBudget != def.Verify.TimeBudget || cfg.HTTP.Address != def.HTTP.Address ||
		cfg.Queue != def.Queue || cfg.SMTP.retryPolicy != def.SMTP.retryPolicy ||
		cfg.Notify.CommitmentFR != def.Notify.CommitmentFR || cfg.Notify.CommitmentEN != def.Notify.CommitmentEN ||
		cfg.Notify.limits() != def.Notify.limits() || cfg.Notify.AlertAfter != def.Notify.AlertAfter ||
		cfg.Notify.AlertInterval != def.Notify.AlertInterval || cfg.Notify.TemplatesDir != "" {
		t.Errorf("the example's values differ from the defaults: %+v", cfg)
	}
	for k, v := range def.Form.Fields {
		if cfg.Form.Fields[k] != v {
			t.Errorf("form.fields.%s = %q, want %q", k, cfg.Form.Fields[k], v)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, toml, want string }{
		{"fail/unknown-key", "colour = 1\n", `unknown key "colour"`},
		{"fail/security", "[imap]\nsecurity = \"ssl\"\n", "imap.security"},
		{"fail/field-meaning", "[form.fields]\nnickname = \"x\"\n", `unknown meaning "nickname"`},
		{"fail/duration", "[verify]\ntime_budget = \"soon\"\n", "time_budget"},
		{"fail/verify-workers-negative", "[verify]\nworkers = -1\n", "verify.workers"},
		{"fail/verify-workers-too-many", "[verify]\nworkers = 1000\n", "verify.workers"},
		{"fail/verify-lease-too-short", "[verify]\nlease = \"100ms\"\n", "verify.lease"},
		{"fail/algorithm-name", "[trust]\nalgorithms = [{ algorithm = \"DSA\", min_bits = 2048 }]\n", "trust.algorithms"},
		{"fail/algorithm-key-size", "[trust]\nalgorithms = [{ algorithm = \"RSA\" }]\n", "trust.algorithms"},
		{"fail/algorithm-date", "[trust]\nalgorithms = [{ algorithm = \"SHA-256\", until = \"31/12/2030\" }]\n", "trust.algorithms[0].until"},
		{"fail/notify-limit-zero", "[notify]\nlimit_per_domain = 0\n", "notify.limit_per_domain: 0"},
		{"fail/notify-operator", "[notify]\noperators = [\"not an address\"]\n", "notify.operators"},
		{"fail/notify-window", "[notify]\nlimit_window = \"-1h\"\n", "notify.limit_window"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "revokd.toml")
			if err := os.WriteFile(p, []byte(tc.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := loadConfig(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("loadConfig = %v, want an error about %s", err, tc.want)
			}
		})
	}
	if _, err := loadConfig(filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Error("loadConfig accepted a missing file")
	}
}

// TestAlgorithmTableConfig: trust.algorithms reaches the verifier's
// options, which `revokd verify` and `revokd run` both build with
// verifyOptions; an empty list keeps the default table.
func TestAlgorithmTableConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "revokd.toml")
	toml := "[trust]\nalgorithms = [\n  { algorithm = \"RSA\", min_bits = 2048, until = \"2030-12-31\" },\n  { algorithm = \"SHA-256\" },\n]\n"
	if err := os.WriteFile(p, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	o, err := verifyOptions(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	want := pdfverify.AlgorithmTable{
		{Algorithm: "RSA", MinBits: 2048, Until: time.Date(2030, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{Algorithm: "SHA-256"},
	}
	if !slices.Equal(o.Algorithms, want) {
		t.Errorf("Options.Algorithms = %+v, want %+v", o.Algorithms, want)
	}
	o, err = verifyOptions(defaultConfig(), false)
	if err != nil {
		t.Fatal(err)
	}
	if o.Algorithms != nil {
		t.Errorf("Options.Algorithms = %+v without trust.algorithms, want nil (pdfverify.DefaultAlgorithms)", o.Algorithms)
	}
}
