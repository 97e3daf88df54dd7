package testsign

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/revokd/revokd/internal/testpki"
	"go.mozilla.org/pkcs7"
)

func signedForm(t *testing.T, f fixture, xrefStream bool) []byte {
	t.Helper()
	signed, err := Sign(mustForm(t, FormOptions{XRefStream: xrefStream}), f.signOptions())
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return signed
}

// checkAppended checks an attack that appends a revision: the original
// bytes are kept, the file is well-formed, and the signature still verifies
// over what it covers, which is no longer the whole file.
func checkAppended(t *testing.T, signed, attacked []byte) {
	t.Helper()
	if !bytes.HasPrefix(attacked, signed) || len(attacked) == len(signed) {
		t.Fatal("the attack did not append to the signed file")
	}
	qpdfCheck(t, attacked)
	s := readSignatures(t, attacked)[0]
	if end := s.byteRange[2] + s.byteRange[3]; end != int64(len(signed)) {
		t.Errorf("signature covers up to %d, want %d (the signed revision)", end, len(signed))
	}
	if err := verifyPKCS7(s.contents, s.covered(attacked)); err != nil {
		t.Errorf("the signature no longer verifies over its range: %v", err)
	}
	if v := pdfsigValidations(t, attacked); v != nil && !cmp.Equal(v, []string{pdfsigValid}) {
		t.Errorf("pdfsig = %q, want the signature itself still valid", v)
	}
}

func TestChangeFieldAfterSigning(t *testing.T) {
	f := newFixture(t, testpki.RSA2048)
	for _, xs := range []bool{false, true} {
		signed := signedForm(t, f, xs)
		attacked, err := ChangeFieldAfterSigning(signed, "certificat_numero_serie", "deadbeef")
		if err != nil {
			t.Fatalf("ChangeFieldAfterSigning: %v", err)
		}
		checkAppended(t, signed, attacked)
		got := formValues(t, attacked)
		if got["certificat_numero_serie"] != "deadbeef" {
			t.Errorf("latest revision's serial = %q, want %q", got["certificat_numero_serie"], "deadbeef")
		}
		if got["titulaire_nom"] != sampleValues["titulaire_nom"] {
			t.Errorf("other fields changed: titulaire_nom = %q", got["titulaire_nom"])
		}
		if before := formValues(t, signed)["certificat_numero_serie"]; before != sampleValues["certificat_numero_serie"] {
			t.Errorf("signed revision's serial = %q, want %q", before, sampleValues["certificat_numero_serie"])
		}
	}
	if _, err := ChangeFieldAfterSigning(signedForm(t, f, false), "absent", "x"); err == nil {
		t.Errorf("changing an absent field succeeded")
	}
}

func TestChangePageAfterSigning(t *testing.T) {
	f := newFixture(t, testpki.RSA2048)
	for _, xs := range []bool{false, true} {
		signed := signedForm(t, f, xs)
		attacked, err := ChangePageAfterSigning(signed)
		if err != nil {
			t.Fatalf("ChangePageAfterSigning: %v", err)
		}
		checkAppended(t, signed, attacked)
		if !strings.Contains(pdftotext(t, attacked), "Modifi") || strings.Contains(pdftotext(t, signed), "Modifi") {
			t.Errorf("the page text did not change as expected")
		}
		doc, _ := parseDocument(attacked)
		old, _ := parseDocument(signed)
		pageRef, _, _ := firstPage(doc)
		if doc.entries[pageRef.num] != old.entries[pageRef.num] {
			t.Errorf("the page object was redefined; only its content stream should be")
		}
	}
}

