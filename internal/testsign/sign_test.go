package testsign

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/revokd/revokd/internal/pdfsignproducer"
	"github.com/revokd/revokd/internal/testpki"
	"go.mozilla.org/pkcs7"
)

// signedAttrs returns the signed attribute types of the CMS's SignerInfo,
// and whether it has a signature time-stamp.
func signedAttrs(t testing.TB, cms []byte) (attrs []asn1.ObjectIdentifier, timestamped bool) {
	t.Helper()
	var ci struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue `asn1:"explicit,tag:0"`
	}
	if _, err := asn1.Unmarshal(cms, &ci); err != nil {
		t.Fatalf("parsing ContentInfo: %v", err)
	}
	var sd struct {
		Version     int
		Digests     asn1.RawValue
		Encap       asn1.RawValue
		Certs       asn1.RawValue `asn1:"optional,tag:0"`
		SignerInfos []struct {
			Version     int
			SID         asn1.RawValue
			Digest      asn1.RawValue
			SignedAttrs []struct {
				Type   asn1.ObjectIdentifier
				Values asn1.RawValue `asn1:"set"`
			} `asn1:"optional,tag:0"`
			SigAlg        asn1.RawValue
			Sig           []byte
			UnsignedAttrs []struct {
				Type   asn1.ObjectIdentifier
				Values asn1.RawValue `asn1:"set"`
			} `asn1:"optional,tag:1"`
		} `asn1:"set"`
	}
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		t.Fatalf("parsing SignedData: %v", err)
	}
	if len(sd.SignerInfos) != 1 {
		t.Fatalf("%d SignerInfos, want 1", len(sd.SignerInfos))
	}
	for _, a := range sd.SignerInfos[0].SignedAttrs {
		attrs = append(attrs, a.Type)
	}
	for _, a := range sd.SignerInfos[0].UnsignedAttrs {
		if a.Type.Equal(OIDSignatureTimeStampToken) {
			timestamped = true
		}
	}
	return attrs, timestamped
}

func hasOID(oids []asn1.ObjectIdentifier, oid asn1.ObjectIdentifier) bool {
	for _, o := range oids {
		if o.Equal(oid) {
			return true
		}
	}
	return false
}

// checkGenuine checks everything a genuine signature must satisfy, by
// independent means where they exist.
func checkGenuine(t *testing.T, signed []byte, pss bool) sigInfo {
	t.Helper()
	qpdfCheck(t, signed)
	sigs := readSignatures(t, signed)
	if len(sigs) == 0 {
		t.Fatal("no signature found")
	}
	s := sigs[len(sigs)-1]
	want := []int64{0, int64(s.contentsStart), int64(s.contentsEnd), int64(len(signed) - s.contentsEnd)}
	if !cmp.Equal(s.byteRange, want) {
		t.Errorf("ByteRange = %v, want %v (the gap exactly /Contents)", s.byteRange, want)
	}
	covered := s.covered(signed)
	if haveTool(t, "openssl") {
		if out, err := opensslVerify(t, s.contents, covered, nil); err != nil {
			t.Errorf("openssl cms -verify: %v\n%s", err, out)
		}
	}
	if !pss {
		if err := verifyPKCS7(s.contents, covered); err != nil {
			t.Errorf("pkcs7 Verify: %v", err)
		}
	}
	if v := pdfsigValidations(t, signed); v != nil && (len(v) == 0 || v[len(v)-1] != pdfsigValid) {
		t.Errorf("pdfsig says %q, want %q", v, pdfsigValid)
	}
	return s
}

