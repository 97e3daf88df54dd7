package cades

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"
)

var testContent = []byte("%PDF-1.7\n... the ByteRange bytes of a signed revision ...\n%%EOF\n")

func TestVerify(t *testing.T) {
	p := pki(t)
	content := testContent
	tsOK := func(sig []byte) []byte { return buildToken(t, tsSpec{tsa: p.tsa}, sig) }

	tests := []struct {
		name     string
		spec     signSpec
		opts     Options
		mutate   func([]byte) []byte // applied to the built CMS
		content  []byte              // verified content; default content
		want     Reason              // "" for success
		wantAlg  string
		wantESS  string
		wantHash crypto.Hash
	}{
		{name: "ok/rsa", spec: signSpec{signer: p.rsa}, wantAlg: "RSA-PKCS1v15", wantHash: crypto.SHA256},
		{name: "ok/rsa-encryption-oid", spec: signSpec{signer: p.rsa, sigAlgID: oidRSAEncryption}, wantAlg: "RSA-PKCS1v15"},
		{name: "ok/rsa-sha512", spec: signSpec{signer: p.rsa, hash: crypto.SHA512}, wantAlg: "RSA-PKCS1v15", wantHash: crypto.SHA512},
		{name: "ok/ecdsa", spec: signSpec{signer: p.ec}, wantAlg: "ECDSA"},
		{name: "ok/ecdsa-sha384", spec: signSpec{signer: p.ec, hash: crypto.SHA384}, wantAlg: "ECDSA", wantHash: crypto.SHA384},
		{name: "ok/ecdsa-ecpublickey-oid", spec: signSpec{signer: p.ec, sigAlgID: oidECPublicKey}, wantAlg: "ECDSA"},
		{name: "ok/pss", spec: signSpec{signer: p.rsa, scheme: "pss"}, wantAlg: "RSASSA-PSS"},
		{name: "ok/pss-sha384-salt-0", spec: signSpec{signer: p.rsa, scheme: "pss", hash: crypto.SHA384, pssSalt: -1}, wantAlg: "RSASSA-PSS"},
		{name: "ok/cades-with-ess-v2", spec: signSpec{signer: p.rsa, essV2: p.rsa.cert}, opts: Options{RequireSigningCertificate: true}, wantESS: "v2"},
		{name: "ok/ess-v2-with-issuer-serial", spec: signSpec{signer: p.ec, essV2: p.ec.cert, essV2Serial: p.ec.cert.SerialNumber}, opts: Options{RequireSigningCertificate: true}, wantESS: "v2"},
		{name: "ok/ess-v2-sha512", spec: signSpec{signer: p.ec, essV2: p.ec.cert, essV2Hash: crypto.SHA512}, opts: Options{RequireSigningCertificate: true}, wantESS: "v2"},
		{name: "ok/ess-v1", spec: signSpec{signer: p.rsa, essV1: p.rsa.cert}, opts: Options{RequireSigningCertificate: true}, wantESS: "v1"},
		{name: "ok/ess-v1-and-v2", spec: signSpec{signer: p.rsa, essV1: p.rsa.cert, essV2: p.rsa.cert}, opts: Options{RequireSigningCertificate: true}, wantESS: "v2"},
		{name: "ok/ess-optional-absent", spec: signSpec{signer: p.rsa}, wantESS: ""},
		{name: "ok/ski-sid", spec: signSpec{signer: p.ec, skiSID: true}, wantAlg: "ECDSA"},
		{name: "ok/signing-time-outside-validity", spec: signSpec{signer: p.rsa, signingTime: testNow.AddDate(3, 0, 0)}},
		{name: "ok/unsorted-signed-attributes", spec: signSpec{signer: p.rsa, essV2: p.rsa.cert, signingTime: testNow, unsortedAttrs: true}, wantESS: "v2"},
		{name: "ok/ber", spec: signSpec{signer: p.rsa, essV2: p.rsa.cert, signingTime: testNow, timestamp: tsOK}, mutate: func(b []byte) []byte { return toBER(t, b) }, wantESS: "v2"},
		{name: "ok/zero-padding", spec: signSpec{signer: p.ec}, mutate: func(b []byte) []byte { return append(b, make([]byte, 100)...) }},
		{name: "ok/duplicate-embedded-certificate", spec: signSpec{signer: p.ec, certs: []*x509.Certificate{p.ec.cert, p.ec.cert}}},

		{name: "fail/digest-mismatch", spec: signSpec{signer: p.rsa}, content: append([]byte("x"), content...), want: DigestMismatch},
		{name: "fail/bad-signature", spec: signSpec{signer: p.rsa, tamperSig: true}, want: BadSignature},
		{name: "fail/bad-signature-ecdsa", spec: signSpec{signer: p.ec, tamperSig: true}, want: BadSignature},
		{name: "fail/bad-signature-pss", spec: signSpec{signer: p.rsa, scheme: "pss", tamperSig: true}, want: BadSignature},
		{
			// The sid names a genuine embedded certificate, and ESS names
			// it too, but another key made the signature.
			name: "fail/signer-swapped",
			spec: signSpec{signer: p.other, sidCert: p.rsa.cert, essV2: p.rsa.cert,
				certs: []*x509.Certificate{p.rsa.cert, p.other.cert, p.root.cert}},
			opts: Options{RequireSigningCertificate: true},
			want: BadSignature,
		},
		{
			name: "fail/ambiguous-sid",
			spec: signSpec{signer: p.twinOfRSA, certs: []*x509.Certificate{p.rsa.cert, p.twinOfRSA.cert}},
			want: Malformed,
		},
		{name: "fail/ess-mismatch", spec: signSpec{signer: p.rsa, essV2: p.other.cert}, opts: Options{RequireSigningCertificate: true}, want: SigningCertMismatch},
		{name: "fail/ess-mismatch-when-optional", spec: signSpec{signer: p.rsa, essV2: p.other.cert}, want: SigningCertMismatch},
		{name: "fail/ess-v1-mismatch", spec: signSpec{signer: p.rsa, essV1: p.other.cert}, want: SigningCertMismatch},
		{name: "fail/ess-issuer-serial-mismatch", spec: signSpec{signer: p.rsa, essV2: p.rsa.cert, essV2Serial: big.NewInt(7)}, want: SigningCertMismatch},
		{name: "fail/ess-missing-when-required", spec: signSpec{signer: p.rsa}, opts: Options{RequireSigningCertificate: true}, want: SigningCertMismatch},
		{name: "fail/two-signers", spec: signSpec{signer: p.rsa, twoSigners: true}, want: SignerCount},
		{name: "fail/not-detached", spec: signSpec{signer: p.rsa, encapsulate: content}, want: NotDetached},
		{name: "fail/no-signer-certificate", spec: signSpec{signer: p.rsa, certs: []*x509.Certificate{p.root.cert}}, want: NoSignerCertificate},
		{name: "fail/no-certificates", spec: signSpec{signer: p.rsa, noCerts: true}, want: NoSignerCertificate},
		{name: "fail/sha1-digest", spec: signSpec{signer: p.rsa, hash: crypto.SHA1}, want: UnsupportedAlgorithm},
		{name: "fail/md5-digest", spec: signSpec{signer: p.rsa, digestID: asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}}, want: UnsupportedAlgorithm},
		{name: "fail/unknown-signature-algorithm", spec: signSpec{signer: p.rsa, sigAlgID: asn1.ObjectIdentifier{1, 2, 3}}, want: UnsupportedAlgorithm},
		{name: "fail/signature-hash-differs-from-digest", spec: signSpec{signer: p.rsa, sigAlgID: oidSHA512WithRSA}, want: UnsupportedAlgorithm},
		{name: "fail/pss-mgf-hash-differs", spec: signSpec{signer: p.rsa, scheme: "pss", mgfHash: crypto.SHA512}, want: UnsupportedAlgorithm},
		{name: "fail/rsa-algorithm-with-ecdsa-key", spec: signSpec{signer: p.ec, sigAlgID: oidRSAEncryption}, want: BadSignature},
		{name: "fail/no-signed-attributes", spec: signSpec{signer: p.rsa, noSignedAttrs: true}, want: Malformed},
		{name: "fail/no-content-type-attribute", spec: signSpec{signer: p.rsa, noContentType: true}, want: Malformed},
		{name: "fail/content-type-attribute-not-data", spec: signSpec{signer: p.rsa, contentType: oidTSTInfo}, want: Malformed},
		{name: "fail/econtent-type-not-data", spec: signSpec{signer: p.rsa, eContentType: oidTSTInfo}, want: Malformed},
		{
			name: "fail/duplicate-message-digest",
			spec: signSpec{signer: p.rsa, extraSigned: [][]byte{encodeAttr(oidAttrMessageDigest, mustMarshal(make([]byte, 32)))}},
			want: Malformed,
		},
		{name: "fail/empty-message-digest", spec: signSpec{signer: p.rsa, messageDigest: []byte{}}, want: DigestMismatch},
		{name: "fail/garbage", mutate: func([]byte) []byte { return []byte("this is not a CMS structure at all") }, want: Malformed},
		{name: "fail/empty", mutate: func([]byte) []byte { return nil }, want: Malformed},
		{name: "fail/truncated", spec: signSpec{signer: p.rsa}, mutate: func(b []byte) []byte { return b[:len(b)/2] }, want: Malformed},
		{name: "fail/truncated-ber", spec: signSpec{signer: p.rsa}, mutate: func(b []byte) []byte { ber := toBER(t, b); return ber[:len(ber)-2] }, want: Malformed},
		{name: "fail/trailing-garbage", spec: signSpec{signer: p.rsa}, mutate: func(b []byte) []byte { return append(b, 1, 2, 3) }, want: Malformed},
		{
			name: "fail/not-signed-data",
			mutate: func([]byte) []byte {
				return mustMarshal(struct {
					ContentType asn1.ObjectIdentifier
					Content     asn1.RawValue
				}{oidData, explicit(0, mustMarshal([]byte("x")))})
			},
			want: Malformed,
		},
		{
			name:   "fail/too-large",
			mutate: func([]byte) []byte { return make([]byte, maxSignatureBytes+1) },
			want:   Malformed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cms []byte
			if tt.spec.signer.cert != nil {
				tt.spec.content = content
				cms = build(t, tt.spec)
			}
			if tt.mutate != nil {
				cms = tt.mutate(cms)
			}
			c := content
			if tt.content != nil {
				c = tt.content
			}
			res, err := Verify(cms, c, tt.opts)
			if got := ReasonOf(err); got != tt.want {
				t.Fatalf("Verify() reason = %q (err %v), want %q", got, err, tt.want)
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("Verify() error %T is not *Error", err)
				}
				if res != nil && res.Signer != nil {
					t.Errorf("Verify() failed but Result.Signer = %q, want nil", res.Signer.Subject)
				}
				return
			}
			if res.Signer == nil || !bytes.Equal(res.Signer.Raw, tt.spec.signer.cert.Raw) {
				t.Errorf("Verify() Signer = %v, want %q", res.Signer, tt.spec.signer.cert.Subject)
			}
			if tt.wantAlg != "" && res.SignatureAlgorithm != tt.wantAlg {
				t.Errorf("Verify() SignatureAlgorithm = %q, want %q", res.SignatureAlgorithm, tt.wantAlg)
			}
			if tt.wantHash != 0 && res.Digest != tt.wantHash {
				t.Errorf("Verify() Digest = %v, want %v", res.Digest, tt.wantHash)
			}
			if res.SigningCertificateAttr != tt.wantESS {
				t.Errorf("Verify() SigningCertificateAttr = %q, want %q", res.SigningCertificateAttr, tt.wantESS)
			}
			if !tt.spec.signingTime.IsZero() && !res.SigningTime.Equal(tt.spec.signingTime) {
				t.Errorf("Verify() SigningTime = %v, want %v", res.SigningTime, tt.spec.signingTime)
			}
			if tt.spec.timestamp == nil && res.Timestamp != nil {
				t.Errorf("Verify() Timestamp = %+v, want nil", res.Timestamp)
			}
			if tt.spec.timestamp != nil && (res.Timestamp == nil || res.Timestamp.Err != nil) {
				t.Errorf("Verify() Timestamp = %+v, want a valid one", res.Timestamp)
			}
		})
	}
}

