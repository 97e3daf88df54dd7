package testpki

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"go.mozilla.org/pkcs7"
	"golang.org/x/crypto/ocsp"
)

var formDigest = sha256.Sum256([]byte("%PDF-1.7 formulaire signé"))

func TestTimestamp(t *testing.T) {
	p := newPKI(t, Options{Now: testNow, NoServer: true})
	at := testNow.Add(-90 * time.Minute)
	tok, err := p.Timestamp(formDigest[:], crypto.SHA256, at)
	if err != nil {
		t.Fatalf("Timestamp() error = %v", err)
	}
	p7, err := pkcs7.Parse(tok)
	if err != nil {
		t.Fatalf("pkcs7.Parse() error = %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.Root.Cert)
	if err := p7.VerifyWithChain(roots); err != nil {
		t.Errorf("VerifyWithChain(root) error = %v", err)
	}
	if got := p7.GetOnlySigner(); got == nil || !got.Equal(p.TSA.Cert) {
		t.Errorf("signer is %v, want the TSA certificate", got)
	}
	var signingTime time.Time
	if err := p7.UnmarshalSignedAttribute(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}, &signingTime); err != nil || !signingTime.Equal(at) {
		t.Errorf("signingTime = %v (%v), want %v", signingTime, err, at)
	}
	var ess struct {
		Certs []struct {
			CertHash     []byte
			IssuerSerial struct {
				Issuer []asn1.RawValue
				Serial *big.Int
			}
		}
	}
	if err := p7.UnmarshalSignedAttribute(oidAttrSigningCertV2, &ess); err != nil {
		t.Fatalf("signing-certificate-v2 attribute: %v", err)
	}
	if h := sha256.Sum256(p.TSA.Cert.Raw); len(ess.Certs) != 1 || !bytes.Equal(ess.Certs[0].CertHash, h[:]) {
		t.Errorf("ESS certs = %+v, want one with the TSA certificate's SHA-256 %x", ess.Certs, h)
	} else if is := ess.Certs[0].IssuerSerial; is.Serial.Cmp(p.TSA.Cert.SerialNumber) != 0 || len(is.Issuer) != 1 || !bytes.Equal(is.Issuer[0].Bytes, p.TSA.Cert.RawIssuer) {
		t.Errorf("ESS issuerSerial = %+v, want the TSA's issuer and serial", is)
	}

	// TSTInfo read by an independent parser.
	ts, err := timestamp.Parse(tok)
	if err != nil {
		t.Fatalf("timestamp.Parse() error = %v", err)
	}
	if !bytes.Equal(ts.HashedMessage, formDigest[:]) || ts.HashAlgorithm != crypto.SHA256 {
		t.Errorf("messageImprint = %v %x, want SHA-256 %x", ts.HashAlgorithm, ts.HashedMessage, formDigest)
	}
	if !ts.Time.Equal(at) || ts.Accuracy != time.Second || !ts.Policy.Equal(TSAPolicy) {
		t.Errorf("genTime %v accuracy %v policy %v, want %v 1s %v", ts.Time, ts.Accuracy, ts.Policy, at, TSAPolicy)
	}
}

func TestTimestampWith(t *testing.T) {
	p := newPKI(t, Options{Now: testNow, NoServer: true})
	holder, err := p.IssueHolder(jeanne())
	if err != nil {
		t.Fatal(err)
	}
	sha512Digest := sha512.Sum512([]byte("x"))
	sha1Digest := sha1.Sum([]byte("x"))
	tests := []struct {
		name    string
		opts    TimestampOptions
		check   func(*testing.T, *pkcs7.PKCS7)
		wantErr error
	}{
		{
			name: "ok/ess-v1",
			opts: TimestampOptions{Digest: formDigest[:], ESS: ESSv1},
			check: func(t *testing.T, p7 *pkcs7.PKCS7) {
				var v1 asn1.RawValue
				if err := p7.UnmarshalSignedAttribute(oidAttrSigningCert, &v1); err != nil {
					t.Errorf("signing-certificate attribute: %v", err)
				}
				if err := p7.UnmarshalSignedAttribute(oidAttrSigningCertV2, &v1); err == nil {
					t.Errorf("signing-certificate-v2 present, want only v1")
				}
			},
		},
		{
			name: "ok/ess-none",
			opts: TimestampOptions{Digest: formDigest[:], ESS: ESSNone},
			check: func(t *testing.T, p7 *pkcs7.PKCS7) {
				var v asn1.RawValue
				if p7.UnmarshalSignedAttribute(oidAttrSigningCert, &v) == nil || p7.UnmarshalSignedAttribute(oidAttrSigningCertV2, &v) == nil {
					t.Errorf("an ESS attribute is present, want none")
				}
			},
		},
		{
			name: "ok/no-certificates",
			opts: TimestampOptions{Digest: formDigest[:], NoCertificates: true},
			check: func(t *testing.T, p7 *pkcs7.PKCS7) {
				if len(p7.Certificates) != 0 {
					t.Errorf("token carries %d certificates, want 0", len(p7.Certificates))
				}
				p7.Certificates = []*x509.Certificate{p.TSA.Cert}
				if err := p7.Verify(); err != nil {
					t.Errorf("Verify() with the TSA certificate supplied: %v", err)
				}
			},
		},
		{
			name: "ok/holder-signer-sha512-nonce",
			opts: TimestampOptions{Digest: sha512Digest[:], Hash: crypto.SHA512, Signer: holder, Nonce: big.NewInt(7)},
			check: func(t *testing.T, p7 *pkcs7.PKCS7) {
				if got := p7.GetOnlySigner(); got == nil || !got.Equal(holder.Cert) {
					t.Errorf("signer = %v, want the holder", got)
				}
				var info struct {
					Version        int
					Policy         asn1.ObjectIdentifier
					MessageImprint struct {
						Alg    pkix.AlgorithmIdentifier
						Digest []byte
					}
					Serial  *big.Int
					GenTime time.Time
					Rest    asn1.RawContent `asn1:"optional"`
				}
				if _, err := asn1.Unmarshal(p7.Content, &info); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(info.MessageImprint.Digest, sha512Digest[:]) || !info.GenTime.Equal(testNow) {
					t.Errorf("imprint %x genTime %v, want %x at %v", info.MessageImprint.Digest, info.GenTime, sha512Digest, testNow)
				}
			},
		},
		{name: "fail/digest-length", opts: TimestampOptions{Digest: sha1Digest[:]}, wantErr: errDigestLengthMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := p.TimestampWith(tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("TimestampWith() error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			p7, err := pkcs7.Parse(tok)
			if err != nil {
				t.Fatalf("pkcs7.Parse() error = %v", err)
			}
			if len(p7.Certificates) > 0 {
				if err := p7.Verify(); err != nil {
					t.Errorf("Verify() error = %v", err)
				}
			}
			tt.check(t, p7)
		})
	}
}

func TestTSAServer(t *testing.T) {
	p := newPKI(t, Options{Now: testNow})
	served := testNow.Add(5 * time.Minute)
	p.SetClock(func() time.Time { return served })

	for _, certReq := range []bool{true, false} {
		req, err := timestamp.CreateRequest(bytes.NewReader([]byte("formulaire")), &timestamp.RequestOptions{
			Hash: crypto.SHA256, Certificates: certReq, Nonce: big.NewInt(123456789),
		})
		if err != nil {
			t.Fatal(err)
		}
		der, ct := httpPost(t, p.BaseURL+"/tsa", "application/timestamp-query", req)
		if ct != "application/timestamp-reply" {
			t.Errorf("Content-Type = %q, want application/timestamp-reply", ct)
		}
		ts, err := timestamp.ParseResponse(der)
		if err != nil {
			t.Fatalf("certReq %v: ParseResponse() error = %v", certReq, err)
		}
		want := sha256.Sum256([]byte("formulaire"))
		if !bytes.Equal(ts.HashedMessage, want[:]) || ts.Nonce.Int64() != 123456789 || !ts.Time.Equal(served) {
			t.Errorf("certReq %v: imprint %x nonce %v time %v, want %x 123456789 %v", certReq, ts.HashedMessage, ts.Nonce, ts.Time, want, served)
		}
		if got := len(ts.Certificates) > 0; got != certReq {
			t.Errorf("certReq %v: token carries certificates = %v", certReq, got)
		}
	}
	if got := p.Requests("/tsa"); got != 2 {
		t.Errorf(`Requests("/tsa") = %d, want 2`, got)
	}
}

func TestTSARejections(t *testing.T) {
	p := newPKI(t, Options{Now: testNow, NoServer: true})
	request := func(mutate func(*timeStampReq)) []byte {
		r := timeStampReq{
			Version:        1,
			MessageImprint: messageImprint{HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: hashOIDs[crypto.SHA256]}, HashedMessage: formDigest[:]},
		}
		mutate(&r)
		der, err := asn1.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	tests := []struct {
		name     string
		req      []byte
		wantFail int // failure bit, -1 for granted
	}{
		{"ok/granted", request(func(*timeStampReq) {}), -1},
		{"ok/our-policy", request(func(r *timeStampReq) { r.ReqPolicy = TSAPolicy }), -1},
		{"fail/garbage", []byte("not a request"), failBadDataFormat},
		{"fail/trailing-data", append(request(func(*timeStampReq) {}), 0), failBadDataFormat},
		{"fail/version", request(func(r *timeStampReq) { r.Version = 2 }), failBadRequest},
		{"fail/unknown-hash", request(func(r *timeStampReq) { r.MessageImprint.HashAlgorithm.Algorithm = asn1.ObjectIdentifier{1, 2, 3} }), failBadAlg},
		{"fail/digest-length", request(func(r *timeStampReq) { r.MessageImprint.HashedMessage = formDigest[:20] }), failBadDataFormat},
		{"fail/policy", request(func(r *timeStampReq) { r.ReqPolicy = asn1.ObjectIdentifier{1, 2, 3, 4} }), failUnacceptedPolicy},
		{"fail/extension", request(func(r *timeStampReq) {
			r.Extensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3}, Value: []byte{5, 0}}}
		}), failUnacceptedExtension},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp timeStampResp
			if rest, err := asn1.Unmarshal(p.answerTSA(tt.req), &resp); err != nil || len(rest) > 0 {
				t.Fatalf("response does not parse: %v (%d trailing bytes)", err, len(rest))
			}
			if tt.wantFail < 0 {
				if resp.Status.Status != statusGranted || len(resp.Token.FullBytes) == 0 {
					t.Errorf("status = %d with %d token bytes, want granted with a token", resp.Status.Status, len(resp.Token.FullBytes))
				}
				return
			}
			if resp.Status.Status != statusRejection || resp.Status.FailInfo.At(tt.wantFail) != 1 || resp.Status.FailInfo.BitLength != tt.wantFail+1 {
				t.Errorf("status = %d failInfo %x/%d, want rejection with only bit %d", resp.Status.Status, resp.Status.FailInfo.Bytes, resp.Status.FailInfo.BitLength, tt.wantFail)
			}
		})
	}
}

