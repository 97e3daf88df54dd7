package cades

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.mozilla.org/pkcs7"
)

// These tests check the builder and the verifier against independent
// implementations: go.mozilla.org/pkcs7 and OpenSSL must accept what the
// builder writes, and Verify must accept what OpenSSL writes (BER, with
// -stream).

func TestPKCS7AgreesWithBuilder(t *testing.T) {
	p := pki(t)
	for _, tt := range []struct {
		name string
		spec signSpec
	}{
		{"rsa", signSpec{signer: p.rsa}},
		{"ecdsa", signSpec{signer: p.ec}},
		{"rsa-ess-v2", signSpec{signer: p.rsa, essV2: p.rsa.cert, signingTime: testNow}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.content = testContent
			cms := build(t, tt.spec)
			p7, err := pkcs7.Parse(cms)
			if err != nil {
				t.Fatalf("pkcs7.Parse() = %v", err)
			}
			p7.Content = testContent
			if err := p7.Verify(); err != nil {
				t.Fatalf("pkcs7 Verify() = %v, want nil", err)
			}
			if _, err := Verify(cms, testContent, Options{}); err != nil {
				t.Fatalf("Verify() = %v, want nil", err)
			}
		})
	}
}

// requireOpenSSL returns the openssl binary, skipping the test when it is
// missing except in CI, where the differential check must run.
func requireOpenSSL(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("openssl is required in CI: %v", err)
		}
		t.Skipf("openssl not installed: %v", err)
	}
	return path
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeKey(t *testing.T, dir, name string, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name, "PRIVATE KEY", der)
}

func TestOpenSSLSignsWeVerify(t *testing.T) {
	openssl := requireOpenSSL(t)
	p := pki(t)
	dir := t.TempDir()
	contentPath := filepath.Join(dir, "content")
	if err := os.WriteFile(contentPath, testContent, 0o600); err != nil {
		t.Fatal(err)
	}
	root := writePEM(t, dir, "root.pem", "CERTIFICATE", p.root.cert.Raw)
	sign := func(t *testing.T, name string, signer leaf, extra ...string) []byte {
		t.Helper()
		cert := writePEM(t, dir, name+".pem", "CERTIFICATE", signer.cert.Raw)
		key := writeKey(t, dir, name+".key", signer.key)
		out := filepath.Join(dir, name+".p7s")
		args := append([]string{"cms", "-sign", "-binary", "-cades", "-outform", "DER",
			"-in", contentPath, "-signer", cert, "-inkey", key, "-certfile", root, "-out", out}, extra...)
		if msg, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, msg)
		}
		cms, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return cms
	}

	for _, tt := range []struct {
		name    string
		signer  leaf
		extra   []string
		wantAlg string
	}{
		{"detached/rsa", p.rsa, nil, "RSA-PKCS1v15"},
		{"detached/ecdsa", p.ec, []string{"-md", "sha384"}, "ECDSA"},
		{"detached/pss", p.rsa, []string{"-keyopt", "rsa_padding_mode:pss"}, "RSASSA-PSS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cms := sign(t, tt.name[len("detached/"):], tt.signer, tt.extra...)
			res, err := Verify(cms, testContent, Options{RequireSigningCertificate: true})
			if err != nil {
				t.Fatalf("Verify(openssl output) = %v, want nil", err)
			}
			if res.SignatureAlgorithm != tt.wantAlg || res.SigningCertificateAttr != "v2" || res.SigningTime.IsZero() {
				t.Errorf("Verify(openssl output) = alg %q, ESS %q, signingTime %v; want %q, v2, a time",
					res.SignatureAlgorithm, res.SigningCertificateAttr, res.SigningTime, tt.wantAlg)
			}
			if _, err := Verify(cms, append([]byte{0}, testContent...), Options{}); ReasonOf(err) != DigestMismatch {
				t.Errorf("Verify(openssl output, other content) = %v, want %s", err, DigestMismatch)
			}
		})
	}

	// With -stream, openssl writes indefinite lengths and a segmented
	// eContent, but it then always encapsulates the content, so Verify must
	// refuse it; the SignerInfo itself must still verify over the decoded
	// eContent.
	for _, tt := range []struct {
		name   string
		signer leaf
	}{{"stream/rsa", p.rsa}, {"stream/ecdsa", p.ec}} {
		t.Run(tt.name, func(t *testing.T) {
			cms := sign(t, "stream-"+tt.name[len("stream/"):], tt.signer, "-stream")
			if !bytes.HasPrefix(cms, []byte{0x30, 0x80}) {
				t.Fatalf("openssl -stream output starts % x, want an indefinite length", cms[:4])
			}
			if _, err := Verify(cms, testContent, Options{}); ReasonOf(err) != NotDetached {
				t.Fatalf("Verify(openssl -stream output) = %v, want %s", err, NotDetached)
			}
			parsed, perr := parseSignedData(cms)
			if perr != nil {
				t.Fatalf("parseSignedData(openssl -stream output) = %v", perr)
			}
			if !bytes.Equal(parsed.eContent, testContent) {
				t.Fatalf("decoded eContent = %q, want %q", parsed.eContent, testContent)
			}
			v, verr := verifySignerInfo(&parsed.signers[0], parsed.certs, [][]byte{parsed.eContent}, oidData, true)
			if verr != nil {
				t.Fatalf("verifySignerInfo(openssl -stream output) = %v, want nil", verr)
			}
			if v.essVersion != "v2" {
				t.Errorf("ESS version = %q, want v2", v.essVersion)
			}
		})
	}
}

func TestOpenSSLVerifiesBuilder(t *testing.T) {
	openssl := requireOpenSSL(t)
	p := pki(t)
	dir := t.TempDir()
	contentPath := filepath.Join(dir, "content")
	if err := os.WriteFile(contentPath, testContent, 0o600); err != nil {
		t.Fatal(err)
	}
	root := writePEM(t, dir, "root.pem", "CERTIFICATE", p.root.cert.Raw)
	for _, tt := range []struct {
		name string
		spec signSpec
	}{
		{"rsa", signSpec{signer: p.rsa}},
		{"ecdsa", signSpec{signer: p.ec, hash: crypto.SHA384}},
		{"pss", signSpec{signer: p.rsa, scheme: "pss"}},
		{"ess-v2", signSpec{signer: p.rsa, essV2: p.rsa.cert, essV2Serial: p.rsa.cert.SerialNumber}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.content = testContent
			sig := filepath.Join(dir, tt.name+".p7s")
			if err := os.WriteFile(sig, build(t, tt.spec), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-content", contentPath,
				"-CAfile", root, "-purpose", "any", "-attime", "1772366400", "-out", os.DevNull}
			if msg, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl cms -verify: %v\n%s", err, msg)
			}
		})
	}
}
