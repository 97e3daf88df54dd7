package testpki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

func httpGet(t *testing.T, u string) ([]byte, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s status = %s, want 200 OK", u, resp.Status)
	}
	return body, resp.Header.Get("Content-Type")
}

func httpPost(t *testing.T, u, contentType string, body []byte) ([]byte, string) {
	t.Helper()
	resp, err := http.Post(u, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s status = %s, want 200 OK", u, resp.Status)
	}
	return out, resp.Header.Get("Content-Type")
}

func TestCRL(t *testing.T) {
	p := newPKI(t, Options{Now: testNow})
	h, err := p.IssueHolder(jeanne())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.BaseURL, "http://127.0.0.1:") {
		t.Fatalf("BaseURL = %q, want http://127.0.0.1:PORT", p.BaseURL)
	}
	if got, want := h.Cert.CRLDistributionPoints, []string{p.BaseURL + "/crl/intermediate.crl"}; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("CRLDistributionPoints = %q, want %q", got, want)
	}

	fetch := func() *x509.RevocationList {
		t.Helper()
		der, ct := httpGet(t, h.Cert.CRLDistributionPoints[0])
		if ct != "application/pkix-crl" {
			t.Errorf("CRL Content-Type = %q, want application/pkix-crl", ct)
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatalf("ParseRevocationList() error = %v", err)
		}
		if err := crl.CheckSignatureFrom(p.Intermediate.Cert); err != nil {
			t.Errorf("CRL CheckSignatureFrom(intermediate) error = %v", err)
		}
		return crl
	}

	crl := fetch()
	if len(crl.RevokedCertificateEntries) != 0 {
		t.Errorf("CRL before Revoke lists %d entries, want 0", len(crl.RevokedCertificateEntries))
	}
	if want := testNow.Add(-time.Hour); !crl.ThisUpdate.Equal(want) {
		t.Errorf("ThisUpdate = %v, want %v", crl.ThisUpdate, want)
	}
	if want := testNow.Add(7 * 24 * time.Hour); !crl.NextUpdate.Equal(want) {
		t.Errorf("NextUpdate = %v, want %v", crl.NextUpdate, want)
	}

	revokedAt := testNow.Add(-30 * time.Minute)
	const keyCompromise = 1
	p.Revoke(h.Cert.SerialNumber, revokedAt, keyCompromise)
	later := testNow.Add(24 * time.Hour)
	p.SetClock(func() time.Time { return later })
	crl2 := fetch()
	if len(crl2.RevokedCertificateEntries) != 1 {
		t.Fatalf("CRL after Revoke lists %d entries, want 1", len(crl2.RevokedCertificateEntries))
	}
	e := crl2.RevokedCertificateEntries[0]
	if e.SerialNumber.Cmp(h.Cert.SerialNumber) != 0 || !e.RevocationTime.Equal(revokedAt) || e.ReasonCode != keyCompromise {
		t.Errorf("entry = serial %x at %v reason %d, want %x at %v reason %d", e.SerialNumber, e.RevocationTime, e.ReasonCode, h.Cert.SerialNumber, revokedAt, keyCompromise)
	}
	if crl2.Number.Cmp(crl.Number) <= 0 {
		t.Errorf("CRL number %v after %v, want it to grow", crl2.Number, crl.Number)
	}
	if want := later.Add(-time.Hour); !crl2.ThisUpdate.Equal(want) {
		t.Errorf("ThisUpdate after SetClock = %v, want %v", crl2.ThisUpdate, want)
	}

	rootCRL, err := p.CRL(p.Root)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseRevocationList(rootCRL)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(parsed.RevokedCertificateEntries); n != 0 {
		t.Errorf("root CRL lists %d entries, want 0 (the holder is the intermediate's)", n)
	}
	if got := p.Requests("/crl/"); got != 2 {
		t.Errorf(`Requests("/crl/") = %d, want 2`, got)
	}
	if got := p.Requests("/ocsp"); got != 0 {
		t.Errorf(`Requests("/ocsp") = %d, want 0`, got)
	}
}

