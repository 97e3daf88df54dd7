package pdfverify_test

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
	"github.com/revokd/revokd/pdfverify"
)

// Real producers sign the reference form here, and revokd must accept
// what they write: a plain signature, and the validation data they add
// after it (LTV) where they can. scripts/test.sh installs them.

// writeP12 writes the holder's key and chain as a PKCS #12 file with the
// password "test".
func writeP12(t *testing.T, dir string, h *testpki.Cert) string {
	t.Helper()
	requireTool(t, "openssl")
	der, err := x509.MarshalPKCS8PrivateKey(h.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := filepath.Join(dir, "holder.key")
	certPEM := filepath.Join(dir, "holder.pem")
	chainPEM := filepath.Join(dir, "chain.pem")
	mustWrite(t, keyPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	mustWrite(t, certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.Cert.Raw}))
	var chain []byte
	for _, c := range h.Chain {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	mustWrite(t, chainPEM, chain)
	p12 := filepath.Join(dir, "holder.p12")
	run(t, dir, "openssl", "pkcs12", "-export", "-inkey", keyPEM, "-in", certPEM, "-certfile", chainPEM,
		"-name", "holder", "-passout", "pass:test", "-out", p12)
	return p12
}

func mustWrite(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantAccepted verifies data and requires TOTAL_PASSED with the form's
// serial read.
func wantAccepted(t *testing.T, w *world, what string, data []byte) {
	t.Helper()
	rep := verify(t, data, w.opts())
	if !rep.Accepted() {
		t.Fatalf("%s: Verify = %s/%s (%s), want TOTAL_PASSED", what, rep.Indication, rep.SubIndication, rep.Reason)
	}
	serial := rep.Form["certificat_numero_serie"]
	if want := formValues["certificat_numero_serie"]; serial != want {
		t.Errorf("%s: serial = %q, want %q", what, serial, want)
	}
	// What the signer's viewer shows, by two independent renderers.
	requireTool(t, "pdftotext")
	requireTool(t, "mutool")
	poppler, mupdf := shownText(t, data)
	if !strings.Contains(poppler, serial) || !strings.Contains(mupdf, serial) {
		t.Errorf("%s: revokd reads serial %q; pdftotext shows it: %v, mutool shows it: %v", what, serial, strings.Contains(poppler, serial), strings.Contains(mupdf, serial))
	}
}

// pdfboxJars are the Debian packages' jars the PDFBox driver needs
// (libpdfbox2-java, libbcpkix-java and what they depend on).
var pdfboxJars = []string{"pdfbox2.jar", "fontbox2.jar", "bcpkix.jar", "bcprov.jar", "bcutil.jar", "commons-logging.jar"}

// TestProducerPDFBox signs with Apache PDFBox 2 (its CreateSignature
// example's way: addSignature, saveIncremental, a BouncyCastle CMS) and
// adds validation data as its AddValidationInformation example does (DSS
// with VRI, the ESIC extension, in an incremental update), then a
// document timestamp.
func TestProducerPDFBox(t *testing.T) {
	requireTool(t, "javac")
	requireTool(t, "java")
	var cp []string
	for _, j := range pdfboxJars {
		p := filepath.Join("/usr/share/java", j)
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing (scripts/test.sh installs libpdfbox2-java and libbcpkix-java)", p)
			}
			t.Skipf("%s is missing", p)
		}
		cp = append(cp, p)
	}
	w := getWorld(t)
	dir := t.TempDir()
	src, err := filepath.Abs(filepath.Join("..", "testdata", "producers", "pdfbox", "RevokdPdfbox.java"))
	if err != nil {
		t.Fatal(err)
	}
	run(t, dir, "javac", "-d", dir, "-cp", strings.Join(cp, ":"), src)
	classpath := strings.Join(append(cp, dir), ":")

	for _, kt := range []testpki.KeyType{testpki.RSA2048, testpki.ECDSAP256} {
		t.Run(fmt.Sprintf("ok/%v", kt), func(t *testing.T) {
			h := w.holders[kt]
			sub := t.TempDir()
			p12 := writeP12(t, sub, h)
			form := filepath.Join(sub, "form.pdf")
			mustWrite(t, form, w.form)
			signed := filepath.Join(sub, "signed.pdf")
			run(t, sub, "java", "-cp", classpath, "RevokdPdfbox", "sign", form, signed, p12, "test")
			wantAccepted(t, w, "PDFBox signature", mustRead(t, signed))

			args := []string{"-cp", classpath, "RevokdPdfbox", "ltv", signed, filepath.Join(sub, "ltv.pdf")}
			for i, c := range h.Chain {
				name := filepath.Join(sub, "ca"+string(rune('0'+i))+".der")
				mustWrite(t, name, c.Raw)
				args = append(args, name)
			}
			args = append(args, "--crl")
			for i, ca := range []*testpki.Cert{w.pki.Intermediate, w.pki.Root} {
				crl, err := w.pki.CRL(ca)
				if err != nil {
					t.Fatal(err)
				}
				name := filepath.Join(sub, "crl"+string(rune('0'+i))+".der")
				mustWrite(t, name, crl)
				args = append(args, name)
			}
			run(t, sub, "java", args...)
			ltv := mustRead(t, filepath.Join(sub, "ltv.pdf"))
			wantAccepted(t, w, "PDFBox signature + validation data", ltv)

			stamped, err := testsign.AddDocTimestamp(ltv, w.timestamper(now))
			if err != nil {
				t.Fatal(err)
			}
			wantAccepted(t, w, "PDFBox signature + validation data + document timestamp", stamped)
		})
	}
}