func TestAddAnnotationAfterSigning(t *testing.T) {
	f := newFixture(t, testpki.RSA2048)
	for _, xs := range []bool{false, true} {
		signed := signedForm(t, f, xs)
		attacked, err := AddAnnotationAfterSigning(signed)
		if err != nil {
			t.Fatalf("AddAnnotationAfterSigning: %v", err)
		}
		checkAppended(t, signed, attacked)
		count := func(b []byte) (annots, freeText int) {
			doc, _ := parseDocument(b)
			_, page, _ := firstPage(doc)
			arr, _ := arrayOf(doc, page.get("Annots"))
			for _, a := range arr {
				if d, err := doc.dict(a); err == nil && d.get("Subtype") == pdfName("FreeText") {
					freeText++
				}
			}
			return len(arr), freeText
		}
		n0, ft0 := count(signed)
		n1, ft1 := count(attacked)
		if n1 != n0+1 || ft0 != 0 || ft1 != 1 {
			t.Errorf("annotations %d (FreeText %d) -> %d (FreeText %d), want one FreeText more", n0, ft0, n1, ft1)
		}
	}
}

func pdftotext(t *testing.T, b []byte) string {
	t.Helper()
	needTool(t, "pdftotext")
	return runOutput(t, "pdftotext", writeTemp(t, "in.pdf", b), "-")
}

func TestZeroContents(t *testing.T) {
	f := newFixture(t, testpki.RSA2048)
	for _, xs := range []bool{false, true} {
		signed := signedForm(t, f, xs)
		attacked, err := ZeroContents(signed)
		if err != nil {
			t.Fatalf("ZeroContents: %v", err)
		}
		if len(attacked) != len(signed) {
			t.Fatalf("length %d, want %d", len(attacked), len(signed))
		}
		s := readSignatures(t, attacked)[0]
		orig := readSignatures(t, signed)[0]
		if !cmp.Equal(s.byteRange, orig.byteRange) {
			t.Errorf("ByteRange changed: %v, want %v", s.byteRange, orig.byteRange)
		}
		if strings.Trim(string(attacked[s.contentsStart+1:s.contentsEnd-1]), "0") != "" {
			t.Errorf("/Contents is not all zeros")
		}
		// Everything outside /Contents is untouched.
		if !bytes.Equal(s.covered(attacked), orig.covered(signed)) {
			t.Errorf("bytes outside /Contents changed")
		}
		qpdfCheck(t, attacked)
		if _, err := pkcs7.Parse(s.contents); err == nil {
			t.Errorf("zeroed /Contents still parses as CMS")
		}
	}
}

func TestEmptyContents(t *testing.T) {
	f := newFixture(t, testpki.RSA2048)
	for _, xs := range []bool{false, true} {
		signed := signedForm(t, f, xs)
		attacked, err := EmptyContents(signed)
		if err != nil {
			t.Fatalf("EmptyContents: %v", err)
		}
		if len(attacked) != len(signed) {
			t.Fatalf("length %d, want %d", len(attacked), len(signed))
		}
		qpdfCheck(t, attacked)
		s := readSignatures(t, attacked)[0]
		if got := string(attacked[s.contentsStart:s.contentsEnd]); got != "<>" {
			t.Errorf("/Contents = %q, want <>", got)
		}
		want := []int64{0, int64(s.contentsStart), int64(s.contentsEnd), int64(len(attacked) - s.contentsEnd)}
		if !cmp.Equal(s.byteRange, want) {
			t.Errorf("ByteRange = %v, want %v (consistent with the empty string)", s.byteRange, want)
		}
	}
}