// requireTool returns the path of an external verifier, skipping the test
// when it is missing, except in CI where a missing tool is a failure.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return path
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOpenSSLAgrees checks tokens, CRLs and OCSP responses with OpenSSL,
// which parses them independently of Go.
func TestOpenSSLAgrees(t *testing.T) {
	openssl := requireTool(t, "openssl")
	p := newPKI(t, Options{Now: time.Now()})
	dir := t.TempDir()
	root := writeFile(t, filepath.Join(dir, "root.pem"), p.RootsPEM())
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := exec.Command(openssl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	t.Run("ok/ts-verify", func(t *testing.T) {
		tok, err := p.Timestamp(formDigest[:], crypto.SHA256, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		in := writeFile(t, filepath.Join(dir, "token.der"), tok)
		if out := run(t, "ts", "-verify", "-token_in", "-in", in, "-digest", hex.EncodeToString(formDigest[:]), "-CAfile", root); !strings.Contains(out, "Verification: OK") {
			t.Errorf("openssl ts -verify = %q, want Verification: OK", out)
		}
	})
	t.Run("ok/pss-cms-verify", func(t *testing.T) {
		o := jeanne()
		o.KeyType = RSAPSS
		h, err := p.IssueHolder(o)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := p.TimestampWith(TimestampOptions{Digest: formDigest[:], Signer: h})
		if err != nil {
			t.Fatal(err)
		}
		in := writeFile(t, filepath.Join(dir, "pss.der"), tok)
		chain := writeFile(t, filepath.Join(dir, "pss-chain.pem"), append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Intermediate.Cert.Raw}), p.RootsPEM()...))
		out := run(t, "cms", "-verify", "-inform", "DER", "-in", in, "-CAfile", chain, "-purpose", "any", "-out", filepath.Join(dir, "tst.der"))
		if !strings.Contains(out, "Verification successful") {
			t.Errorf("openssl cms -verify = %q, want Verification successful", out)
		}
	})
	t.Run("ok/crl-and-ocsp", func(t *testing.T) {
		h, err := p.IssueHolder(jeanne())
		if err != nil {
			t.Fatal(err)
		}
		p.Revoke(h.Cert.SerialNumber, time.Now().Add(-time.Minute), 1)
		crl, err := p.CRL(p.Intermediate)
		if err != nil {
			t.Fatal(err)
		}
		crlPEM := writeFile(t, filepath.Join(dir, "crl.pem"), pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl}))
		chain := writeFile(t, filepath.Join(dir, "chain.pem"), append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Intermediate.Cert.Raw}), p.RootsPEM()...))
		holder := writeFile(t, filepath.Join(dir, "holder.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.Cert.Raw}))
		cmd := exec.Command(openssl, "verify", "-crl_check", "-CRLfile", crlPEM, "-CAfile", chain, holder)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "certificate revoked") {
			t.Errorf("openssl verify -crl_check = %v %q, want certificate revoked", err, out)
		}
		inter := writeFile(t, filepath.Join(dir, "issuer.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Intermediate.Cert.Raw}))
		got := run(t, "ocsp", "-issuer", inter, "-cert", holder, "-url", p.BaseURL+"/ocsp", "-CAfile", chain)
		if !strings.Contains(got, "Response verify OK") || !strings.Contains(got, ": revoked") {
			t.Errorf("openssl ocsp = %q, want a verified revoked answer", got)
		}
	})
}

