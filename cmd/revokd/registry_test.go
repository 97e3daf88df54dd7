package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/revokd/revokd/queue"
)

// registryFixture is a config whose data_dir is a temp folder, and a folder
// of certificates, a CRL and CSV files to import.
type registryFixture struct {
	dir, config string
}

func newRegistryFixture(t *testing.T) *registryFixture {
	t.Helper()
	dir := t.TempDir()
	f := &registryFixture{dir: dir, config: filepath.Join(dir, "revokd.toml")}
	write := func(name string, data []byte) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A relative data_dir is relative to the config's folder.
	write("revokd.toml", []byte("data_dir = \"data\"\n"))

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Our CA"},
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	var bundle []byte
	for i := int64(1); i <= 3; i++ {
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber:   big.NewInt(0x1000 + i),
			Subject:        pkix.Name{CommonName: fmt.Sprintf("Holder %d", i), OrganizationalUnit: []string{"0002 552081317"}},
			EmailAddresses: []string{fmt.Sprintf("holder%d@acme.fr", i)},
			NotBefore:      time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC),
		}, ca, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	write("certs/issued.pem", bundle)
	write("ca/ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), NextUpdate: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: big.NewInt(0x1002), RevocationTime: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}},
	}, ca, key)
	if err != nil {
		t.Fatal(err)
	}
	write("ca.crl", crl)
	write("reps.csv", []byte("siren,surname,given_name,email,valid_from,valid_to\n"+
		"552081317,Durand,Bob,bob@acme.fr,2024-01-01,\n"))
	write("reps-bad.csv", []byte("siren;surname;given_name;email;valid_from;valid_to\n"+
		"552081317;Durand;Bob;bob@acme.fr;2024-01-01;\n"+
		"552081318;Faux;Luhn;x@acme.fr;2024-01-01;\n"))
	write("reps-no-header.csv", []byte("552081317,Durand,Bob,bob@acme.fr,2024-01-01,\n"))
	return f
}

