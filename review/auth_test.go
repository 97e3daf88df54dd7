package review

import (
	"encoding/base32"
	"strings"
	"testing"
	"time"
)

// RFC 6238 appendix B, SHA-1, cut to six digits (the last six of the
// eight-digit values).
func TestTOTPVectors(t *testing.T) {
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"}, {1234567890, "005924"},
		{2000000000, "279037"}, {20000000000, "353130"},
	} {
		got, err := TOTPCode(secret, time.Unix(tc.unix, 0))
		if err != nil || got != tc.want {
			t.Errorf("TOTPCode(T=%d) = %q, %v; want %q", tc.unix, got, err, tc.want)
		}
	}
}

func TestVerifyTOTP(t *testing.T) {
	secret, err := NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 9, 30, 10, 0, time.UTC)
	code := func(at time.Time) string { c, _ := TOTPCode(secret, at); return c }
	for _, tc := range []struct {
		name string
		code string
		ok   bool
	}{
		{"ok/now", code(now), true},
		{"ok/previous-step", code(now.Add(-totpStep)), true},
		{"ok/next-step", code(now.Add(totpStep)), true},
		{"ok/spaces", code(now)[:3] + " " + code(now)[3:], true},
		{"fail/two-steps-old", code(now.Add(-2 * totpStep)), false},
		{"fail/empty", "", false},
		{"fail/short", code(now)[:5], false},
		{"fail/letters", "abcdef", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := verifyTOTP(secret, tc.code, now); ok != tc.ok {
				t.Errorf("verifyTOTP(%q) = %v, want %v", tc.code, ok, tc.ok)
			}
		})
	}
	if _, ok := verifyTOTP("not base32 !", code(now), now); ok {
		t.Error("verifyTOTP accepted a key that does not read")
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery", cheapArgon2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Errorf("hash %q is not an argon2id PHC string with its parameters", h)
	}
	h2, _ := HashPassword("correct horse battery", cheapArgon2)
	if h == h2 {
		t.Error("two hashes of the same password are equal: no salt")
	}
	for _, tc := range []struct {
		name, pw, hash string
		ok             bool
		err            bool
	}{
		{"ok/right", "correct horse battery", h, true, false},
		{"fail/wrong", "correct horse batterY", h, false, false},
		{"fail/empty", "", h, false, false},
		{"fail/other-algorithm", "x", "$argon2i$v=19$m=1024,t=1,p=1$c2FsdA$a2V5", false, true},
		{"fail/huge-memory", "x", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdA$a2V5", false, true},
		{"fail/garbage", "x", "plain text", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := VerifyPassword(tc.pw, tc.hash)
			if ok != tc.ok || (err != nil) != tc.err {
				t.Errorf("VerifyPassword = %v, %v; want %v, error %v", ok, err, tc.ok, tc.err)
			}
		})
	}
}

func TestTOTPURI(t *testing.T) {
	got := TOTPURI("revokd", "alice", "JBSWY3DPEHPK3PXP")
	want := "otpauth://totp/revokd:alice?algorithm=SHA1&digits=6&issuer=revokd&period=30&secret=JBSWY3DPEHPK3PXP"
	if got != want {
		t.Errorf("TOTPURI = %q, want %q", got, want)
	}
}

func TestListenConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    ListenConfig
		ok   bool
	}{
		{"ok/loopback-plain", ListenConfig{Address: "127.0.0.1:8080"}, true},
		{"ok/localhost-plain", ListenConfig{Address: "localhost:8080"}, true},
		{"ok/ipv6-loopback-plain", ListenConfig{Address: "[::1]:8080"}, true},
		{"fail/all-interfaces-plain", ListenConfig{Address: ":8080"}, false},
		{"fail/lan-plain", ListenConfig{Address: "10.0.0.5:8080"}, false},
		{"fail/cert-without-key", ListenConfig{Address: "127.0.0.1:8080", CertFile: "c.pem"}, false},
		{"fail/client-ca-without-tls", ListenConfig{Address: "127.0.0.1:8080", ClientCA: "ca.pem"}, false},
		{"fail/missing-cert-files", ListenConfig{Address: "10.0.0.5:443", CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.c.TLSConfig()
			if (err == nil) != tc.ok {
				t.Errorf("TLSConfig() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
