package queue

import (
	"context"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/authorize/registrytest"
)

func openTest(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := openBackend(t, dir, nil)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRegistryConformance(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registrytest.Store { return openTest(t, t.TempDir()) })
}

func TestOpenCreatesAndMigrates(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data dir?#%")
	s := openTest(t, dir)
	v, err := s.SchemaVersion(ctx)
	if err != nil || v != len(migrations) {
		t.Fatalf("SchemaVersion = %d, %v, want %d", v, err, len(migrations))
	}
	if s.Backend() == "sqlite" {
		if _, err := os.Stat(filepath.Join(dir, DatabaseFile)); err != nil {
			t.Fatalf("database file: %v", err)
		}
		var mode string
		if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("journal_mode = %q, %v, want wal", mode, err)
		}
	}

	// Data survives a reopen, and migrations are not applied twice.
	if _, err := s.UpsertCertificate(ctx, authorize.Certificate{Serial: big.NewInt(0x1001), IssuerDN: "CN=Our CA", SHA256: "aa"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openTest(t, dir)
	got, err := s2.CertificatesBySerial(ctx, big.NewInt(0x1001))
	if err != nil || len(got) != 1 {
		t.Errorf("after reopen: CertificatesBySerial = %v, %v, want the certificate", got, err)
	}
	var n int
	if err := s2.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(migrations) {
		t.Errorf("schema_migrations has %d rows, %v, want %d", n, err, len(migrations))
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', '')`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := openBackend(t, dir, nil)
	if err == nil || !strings.Contains(err.Error(), "newer than this revokd") {
		t.Errorf("Open of a newer database: err = %v, want a refusal", err)
	}
}

func TestOpenErrors(t *testing.T) {
	onlySQLite(t)
	if _, err := Open(context.Background(), ""); err == nil {
		t.Errorf("Open(\"\") succeeded, want an error")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), file); err == nil {
		t.Errorf("Open on a file succeeded, want an error")
	}
}

func TestImportRepresentativesIntoStore(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	const csv = "siren,surname,given_name,email,valid_from,valid_to\n" +
		"552081317,Durand,Bob,bob@acme.fr,2024-01-01,\n" +
		"552081317,Leroy,Dave,dave@acme.fr,2020-01-01,2025-12-31\n"
	for i, want := range []authorize.ImportResult{{Added: 2}, {Unchanged: 2}} {
		res, err := authorize.ImportRepresentatives(ctx, s, strings.NewReader(csv))
		if err != nil || res.Added != want.Added || res.Unchanged != want.Unchanged || res.Refused != 0 {
			t.Errorf("import %d = %+v, %v, want %+v", i+1, res, err, want)
		}
	}
}

func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := openTest(t, dir), openTest(t, dir)
	const perWriter = 50
	errs := make(chan error, 2)
	for w, s := range []*Store{a, b} {
		go func() {
			for i := range perWriter {
				// Both writers register the same certificates: exactly one
				// of them adds each.
				c := authorize.Certificate{Serial: big.NewInt(int64(i + 1)), IssuerDN: "CN=Our CA", SHA256: "aa"}
				if _, err := s.UpsertCertificate(ctx, c); err != nil {
					errs <- err
					return
				}
				r := authorize.Representative{SIREN: "552081317", Surname: "S", GivenName: "G", Email: strings.Repeat("x", w+1) + "@acme.fr"}
				if _, err := s.UpsertRepresentative(ctx, r); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent upsert: %v", err)
		}
	}
	var n int
	if err := a.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM certificates`).Scan(&n); err != nil || n != perWriter {
		t.Errorf("%d certificates, %v, want %d", n, err, perWriter)
	}
}
