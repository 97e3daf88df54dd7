package worker_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/internal/scenario"
	"github.com/revokd/revokd/pdfverify"
	"github.com/revokd/revokd/worker"
)

// TestAlgorithmAndPartyCodesAreStored: the sub-indications of the
// algorithm rules and of the trusted parties reach the stored request as
// their reason code, from pdfverify's committed seeds (testdata/crypto,
// verified offline at their fixture time).
func TestAlgorithmAndPartyCodesAreStored(t *testing.T) {
	dir := filepath.Join("..", "testdata", "crypto")
	rootPEM, err := os.ReadFile(filepath.Join(dir, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	st := openStore(t)
	w, err := worker.New(worker.Config{
		Store:     st,
		Registry:  st,
		Authorize: authorize.Options{Issuers: []*x509.Certificate{getScenario(t).PKI.Intermediate.Cert}},
		Verify:    &pdfverify.Options{Roots: roots},
		Address:   "revocation@ca.example",
		Now:       func() time.Time { return at },
	})
	if err != nil {
		t.Fatal(err)
	}
	// The stored codes are a contract (queue list --json, notify's
	// templates): written out, not derived.
	cases := []struct{ file, want string }{
		{"rsa1024-signer.pdf", "crypto_constraints_failure_no_poe"},
		{"rsa1024-signer-timestamped.pdf", "crypto_constraints_failure"},
		{"sha1-ocsp.pdf", "crypto_constraints_failure_no_poe"},
		{"revoked-intermediate.pdf", "revoked_ca_no_poe"},
		{"ocsp-signing-only-signer.pdf", "key_usage_not_allowed"},
	}
	for i, c := range cases {
		pdf, err := os.ReadFile(filepath.Join(dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		raw := scenario.MailWith(100+i, "helene.dupont@example.fr", "Demande de révocation", c.file, pdf)
		m := &ingest.Mail{Mailbox: "INBOX", UIDValidity: 7, UID: uint32(100 + i), Size: int64(len(raw)), Raw: raw, InternalDate: at}
		if d, err := w.Handle(context.Background(), m); err != nil || d != ingest.Rejected {
			t.Fatalf("%s: Handle = %v, %v; want Rejected", c.file, d, err)
		}
	}
	byID := map[string]string{}
	for _, r := range requestsOf(t, st) {
		byID[r.MessageID] = string(r.ReasonCode)
	}
	for i, c := range cases {
		if got := byID[fmt.Sprintf("<demo-%d@example.fr>", 100+i)]; got != c.want {
			t.Errorf("%s: stored reason code %q, want %q", c.file, got, c.want)
		}
	}
}
