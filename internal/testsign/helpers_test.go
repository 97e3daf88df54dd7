package testsign

import (
	"bytes"
	"crypto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/revokd/revokd/internal/testpki"
	"go.mozilla.org/pkcs7"
)

// testTime is the fixed "now" of these tests.
var testTime = time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)

// sampleValues fill the reference form; the accents are PDFDocEncoding,
// the Romanian letters are not (UTF-16).
var sampleValues = map[string]string{
	"titulaire_nom":             "Dupont",
	"titulaire_prenom":          "Jeanne",
	"titulaire_email":           "jeanne.dupont@example.fr",
	"certificat_numero_serie":   "0a1b2c3d4e5f",
	"raison":                    "Clé privée compromise",
	"demandeur_qualite":         "Représentant légal",
	"representant_nom":          "Țărănescu",
	"representant_prenom":       "Ștefan",
	"representant_email":        "stefan.taranescu@example.fr",
	"entreprise_raison_sociale": "Exemple & Fils (SAS)",
	"entreprise_siren":          "732829320",
	"date":                      "2026-03-02",
	"lieu":                      "Saint-Étienne",
}

type fixture struct {
	pki    *testpki.PKI
	holder *testpki.Cert
}

func newFixture(t testing.TB, kt testpki.KeyType) fixture {
	t.Helper()
	p, err := testpki.New(testpki.Options{Now: testTime, NoServer: true})
	if err != nil {
		t.Fatalf("testpki.New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	h, err := p.IssueHolder(testpki.HolderOptions{
		KeyType: kt, Surname: "Dupont", GivenName: "Jeanne", Email: "jeanne.dupont@example.fr",
		Organization: "Exemple SAS", SIREN: "732829320",
	})
	if err != nil {
		t.Fatalf("IssueHolder: %v", err)
	}
	return fixture{pki: p, holder: h}
}

func (f fixture) signOptions() SignOptions {
	return SignOptions{
		Key:         f.holder.Key,
		Cert:        f.holder.Cert,
		Chain:       f.holder.Chain,
		SigningTime: testTime,
		PSS:         f.holder.KeyType == testpki.RSAPSS,
	}
}

func (f fixture) timestamper(digest []byte, h crypto.Hash) ([]byte, error) {
	return f.pki.Timestamp(digest, h, testTime)
}

func mustForm(t testing.TB, o FormOptions) []byte {
	t.Helper()
	b, err := Form(sampleValues, o)
	if err != nil {
		t.Fatalf("Form: %v", err)
	}
	return b
}

// needTool returns the path of an external program, skipping the test when
// it is missing, except in CI where a missing tool fails it.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// haveTool is needTool for an assertion that is skipped, not the test.
func haveTool(t testing.TB, name string) bool {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		t.Logf("%s not installed: assertion skipped", name)
		return false
	}
	return true
}

func writeTemp(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// qpdfCheck fails the test unless qpdf --check finds no error nor warning.
func qpdfCheck(t testing.TB, b []byte) {
	t.Helper()
	if !haveTool(t, "qpdf") {
		return
	}
	out, err := exec.Command("qpdf", "--check", writeTemp(t, "check.pdf", b)).CombinedOutput()
	if err != nil {
		t.Errorf("qpdf --check: %v\n%s", err, out)
	}
}

// pdfsigValidations returns pdfsig's "Signature Validation" line of each
// signature, checking digests only (-nocert); nil when pdfsig is missing.
func pdfsigValidations(t testing.TB, b []byte) []string {
	t.Helper()
	if !haveTool(t, "pdfsig") {
		return nil
	}
	out, err := exec.Command("pdfsig", "-nocert", writeTemp(t, "sig.pdf", b)).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfsig: %v\n%s", err, out)
	}
	v := []string{}
	for _, m := range regexp.MustCompile(`Signature Validation: (.*)`).FindAllSubmatch(out, -1) {
		v = append(v, strings.TrimSpace(string(m[1])))
	}
	return v
}

