package authorize

import (
	"context"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"
)

func TestSIRENFromName(t *testing.T) {
	oidOrgID := asn1.ObjectIdentifier{2, 5, 4, 97}
	tests := []struct {
		name string
		in   pkix.Name
		want string
	}{
		{"ok/ou-siren", pkix.Name{OrganizationalUnit: []string{"Service", "0002 552081317"}}, "552081317"},
		{"ok/ou-siret", pkix.Name{OrganizationalUnit: []string{"0002 55208131700012"}}, "552081317"},
		{"ok/ou-spaced", pkix.Name{OrganizationalUnit: []string{"0002 552 081 317"}}, "552081317"},
		{"ok/organization-identifier", pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidOrgID, Value: "NTRFR-552081317"}}}, "552081317"},
		{"ok/organization-identifier-siret", pkix.Name{Names: []pkix.AttributeTypeAndValue{{Type: oidOrgID, Value: "NTRFR-55208131700012"}}}, "552081317"},
		{"fail/none", pkix.Name{OrganizationalUnit: []string{"Direction"}}, ""},
		{"fail/other-register", pkix.Name{Names: []pkix.AttributeTypeAndValue{{Type: oidOrgID, Value: "VATFR-12552081317"}}}, ""},
		{"fail/wrong-length", pkix.Name{OrganizationalUnit: []string{"0002 5520813"}}, ""},
		{"fail/letters", pkix.Name{OrganizationalUnit: []string{"0002 55208131A"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// pkix.Name fills Names when parsing; tests build ExtraNames too.
			tt.in.Names = append(tt.in.Names, tt.in.ExtraNames...)
			if got := SIRENFromName(tt.in); got != tt.want {
				t.Errorf("SIRENFromName(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestValidSIREN(t *testing.T) {
	for s, want := range map[string]bool{
		"552081317": true, "732829320": true, "356000000": true,
		"552081318": false, "55208131": false, "5520813170": false, "55208131a": false, "": false,
	} {
		if got := ValidSIREN(s); got != want {
			t.Errorf("ValidSIREN(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestCertificateFromX509(t *testing.T) {
	ca := newTestCA(t, "Our CA")
	c := CertificateFromX509(ca.issue(t, 0x1001, alice))
	if c.Surname != "Martin" || c.GivenName != "Alice" || c.CommonName != "Alice Martin" ||
		c.Email != alice.email || c.IdentitySerial != alice.idSerial || c.SIREN != sirenAcme ||
		c.Organization != "ACME SA" || FormatSerial(c.Serial) != "1001" || c.IssuerDN != ca.cert.Subject.String() ||
		len(c.SHA256) != 64 || len(c.DER) == 0 {
		t.Errorf("CertificateFromX509 = %+v", c)
	}
}

func TestRepresentativeCovers(t *testing.T) {
	from, _ := ParseDate("2024-01-01")
	to, _ := ParseDate("2026-03-15")
	r := Representative{ValidFrom: from, ValidTo: &to}
	paris := registerLocation()
	tests := []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2023, 12, 31, 23, 59, 59, 0, paris), false},
		{time.Date(2024, 1, 1, 0, 0, 0, 0, paris), true},
		{time.Date(2026, 3, 15, 23, 59, 59, 0, paris), true},
		{time.Date(2026, 3, 16, 0, 0, 0, 0, paris), false},
		// 23:30 UTC on the 15th is already the 16th in Paris.
		{time.Date(2026, 3, 15, 23, 30, 0, 0, time.UTC), false},
	}
	for _, tt := range tests {
		if got := r.Covers(tt.at); got != tt.want {
			t.Errorf("Covers(%v) = %v, want %v", tt.at, got, tt.want)
		}
	}
	r.ValidTo = nil
	if !r.Covers(time.Date(2090, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Covers with no end = false, want true")
	}
}

func TestMemoryRegistryUpserts(t *testing.T) {
	ctx := context.Background()
	ca := newTestCA(t, "Our CA")
	reg := &MemoryRegistry{}
	c := CertificateFromX509(ca.issue(t, 0x1001, alice))

	steps := []struct {
		name string
		cert Certificate
		want Change
		err  error
	}{
		{"ok/first-import-adds", c, Added, nil},
		{"ok/second-import-changes-nothing", c, Unchanged, nil},
		{"ok/revocation-changes", func() Certificate { r := c; r.Revoked, r.RevokedAt = true, validationTime; return r }(), Changed, nil},
		{"ok/import-without-crl-keeps-revocation", c, Unchanged, nil},
		{"fail/another-certificate-same-key", func() Certificate { r := c; r.SHA256 = "00"; return r }(), Unchanged, ErrConflict},
	}
	for _, s := range steps {
		got, err := reg.UpsertCertificate(ctx, s.cert)
		if got != s.want || !errors.Is(err, s.err) {
			t.Errorf("%s: UpsertCertificate = %v, %v, want %v, %v", s.name, got, err, s.want, s.err)
		}
	}
	got, _ := reg.CertificatesBySerial(ctx, big.NewInt(0x1001))
	if len(got) != 1 || !got[0].Revoked || !got[0].RevokedAt.Equal(validationTime) {
		t.Errorf("CertificatesBySerial = %+v, want one revoked certificate", got)
	}

	from, _ := ParseDate("2024-01-01")
	r := Representative{SIREN: sirenAcme, Surname: "Durand", GivenName: "Bob", Email: "bob@acme.fr", ValidFrom: from}
	end, _ := ParseDate("2026-01-01")
	ended := r
	ended.ValidTo = &end
	upper := ended
	upper.Email = "BOB@acme.fr"
	for i, s := range []struct {
		rep  Representative
		want Change
	}{{r, Added}, {r, Unchanged}, {ended, Changed}, {ended, Unchanged}, {upper, Changed}} {
		if got, err := reg.UpsertRepresentative(ctx, s.rep); got != s.want || err != nil {
			t.Errorf("step %d: UpsertRepresentative = %v, %v, want %v", i, got, err, s.want)
		}
	}
	reps, _ := reg.RepresentativesBySIREN(ctx, sirenAcme)
	if len(reps) != 1 || reps[0].ValidTo == nil {
		t.Errorf("RepresentativesBySIREN = %+v, want one ended mandate", reps)
	}
}
