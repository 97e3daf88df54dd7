package authorize

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func pemOf(certs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (ca *testCA) crl(t *testing.T, entries ...x509.RevocationListEntry) []byte {
	t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(1),
		ThisUpdate:                validationTime.Add(-time.Hour),
		NextUpdate:                validationTime.Add(24 * time.Hour),
		RevokedCertificateEntries: entries,
	}, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestImportCertificates(t *testing.T) {
	ctx := context.Background()
	ca := newTestCA(t, "Our CA")
	dir := t.TempDir()
	revokedAt := time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)

	a, b, held := ca.issue(t, 0x1001, alice), ca.issue(t, 0x1002, bob), ca.issue(t, 0x1003, dave)
	writeFile(t, filepath.Join(dir, "certs", "bundle.pem"), append([]byte("# issued in March\n"), pemOf(a, b)...))
	writeFile(t, filepath.Join(dir, "certs", "sub", "carol.cer"), ca.issue(t, 0x1004, carol).Raw)
	writeFile(t, filepath.Join(dir, "certs", "sub", "dave.pem"), pemOf(held))
	writeFile(t, filepath.Join(dir, "certs", "ca.pem"), pemOf(ca.cert))
	writeFile(t, filepath.Join(dir, "certs", "README.txt"), []byte("certificates of 2026\n"))
	writeFile(t, filepath.Join(dir, "certs", ".hidden", "x.pem"), pemOf(ca.issue(t, 0x9999, alice)))
	writeFile(t, filepath.Join(dir, "ca.crl"), ca.crl(t,
		x509.RevocationListEntry{SerialNumber: big.NewInt(0x1002), RevocationTime: revokedAt, ReasonCode: 1},
		x509.RevocationListEntry{SerialNumber: big.NewInt(0x1003), RevocationTime: revokedAt, ReasonCode: reasonCertificateHold}))

	reg := &MemoryRegistry{}
	paths := []string{filepath.Join(dir, "certs")}
	crls := []string{filepath.Join(dir, "ca.crl")}
	res, err := ImportCertificates(ctx, reg, paths, crls)
	if err != nil {
		t.Fatalf("ImportCertificates: %v", err)
	}
	want := ImportResult{Added: 4, Refused: 2, Refusals: []Refusal{
		{File: filepath.Join(dir, "certs", "README.txt"), Reason: "no certificate found (neither PEM nor DER: x509: malformed certificate)"},
		{File: filepath.Join(dir, "certs", "ca.pem"), Line: 1, Reason: `CA certificate "O=Test CA,CN=Our CA,C=FR" is not a holder's certificate`},
	}}
	want.Refusals[1].Reason = `CA certificate "` + ca.cert.Subject.String() + `" is not a holder's certificate`
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("first ImportCertificates (-want +got):\n%s", diff)
	}

	check := func(serial int64, wantRevoked bool) {
		t.Helper()
		got, _ := reg.CertificatesBySerial(ctx, big.NewInt(serial))
		if len(got) != 1 || got[0].Revoked != wantRevoked {
			t.Fatalf("serial %x: registry holds %+v, want one certificate with Revoked=%v", serial, got, wantRevoked)
		}
		if wantRevoked && !got[0].RevokedAt.Equal(revokedAt) {
			t.Errorf("serial %x revoked at %v, want %v", serial, got[0].RevokedAt, revokedAt)
		}
	}
	check(0x1001, false)
	check(0x1002, true)
	check(0x1003, false) // on hold is not revoked
	check(0x1004, false)
	if got, _ := reg.CertificatesBySerial(ctx, big.NewInt(0x9999)); len(got) != 0 {
		t.Errorf("a certificate in a hidden folder was imported: %+v", got)
	}

	// Again, without the CRL: nothing changes, the revocation stays.
	res, err = ImportCertificates(ctx, reg, paths, nil)
	if err != nil {
		t.Fatalf("second ImportCertificates: %v", err)
	}
	if res.Added != 0 || res.Changed != 0 || res.Unchanged != 4 || res.Refused != 2 {
		t.Errorf("second ImportCertificates = %+v, want 4 unchanged and the same 2 refused", res)
	}
	check(0x1002, true)

	// A CRL that revokes another: changed.
	writeFile(t, filepath.Join(dir, "ca2.crl"), pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: ca.crl(t,
		x509.RevocationListEntry{SerialNumber: big.NewInt(0x1001), RevocationTime: revokedAt})}))
	res, err = ImportCertificates(ctx, reg, []string{filepath.Join(dir, "certs", "bundle.pem")}, []string{filepath.Join(dir, "ca2.crl")})
	if err != nil || res.Changed != 1 || res.Unchanged != 1 {
		t.Errorf("ImportCertificates with a new CRL = %+v, %v, want 1 changed, 1 unchanged", res, err)
	}
	check(0x1001, true)

	// Another certificate under a registered issuer and serial: refused.
	writeFile(t, filepath.Join(dir, "forged.pem"), pemOf(ca.issue(t, 0x1001, mallory)))
	res, err = ImportCertificates(ctx, reg, []string{filepath.Join(dir, "forged.pem")}, nil)
	if err != nil || res.Refused != 1 || !strings.Contains(res.Refusals[0].Reason, ErrConflict.Error()) || res.Refusals[0].Line != 1 {
		t.Errorf("ImportCertificates of a second certificate with the same serial = %+v, %v, want it refused as a conflict", res, err)
	}
}

func TestImportCertificatesErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "bad.crl"), []byte("not a CRL"))
	if _, err := ImportCertificates(ctx, &MemoryRegistry{}, []string{filepath.Join(dir, "missing")}, nil); !os.IsNotExist(err) {
		t.Errorf("ImportCertificates of a missing path: err = %v, want not-exist", err)
	}
	if _, err := ImportCertificates(ctx, &MemoryRegistry{}, []string{dir}, []string{filepath.Join(dir, "bad.crl")}); err == nil || !strings.Contains(err.Error(), "bad.crl") {
		t.Errorf("ImportCertificates with an unreadable CRL: err = %v, want an error naming it", err)
	}
}

func TestImportCertificatesPEMLines(t *testing.T) {
	ca := newTestCA(t, "Our CA")
	dir := t.TempDir()
	data := append([]byte("junk\n-----BEGIN CERTIFICATE-----\nnot base64\n"), pemOf(ca.cert)...)
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("garbage")})...)
	writeFile(t, filepath.Join(dir, "mixed.pem"), data)
	res, err := ImportCertificates(context.Background(), &MemoryRegistry{}, []string{filepath.Join(dir, "mixed.pem")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, r := range res.Refusals {
		lines = append(lines, r.Line)
	}
	// The CA certificate starts on line 4; the garbage block after its
	// lines.
	caLines := strings.Count(string(pemOf(ca.cert)), "\n")
	if diff := cmp.Diff([]int{4, 4 + caLines}, lines); diff != "" {
		t.Errorf("refusal lines (-want +got):\n%s\n%+v", diff, res.Refusals)
	}
}

func TestImportRepresentatives(t *testing.T) {
	ctx := context.Background()
	const csvText = "\xef\xbb\xbfSIREN;Surname;Given_Name;Email;Valid_From;Valid_To;Notes\n" +
		"552081317;Durand;Bob;bob.durand@acme.fr;2024-01-01;;président\n" +
		"552 081 317;Leroy;Dave;dave.leroy@acme.fr;2020-01-01;2025-12-31;\n" +
		"552081318;Faux;Luhn;x@acme.fr;2024-01-01;;\n" +
		"55208131;Court;Siren;y@acme.fr;2024-01-01;;\n" +
		"732829320;Petit;;carol@other.fr;2024-01-01;;\n" +
		"732829320;Petit;Carol;Carol Petit <carol@other.fr>;2024-01-01;;\n" +
		"732829320;Petit;Carol;carol@other.fr;01/01/2024;;\n" +
		"732829320;Petit;Carol;carol@other.fr;2024-01-01;2023-01-01;\n" +
		"732829320;Petit;Carol\n" +
		";;;;;;\n" +
		"732829320;Petit;Carol;carol@other.fr;2024-01-01;;\n"
	reg := &MemoryRegistry{}
	res, err := ImportRepresentatives(ctx, reg, strings.NewReader(csvText))
	if err != nil {
		t.Fatalf("ImportRepresentatives: %v", err)
	}
	want := ImportResult{Added: 3, Refused: 7, Refusals: []Refusal{
		{Line: 4, Reason: "SIREN 552081318 fails the Luhn check (mistyped?)"},
		{Line: 5, Reason: `SIREN "55208131" is not 9 digits`},
		{Line: 6, Reason: "surname and given_name are required"},
		{Line: 7, Reason: `e-mail "Carol Petit <carol@other.fr>" is not a bare address`},
		{Line: 8, Reason: `valid_from "01/01/2024" is not a date (YYYY-MM-DD)`},
		{Line: 9, Reason: "valid_to 2023-01-01 is before valid_from 2024-01-01"},
		{Line: 10, Reason: "3 fields, the header has 7"},
	}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("ImportRepresentatives (-want +got):\n%s", diff)
	}
	reps, _ := reg.RepresentativesBySIREN(ctx, sirenAcme)
	if len(reps) != 2 {
		t.Fatalf("RepresentativesBySIREN(%s) = %+v, want Bob and Dave", sirenAcme, reps)
	}

	// The same file again changes nothing.
	res, err = ImportRepresentatives(ctx, reg, strings.NewReader(csvText))
	if err != nil || res.Added != 0 || res.Changed != 0 || res.Unchanged != 3 || res.Refused != 7 {
		t.Errorf("second ImportRepresentatives = %+v, %v, want 3 unchanged, 7 refused", res, err)
	}

	// Bob's mandate ends; columns in another order, comma separated.
	res, err = ImportRepresentatives(ctx, reg, strings.NewReader(
		"email,valid_to,valid_from,given_name,surname,siren\n"+
			"bob.durand@acme.fr,2026-01-31,2024-01-01,Bob,Durand,552081317\n"))
	if err != nil || res.Changed != 1 || res.Refused != 0 {
		t.Errorf("ImportRepresentatives ending a mandate = %+v, %v, want 1 changed", res, err)
	}
}

func TestImportRepresentativesErrors(t *testing.T) {
	tests := []struct{ name, csv, want string }{
		{"fail/empty", "", "reading the CSV header"},
		{"fail/missing-column", "siren,surname,given_name,email,valid_from\n", `no column "valid_to"`},
		{"fail/duplicate-column", "siren,surname,given_name,email,valid_from,valid_to,Email\n", `column "email" twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ImportRepresentatives(context.Background(), &MemoryRegistry{}, strings.NewReader(tt.csv))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ImportRepresentatives: err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestImportRepresentativesBadQuotes(t *testing.T) {
	res, err := ImportRepresentatives(context.Background(), &MemoryRegistry{}, strings.NewReader(
		"siren,surname,given_name,email,valid_from,valid_to\n"+
			"552081317,Dur\"and,Bob,bob@acme.fr,2024-01-01,\n"+
			"552081317,Durand,Bob,bob@acme.fr,2024-01-01,\n"))
	if err != nil || res.Added != 1 || res.Refused != 1 || res.Refusals[0].Line != 2 {
		t.Errorf("ImportRepresentatives with a stray quote = %+v, %v, want line 2 refused and line 3 added", res, err)
	}
}

func TestRefusalString(t *testing.T) {
	for _, tt := range []struct {
		r    Refusal
		want string
	}{
		{Refusal{File: "a.pem", Line: 3, Reason: "bad"}, "a.pem:3: bad"},
		{Refusal{File: "a.der", Reason: "bad"}, "a.der: bad"},
		{Refusal{Line: 3, Reason: "bad"}, "line 3: bad"},
	} {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("Refusal.String() = %q, want %q", got, tt.want)
		}
	}
}
