package revocation

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// responder serves one OCSP response at /ocsp and one CRL at /crl on
// 127.0.0.1, counting requests.
type responder struct {
	srv      *httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	ocsp     []byte
	crl      []byte
	handler  http.HandlerFunc // replaces the default behaviour when set
}

func newResponder(t *testing.T) *responder {
	t.Helper()
	r := &responder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		r.mu.Lock()
		h, ocspDER, crlDER := r.handler, r.ocsp, r.crl
		r.mu.Unlock()
		if h != nil {
			h(w, req)
			return
		}
		switch req.URL.Path {
		case "/ocsp":
			body, err := io.ReadAll(req.Body)
			if err != nil || req.Method != http.MethodPost {
				http.Error(w, "bad request", http.StatusBadRequest)
				return
			}
			if _, err := ocsp.ParseRequest(body); err != nil {
				http.Error(w, "bad OCSP request", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/ocsp-response")
			w.Write(ocspDER)
		case "/crl":
			w.Write(crlDER)
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *responder) set(ocspDER, crlDER []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ocsp, r.crl = ocspDER, crlDER
}

func (r *responder) setHandler(h http.HandlerFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handler = h
}

func TestCheckOnline(t *testing.T) {
	ca := newCA(t, "Online CA")
	before := at.Add(-30 * time.Minute)
	tests := []struct {
		name       string
		ocspURL    bool // the certificate names the OCSP responder
		crlURL     bool // the certificate names the CRL
		ocsp       func(*x509.Certificate) []byte
		crl        func(*x509.Certificate) []byte
		handler    http.HandlerFunc
		timeout    time.Duration
		maxCRL     int64
		maxOCSP    int64
		ev         func(*x509.Certificate) Evidence
		want       Status
		wantSource string
		wantDetail string
	}{
		{
			name: "ok/good-by-ocsp", ocspURL: true, crlURL: true,
			ocsp: func(c *x509.Certificate) []byte { return ca.ocspResponse(c, ocspOpts{status: ocsp.Good}) },
			want: Good, wantSource: SourceOCSP,
		},
		{
			name: "ok/good-by-crl", crlURL: true,
			crl:  func(*x509.Certificate) []byte { return ca.crl(crlOpts{}) },
			want: Good, wantSource: SourceCRL,
		},
		{
			name: "ok/crl-after-failing-ocsp", ocspURL: true, crlURL: true,
			ocsp: func(*x509.Certificate) []byte { return []byte("garbage") },
			crl:  func(*x509.Certificate) []byte { return ca.crl(crlOpts{}) },
			want: Good, wantSource: SourceCRL,
		},
		{
			name: "fail/revoked-by-ocsp", ocspURL: true,
			ocsp: func(c *x509.Certificate) []byte {
				return ca.ocspResponse(c, ocspOpts{status: ocsp.Revoked, revokedAt: before, reason: ocsp.KeyCompromise})
			},
			want: Revoked, wantSource: SourceOCSP,
		},
		{
			name: "fail/revoked-by-crl", crlURL: true,
			crl: func(c *x509.Certificate) []byte {
				return ca.crl(crlOpts{revoked: []x509.RevocationListEntry{revokedEntry(c, before, 1)}})
			},
			want: Revoked, wantSource: SourceCRL,
		},
		{
			// A current embedded response says good, but the CA's CRL
			// lists an earlier revocation.
			name: "fail/online-revocation-overrides-embedded-good", crlURL: true,
			ev: func(c *x509.Certificate) Evidence {
				return Evidence{OCSPs: [][]byte{ca.ocspResponse(c, ocspOpts{status: ocsp.Good, thisUpdate: at.Add(-2 * time.Hour)})}}
			},
			crl: func(c *x509.Certificate) []byte {
				return ca.crl(crlOpts{revoked: []x509.RevocationListEntry{revokedEntry(c, at.Add(-time.Minute), 1)}})
			},
			want: Revoked, wantSource: SourceCRL,
		},
		{
			name: "ok/embedded-good-survives-failing-fetch", ocspURL: true,
			ev: func(c *x509.Certificate) Evidence {
				return Evidence{OCSPs: [][]byte{ca.ocspResponse(c, ocspOpts{status: ocsp.Good})}}
			},
			handler: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) },
			want:    Good, wantSource: SourceEmbeddedOCSP,
		},
		{
			name: "unknown/oversize-crl", crlURL: true,
			crl:    func(*x509.Certificate) []byte { return ca.crl(crlOpts{}) },
			maxCRL: 100,
			want:   Unknown, wantDetail: "exceeds the limit of 100 bytes",
		},
		{
			name: "unknown/oversize-ocsp", ocspURL: true,
			ocsp:    func(c *x509.Certificate) []byte { return ca.ocspResponse(c, ocspOpts{status: ocsp.Good}) },
			maxOCSP: 64,
			want:    Unknown, wantDetail: "exceeds the limit of 64 bytes",
		},
		{
			name: "unknown/timeout", ocspURL: true, crlURL: true,
			handler: func(_ http.ResponseWriter, r *http.Request) {
				// The server notices a closed connection only once the
				// body is read; then block until the client gives up.
				io.Copy(io.Discard, r.Body)
				<-r.Context().Done()
			},
			timeout: 50 * time.Millisecond,
			want:    Unknown, wantDetail: "deadline exceeded",
		},
		{
			name: "unknown/redirect-not-followed", crlURL: true,
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/crl" {
					http.Redirect(w, r, "/elsewhere", http.StatusFound)
					return
				}
				w.Write(ca.crl(crlOpts{}))
			},
			want: Unknown, wantDetail: "302 Found",
		},
		{
			name: "unknown/server-error", ocspURL: true,
			handler: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusInternalServerError) },
			want:    Unknown, wantDetail: "500 Internal Server Error",
		},
		{
			name: "unknown/crl-wrong-signer", crlURL: true,
			crl:  func(*x509.Certificate) []byte { return newCA(t, "Online CA").crl(crlOpts{}) },
			want: Unknown, wantDetail: "not signed by the issuer",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newResponder(t)
			var o leafOpts
			if tt.ocspURL {
				o.ocspURL = r.srv.URL + "/ocsp"
			}
			if tt.crlURL {
				o.crlURL = r.srv.URL + "/crl"
			}
			leaf := ca.issue("Alice", o)
			var ocspDER, crlDER []byte
			if tt.ocsp != nil {
				ocspDER = tt.ocsp(leaf.cert)
			}
			if tt.crl != nil {
				crlDER = tt.crl(leaf.cert)
			}
			r.set(ocspDER, crlDER)
			if tt.handler != nil {
				r.setHandler(tt.handler)
			}
			var ev Evidence
			if tt.ev != nil {
				ev = tt.ev(leaf.cert)
			}
			c := &Checker{Online: true, Timeout: tt.timeout, MaxCRLBytes: tt.maxCRL, MaxOCSPBytes: tt.maxOCSP}
			got := c.Check(context.Background(), leaf.cert, ca.cert, at, ev)
			if got.Status != tt.want || got.Source != tt.wantSource {
				t.Fatalf("Check() = %v from %q (%s), want %v from %q", got.Status, got.Source, got.Detail, tt.want, tt.wantSource)
			}
			if !strings.Contains(got.Detail, tt.wantDetail) {
				t.Errorf("Check() Detail = %q, want it to contain %q", got.Detail, tt.wantDetail)
			}
			if r.requests.Load() == 0 {
				t.Errorf("the responder saw no request, want at least one")
			}
		})
	}
}

