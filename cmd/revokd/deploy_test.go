package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The container image is built by scripts/build.sh, and so is this test's
// binary: no container engine runs here, so the same script is what is
// tested. The binary must be static (no ELF interpreter: distroless static
// has no libc) and run.
func TestBuildScriptMakesTheImagesBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dockerfile, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(dockerfile)
	for _, want := range []string{
		"RUN sh scripts/build.sh /out/revokd",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"USER nonroot",
		`VOLUME ["/var/lib/revokd"]`,
		`HEALTHCHECK`,
		`"probe", "--config", "/etc/revokd/revokd.toml"`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if n := strings.Count(df, "go build"); n != 0 {
		t.Errorf("Dockerfile runs go build itself %d times: its build must be scripts/build.sh's", n)
	}
	out := filepath.Join(t.TempDir(), "revokd")
	cmd := exec.Command("sh", filepath.Join("..", "..", "scripts", "build.sh"), out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/build.sh: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary asks for a dynamic loader: not static")
		}
	}
	v, err := exec.Command(out, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(v), "revokd") {
		t.Errorf("revokd version: %v: %s", err, v)
	}
}
