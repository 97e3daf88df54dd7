package pdfverify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"testing"
	"time"
)

// TestDefaultAlgorithmsAcrossTime pins the default table: what RGS
// annexe B1 allows now, what it allows after 2030, and what it never
// allows.
func TestDefaultAlgorithmsAcrossTime(t *testing.T) {
	// Only the size of a modulus matters here: 2^(bits-1) has bits bits.
	rsaKey := func(bits int) crypto.PublicKey {
		return &rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), uint(bits-1)), E: 65537}
	}
	ecKey := func(c elliptic.Curve) crypto.PublicKey {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return &k.PublicKey
	}
	in2026 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	lastDay2030 := time.Date(2030, 12, 31, 23, 0, 0, 0, time.UTC)
	in2031 := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	in2013 := time.Date(2013, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		at    time.Time
		key   crypto.PublicKey
		hash  crypto.Hash
		never bool // refused with no end date, rather than past one
		ok    bool
	}{
		{name: "ok/rsa-2048-in-2026", at: in2026, key: rsaKey(2048), ok: true},
		{name: "ok/rsa-2048-on-the-last-day-of-2030", at: lastDay2030, key: rsaKey(2048), ok: true},
		{name: "fail/rsa-2048-in-2031", at: in2031, key: rsaKey(2048)},
		{name: "ok/rsa-3072-in-2031", at: in2031, key: rsaKey(3072), ok: true},
		{name: "ok/rsa-4096-in-2031", at: in2031, key: rsaKey(4096), ok: true},
		{name: "fail/rsa-2047", at: in2026, key: rsaKey(2047)},
		{name: "fail/rsa-1024-in-2026", at: in2026, key: rsaKey(1024)},
		{name: "ok/rsa-1024-in-2013", at: in2013, key: rsaKey(1024), ok: true},
		{name: "fail/rsa-512-ever", at: in2013, key: rsaKey(512), never: true},
		{name: "ok/p256", at: in2031, key: ecKey(elliptic.P256()), ok: true},
		{name: "ok/p384", at: in2031, key: ecKey(elliptic.P384()), ok: true},
		{name: "ok/p521", at: in2031, key: ecKey(elliptic.P521()), ok: true},
		{name: "fail/p224-ever", at: in2013, key: ecKey(elliptic.P224()), never: true},
		{name: "ok/sha256", at: in2031, hash: crypto.SHA256, ok: true},
		{name: "ok/sha512", at: in2031, hash: crypto.SHA512, ok: true},
		{name: "fail/sha1-in-2026", at: in2026, hash: crypto.SHA1},
		{name: "fail/sha224-ever", at: in2013, hash: crypto.SHA224, never: true},
		{name: "fail/md5-ever", at: in2013, hash: crypto.MD5, never: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &material{table: DefaultAlgorithms, at: tc.at}
			if tc.key != nil {
				m.key(part{what: "key"}, tc.key)
			} else {
				m.digest(part{what: "digest"}, tc.hash)
			}
			if ok := len(m.weak) == 0; ok != tc.ok {
				t.Fatalf("allowed = %v (%s), want %v", ok, m.problem(), tc.ok)
			}
			if !tc.ok && m.weak[0].until.IsZero() != tc.never {
				t.Errorf("refusal %q: never = %v, want %v", m.problem(), m.weak[0].until.IsZero(), tc.never)
			}
		})
	}
}
