package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The production binary links no test-only code: no test helper, no test
// framework, and not pdfsign, a library kept out of every decision (the
// demo signs with the project's own internal/testsign).
func TestBinaryLinksNoTestCode(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the binary's packages: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 || !slices.Contains(deps, "github.com/revokd/revokd/pdfverify") {
		t.Fatalf("go list -deps gave %d packages, without pdfverify: not the binary's list", len(deps))
	}
	forbidden := []string{
		"testing",
		"github.com/digitorus/pdfsign",
		"github.com/digitorus/pkcs7",
		"github.com/revokd/revokd/internal/pdfsignproducer",
		"github.com/revokd/revokd/internal/imaptest",
		"github.com/revokd/revokd/internal/pgtest",
		"github.com/revokd/revokd/internal/knowndefects",
		"github.com/rogpeppe/go-internal",
		"github.com/google/go-cmp",
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				if d == "testing" && onlyImportedBy(t, goTool, "testing", testingImporters) {
					continue
				}
				t.Errorf("the revokd binary links %s", d)
			}
		}
	}
}

// testingImporters may link the testing package into the binary.
//
// QUIRK: go.mozilla.org/pkcs7 v0.10.0 (the S/MIME unwrap) ships its DSA
// tests in verify_test_dsa.go, whose name does not end in _test.go, so
// they are part of the package. The testing package registers nothing
// until testing.Init, which only a test binary calls.
var testingImporters = []string{"go.mozilla.org/pkcs7"}

// onlyImportedBy reports whether the binary's only packages that import
// pkg are among allowed.
func onlyImportedBy(t *testing.T, goTool, pkg string, allowed []string) bool {
	t.Helper()
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && slices.Contains(f[1:], pkg) && !slices.Contains(allowed, f[0]) {
			t.Logf("%s imports %s", f[0], pkg)
			return false
		}
	}
	return true
}
