// Package mailtest builds, for tests, the shapes of mail that people send
// to the revocation desk, with the tools that produce them in real life:
// `openssl smime` for S/MIME (opaque and detached signatures, encryption)
// and Info-ZIP's `zip` for archives. Tests that need a tool call
// RequireTool: under CI=true a missing tool fails the test.
package mailtest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"mime"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// RequireTool fails the test when name is not on PATH under CI=true (the
// project's test script installs it), and skips it otherwise.
func RequireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (scripts/test.sh installs it)", name)
		}
		t.Skipf("%s is not installed", name)
	}
}

// Identity is an S/MIME certificate with its RSA key, also written as PEM
// files (the key 0600).
type Identity struct {
	Cert               *x509.Certificate
	Key                *rsa.PrivateKey
	CertFile, KeyFile  string
	CertPEM, KeyPEM    []byte
	EmailAddress, Name string
}

// NewIdentity makes a self-signed RSA S/MIME certificate for email, valid
// for a year around now, and writes its files into dir.
func NewIdentity(dir, name, email string) (*Identity, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:   serial,
		Subject:        pkix.Name{CommonName: name},
		EmailAddresses: []string{email},
		NotBefore:      now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	id := &Identity{Cert: cert, Key: key, EmailAddress: email, Name: name,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
	}
	base := filepath.Join(dir, strings.NewReplacer("@", "_", ".", "_").Replace(email))
	id.CertFile, id.KeyFile = base+".crt", base+".key"
	if err := os.WriteFile(id.CertFile, id.CertPEM, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(id.KeyFile, id.KeyPEM, 0o600); err != nil {
		return nil, err
	}
	return id, nil
}

// Entity is a MIME entity (its header has only MIME fields): a
// multipart/mixed with a line of text and one attachment, base64.
func Entity(contentType, fileName string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString("Content-Type: multipart/mixed; boundary=\"inner-sep\"\r\n\r\n--inner-sep\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nBonjour, voici ma demande signée.\r\n--inner-sep\r\n")
	fmt.Fprintf(&b, "Content-Type: %s\r\nContent-Transfer-Encoding: base64\r\n"+
		"Content-Disposition: attachment; filename=\"%s\"\r\n\r\n", contentType, mime.QEncoding.Encode("utf-8", fileName))
	b.Write(base64Lines(body))
	b.WriteString("--inner-sep--\r\n")
	return b.Bytes()
}

// Mail puts the top-level header fields (From written as given, raw bytes
// included) before entity, which starts with its MIME header.
func Mail(from, subject, messageID string, entity []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: revocation@ca.example\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\nMIME-Version: 1.0\r\n",
		from, mime.QEncoding.Encode("utf-8", subject), messageID, time.Now().Format(time.RFC1123Z))
	b.Write(crlf(entity))
	return b.Bytes()
}

// SMIMESign signs entity with `openssl smime -sign`: opaque
// (application/x-pkcs7-mime, signed-data, what -nodetach gives) or
// detached (multipart/signed); stream asks openssl for BER with
// indefinite lengths. It returns the signed entity, its header with MIME
// fields only.
func SMIMESign(t testing.TB, id *Identity, entity []byte, opaque, stream bool) []byte {
	t.Helper()
	args := []string{"smime", "-sign", "-signer", id.CertFile, "-inkey", id.KeyFile}
	if opaque {
		args = append(args, "-nodetach")
	}
	if stream {
		args = append(args, "-stream")
	}
	return openssl(t, entity, args, nil)
}

// SMIMEEncrypt encrypts entity to recipient with `openssl smime -encrypt
// -aes256` (enveloped-data, RSA key transport).
func SMIMEEncrypt(t testing.TB, recipient *Identity, entity []byte) []byte {
	t.Helper()
	return openssl(t, entity, []string{"smime", "-encrypt", "-aes256"}, []string{recipient.CertFile})
}

// openssl runs openssl with args, then -in and -out, then trailing (the
// recipients' certificates must come last).
// TamperSMIME changes one byte of the text "Bonjour" signed inside an
// opaque S/MIME entity of SMIMESign made from Entity, so that the
// signature no longer verifies while the attachment beside the text stays
// intact. It returns the entity, header and base64 body, and the tampered
// DER structure.
func TamperSMIME(t testing.TB, entity []byte) (tampered, der []byte) {
	t.Helper()
	i := bytes.Index(entity, []byte("\r\n\r\n"))
	der, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(entity[i+4:])))
	if err != nil {
		t.Fatal(err)
	}
	j := bytes.Index(der, []byte("Bonjour"))
	if j < 0 {
		t.Fatal("signed text not found in the S/MIME structure")
	}
	der[j] = 'b'
	tampered = append(append([]byte(nil), entity[:i+4]...), base64Lines(der)...)
	return tampered, der
}

func openssl(t testing.TB, in []byte, args, trailing []string) []byte {
	t.Helper()
	RequireTool(t, "openssl")
	dir := t.TempDir()
	inFile, outFile := filepath.Join(dir, "in.eml"), filepath.Join(dir, "out.eml")
	if err := os.WriteFile(inFile, in, 0o600); err != nil {
		t.Fatal(err)
	}
	args = append(append(args, "-in", inFile, "-out", outFile), trailing...)
	if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	b, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	return crlf(b)
}

// Zip archives files (name -> content; names may hold folders) with
// Info-ZIP's zip, encrypted with password when it is not "".
func Zip(t testing.TB, files map[string][]byte, password string) []byte {
	t.Helper()
	RequireTool(t, "zip")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	var names []string
	for name, b := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	out := filepath.Join(dir, "archive.zip")
	args := []string{"-q", "-X", out}
	if password != "" {
		args = append([]string{"-P", password}, args...)
	}
	cmd := exec.Command("zip", append(args, names...)...)
	cmd.Dir = src
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("zip: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// base64Lines encodes b in lines of 76 characters, CRLF-terminated.
func base64Lines(b []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(b)
	var out bytes.Buffer
	for len(enc) > 76 {
		out.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	out.WriteString(enc + "\r\n")
	return out.Bytes()
}

// crlf turns bare LF line ends into CRLF, as mail stores them.
func crlf(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}