func FuzzAnswerTSA(f *testing.F) {
	p, err := New(Options{Now: testNow, NoServer: true, CAKeyType: ECDSAP256})
	if err != nil {
		f.Fatal(err)
	}
	req, err := timestamp.CreateRequest(bytes.NewReader([]byte("x")), &timestamp.RequestOptions{Certificates: true, Nonce: big.NewInt(1)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(req)
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		var resp timeStampResp
		if rest, err := asn1.Unmarshal(p.answerTSA(data), &resp); err != nil || len(rest) > 0 {
			t.Fatalf("answer to %x does not parse: %v", data, err)
		}
	})
}

func FuzzAnswerOCSP(f *testing.F) {
	p, err := New(Options{Now: testNow, NoServer: true, CAKeyType: ECDSAP256})
	if err != nil {
		f.Fatal(err)
	}
	h, err := p.IssueHolder(HolderOptions{Surname: "Dupont", KeyType: ECDSAP256})
	if err != nil {
		f.Fatal(err)
	}
	req, err := ocsp.CreateRequest(h.Cert, p.Intermediate.Cert, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(req)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ocsp.ParseResponse(p.answerOCSP(data), nil)
		// Without an issuer, ParseResponse checks no signature, so any
		// error other than an OCSP error status is a malformed answer.
		var re ocsp.ResponseError
		if err != nil && !errors.As(err, &re) {
			t.Fatalf("answer to %x does not parse: %v", data, err)
		}
	})
}
