package review

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/internal/scenario"
	"github.com/revokd/revokd/notify"
	"github.com/revokd/revokd/pdfverify"
	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/worker"
)

var (
	scOnce sync.Once
	sc     *scenario.Scenario
	scErr  error
)

// theScenario is the sample world, built once for the package's tests.
func theScenario(t *testing.T) *scenario.Scenario {
	t.Helper()
	scOnce.Do(func() { sc, scErr = scenario.New(time.Now()) })
	if scErr != nil {
		t.Fatal(scErr)
	}
	return sc
}

// testClock is the desk's clock: real time plus what the test advanced.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// cheapArgon2 keeps the tests' logins fast; the parameters travel in the
// hash, so verification is the production code's.
var cheapArgon2 = Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1}

// desk is a review desk on a store filled by the real worker from the
// sample mails.
type desk struct {
	t       *testing.T
	sc      *scenario.Scenario
	store   *queue.Store
	svc     *Service
	srv     *Server
	clock   *testClock
	ids     map[string]int64 // the scenario's mail names -> request ids
	secrets map[string]string
}

// Scenario mail names used by the tests.
const (
	mailForged   = "serial changed after signing"
	mailUnknown  = "serial unknown to the registry"
	mailImpostor = "signer is not a representative"
	mailHolder   = "holder revokes her own certificate"
	// mailColleague is left out of the desk's mails.
	mailColleague = "legal representative revokes a colleague's"
)

func newDesk(t *testing.T) *desk {
	t.Helper()
	ctx := context.Background()
	s := theScenario(t)
	clk := &testClock{}
	st, err := queue.OpenWith(ctx, t.TempDir(), &queue.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := s.Load(ctx, st); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(s.RootPEM)
	w, err := worker.New(worker.Config{
		Store: st, Registry: st,
		Authorize: authorize.Options{Issuers: []*x509.Certificate{s.PKI.Intermediate.Cert}},
		Verify: &pdfverify.Options{Roots: roots,
			Revocation: pdfverify.NewRevocationSource(pdfverify.RevocationOptions{Online: true})},
		Address: "revocation@ca.example",
	})
	if err != nil {
		t.Fatal(err)
	}
	d := &desk{t: t, sc: s, store: st, clock: clk, ids: map[string]int64{}, secrets: map[string]string{}}
	for i, m := range s.Mails {
		if m.Name == mailColleague {
			// Without it the colleague's certificate has no job yet, and
			// an approved override of the impostor's request creates one.
			continue
		}
		im := &ingest.Mail{Mailbox: "INBOX", UIDValidity: 1, UID: uint32(i + 1), Size: int64(len(m.Raw)), Raw: m.Raw, InternalDate: time.Now()}
		if _, err := w.Handle(ctx, im); err != nil {
			t.Fatalf("handling %q: %v", m.Name, err)
		}
	}
	rows, err := st.ListRequests(ctx, queue.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range s.Mails {
		for _, r := range rows {
			if strings.Contains(r.MessageID, fmt.Sprintf("<demo-%d@", i+1)) {
				d.ids[m.Name] = r.ID
				if string(r.State) != m.Want || r.ReasonCode != m.WantCode {
					t.Fatalf("%q: %s/%s, want %s/%s", m.Name, r.State, r.ReasonCode, m.Want, m.WantCode)
				}
			}
		}
	}
	d.svc = &Service{Store: st, Reexaminer: w, Notices: Notices{Dismissed: notify.Dismissed, NewFormAsked: notify.NewFormAsked}}
	if d.srv, err = New(Config{Service: d.svc, Now: clk.Now}); err != nil {
		t.Fatal(err)
	}
	return d
}

// addOperator creates an account and returns its TOTP key.
func (d *desk) addOperator(name, role string) {
	d.t.Helper()
	hash, err := HashPassword(name+"-password", cheapArgon2)
	if err != nil {
		d.t.Fatal(err)
	}
	secret, err := NewTOTPSecret()
	if err != nil {
		d.t.Fatal(err)
	}
	if err := d.store.AddOperator(context.Background(), queue.Operator{Name: name, Role: role, PasswordHash: hash, TOTPSecret: secret}, "test"); err != nil {
		d.t.Fatal(err)
	}
	d.secrets[name] = secret
}

// code is name's TOTP code now, by the desk's clock.
func (d *desk) code(name string) string {
	d.t.Helper()
	c, err := TOTPCode(d.secrets[name], d.clock.Now())
	if err != nil {
		d.t.Fatal(err)
	}
	return c
}

// do sends one request straight to the handler, with the session cookie
// when not empty.
func (d *desk) do(method, path string, form url.Values, cookie string) *httptest.ResponseRecorder {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, path, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	}
	w := httptest.NewRecorder()
	d.srv.ServeHTTP(w, r)
	return w
}

// login logs name in and returns the session cookie and CSRF token. The
// clock moves on a TOTP step first, since a code is good once.
func (d *desk) login(name string) (cookie, csrf string) {
	d.t.Helper()
	d.clock.Advance(totpStep)
	w := d.do("POST", "/login", url.Values{"name": {name}, "password": {name + "-password"}, "code": {d.code(name)}}, "")
	if w.Code != http.StatusSeeOther {
		d.t.Fatalf("login %s: %d %s", name, w.Code, w.Body.String())
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == sessionCookie {
			cookie = c.Value
		}
	}
	if cookie == "" {
		d.t.Fatalf("login %s: no session cookie", name)
	}
	d.srv.mu.Lock()
	csrf = d.srv.sessions[cookie].csrf
	d.srv.mu.Unlock()
	return cookie, csrf
}

// smtpSink is go-smtp's server on 127.0.0.1, keeping every message.
type smtpSink struct {
	addr string
	srv  *smtp.Server
	mu   sync.Mutex
	msgs []sunkMail
}

type sunkMail struct {
	to   []string
	data string
}

func newSMTPSink(t *testing.T) *smtpSink {
	t.Helper()
	s := &smtpSink{}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	s.srv.Domain = "localhost"
	s.srv.ErrorLog = stdlog.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	s.addr = ln.Addr().String()
	return s
}

func (s *smtpSink) messages() []sunkMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunkMail(nil), s.msgs...)
}

type sinkSession struct {
	s  *smtpSink
	to []string
}

func (*sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (x *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}
func (*sinkSession) Reset()        {}
func (*sinkSession) Logout() error { return nil }
func (x *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, sunkMail{to: x.to, data: string(b)})
	x.s.mu.Unlock()
	return nil
}