func TestOCSP(t *testing.T) {
	p := newPKI(t, Options{Now: testNow})
	h, err := p.IssueHolder(jeanne())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h.Cert.OCSPServer, []string{p.BaseURL + "/ocsp"}; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("OCSPServer = %q, want %q", got, want)
	}
	if got, want := h.Cert.IssuingCertificateURL, p.BaseURL+"/ca/intermediate.cer"; len(got) != 1 || got[0] != want {
		t.Fatalf("IssuingCertificateURL = %q, want %q", got, want)
	}
	caDER, _ := httpGet(t, h.Cert.IssuingCertificateURL[0])
	if !bytes.Equal(caDER, p.Intermediate.Cert.Raw) {
		t.Errorf("caIssuers URL served %d bytes, want the intermediate certificate", len(caDER))
	}

	post := func(hash crypto.Hash) *ocsp.Response {
		t.Helper()
		req, err := ocsp.CreateRequest(h.Cert, p.Intermediate.Cert, &ocsp.RequestOptions{Hash: hash})
		if err != nil {
			t.Fatal(err)
		}
		der, ct := httpPost(t, p.BaseURL+"/ocsp", "application/ocsp-request", req)
		if ct != "application/ocsp-response" {
			t.Errorf("OCSP Content-Type = %q, want application/ocsp-response", ct)
		}
		resp, err := ocsp.ParseResponseForCert(der, h.Cert, p.Intermediate.Cert)
		if err != nil {
			t.Fatalf("ParseResponseForCert() error = %v", err)
		}
		return resp
	}
	get := func() *ocsp.Response {
		t.Helper()
		req, err := ocsp.CreateRequest(h.Cert, p.Intermediate.Cert, nil)
		if err != nil {
			t.Fatal(err)
		}
		der, _ := httpGet(t, p.BaseURL+"/ocsp/"+url.PathEscape(base64.StdEncoding.EncodeToString(req)))
		resp, err := ocsp.ParseResponseForCert(der, h.Cert, p.Intermediate.Cert)
		if err != nil {
			t.Fatalf("ParseResponseForCert(GET) error = %v", err)
		}
		return resp
	}

	for _, resp := range []*ocsp.Response{post(crypto.SHA1), post(crypto.SHA256), get()} {
		if resp.Status != ocsp.Good {
			t.Errorf("Status = %d, want Good", resp.Status)
		}
		if !resp.ProducedAt.Equal(testNow) {
			t.Errorf("ProducedAt = %v, want the clock's %v", resp.ProducedAt, testNow)
		}
		if want := testNow.Add(-time.Hour); !resp.ThisUpdate.Equal(want) {
			t.Errorf("ThisUpdate = %v, want %v", resp.ThisUpdate, want)
		}
	}

	revokedAt := testNow.Add(-10 * time.Minute)
	const superseded = 4
	p.Revoke(h.Cert.SerialNumber, revokedAt, superseded)
	for _, resp := range []*ocsp.Response{post(crypto.SHA1), get()} {
		if resp.Status != ocsp.Revoked || !resp.RevokedAt.Equal(revokedAt) || resp.RevocationReason != superseded {
			t.Errorf("after Revoke: Status %d at %v reason %d, want Revoked at %v reason %d", resp.Status, resp.RevokedAt, resp.RevocationReason, revokedAt, superseded)
		}
	}
	if got := p.Requests("/ocsp"); got != 5 {
		t.Errorf(`Requests("/ocsp") = %d, want 5`, got)
	}

	der, err := p.OCSPResponse(h.Cert)
	if err != nil {
		t.Fatalf("OCSPResponse() error = %v", err)
	}
	resp, err := ocsp.ParseResponseForCert(der, h.Cert, p.Intermediate.Cert)
	if err != nil || resp.Status != ocsp.Revoked {
		t.Errorf("OCSPResponse() parses to %+v, %v; want Revoked", resp, err)
	}
}

func TestOCSPOutcomes(t *testing.T) {
	p := newPKI(t, Options{Now: testNow})
	stranger := newPKI(t, Options{Now: testNow, NoServer: true, Name: "Autre"})
	h, err := p.IssueHolder(jeanne())
	if err != nil {
		t.Fatal(err)
	}
	sh, err := stranger.IssueHolder(jeanne())
	if err != nil {
		t.Fatal(err)
	}
	// A certificate that claims the intermediate's name and a serial the
	// PKI never issued.
	forged := *h.Cert
	forged.SerialNumber = big.NewInt(42)

	tests := []struct {
		name       string
		cert       *x509.Certificate
		issuer     *x509.Certificate
		wantStatus int
		wantErr    string
	}{
		{name: "ok/good", cert: h.Cert, issuer: p.Intermediate.Cert, wantStatus: ocsp.Good},
		{name: "ok/unknown-serial", cert: &forged, issuer: p.Intermediate.Cert, wantStatus: ocsp.Unknown},
		{name: "ok/intermediate-good-at-root", cert: p.Intermediate.Cert, issuer: p.Root.Cert, wantStatus: ocsp.Good},
		{name: "fail/unknown-issuer", cert: sh.Cert, issuer: stranger.Intermediate.Cert, wantErr: "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := ocsp.CreateRequest(tt.cert, tt.issuer, nil)
			if err != nil {
				t.Fatal(err)
			}
			der, _ := httpPost(t, p.BaseURL+"/ocsp", "application/ocsp-request", req)
			resp, err := ocsp.ParseResponseForCert(der, tt.cert, tt.issuer)
			if tt.wantErr != "" {
				re, ok := err.(ocsp.ResponseError)
				if !ok || !strings.Contains(re.Error(), tt.wantErr) {
					t.Fatalf("ParseResponseForCert() error = %v, want ResponseError %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseResponseForCert() error = %v", err)
			}
			if resp.Status != tt.wantStatus {
				t.Errorf("Status = %d, want %d", resp.Status, tt.wantStatus)
			}
		})
	}

	t.Run("fail/malformed", func(t *testing.T) {
		der, _ := httpPost(t, p.BaseURL+"/ocsp", "application/ocsp-request", []byte("not DER"))
		_, err := ocsp.ParseResponse(der, nil)
		if re, ok := err.(ocsp.ResponseError); !ok || re.Status != ocsp.Malformed {
			t.Errorf("ParseResponse() error = %v, want ResponseError Malformed", err)
		}
	})
	t.Run("fail/not-ours", func(t *testing.T) {
		if _, err := p.OCSPResponse(sh.Cert); err == nil || !strings.Contains(err.Error(), "not a CA of this PKI") {
			t.Errorf("OCSPResponse(stranger's holder) error = %v, want not a CA of this PKI", err)
		}
	})
}

func TestServerNotFound(t *testing.T) {
	p := newPKI(t, Options{Now: testNow})
	for _, path := range []string{"/crl/nope.crl", "/ca/nope.cer", "/elsewhere"} {
		resp, err := http.Get(p.BaseURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s status = %s, want 404", path, resp.Status)
		}
	}
	if got := p.Requests("/"); got != 3 {
		t.Errorf(`Requests("/") = %d, want 3`, got)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close() error = %v", err)
	}
	if _, err := http.Get(p.BaseURL + "/crl/root.crl"); err == nil {
		t.Errorf("GET after Close succeeded, want connection refused")
	}
}
