package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		cfg.Queue != def.Queue || cfg.SMTP.retryPolicy != def.SMTP.retryPolicy {
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
