package queue

import (
	"context"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/revokd/revokd/authorize"
)

// auditRow is what a test checks of an audit row.
type auditRow struct{ actor, action, details string }

func auditRows(t *testing.T, s *Store, subject string) []auditRow {
	t.Helper()
	recs, err := s.AuditLog(context.Background(), subject)
	if err != nil {
		t.Fatalf("AuditLog(%s): %v", subject, err)
	}
	var out []auditRow
	for _, r := range recs {
		out = append(out, auditRow{r.Actor, r.Action, string(r.Details)})
	}
	return out
}

// Registering a legal representative grants the power to revoke every
// certificate of the organisation, and re-importing a row with an empty
// valid_to reopens an ended mandate: both leave an audit row saying what
// changed; a re-import that changes nothing leaves none.
func TestRepresentativeChangesAreAudited(t *testing.T) {
	ctx := context.Background()
	s := openClocked(t, t.TempDir(), newTestClock())
	from, _ := authorize.ParseDate("2020-01-01")
	end, _ := authorize.ParseDate("2021-01-01")
	r := authorize.Representative{SIREN: "552081317", Surname: "Durand", GivenName: "Bob", Email: "Bob@acme.fr", ValidFrom: from, ValidTo: &end}
	const subject = "representative:552081317:2020-01-01:bob@acme.fr"

	steps := []struct {
		name    string
		r       authorize.Representative
		want    authorize.Change
		details string // of the row written; "" for none
	}{
		{"ok/added", r, authorize.Added,
			`{"email":"Bob@acme.fr","givenName":"Bob","siren":"552081317","surname":"Durand","validFrom":"2020-01-01","validTo":"2021-01-01"}`},
		{"ok/same-again-unaudited", r, authorize.Unchanged, ""},
		{"ok/mandate-reopened", func() authorize.Representative { x := r; x.ValidTo = nil; return x }(), authorize.Changed,
			`{"changes":{"validTo":{"new":null,"old":"2021-01-01"}},"email":"Bob@acme.fr","siren":"552081317","validFrom":"2020-01-01"}`},
		{"ok/name-and-email-case-corrected", func() authorize.Representative {
			x := r
			x.ValidTo, x.GivenName, x.Email = nil, "Robert", "bob@acme.fr"
			return x
		}(), authorize.Changed,
			`{"changes":{"email":{"new":"bob@acme.fr","old":"Bob@acme.fr"},"givenName":{"new":"Robert","old":"Bob"}},"email":"bob@acme.fr","siren":"552081317","validFrom":"2020-01-01"}`},
	}
	var want []auditRow
	for _, st := range steps {
		got, err := s.UpsertRepresentative(ctx, st.r)
		if err != nil || got != st.want {
			t.Fatalf("%s: UpsertRepresentative = %v, %v, want %v", st.name, got, err, st.want)
		}
		if st.details != "" {
			action := "representative." + st.want.String()
			want = append(want, auditRow{ActorRegistry, action, st.details})
		}
		if rows := auditRows(t, s, subject); !slices.Equal(rows, want) {
			t.Errorf("%s: audit rows of %s:\n got %q\nwant %q", st.name, subject, rows, want)
		}
	}
	if head, err := s.VerifyAudit(ctx); err != nil || head.Rows != int64(len(want)) {
		t.Errorf("VerifyAudit = %+v, %v, want %d rows intact", head, err, len(want))
	}
}

func TestCertificateChangesAreAudited(t *testing.T) {
	ctx := context.Background()
	s := openClocked(t, t.TempDir(), newTestClock())
	c := authorize.Certificate{
		Serial: big.NewInt(5), IssuerDN: "CN=Our CA", SubjectDN: "CN=Hélène Dupont", Email: "helene@example.fr",
		NotBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC),
		SHA256: "bb",
	}
	const subject = "certificate:5:CN=Our CA"
	steps := []struct {
		name    string
		c       authorize.Certificate
		want    authorize.Change
		wantErr error
		details string // of the row written; "" for none
	}{
		{"ok/added", c, authorize.Added, nil,
			`{"commonName":"","derLength":0,"email":"helene@example.fr","givenName":"","identitySerial":"","issuerDN":"CN=Our CA",` +
				`"notAfter":"2028-01-01T00:00:00.000000000Z","notBefore":"2025-01-01T00:00:00.000000000Z","organization":"","revoked":false,` +
				`"revokedAt":null,"serial":"5","sha256":"bb","siren":"","subjectDN":"CN=Hélène Dupont","surname":""}`},
		{"ok/same-again-unaudited", c, authorize.Unchanged, nil, ""},
		{"ok/revoked", func() authorize.Certificate {
			x := c
			x.Revoked, x.RevokedAt = true, time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)
			return x
		}(), authorize.Changed, nil,
			`{"changes":{"revoked":{"new":true,"old":false},"revokedAt":{"new":"2026-02-01T12:00:00.000000000Z","old":null}},"issuerDN":"CN=Our CA","serial":"5"}`},
		{"ok/unrevoked-import-keeps-revocation-unaudited", c, authorize.Unchanged, nil, ""},
		{"fail/other-fingerprint-unaudited", func() authorize.Certificate { x := c; x.SHA256 = "cc"; return x }(),
			authorize.Unchanged, authorize.ErrConflict, ""},
	}
	var want []auditRow
	for _, st := range steps {
		got, err := s.UpsertCertificate(ctx, st.c)
		if got != st.want || !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: UpsertCertificate = %v, %v, want %v, %v", st.name, got, err, st.want, st.wantErr)
		}
		if st.details != "" {
			want = append(want, auditRow{ActorRegistry, "certificate." + st.want.String(), st.details})
		}
		if rows := auditRows(t, s, subject); !slices.Equal(rows, want) {
			t.Errorf("%s: audit rows of %s:\n got %q\nwant %q", st.name, subject, rows, want)
		}
	}
}

// A registry change and its audit row are one transaction: when the row
// cannot be written, the change is not made either.
func TestRegistryChangeWithoutItsAuditRowIsRolledBack(t *testing.T) {
	ctx := context.Background()
	s := openClocked(t, t.TempDir(), newTestClock())
	refuse := `CREATE TRIGGER audit_refuse BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit refused'); END`
	if s.Backend() == "postgres" {
		refuse = `CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$;
			CREATE TRIGGER audit_refuse BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION audit_refuse()`
	}
	if _, err := s.db.Exec(refuse); err != nil {
		t.Fatal(err)
	}
	from, _ := authorize.ParseDate("2020-01-01")
	r := authorize.Representative{SIREN: "552081317", Surname: "Durand", GivenName: "Bob", Email: "bob@acme.fr", ValidFrom: from}
	if ch, err := s.UpsertRepresentative(ctx, r); err == nil || !strings.Contains(err.Error(), "audit refused") || ch != authorize.Unchanged {
		t.Errorf("UpsertRepresentative without an audit log = %v, %v, want the audit error", ch, err)
	}
	c := authorize.Certificate{Serial: big.NewInt(5), IssuerDN: "CN=Our CA", SHA256: "bb"}
	if ch, err := s.UpsertCertificate(ctx, c); err == nil || !strings.Contains(err.Error(), "audit refused") || ch != authorize.Unchanged {
		t.Errorf("UpsertCertificate without an audit log = %v, %v, want the audit error", ch, err)
	}
	if n := count(t, s, "representatives"); n != 0 {
		t.Errorf("%d representatives registered without an audit row, want 0", n)
	}
	if n := count(t, s, "certificates"); n != 0 {
		t.Errorf("%d certificates registered without an audit row, want 0", n)
	}
}