func TestVerifyClaimedSignerOnFailure(t *testing.T) {
	p := pki(t)
	cms := build(t, signSpec{signer: p.other, sidCert: p.rsa.cert, certs: []*x509.Certificate{p.rsa.cert, p.other.cert}, content: testContent})
	res, err := Verify(cms, testContent, Options{})
	if ReasonOf(err) != BadSignature {
		t.Fatalf("Verify() = %v, want %s", err, BadSignature)
	}
	if res == nil || res.Claimed == nil || !bytes.Equal(res.Claimed.Raw, p.rsa.cert.Raw) {
		t.Fatalf("Verify() Claimed = %v, want the certificate the sid names", res)
	}
	if res.Signer != nil {
		t.Errorf("Verify() Signer = %q, want nil", res.Signer.Subject)
	}
	if len(res.Certificates) != 2 {
		t.Errorf("Verify() Certificates = %d, want 2", len(res.Certificates))
	}
}

func TestSignatureTimestamp(t *testing.T) {
	p := pki(t)
	genTime := time.Date(2026, 3, 1, 12, 0, 1, 0, time.UTC)
	tests := []struct {
		name string
		ts   func(sig []byte) []byte
		want Reason
	}{
		{name: "ok", ts: func(sig []byte) []byte { return buildToken(t, tsSpec{tsa: p.tsa, genTime: genTime}, sig) }},
		{name: "fail/wrong-imprint", ts: func(sig []byte) []byte { return buildToken(t, tsSpec{tsa: p.tsa}, append(sig, 0)) }, want: ImprintMismatch},
		{name: "fail/not-a-tsa", ts: func(sig []byte) []byte { return buildToken(t, tsSpec{tsa: p.tsaNoEKU}, sig) }, want: NotTimestampingCert},
		{name: "fail/bad-signature", ts: func(sig []byte) []byte { return buildToken(t, tsSpec{tsa: p.tsa, tamperSig: true}, sig) }, want: BadSignature},
		{name: "fail/no-ess", ts: func(sig []byte) []byte { return buildToken(t, tsSpec{tsa: p.tsa, noESS: true}, sig) }, want: SigningCertMismatch},
		{name: "fail/garbage", ts: func([]byte) []byte { return mustMarshal([]byte("garbage")) }, want: Malformed},
		{
			name: "fail/detached-token",
			ts: func(sig []byte) []byte {
				return build(t, signSpec{signer: p.tsa, content: sig, contentType: oidTSTInfo, eContentType: oidTSTInfo, essV2: p.tsa.cert})
			},
			want: Malformed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cms := build(t, signSpec{signer: p.rsa, content: testContent, timestamp: tt.ts})
			res, err := Verify(cms, testContent, Options{})
			if err != nil {
				t.Fatalf("Verify() = %v; a bad timestamp must not fail the signature", err)
			}
			ts := res.Timestamp
			if ts == nil {
				t.Fatal("Verify() Timestamp = nil, want one")
			}
			if got := ReasonOf(ts.Err); got != tt.want {
				t.Fatalf("Timestamp.Err reason = %q (%v), want %q", got, ts.Err, tt.want)
			}
			if tt.want != "" {
				if ts.Signer != nil {
					t.Errorf("Timestamp.Signer = %q on failure, want nil", ts.Signer.Subject)
				}
				return
			}
			if !ts.GenTime.Equal(genTime) {
				t.Errorf("Timestamp.GenTime = %v, want %v", ts.GenTime, genTime)
			}
			if ts.Signer == nil || !bytes.Equal(ts.Signer.Raw, p.tsa.cert.Raw) {
				t.Errorf("Timestamp.Signer = %v, want the TSA", ts.Signer)
			}
			if len(ts.Certificates) != 2 {
				t.Errorf("Timestamp.Certificates = %d, want 2", len(ts.Certificates))
			}
		})
	}
}

