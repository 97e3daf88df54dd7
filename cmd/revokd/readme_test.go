package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeVerifyExample runs the README's `revokd verify` example on the
// committed pdfsig fixtures, with and without their CRL folder.
func TestReadmeVerifyExample(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "pdfsig")
	args := []string{"verify", "--trust", filepath.Join(dir, "root.pem"), "--time", "2030-01-01T00:00:00Z"}
	file := filepath.Join(dir, "signed-field.pdf")
	for _, tc := range []struct {
		name     string
		extra    []string
		wantCode int
		wantOut  string
	}{
		{"ok/with-crl-folder", []string{"--crl-dir", filepath.Join(dir, "crl")}, exitOK, "ACCEPTED  TOTAL_PASSED"},
		{"indeterminate/without", []string{"--offline"}, exitRejected, "REJECTED  INDETERMINATE/TRY_LATER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			a := append(append(append([]string{}, args...), tc.extra...), file)
			code := run(context.Background(), a, nil, &out, &errb)
			if code != tc.wantCode || !strings.HasPrefix(out.String(), tc.wantOut) {
				t.Errorf("revokd %v = %d\n%s%s\nwant %d and %q", a, code, out.String(), errb.String(), tc.wantCode, tc.wantOut)
			}
		})
	}
}
