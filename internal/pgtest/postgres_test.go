package pgtest

import (
	"net"
	"os/exec"
	"strings"
	"testing"
)

func TestStartCreateStop(t *testing.T) {
	if BinDir() == "" {
		if Required() {
			t.Fatal("PostgreSQL is required in CI: initdb not found")
		}
		t.Skip("PostgreSQL's server is not installed")
	}
	p, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CreateDatabase("store_a"); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(p.Addr)
	if host != "127.0.0.1" {
		t.Errorf("Addr = %s, want 127.0.0.1", p.Addr)
	}
	psql := exec.Command("psql", "-X", "-A", "-t", "-h", host, "-p", port, "-U", p.User, "-d", "store_a",
		"-c", "select current_database() || ' ' || current_setting('listen_addresses')")
	out, err := psql.CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v: %s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "store_a 127.0.0.1"; got != want {
		t.Errorf("psql said %q, want %q", got, want)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", p.Addr); err == nil {
		c.Close()
		t.Errorf("server still accepts connections on %s after Stop", p.Addr)
	}
}