var _ = pdfverify.TotalPassed

// TestProducerPdfsigLive signs with poppler's pdfsig, both into the form's
// empty signature field and into a new field (-add-signature), then adds
// validation data and a document timestamp (pdfsig makes no LTV).
func TestProducerPdfsigLive(t *testing.T) {
	requireTool(t, "pdfsig")
	requireTool(t, "pk12util")
	requireTool(t, "certutil")
	w := getWorld(t)
	h := w.holders[testpki.RSA2048] // pdfsig signs with RSA only
	dir := t.TempDir()
	p12 := writeP12(t, dir, h)
	nss := filepath.Join(dir, "nss")
	if err := os.Mkdir(nss, 0o700); err != nil {
		t.Fatal(err)
	}
	run(t, dir, "certutil", "-N", "-d", "sql:"+nss, "--empty-password")
	run(t, dir, "pk12util", "-i", p12, "-d", "sql:"+nss, "-W", "test")
	// With no font configured pdfsig embeds none in the appearance of a
	// new field (see testdata/pdfsig/make.sh).
	mustWrite(t, filepath.Join(dir, "fonts.conf"), []byte(`<?xml version="1.0"?><fontconfig><cachedir>`+dir+`/fc</cachedir></fontconfig>`))
	form := filepath.Join(dir, "form.pdf")
	mustWrite(t, form, w.form)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"ok/existing-field", []string{"-sign", "Signature1"}},
		{"ok/add-signature", []string{"-add-signature", "-new-signature-field-name", "PopplerSig"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "signed.pdf")
			args := append([]string{"-nssdir", "sql:" + nss, "-nick", "holder"}, tc.args...)
			cmd := exec.Command("pdfsig", append(args, "-reason", "Demande de revocation", form, out)...)
			cmd.Env = append(os.Environ(), "FONTCONFIG_FILE="+filepath.Join(dir, "fonts.conf"))
			// pdfsig exits 0 whatever happens; the file is the verdict.
			msg, _ := cmd.CombinedOutput()
			signed, err := os.ReadFile(out)
			if err != nil || len(signed) == 0 {
				t.Fatalf("pdfsig wrote no file: %v\n%s", err, msg)
			}
			wantAccepted(t, w, "pdfsig signature", signed)
			var chain [][]byte
			for _, c := range h.Chain {
				chain = append(chain, c.Raw)
			}
			ltv, err := testsign.AddLTV(signed, testsign.LTVOptions{Certs: chain, RestateFreeHead: true})
			if err != nil {
				t.Fatal(err)
			}
			stamped, err := testsign.AddDocTimestamp(ltv, w.timestamper(now))
			if err != nil {
				t.Fatal(err)
			}
			wantAccepted(t, w, "pdfsig signature + validation data + document timestamp", stamped)
		})
	}
}

// TestProducerSignpdf signs with @signpdf/signpdf, its placeholder written
// by pdf-lib (which saves the whole document anew, one revision), with
// the versions pinned in testdata/producers/signpdf/package-lock.json
// (npm ci into a temporary folder; the npm cache makes later runs
// offline). signpdf makes no LTV; validation data and a document
// timestamp are added after it.
func TestProducerSignpdf(t *testing.T) {
	requireTool(t, "node")
	requireTool(t, "npm")
	w := getWorld(t)
	dir := t.TempDir()
	src := filepath.Join("..", "testdata", "producers", "signpdf")
	for _, name := range []string{"package.json", "package-lock.json", "sign.js"} {
		mustWrite(t, filepath.Join(dir, name), mustRead(t, filepath.Join(src, name)))
	}
	run(t, dir, "npm", "ci", "--no-audit", "--no-fund", "--prefer-offline")
	h := w.holders[testpki.RSA2048] // node-forge's PKCS #12 signer is RSA only
	p12 := writeP12(t, dir, h)
	// node-forge reads the PBES1 3DES of older PKCS #12 files.
	run(t, dir, "openssl", "pkcs12", "-export", "-inkey", filepath.Join(dir, "holder.key"), "-in", filepath.Join(dir, "holder.pem"),
		"-certfile", filepath.Join(dir, "chain.pem"), "-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1",
		"-passout", "pass:test", "-out", p12)
	form := filepath.Join(dir, "form.pdf")
	mustWrite(t, form, w.form)
	for _, tc := range []struct {
		name  string
		fills []string
	}{
		{"ok/as-filled", nil},
		{"ok/refilled-by-pdf-lib", []string{"certificat_numero_serie=" + formValues["certificat_numero_serie"], "titulaire_nom=" + formValues["titulaire_nom"], "demandeur_qualite=" + formValues["demandeur_qualite"]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "signed.pdf")
			run(t, dir, "node", append([]string{"sign.js", form, out, p12, "test"}, tc.fills...)...)
			signed := mustRead(t, out)
			wantAccepted(t, w, "signpdf signature", signed)
			var chain [][]byte
			for _, c := range h.Chain {
				chain = append(chain, c.Raw)
			}
			ltv, err := testsign.AddLTV(signed, testsign.LTVOptions{Certs: chain, RestateFreeHead: true, Info: true})
			if err != nil {
				t.Fatal(err)
			}
			stamped, err := testsign.AddDocTimestamp(ltv, w.timestamper(now))
			if err != nil {
				t.Fatal(err)
			}
			wantAccepted(t, w, "signpdf signature + validation data + document timestamp", stamped)
		})
	}
}