func TestCheckNoFetchWhenOffline(t *testing.T) {
	ca := newCA(t, "Offline CA")
	r := newResponder(t)
	leaf := ca.issue("Alice", leafOpts{ocspURL: r.srv.URL + "/ocsp", crlURL: r.srv.URL + "/crl"})
	r.set(ca.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Good}), ca.crl(crlOpts{}))
	var c Checker
	got := c.Check(context.Background(), leaf.cert, ca.cert, at, Evidence{})
	if got.Status != Unknown {
		t.Errorf("Check() = %v (%s), want unknown", got.Status, got.Detail)
	}
	if n := r.requests.Load(); n != 0 {
		t.Errorf("the responder saw %d requests with Online false, want 0", n)
	}
}

func TestCheckRefusesNonHTTP(t *testing.T) {
	ca := newCA(t, "TLS CA")
	r := newResponder(t)
	httpsURL := strings.Replace(r.srv.URL, "http://", "https://", 1)
	leaf := ca.issue("Alice", leafOpts{ocspURL: httpsURL + "/ocsp", crlURL: "ldap://127.0.0.1/cn=crl"})
	c := Checker{Online: true}
	got := c.Check(context.Background(), leaf.cert, ca.cert, at, Evidence{})
	if got.Status != Unknown || !strings.Contains(got.Detail, `only http URLs are fetched, not "https"`) || !strings.Contains(got.Detail, `not "ldap"`) {
		t.Errorf("Check() = %v (%s), want unknown refusing https and ldap", got.Status, got.Detail)
	}
	if n := r.requests.Load(); n != 0 {
		t.Errorf("the server saw %d requests, want 0", n)
	}
}

