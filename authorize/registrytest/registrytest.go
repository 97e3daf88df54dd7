// Package registrytest checks that an implementation of authorize.Registry
// and authorize.RegistryWriter behaves as Decide and the importers expect.
// Every store runs it (the in-memory one, SQLite, PostgreSQL).
package registrytest

import (
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/revokd/revokd/authorize"
)

// Store is what is under test.
type Store interface {
	authorize.Registry
	authorize.RegistryWriter
}

func date(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := authorize.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Run runs the conformance tests; open returns a new, empty store.
func Run(t *testing.T, open func(t *testing.T) Store) {
	t.Run("certificates", func(t *testing.T) { testCertificates(t, open(t)) })
	t.Run("representatives", func(t *testing.T) { testRepresentatives(t, open(t)) })
}

func testCertificates(t *testing.T, s Store) {
	ctx := context.Background()
	serial, _ := new(big.Int).SetString("00ff0000000000000000000000000000000000aa", 16)
	a := authorize.Certificate{
		Serial: serial, IssuerDN: "CN=Our CA,O=Test CA,C=FR", SubjectDN: "CN=Alice Martin",
		Email: "Alice.Martin@acme.fr", Surname: "Martin", GivenName: "Alice", CommonName: "Alice Martin",
		IdentitySerial: "ID-ALICE", Organization: "ACME SA", SIREN: "552081317",
		NotBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2028, 1, 1, 0, 0, 0, 123, time.UTC),
		SHA256: "aa", DER: []byte{0x30, 0x01, 0x02},
	}
	other := a
	other.IssuerDN, other.SHA256 = "CN=Other CA", "bb"

	steps := []struct {
		name string
		c    authorize.Certificate
		want authorize.Change
		err  error
	}{
		{"ok/add", a, authorize.Added, nil},
		{"ok/same-again", a, authorize.Unchanged, nil},
		{"ok/same-serial-other-issuer", other, authorize.Added, nil},
		{"ok/revoke", func() authorize.Certificate {
			c := a
			c.Revoked, c.RevokedAt = true, time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)
			return c
		}(), authorize.Changed, nil},
		{"ok/unrevoked-import-keeps-revocation", a, authorize.Unchanged, nil},
		{"ok/new-attribute", func() authorize.Certificate { c := a; c.Organization = "ACME"; return c }(), authorize.Changed, nil},
		{"fail/other-fingerprint", func() authorize.Certificate { c := a; c.SHA256 = "cc"; return c }(), authorize.Unchanged, authorize.ErrConflict},
	}
	for _, st := range steps {
		got, err := s.UpsertCertificate(ctx, st.c)
		if got != st.want || !errors.Is(err, st.err) {
			t.Errorf("%s: UpsertCertificate = %v, %v, want %v, %v", st.name, got, err, st.want, st.err)
		}
	}

	got, err := s.CertificatesBySerial(ctx, serial)
	if err != nil {
		t.Fatalf("CertificatesBySerial: %v", err)
	}
	want := a
	want.Organization = "ACME"
	want.Revoked, want.RevokedAt = true, time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)
	// Ordered by issuer DN.
	if diff := cmp.Diff([]authorize.Certificate{other, want}, got, cmp.Comparer(func(x, y *big.Int) bool { return x.Cmp(y) == 0 })); diff != "" {
		t.Errorf("CertificatesBySerial (-want +got):\n%s", diff)
	}
	none, err := s.CertificatesBySerial(ctx, big.NewInt(1))
	if err != nil || len(none) != 0 {
		t.Errorf("CertificatesBySerial(1) = %v, %v, want none", none, err)
	}
}

func testRepresentatives(t *testing.T, s Store) {
	ctx := context.Background()
	end := date(t, "2026-01-31")
	bob := authorize.Representative{SIREN: "552081317", Surname: "Durand", GivenName: "Bob", Email: "bob@acme.fr", ValidFrom: date(t, "2024-01-01")}
	bobEnded := bob
	bobEnded.ValidTo = &end
	bobUpper := bobEnded
	bobUpper.Email = "BOB@acme.fr"
	bobAgain := bob
	bobAgain.ValidFrom = date(t, "2026-06-01")
	carol := authorize.Representative{SIREN: "732829320", Surname: "Petit", GivenName: "Carol", Email: "carol@other.fr", ValidFrom: date(t, "2024-01-01")}

	steps := []struct {
		name string
		r    authorize.Representative
		want authorize.Change
	}{
		{"ok/add", bob, authorize.Added},
		{"ok/same-again", bob, authorize.Unchanged},
		{"ok/end-mandate", bobEnded, authorize.Changed},
		{"ok/email-case-is-the-same-key", bobUpper, authorize.Changed},
		{"ok/new-mandate", bobAgain, authorize.Added},
		{"ok/other-siren", carol, authorize.Added},
	}
	for _, st := range steps {
		got, err := s.UpsertRepresentative(ctx, st.r)
		if got != st.want || err != nil {
			t.Errorf("%s: UpsertRepresentative = %v, %v, want %v", st.name, got, err, st.want)
		}
	}
	got, err := s.RepresentativesBySIREN(ctx, "552081317")
	if err != nil {
		t.Fatalf("RepresentativesBySIREN: %v", err)
	}
	timeEq := cmp.Comparer(func(x, y time.Time) bool { return x.Equal(y) })
	if diff := cmp.Diff([]authorize.Representative{bobUpper, bobAgain}, got, timeEq); diff != "" {
		t.Errorf("RepresentativesBySIREN (-want +got):\n%s", diff)
	}
	none, err := s.RepresentativesBySIREN(ctx, "123456782")
	if err != nil || len(none) != 0 {
		t.Errorf("RepresentativesBySIREN(unknown) = %v, %v, want none", none, err)
	}
}
