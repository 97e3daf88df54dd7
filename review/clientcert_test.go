package review

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// issue makes a certificate for cn signed by parent (self-signed when nil).
func issue(t *testing.T, cn string, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// TestClientCertificateLogin: a client certificate from http.client_ca
// whose common name is the account's name stands for the TOTP code; one
// for another name does not, and the password is needed either way.
func TestClientCertificateLogin(t *testing.T) {
	d := newDesk(t)
	d.addOperator("olga", RoleOperator)
	ca, caKey := issue(t, "Operators CA", true, nil, nil)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	ts := httptest.NewUnstartedServer(d.srv)
	ts.TLS = &tls.Config{ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
	ts.StartTLS()
	defer ts.Close()

	login := func(cn, password string) int {
		t.Helper()
		tr := ts.Client().Transport.(*http.Transport).Clone()
		if cn != "" {
			c, k := issue(t, cn, false, ca, caKey)
			tr.TLSClientConfig.Certificates = []tls.Certificate{{Certificate: [][]byte{c.Raw}, PrivateKey: k, Leaf: c}}
		}
		client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := client.PostForm(ts.URL+"/login", url.Values{"name": {"olga"}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusSeeOther && !strings.Contains(res.Header.Get("Strict-Transport-Security"), "max-age") {
			t.Error("no Strict-Transport-Security over TLS")
		}
		return res.StatusCode
	}
	for _, tc := range []struct {
		name, cn, password string
		want               int
	}{
		{"fail/no-certificate-no-code", "", "olga-password", http.StatusUnauthorized},
		{"fail/certificate-of-another", "pat", "olga-password", http.StatusUnauthorized},
		{"fail/certificate-wrong-password", "olga", "wrong-password", http.StatusUnauthorized},
		{"ok/certificate-and-password", "olga", "olga-password", http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := login(tc.cn, tc.password); got != tc.want {
				t.Errorf("login = %d, want %d", got, tc.want)
			}
		})
	}
}