func TestSign(t *testing.T) {
	tests := []struct {
		name    string
		key     testpki.KeyType
		form    FormOptions
		opts    func(f fixture, o *SignOptions)
		wantSub string
	}{
		{name: "ok/pkcs7-rsa2048", key: testpki.RSA2048, wantSub: SubFilterPKCS7},
		{name: "ok/cades-rsa3072", key: testpki.RSA3072, wantSub: SubFilterCAdES,
			opts: func(f fixture, o *SignOptions) { o.SubFilter = SubFilterCAdES }},
		{name: "ok/cades-ecdsa-p256", key: testpki.ECDSAP256, wantSub: SubFilterCAdES,
			opts: func(f fixture, o *SignOptions) { o.SubFilter = SubFilterCAdES }},
		{name: "ok/pkcs7-pss", key: testpki.RSAPSS, wantSub: SubFilterPKCS7},
		{name: "ok/cades-pss-xref-stream", key: testpki.RSAPSS, wantSub: SubFilterCAdES, form: FormOptions{XRefStream: true},
			opts: func(f fixture, o *SignOptions) { o.SubFilter = SubFilterCAdES }},
		{name: "ok/pkcs7-xref-stream", key: testpki.RSA2048, wantSub: SubFilterPKCS7, form: FormOptions{XRefStream: true}},
		{name: "ok/timestamped", key: testpki.RSA2048, wantSub: SubFilterCAdES,
			opts: func(f fixture, o *SignOptions) { o.SubFilter = SubFilterCAdES; o.Timestamper = f.timestamper }},
		{name: "ok/padded-5MB", key: testpki.RSA2048, wantSub: SubFilterPKCS7, form: FormOptions{PadTo: 5 << 20}},
		{name: "ok/revocation-info", key: testpki.RSA2048, wantSub: SubFilterPKCS7,
			opts: func(f fixture, o *SignOptions) {
				crl, err := f.pki.CRL(f.pki.Intermediate)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := f.pki.OCSPResponse(f.holder.Cert)
				if err != nil {
					t.Fatal(err)
				}
				o.CRLs, o.OCSPs = [][]byte{crl}, [][]byte{resp}
			}},
		{name: "ok/new-field", key: testpki.RSA2048, wantSub: SubFilterPKCS7,
			opts: func(f fixture, o *SignOptions) { o.FieldName = "Approbation" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.key)
			o := f.signOptions()
			if tt.opts != nil {
				tt.opts(f, &o)
			}
			form := mustForm(t, tt.form)
			signed, err := Sign(form, o)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if !bytes.HasPrefix(signed, form) {
				t.Fatal("Sign did not append to the original bytes")
			}
			s := checkGenuine(t, signed, o.PSS)

			wantField := o.FieldName
			if wantField == "" {
				wantField = SignatureFieldName
			}
			if s.field != wantField {
				t.Errorf("signed field %q, want %q", s.field, wantField)
			}
			for k, want := range map[pdfName]object{
				"Type": pdfName("Sig"), "Filter": pdfName("Adobe.PPKLite"), "SubFilter": pdfName(tt.wantSub),
				"M": pdfString{b: []byte("D:20260302103000Z")},
			} {
				if got := s.dict.get(k); !cmp.Equal(got, want, cmp.AllowUnexported(pdfString{})) {
					t.Errorf("/%s = %v, want %v", k, got, want)
				}
			}
			if s.contentsEnd-s.contentsStart != 2+2*o.withDefaults().ContentsSize {
				t.Errorf("/Contents holds %d bytes, want %d", s.contentsEnd-s.contentsStart, 2+2*o.withDefaults().ContentsSize)
			}

			doc, err := parseDocument(signed)
			if err != nil {
				t.Fatal(err)
			}
			if doc.xrefStream != tt.form.XRefStream {
				t.Errorf("update has cross-reference stream = %v, want %v", doc.xrefStream, tt.form.XRefStream)
			}
			if prev, _ := doc.trailer.get("Prev").(int64); prev == 0 {
				t.Errorf("update trailer has no /Prev")
			}
			acro, _ := acroForm(doc)
			if got := acro.get("SigFlags"); got != int64(3) {
				t.Errorf("/SigFlags = %v, want 3", got)
			}

			attrs, ts := signedAttrs(t, s.contents)
			wantAttrs := map[string]bool{
				"contentType":       true,
				"messageDigest":     true,
				"signingCertV2":     true,
				"signingTime":       tt.wantSub == SubFilterPKCS7,
				"revocationArchive": len(o.CRLs) > 0,
			}
			gotAttrs := map[string]bool{
				"contentType":       hasOID(attrs, oidAttrContentType),
				"messageDigest":     hasOID(attrs, oidAttrMessageDigest),
				"signingCertV2":     hasOID(attrs, OIDSigningCertificateV2),
				"signingTime":       hasOID(attrs, oidAttrSigningTime),
				"revocationArchive": hasOID(attrs, OIDAdbeRevocationInfoArchival),
			}
			if diff := cmp.Diff(wantAttrs, gotAttrs); diff != "" {
				t.Errorf("signed attributes (-want +got):\n%s", diff)
			}
			if ts != (o.Timestamper != nil) {
				t.Errorf("signature time-stamp present = %v, want %v", ts, o.Timestamper != nil)
			}

			want := map[string]string{wantField: ""}
			if wantField != SignatureFieldName {
				want[SignatureFieldName] = ""
			}
			for k, v := range sampleValues {
				want[k] = v
			}
			if diff := cmp.Diff(want, formValues(t, signed)); diff != "" {
				t.Errorf("form values after signing (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSignChain(t *testing.T) {
	f := newFixture(t, testpki.RSA2048)
	signed, err := Sign(mustForm(t, FormOptions{}), f.signOptions())
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	s := readSignatures(t, signed)[0]
	p7, err := pkcs7.Parse(s.contents)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range p7.Certificates {
		got = append(got, c.Subject.CommonName)
	}
	want := []string{f.holder.Cert.Subject.CommonName}
	for _, c := range f.holder.Chain {
		want = append(want, c.Subject.CommonName)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("embedded certificates (-want +got):\n%s", diff)
	}
	if haveTool(t, "openssl") {
		if out, err := opensslVerify(t, s.contents, s.covered(signed), f.pki.RootsPEM()); err != nil {
			t.Errorf("openssl cms -verify -CAfile root: %v\n%s", err, out)
		}
	}
}

func TestSignTwice(t *testing.T) {
	f := newFixture(t, testpki.RSA2048)
	o := f.signOptions()
	for _, xs := range []bool{false, true} {
		once, err := Sign(mustForm(t, FormOptions{XRefStream: xs}), o)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		if _, err := Sign(once, o); !errors.Is(err, ErrAlreadySigned) {
			t.Errorf("signing a signed field: error %v, want ErrAlreadySigned", err)
		}
		o2 := o
		o2.FieldName = "Signature2"
		o2.SubFilter = SubFilterCAdES
		twice, err := Sign(once, o2)
		if err != nil {
			t.Fatalf("second Sign: %v", err)
		}
		checkGenuine(t, twice, false)
		if v := pdfsigValidations(t, twice); v != nil && !cmp.Equal(v, []string{pdfsigValid, pdfsigValid}) {
			t.Errorf("pdfsig = %q, want two valid signatures", v)
		}
		if sigs := readSignatures(t, twice); len(sigs) != 2 {
			t.Errorf("%d signatures, want 2", len(sigs))
		}
	}
}

func TestSignErrors(t *testing.T) {
	f := newFixture(t, testpki.ECDSAP256)
	form := mustForm(t, FormOptions{})
	tests := []struct {
		name string
		opts func(o *SignOptions)
		want string
	}{
		{"fail/no-key", func(o *SignOptions) { o.Key = nil }, "no signing key"},
		{"fail/no-cert", func(o *SignOptions) { o.Cert = nil }, "no signer certificate"},
		{"fail/sub-filter", func(o *SignOptions) { o.SubFilter = "adbe.x509.rsa_sha1" }, "unsupported sub-filter"},
		{"fail/pss-with-ecdsa", func(o *SignOptions) { o.PSS = true }, "PSS needs an RSA key"},
		{"fail/contents-too-small", func(o *SignOptions) { o.ContentsSize = 100 }, "does not fit"},
		{"fail/not-a-signature-field", func(o *SignOptions) { o.FieldName = "raison" }, "not a signature field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := f.signOptions()
			tt.opts(&o)
			_, err := Sign(form, o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Sign error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestAddDSS(t *testing.T) {
	f := newFixture(t, testpki.RSA2048)
	crl, err := f.pki.CRL(f.pki.Intermediate)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.pki.OCSPResponse(f.holder.Cert)
	if err != nil {
		t.Fatal(err)
	}
	certs := [][]byte{f.holder.Cert.Raw, f.holder.Chain[0].Raw}
	for _, xs := range []bool{false, true} {
		signed, err := Sign(mustForm(t, FormOptions{XRefStream: xs}), f.signOptions())
		if err != nil {
			t.Fatal(err)
		}
		ltv, err := AddDSS(signed, certs, [][]byte{crl}, [][]byte{resp})
		if err != nil {
			t.Fatalf("AddDSS: %v", err)
		}
		qpdfCheck(t, ltv)
		if v := pdfsigValidations(t, ltv); v != nil && !cmp.Equal(v, []string{pdfsigValid}) {
			t.Errorf("pdfsig = %q, want the signature still valid", v)
		}
		doc, err := parseDocument(ltv)
		if err != nil {
			t.Fatal(err)
		}
		catalog, _ := doc.dict(doc.trailer.get("Root"))
		dss, err := doc.dict(catalog.get("DSS"))
		if err != nil {
			t.Fatalf("/DSS: %v", err)
		}
		for key, want := range map[pdfName][][]byte{"Certs": certs, "CRLs": {crl}, "OCSPs": {resp}} {
			arr, _ := dss.get(key).(pdfArray)
			var got [][]byte
			for _, r := range arr {
				s, _ := doc.resolve(r)
				got = append(got, s.(*pdfStream).data)
			}
			if !cmp.Equal(got, want) {
				t.Errorf("/DSS /%s holds %d streams, not the %d given", key, len(got), len(want))
			}
		}
		// Only the catalog is redefined; everything else is new.
		old, _ := parseDocument(signed)
		redefined := 0
		for n, e := range doc.entries {
			if oe, ok := old.entries[n]; ok && oe != e {
				redefined++
				if root := doc.trailer.get("Root").(pdfRef); n != root.num {
					t.Errorf("AddDSS redefined object %d, not the catalog", n)
				}
			}
		}
		if redefined != 1 {
			t.Errorf("AddDSS redefined %d objects, want 1 (the catalog)", redefined)
		}
		// A second store keeps the first one's content.
		more, err := AddDSS(ltv, nil, [][]byte{crl}, nil)
		if err != nil {
			t.Fatal(err)
		}
		doc, _ = parseDocument(more)
		catalog, _ = doc.dict(doc.trailer.get("Root"))
		dss, _ = doc.dict(catalog.get("DSS"))
		if got := len(dss.get("CRLs").(pdfArray)); got != 2 {
			t.Errorf("second AddDSS: %d CRLs, want 2", got)
		}
		if got := len(dss.get("Certs").(pdfArray)); got != 2 {
			t.Errorf("second AddDSS: %d certificates, want 2", got)
		}
	}
}

func TestAddDocTimestamp(t *testing.T) {
	f := newFixture(t, testpki.RSA2048)
	for _, xs := range []bool{false, true} {
		signed, err := Sign(mustForm(t, FormOptions{XRefStream: xs}), f.signOptions())
		if err != nil {
			t.Fatal(err)
		}
		stamped, err := AddDocTimestamp(signed, f.timestamper)
		if err != nil {
			t.Fatalf("AddDocTimestamp: %v", err)
		}
		qpdfCheck(t, stamped)
		sigs := readSignatures(t, stamped)
		if len(sigs) != 2 {
			t.Fatalf("%d signatures, want 2", len(sigs))
		}
		ts := sigs[1]
		if ts.field != "DocTimeStamp1" || ts.dict.get("Type") != pdfName("DocTimeStamp") || ts.dict.get("SubFilter") != pdfName(SubFilterRFC3161) {
			t.Errorf("time-stamp field %q /Type %v /SubFilter %v, want DocTimeStamp1, DocTimeStamp, ETSI.RFC3161",
				ts.field, ts.dict.get("Type"), ts.dict.get("SubFilter"))
		}
		if want := []int64{0, int64(ts.contentsStart), int64(ts.contentsEnd), int64(len(stamped) - ts.contentsEnd)}; !cmp.Equal(ts.byteRange, want) {
			t.Errorf("ByteRange = %v, want %v", ts.byteRange, want)
		}
		p7, err := pkcs7.Parse(ts.contents)
		if err != nil {
			t.Fatalf("parsing the token: %v", err)
		}
		if err := p7.Verify(); err != nil {
			t.Errorf("token signature: %v", err)
		}
		var info struct {
			Version int
			Policy  asn1.ObjectIdentifier
			Imprint struct {
				Alg    asn1.RawValue
				Digest []byte
			}
		}
		if _, err := asn1.Unmarshal(p7.Content, &info); err != nil {
			t.Fatalf("parsing TSTInfo: %v", err)
		}
		if want := sha256.Sum256(ts.covered(stamped)); !bytes.Equal(info.Imprint.Digest, want[:]) {
			t.Errorf("message imprint is not the digest of the covered bytes")
		}
		if v := pdfsigValidations(t, stamped); v != nil && (len(v) == 0 || v[0] != pdfsigValid) {
			t.Errorf("pdfsig = %q, want the first signature valid", v)
		}
		// A second time-stamp gets its own field.
		again, err := AddDocTimestamp(stamped, f.timestamper)
		if err != nil {
			t.Fatal(err)
		}
		if sigs := readSignatures(t, again); len(sigs) != 3 || sigs[2].field != "DocTimeStamp2" {
			t.Errorf("second time-stamp: %d signatures, last %q", len(sigs), sigs[len(sigs)-1].field)
		}
	}
}

func TestSignWithPdfsign(t *testing.T) {
	f := newFixture(t, testpki.RSA2048)
	signed, err := signWithPdfsign(Plain("Demande de révocation", "signée par pdfsign"), f.signOptions())
	if err != nil {
		t.Fatalf("SignWithPdfsign: %v", err)
	}
	qpdfCheck(t, signed)
	if v := pdfsigValidations(t, signed); v != nil && !cmp.Equal(v, []string{pdfsigValid}) {
		t.Errorf("pdfsig = %q, want one valid signature", v)
	}
	sigs := readSignatures(t, signed)
	if len(sigs) != 1 {
		t.Fatalf("%d signatures, want 1", len(sigs))
	}
	s := sigs[0]
	if err := verifyPKCS7(s.contents, s.covered(signed)); err != nil {
		t.Errorf("pkcs7 Verify: %v", err)
	}
	if haveTool(t, "openssl") {
		if out, err := opensslVerify(t, s.contents, s.covered(signed), f.pki.RootsPEM()); err != nil {
			t.Errorf("openssl cms -verify: %v\n%s", err, out)
		}
	}
	// The documented limitation: pdfsign/sign drops the form's fields.
	fromForm, err := signWithPdfsign(mustForm(t, FormOptions{XRefStream: true}), f.signOptions())
	if err != nil {
		t.Fatalf("SignWithPdfsign(form): %v", err)
	}
	if v := pdfsigValidations(t, fromForm); v != nil && !cmp.Equal(v, []string{pdfsigValid}) {
		t.Errorf("pdfsig on the signed form = %q, want one valid signature", v)
	}
	if got, ok := formValues(t, fromForm)["titulaire_nom"]; ok {
		t.Errorf("pdfsign kept the form field titulaire_nom = %q; update pdfsignproducer.Sign's doc", got)
	}
}

// TestSignerCertificateIsFirst guards the order verifiers may rely on.
func TestSignerCertificateIsFirst(t *testing.T) {
	f := newFixture(t, testpki.RSA2048)
	extra, err := f.pki.IssueHolder(testpki.HolderOptions{Surname: "Autre"})
	if err != nil {
		t.Fatal(err)
	}
	o := f.signOptions()
	o.ExtraCerts = []*x509.Certificate{extra.Cert}
	signed, err := Sign(mustForm(t, FormOptions{}), o)
	if err != nil {
		t.Fatal(err)
	}
	p7, err := pkcs7.Parse(readSignatures(t, signed)[0].contents)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p7.Certificates); n != len(f.holder.Chain)+2 {
		t.Errorf("%d certificates embedded, want %d", n, len(f.holder.Chain)+2)
	}
	if !p7.Certificates[0].Equal(f.holder.Cert) || !p7.Certificates[len(p7.Certificates)-1].Equal(extra.Cert) {
		t.Errorf("certificates not in the order signer, chain, extra")
	}
}

func signWithPdfsign(in []byte, o SignOptions) ([]byte, error) {
	return pdfsignproducer.Sign(in, o.Key, o.Cert, o.Chain, o.SigningTime)
}
