package cades

import (
	"bytes"
	"crypto"
	"testing"
)

// samples returns well-formed signatures over testContent from the
// builder, in DER, covering each algorithm and attribute.
func samples(t testing.TB) [][]byte {
	p := pki(t)
	ts := func(sig []byte) []byte { return buildToken(t, tsSpec{tsa: p.tsa}, sig) }
	specs := []signSpec{
		{signer: p.rsa},
		{signer: p.ec, hash: crypto.SHA384, essV2: p.ec.cert, essV2Serial: p.ec.cert.SerialNumber},
		{signer: p.rsa, scheme: "pss", essV1: p.rsa.cert, signingTime: testNow},
		{signer: p.ec, skiSID: true, timestamp: ts, adobeCRLs: [][]byte{{0x30, 0x00}}, adobeOCSPs: [][]byte{{0x30, 0x00}}},
		{signer: p.rsa, cmsCRLs: [][]byte{{0x30, 0x00}}, cmsOCSPs: [][]byte{{0x30, 0x00}}, essV2: p.rsa.cert},
		// Below the algorithm rules: the reader refuses the digest.
		{signer: p.rsa, hash: crypto.SHA1},
		{signer: p.ec, hash: crypto.SHA1, timestamp: ts},
	}
	var out [][]byte
	for _, s := range specs {
		s.content = testContent
		out = append(out, build(t, s))
	}
	return out
}

// FuzzVerify feeds hostile CMS to Verify: it must never panic, and must
// never report a signer without an error.
func FuzzVerify(f *testing.F) {
	for _, s := range samples(f) {
		f.Add(s, false)
		f.Add(toBER(f, s), true)
	}
	f.Add(buildToken(f, tsSpec{tsa: pki(f).tsa}, testContent), false)
	f.Fuzz(func(t *testing.T, cms []byte, require bool) {
		res, err := Verify(cms, testContent, Options{RequireSigningCertificate: require})
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("Verify() error %v has no Reason", err)
			}
			if res != nil && res.Signer != nil {
				t.Fatal("Verify() failed but named a Signer")
			}
			return
		}
		if res.Signer == nil || res.Digest == 0 || res.SignatureAlgorithm == "" {
			t.Fatalf("Verify() succeeded with an incomplete Result %+v", res)
		}
		if res.Timestamp != nil && res.Timestamp.Err == nil && res.Timestamp.Signer == nil {
			t.Fatal("a valid Timestamp has no Signer")
		}
		_, _ = VerifyTimestampToken(cms, testContent)
	})
}

// FuzzToDER checks that the converter is idempotent: its output is DER,
// which it must return unchanged.
func FuzzToDER(f *testing.F) {
	for _, s := range samples(f) {
		f.Add(s)
		f.Add(toBER(f, s))
	}
	f.Add([]byte{0x24, 0x80, 0x04, 0x01, 'a', 0x00, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		der, _, err := toDER(in)
		if err != nil {
			return
		}
		again, rest, err := toDER(der)
		if err != nil || len(rest) != 0 {
			t.Fatalf("toDER(its own output % x) = %v, rest % x", der, err, rest)
		}
		if !bytes.Equal(again, der) {
			t.Fatalf("toDER is not idempotent: % x then % x", der, again)
		}
	})
}