const pdfsigValid = "Signature is Valid."

// opensslVerify runs openssl cms -verify over the covered bytes without
// checking the chain (or against root when given).
func opensslVerify(t testing.TB, cms, covered []byte, root []byte) (string, error) {
	t.Helper()
	args := []string{"cms", "-verify", "-binary", "-inform", "DER",
		"-in", writeTemp(t, "cms.der", cms), "-content", writeTemp(t, "covered.bin", covered), "-out", os.DevNull}
	if root == nil {
		args = append(args, "-noverify")
	} else {
		args = append(args, "-CAfile", writeTemp(t, "root.pem", root), "-purpose", "any")
	}
	out, err := exec.Command("openssl", args...).CombinedOutput()
	return string(out), err
}

// sigInfo is one signature of a file as this package's reader sees it.
type sigInfo struct {
	field         string
	num           int
	dict          *pdfDict
	byteRange     []int64 // nil when absent
	contents      []byte  // the CMS, trailing zero padding removed
	contentsStart int     // offset of '<'
	contentsEnd   int     // offset after '>'
}

func (s sigInfo) covered(b []byte) []byte {
	var out []byte
	for i := 0; i+1 < len(s.byteRange); i += 2 {
		start, end := max(s.byteRange[i], 0), min(s.byteRange[i]+s.byteRange[i+1], int64(len(b)))
		if start < end {
			out = append(out, b[start:end]...)
		}
	}
	return out
}

func readSignatures(t testing.TB, b []byte) []sigInfo {
	t.Helper()
	doc, err := parseDocument(b)
	if err != nil {
		t.Fatalf("parseDocument: %v", err)
	}
	acro, err := acroForm(doc)
	if err != nil || acro == nil {
		t.Fatalf("acroForm: %v %v", acro, err)
	}
	var sigs []sigInfo
	err = walkFields(doc, acro, func(name string, f formField) error {
		r, ok := f.dict.get("V").(pdfRef)
		if !ok {
			return nil
		}
		d, err := doc.dict(r)
		if err != nil {
			return err
		}
		s := sigInfo{field: name, num: r.num, dict: d}
		if br, ok := d.get("ByteRange").(pdfArray); ok {
			s.byteRange = []int64{}
			for _, v := range br {
				s.byteRange = append(s.byteRange, v.(int64))
			}
		}
		if c, ok := d.get("Contents").(pdfString); ok {
			s.contents = trimDER(c.b)
		}
		if s.contentsStart, s.contentsEnd, err = doc.valueSpan(r.num, "Contents"); err != nil {
			return err
		}
		sigs = append(sigs, s)
		return nil
	})
	if err != nil {
		t.Fatalf("reading signatures: %v", err)
	}
	return sigs
}

// trimDER cuts the zero padding after a DER element.
func trimDER(b []byte) []byte {
	if len(b) < 2 {
		return b
	}
	n := int(b[1])
	hdr := 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 4 || len(b) < 2+k {
			return b
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		hdr += k
	}
	if hdr+n > len(b) {
		return b
	}
	return b[:hdr+n]
}

// formValues reads the form fields of the latest revision with pdfcpu.
func formValues(t testing.TB, b []byte) map[string]string {
	t.Helper()
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationRelaxed
	fields, err := api.FormFields(bytes.NewReader(b), conf)
	if err != nil {
		t.Fatalf("pdfcpu FormFields: %v", err)
	}
	got := map[string]string{}
	for _, f := range fields {
		got[f.Name] = f.V
	}
	return got
}

// verifyPKCS7 checks the CMS with go.mozilla.org/pkcs7 (no chain).
func verifyPKCS7(cms, covered []byte) error {
	p7, err := pkcs7.Parse(cms)
	if err != nil {
		return err
	}
	p7.Content = covered
	return p7.VerifyWithChainAtTime(nil, testTime)
}

func runOutput(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out)
}