func (f *registryFixture) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cmdRegistry(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRegistryImportCerts(t *testing.T) {
	f := newRegistryFixture(t)
	certs, crl := filepath.Join(f.dir, "certs"), filepath.Join(f.dir, "ca.crl")

	code, out, errOut := f.run(t, "import-certs", "--config", f.config, certs, "--crl", crl)
	if code != exitOK || out != "certificates: 3 added, 0 changed, 0 unchanged, 0 refused\n" || errOut != "" {
		t.Fatalf("first import: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = f.run(t, "import-certs", "--config", f.config, certs)
	if code != exitOK || out != "certificates: 0 added, 0 changed, 3 unchanged, 0 refused\n" {
		t.Errorf("second import: exit %d, stdout %q, want 3 unchanged", code, out)
	}

	s, err := queue.Open(context.Background(), filepath.Join(f.dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.CertificatesBySerial(context.Background(), big.NewInt(0x1002))
	if err != nil || len(got) != 1 || !got[0].Revoked {
		t.Errorf("serial 1002 in the store: %+v, %v, want it revoked", got, err)
	}

	caFile := filepath.Join(f.dir, "ca", "ca.pem")
	code, out, _ = f.run(t, "import-certs", "--config", f.config, caFile)
	want := "certificates: 0 added, 0 changed, 0 unchanged, 1 refused\nrefused " + caFile + ":1: CA certificate \"CN=Our CA\" is not a holder's certificate\n"
	if code != exitRejected || out != want {
		t.Errorf("import of a CA certificate: exit %d, stdout %q, want exit %d, %q", code, out, exitRejected, want)
	}
}

func TestRegistryImportReps(t *testing.T) {
	f := newRegistryFixture(t)
	csv := filepath.Join(f.dir, "reps.csv")
	code, out, errOut := f.run(t, "import-reps", "--config", f.config, csv)
	if code != exitOK || out != "representatives: 1 added, 0 changed, 0 unchanged, 0 refused\n" || errOut != "" {
		t.Fatalf("import: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	bad := filepath.Join(f.dir, "reps-bad.csv")
	code, out, _ = f.run(t, "import-reps", bad, "--config", f.config)
	want := "representatives: 0 added, 0 changed, 1 unchanged, 1 refused\nrefused " + bad + ":3: SIREN 552081318 fails the Luhn check (mistyped?)\n"
	if code != exitRejected || out != want {
		t.Errorf("import with a bad line: exit %d, stdout %q, want exit %d, %q", code, out, exitRejected, want)
	}
}

func TestRegistryErrors(t *testing.T) {
	f := newRegistryFixture(t)
	tests := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"fail/no-subcommand", nil, "usage:"},
		{"fail/unknown-subcommand", []string{"export"}, `unknown registry command "export"`},
		{"fail/import-certs-without-path", []string{"import-certs", "--config", f.config}, "no certificate file or folder"},
		{"fail/import-certs-missing-path", []string{"import-certs", "--config", f.config, filepath.Join(f.dir, "nope")}, "revokd: stat "},
		{"fail/import-certs-bad-crl", []string{"import-certs", "--config", f.config, "--crl", f.config, filepath.Join(f.dir, "certs")}, "reading CRL"},
		{"fail/import-certs-unknown-flag", []string{"import-certs", "--nope"}, "flag provided but not defined"},
		{"fail/missing-config", []string{"import-certs", "--config", filepath.Join(f.dir, "missing.toml"), f.dir}, "revokd: reading config"},
		{"fail/import-reps-two-files", []string{"import-reps", "a.csv", "b.csv"}, "want exactly one CSV file, got 2"},
		{"fail/import-reps-missing-file", []string{"import-reps", filepath.Join(f.dir, "nope.csv")}, "revokd: open "},
		{"fail/import-reps-no-header", []string{"import-reps", "--config", f.config, filepath.Join(f.dir, "reps-no-header.csv")}, `has no column "siren"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := f.run(t, tt.args...)
			if code != exitUsage || !strings.Contains(errOut, tt.wantStderr) {
				t.Errorf("revokd registry %v: exit %d, stderr %q, want exit %d and %q", tt.args, code, errOut, exitUsage, tt.wantStderr)
			}
		})
	}
}

func TestRegistryPostgresUnreachable(t *testing.T) {
	f := newRegistryFixture(t)
	cfg := filepath.Join(f.dir, "pg.toml")
	if err := os.WriteFile(cfg, []byte("[store]\nurl = \"postgres://revokd:secret@127.0.0.1:1/revokd?connect_timeout=5\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := f.run(t, "import-reps", "--config", cfg, filepath.Join(f.dir, "reps.csv"))
	if code != exitUsage || !strings.Contains(errOut, "opening the PostgreSQL store") || strings.Contains(errOut, "secret") {
		t.Errorf("import with a PostgreSQL URL: exit %d, stderr %q, want the error without the password", code, errOut)
	}
}

func TestParseInterspersed(t *testing.T) {
	for _, tt := range []struct {
		args, wantPos, wantCRL []string
	}{
		{[]string{"a", "--crl", "x", "b"}, []string{"a", "b"}, []string{"x"}},
		{[]string{"--crl=x", "a", "--crl", "y"}, []string{"a"}, []string{"x", "y"}},
		{[]string{"a", "--", "--crl", "b"}, []string{"a", "--crl", "b"}, nil},
	} {
		fs := newTestFlagSet()
		var crls stringList
		fs.Var(&crls, "crl", "")
		pos, err := parseInterspersed(fs, tt.args)
		if err != nil || strings.Join(pos, "|") != strings.Join(tt.wantPos, "|") || strings.Join(crls, "|") != strings.Join(tt.wantCRL, "|") {
			t.Errorf("parseInterspersed(%q) = %q (crl %q), %v, want %q (crl %q)", tt.args, pos, crls, err, tt.wantPos, tt.wantCRL)
		}
	}
}

func newTestFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