func TestByteRangeForgeries(t *testing.T) {
	f := newFixture(t, testpki.RSA2048)
	form := mustForm(t, FormOptions{})
	tests := []struct {
		name string
		hook func(br [4]int64, cs, ce int64) [4]int64
		// want computes the expected ByteRange from the genuine one.
		want         func(br [4]int64) []int64
		digestBroken bool
	}{
		{"fail/overlapping", ByteRangeOverlapping,
			func(br [4]int64) []int64 { return []int64{0, br[1], br[1] - 16, br[2] + br[3] - (br[1] - 16)} }, true},
		{"fail/not-from-zero", ByteRangeNotFromZero,
			func(br [4]int64) []int64 { return []int64{1, br[1] - 1, br[2], br[3]} }, false},
		{"fail/short-of-end", ByteRangeShort,
			func(br [4]int64) []int64 { return []int64{0, br[1], br[2], br[3] - 16} }, false},
		{"fail/past-end", ByteRangePastEnd,
			func(br [4]int64) []int64 { return []int64{0, br[1], br[2], br[3] + 100} }, false},
		{"fail/gap-includes-key", ByteRangeWideGap,
			func(br [4]int64) []int64 { return []int64{0, br[1] - 10, br[2], br[3]} }, false},
		{"fail/gap-inside-contents", ByteRangeIntoContents,
			func(br [4]int64) []int64 { return []int64{0, br[1], br[2] - 8, br[3] + 8} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := f.signOptions()
			o.ByteRange = tt.hook
			signed, err := Sign(form, o)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			qpdfCheck(t, signed)
			s := readSignatures(t, signed)[0]
			genuine := [4]int64{0, int64(s.contentsStart), int64(s.contentsEnd), int64(len(signed) - s.contentsEnd)}
			if want := tt.want(genuine); !cmp.Equal(s.byteRange, want) {
				t.Errorf("ByteRange = %v, want %v", s.byteRange, want)
			}
			err = verifyPKCS7(s.contents, s.covered(signed))
			if tt.digestBroken != (err != nil) {
				t.Errorf("CMS over the designated bytes: %v, want digest broken = %v", err, tt.digestBroken)
			}
			if err == nil && haveTool(t, "openssl") {
				if out, err := opensslVerify(t, s.contents, s.covered(signed), nil); err != nil {
					t.Errorf("openssl cms -verify over the designated bytes: %v\n%s", err, out)
				}
			}
		})
	}
	t.Run("fail/missing", func(t *testing.T) {
		o := f.signOptions()
		o.OmitByteRange = true
		signed, err := Sign(form, o)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		qpdfCheck(t, signed)
		s := readSignatures(t, signed)[0]
		if s.dict.has("ByteRange") {
			t.Errorf("/ByteRange present")
		}
		// The CMS is genuine over the usual ranges.
		s.byteRange = []int64{0, int64(s.contentsStart), int64(s.contentsEnd), int64(len(signed) - s.contentsEnd)}
		if err := verifyPKCS7(s.contents, s.covered(signed)); err != nil {
			t.Errorf("CMS over the usual ranges: %v", err)
		}
	})
}

func TestSwapSigner(t *testing.T) {
	f := newFixture(t, testpki.RSA2048)
	attackerKey, attackerCert, err := Impersonate(f.holder.Cert)
	if err != nil {
		t.Fatalf("Impersonate: %v", err)
	}
	if !bytes.Equal(attackerCert.RawSubject, f.holder.Cert.RawSubject) || attackerCert.SerialNumber.Cmp(f.holder.Cert.SerialNumber) != 0 {
		t.Errorf("impersonating certificate does not copy subject and serial")
	}
	signed, err := SwapSigner(mustForm(t, FormOptions{}), f.signOptions(), attackerKey, attackerCert)
	if err != nil {
		t.Fatalf("SwapSigner: %v", err)
	}
	qpdfCheck(t, signed)
	s := readSignatures(t, signed)[0]
	p7, err := pkcs7.Parse(s.contents)
	if err != nil {
		t.Fatal(err)
	}
	if got := p7.GetOnlySigner(); got == nil || !got.Equal(f.holder.Cert) {
		t.Errorf("SignerInfo does not name the genuine holder certificate")
	}
	p7.Content = s.covered(signed)
	err = p7.VerifyWithChainAtTime(nil, testTime)
	if err == nil || !strings.Contains(err.Error(), "verification error") {
		t.Errorf("pkcs7 Verify = %v, want a signature verification error", err)
	}
	if _, ok := err.(*pkcs7.MessageDigestMismatchError); ok {
		t.Errorf("digest mismatch: only the signature value should be wrong")
	}
	if haveTool(t, "openssl") {
		if out, err := opensslVerify(t, s.contents, s.covered(signed), nil); err == nil {
			t.Errorf("openssl accepted the swapped signer:\n%s", out)
		}
	}
}

