package pdfverify_test

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
	"github.com/revokd/revokd/pdfverify"
)

// FuzzVerify feeds mutated signed files to the whole verifier: it must
// return a report, never accept a file the seeds do not make, and never
// hit the panic guard (which would show as an "internal error" check).
func FuzzVerify(f *testing.F) {
	// Seeds are committed files only: every fuzz worker runs this set-up,
	// and generating keys under the fuzzer's coverage instrumentation takes
	// minutes.
	dir := filepath.Join("..", "testdata", "pdfsig")
	seeds, _ := filepath.Glob(filepath.Join(dir, "*.pdf"))
	if len(seeds) == 0 {
		f.Fatal("no seed in testdata/pdfsig")
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	rootPEM, err := os.ReadFile(filepath.Join(dir, "root.pem"))
	if err != nil {
		f.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	// Files that break the algorithm rules or trust a party they should
	// not, verified at the same time.
	addCryptoSeeds(f, roots)
	// No revocation source: the fuzzer touches no network.
	opts := &pdfverify.Options{Roots: roots, CurrentTime: pdfsigFixtureTime, TimeBudget: 5 * time.Second}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := pdfverify.Verify(context.Background(), data, opts)
		if err != nil {
			t.Fatalf("Verify returned an error for file input: %v", err)
		}
		if rep.Indication == "" || (rep.Indication != pdfverify.TotalPassed && rep.Reason == "") {
			t.Fatalf("incomplete report: %+v", rep)
		}
		for _, c := range rep.Checks {
			if strings.Contains(c.Detail, "internal error") {
				t.Fatalf("the parser panicked: %s", c.Detail)
			}
		}
	})
}

func TestTimeBudget(t *testing.T) {
	w := getWorld(t)
	o := w.opts()
	o.TimeBudget = time.Nanosecond
	rep := verify(t, mustSign(t, w.form, signWith(w.holders[testpki.ECDSAP256])), o)
	if rep.Accepted() || rep.SubIndication != pdfverify.FormatFailure || !hasCheck(rep, "time-budget") {
		t.Errorf("Verify over its time budget = %s/%s (%s), want FORMAT_FAILURE from the time-budget check", rep.Indication, rep.SubIndication, rep.Reason)
	}
}

func TestPDFAClaim(t *testing.T) {
	w := getWorld(t)
	form, err := testsign.Form(formValues, testsign.FormOptions{NoPDFA: true})
	if err != nil {
		t.Fatal(err)
	}
	rep := verify(t, mustSign(t, form, signWith(w.holders[testpki.ECDSAP256])), w.opts())
	if !rep.Accepted() || rep.PDFA != "" {
		t.Errorf("form without PDF/A claim: accepted %v, PDFA %q; want accepted with no claim", rep.Accepted(), rep.PDFA)
	}
}