func TestCheckCancelledContext(t *testing.T) {
	ca := newCA(t, "Cancel CA")
	r := newResponder(t)
	leaf := ca.issue("Alice", leafOpts{ocspURL: r.srv.URL + "/ocsp"})
	r.set(ca.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Good}), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := Checker{Online: true}
	if got := c.Check(ctx, leaf.cert, ca.cert, at, Evidence{}); got.Status != Unknown || !strings.Contains(got.Detail, "context canceled") {
		t.Errorf("Check(cancelled) = %v (%s), want unknown", got.Status, got.Detail)
	}
}

func TestCheckCache(t *testing.T) {
	ca := newCA(t, "Cache CA")
	for _, kind := range []string{"ocsp", "crl"} {
		t.Run(kind, func(t *testing.T) {
			r := newResponder(t)
			var o leafOpts
			if kind == "ocsp" {
				o.ocspURL = r.srv.URL + "/ocsp"
			} else {
				o.crlURL = r.srv.URL + "/crl"
			}
			leaf := ca.issue("Alice", o)
			r.set(ca.ocspResponse(leaf.cert, ocspOpts{status: ocsp.Good}), ca.crl(crlOpts{}))
			now := at
			c := Checker{Online: true, now: func() time.Time { return now }}
			for i := range 2 {
				if got := c.Check(context.Background(), leaf.cert, ca.cert, at, Evidence{}); got.Status != Good {
					t.Fatalf("Check() #%d = %v (%s), want good", i+1, got.Status, got.Detail)
				}
			}
			if n := r.requests.Load(); n != 1 {
				t.Errorf("the responder saw %d requests for two checks, want 1 (cache hit)", n)
			}
			now = at.Add(25 * time.Hour) // past nextUpdate
			c.Check(context.Background(), leaf.cert, ca.cert, at, Evidence{})
			if n := r.requests.Load(); n != 2 {
				t.Errorf("the responder saw %d requests after expiry, want 2", n)
			}
		})
	}
}

func TestCheckCRLDir(t *testing.T) {
	ca := newCA(t, "Dir CA")
	other := newCA(t, "Other Dir CA")
	leaf := ca.issue("Alice", leafOpts{})
	dir := t.TempDir()
	write := func(name string, data []byte, mtime time.Time) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	write("README.txt", []byte("CRLs of our CAs"), t0)
	write("other.crl", other.crl(crlOpts{}), t0)
	c := Checker{CRLDir: dir}
	check := func() Result { return c.Check(context.Background(), leaf.cert, ca.cert, at, Evidence{}) }

	if got := check(); got.Status != Unknown || !strings.Contains(got.Detail, "holds no CRL from") || !strings.Contains(got.Detail, "README.txt") {
		t.Fatalf("Check(no CRL of the issuer) = %v (%s), want unknown naming the folder's contents", got.Status, got.Detail)
	}

	write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: ca.crl(crlOpts{})}), t0)
	if got := check(); got.Status != Good || got.Source != SourceCRLDir {
		t.Fatalf("Check(PEM CRL in folder) = %v from %q (%s), want good from %s", got.Status, got.Source, got.Detail, SourceCRLDir)
	}

	// The CA publishes a new CRL under the same name: it must be re-read.
	write("ca.pem", ca.crl(crlOpts{revoked: []x509.RevocationListEntry{revokedEntry(leaf.cert, at.Add(-time.Hour), 1)}}), t0.Add(time.Hour))
	if got := check(); got.Status != Revoked || got.Source != SourceCRLDir {
		t.Fatalf("Check(updated CRL) = %v from %q (%s), want revoked from %s", got.Status, got.Source, got.Detail, SourceCRLDir)
	}

	os.Remove(filepath.Join(dir, "ca.pem"))
	if got := check(); got.Status != Unknown {
		t.Fatalf("Check(CRL removed) = %v (%s), want unknown", got.Status, got.Detail)
	}

	small := Checker{CRLDir: dir, MaxCRLBytes: 50}
	write("ca.der", ca.crl(crlOpts{}), t0)
	if got := small.Check(context.Background(), leaf.cert, ca.cert, at, Evidence{}); got.Status != Unknown || !strings.Contains(got.Detail, "exceeds the limit") {
		t.Errorf("Check(oversize CRL file) = %v (%s), want unknown", got.Status, got.Detail)
	}

	missing := Checker{CRLDir: filepath.Join(dir, "missing")}
	if got := missing.Check(context.Background(), leaf.cert, ca.cert, at, Evidence{}); got.Status != Unknown || !strings.Contains(got.Detail, "cannot be read") {
		t.Errorf("Check(missing folder) = %v (%s), want unknown", got.Status, got.Detail)
	}
}