func TestSelfSignedWithGenuineChain(t *testing.T) {
	f := newFixture(t, testpki.RSA2048)
	attackerKey, attackerCert, err := Impersonate(f.holder.Cert)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := SelfSignedWithGenuineChain(mustForm(t, FormOptions{}), f.signOptions(), attackerKey, attackerCert)
	if err != nil {
		t.Fatalf("SelfSignedWithGenuineChain: %v", err)
	}
	qpdfCheck(t, signed)
	s := readSignatures(t, signed)[0]
	covered := s.covered(signed)
	if err := verifyPKCS7(s.contents, covered); err != nil {
		t.Errorf("the CMS itself should verify: %v", err)
	}
	p7, _ := pkcs7.Parse(s.contents)
	if !p7.GetOnlySigner().Equal(attackerCert) {
		t.Errorf("signer is not the self-signed certificate")
	}
	embedsGenuine := false
	for _, c := range p7.Certificates {
		embedsGenuine = embedsGenuine || c.Equal(f.holder.Cert)
	}
	if !embedsGenuine {
		t.Errorf("the genuine holder certificate is not embedded")
	}
	if haveTool(t, "openssl") {
		if out, err := opensslVerify(t, s.contents, covered, nil); err != nil {
			t.Errorf("openssl -noverify: %v\n%s", err, out)
		}
		if out, err := opensslVerify(t, s.contents, covered, f.pki.RootsPEM()); err == nil {
			t.Errorf("openssl chained the self-signed signer to the root:\n%s", out)
		}
	}
}

func TestHooks(t *testing.T) {
	f := newFixture(t, testpki.ECDSAP256)
	form := mustForm(t, FormOptions{})
	t.Run("fail/omit-ess", func(t *testing.T) {
		o := f.signOptions()
		o.SubFilter, o.OmitESS = SubFilterCAdES, true
		signed, err := Sign(form, o)
		if err != nil {
			t.Fatal(err)
		}
		s := checkGenuine(t, signed, false)
		if attrs, _ := signedAttrs(t, s.contents); hasOID(attrs, OIDSigningCertificateV2) {
			t.Errorf("signing-certificate-v2 present")
		}
	})
	t.Run("fail/cms-replaced", func(t *testing.T) {
		var seen []byte
		o := f.signOptions()
		o.CMS = func(content, cms []byte) []byte {
			seen = content
			return []byte{0x30, 0x03, 0x02, 0x01, 0x07}
		}
		signed, err := Sign(form, o)
		if err != nil {
			t.Fatal(err)
		}
		qpdfCheck(t, signed)
		s := readSignatures(t, signed)[0]
		if !bytes.Equal(s.contents, []byte{0x30, 0x03, 0x02, 0x01, 0x07}) {
			t.Errorf("/Contents = %x, want the replacement", s.contents)
		}
		if !bytes.Equal(seen, s.covered(signed)) {
			t.Errorf("the hook did not get the covered bytes")
		}
	})
}

func TestTruncateAndGarbage(t *testing.T) {
	f := newFixture(t, testpki.RSA2048)
	signed := signedForm(t, f, false)
	for _, n := range []int{0, 10, len(signed) / 2, len(signed) - 1, len(signed) + 5} {
		got := Truncate(signed, n)
		if want := min(n, len(signed)); len(got) != want || !bytes.HasPrefix(signed, got) {
			t.Errorf("Truncate(%d): %d bytes, want the first %d", n, len(got), want)
		}
	}
	g := Garbage(1000, 7)
	if len(g) != 1000 || !bytes.HasPrefix(g, []byte("%PDF-")) {
		t.Errorf("Garbage: %d bytes starting %q", len(g), g[:8])
	}
	if !bytes.Equal(g, Garbage(1000, 7)) || bytes.Equal(g, Garbage(1000, 8)) {
		t.Errorf("Garbage is not a function of its seed")
	}
}