func TestVerifyTimestampTokenDocument(t *testing.T) {
	p := pki(t)
	doc := bytes.Repeat([]byte("document bytes "), 1000)
	token := buildToken(t, tsSpec{tsa: p.tsa}, doc)
	ts, err := VerifyTimestampToken(token, doc)
	if err != nil {
		t.Fatalf("VerifyTimestampToken() = %v, want nil", err)
	}
	if !ts.GenTime.Equal(testNow) || ts.Signer == nil {
		t.Errorf("VerifyTimestampToken() = %+v, want genTime %v and a signer", ts, testNow)
	}
	ts, err = VerifyTimestampToken(token, doc[1:])
	if ReasonOf(err) != ImprintMismatch || ts == nil || ts.Err != err {
		t.Errorf("VerifyTimestampToken(other data) = %+v, %v, want %s in both", ts, err, ImprintMismatch)
	}
	ts, err = VerifyTimestampToken(toBER(t, token), doc)
	if err != nil || ts.Signer == nil {
		t.Errorf("VerifyTimestampToken(BER) = %v, want nil", err)
	}
}

func TestEmbeddedRevocationValues(t *testing.T) {
	p := pki(t)
	crl1 := mustMarshal(struct{ A, B int }{1, 2}) // any SEQUENCE: not parsed here
	crl2 := mustMarshal(struct{ A, B int }{3, 4})
	ocsp1 := mustMarshal(struct{ A int }{5})
	ocsp2 := mustMarshal(struct{ A int }{6})
	cms := build(t, signSpec{signer: p.ec, content: testContent,
		cmsCRLs: [][]byte{crl1}, cmsOCSPs: [][]byte{ocsp1},
		adobeCRLs: [][]byte{crl2}, adobeOCSPs: [][]byte{ocsp2}})
	res, err := Verify(cms, testContent, Options{})
	if err != nil {
		t.Fatalf("Verify() = %v", err)
	}
	if want := [][]byte{crl1, crl2}; !equalBytes(res.CRLs, want) {
		t.Errorf("Verify() CRLs = %x, want %x", res.CRLs, want)
	}
	if want := [][]byte{ocsp1, ocsp2}; !equalBytes(res.OCSPs, want) {
		t.Errorf("Verify() OCSPs = %x, want %x", res.OCSPs, want)
	}
}

func equalBytes(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// BenchmarkVerify measures a signature over a 5 MB revision, which is
// dominated by the one pass of SHA-256 over the content.
func BenchmarkVerify(b *testing.B) {
	p := pki(b)
	content := bytes.Repeat([]byte{'x'}, 5<<20)
	cms := build(b, signSpec{signer: p.ec, content: content, essV2: p.ec.cert})
	b.SetBytes(int64(len(content)))
	for b.Loop() {
		if _, err := Verify(cms, content, Options{RequireSigningCertificate: true}); err != nil {
			b.Fatal(err)
		}
	}
}
