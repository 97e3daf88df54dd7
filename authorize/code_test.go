package authorize

import (
	"strings"
	"testing"

	"github.com/revokd/revokd/pdfverify"
)

// Every sub-indication pdfverify lists has its own code in the table, the
// sub-indication in lower case (the store's reason codes are a contract).
func TestEverySubIndicationHasACode(t *testing.T) {
	for _, s := range pdfverify.SubIndications() {
		c, ok := verificationCodes[s]
		if !ok {
			t.Errorf("sub-indication %s has no code in verificationCodes", s)
			continue
		}
		if want := Code(strings.ToLower(string(s))); c != want {
			t.Errorf("VerificationCode(%s) = %q, want %q", s, c, want)
		}
	}
	if got := VerificationCode("NO_SUCH_THING"); got != CodeNotVerified {
		t.Errorf("VerificationCode(unknown) = %q, want %q", got, CodeNotVerified)
	}
}

func TestCodes(t *testing.T) {
	seen := map[Code]bool{}
	for _, c := range AllCodes() {
		if seen[c] {
			t.Errorf("AllCodes lists %q twice", c)
		}
		seen[c] = true
	}
	for _, c := range DecisionCodes() {
		if !seen[c] {
			t.Errorf("AllCodes misses decision code %q", c)
		}
	}
	for _, tc := range []struct {
		code     Code
		accepted bool
		stored   Code
	}{
		{CodeAccepted, true, ""},
		{CodeAlreadyRevoked, true, "already_revoked"},
		{CodeFormMismatch, false, "form_mismatch"},
		{CodeHashFailure, false, "hash_failure"},
	} {
		if tc.code.Accepted() != tc.accepted || tc.code.ReasonCode() != tc.stored || ParseReasonCode(string(tc.stored)) != tc.code {
			t.Errorf("%q: Accepted %v ReasonCode %q ParseReasonCode %q; want %v %q", tc.code, tc.code.Accepted(),
				tc.code.ReasonCode(), ParseReasonCode(string(tc.stored)), tc.accepted, tc.stored)
		}
	}
}
