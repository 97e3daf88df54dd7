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
				t.Errorf("the revokd binary links %s", d)
			}
		}
	}
}
