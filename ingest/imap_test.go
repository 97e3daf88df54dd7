package ingest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"

	"github.com/revokd/revokd/internal/imaptest"
)

// testTimeout bounds every wait for an event in these tests.
const testTimeout = 20 * time.Second

const (
	memUser     = "desk@example.test"
	memPassword = "memory-Pa55word"
	memToken    = "ya29.test-token-value"
)

// fastBackoff keeps reconnects quick in tests.
var fastBackoff = struct{ Min, Max time.Duration }{10 * time.Millisecond, 50 * time.Millisecond}

// logSink records a Mailbox's log lines, for waiting on events and for
// checking that no secret is ever logged.
type logSink struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // receives a value after each new line
}

func newLogSink() *logSink { return &logSink{changed: make(chan struct{}, 1)} }

func (s *logSink) logger() *slog.Logger { return slog.New(&sinkHandler{sink: s}) }

func (s *logSink) add(line string) {
	s.mu.Lock()
	s.lines = append(s.lines, line)
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *logSink) count(substr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, line := range s.lines {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// waitFor waits until n lines logged so far contain substr.
func (s *logSink) waitFor(t *testing.T, substr string, n int) {
	t.Helper()
	deadline := time.After(testTimeout)
	for s.count(substr) < n {
		select {
		case <-s.changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %d log lines containing %q; log:\n%s", n, substr, s.String())
		}
	}
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// checkNoSecrets fails the test if a log line holds one of secrets.
func (s *logSink) checkNoSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	log := s.String()
	for _, secret := range secrets {
		if secret != "" && strings.Contains(log, secret) {
			t.Errorf("log contains the secret %q:\n%s", secret, log)
		}
	}
}

type sinkHandler struct {
	sink  *logSink
	attrs []slog.Attr
}

func (h *sinkHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *sinkHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.sink.add(b.String())
	return nil
}

func (h *sinkHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &sinkHandler{sink: h.sink, attrs: append(h.attrs[:len(h.attrs):len(h.attrs)], attrs...)}
}

func (h *sinkHandler) WithGroup(string) slog.Handler { return h }

// recorder is a Handler that reports every mail on a channel and answers
// with decide.
type recorder struct {
	mails  chan *Mail
	decide func(m *Mail) (Disposition, error)
}

func newRecorder(decide func(m *Mail) (Disposition, error)) *recorder {
	return &recorder{mails: make(chan *Mail, 1024), decide: decide}
}

func (r *recorder) Handle(ctx context.Context, m *Mail) (Disposition, error) {
	d, err := r.decide(m)
	r.mails <- m
	return d, err
}

// next waits for the next mail handed to the handler.
func (r *recorder) next(t *testing.T) *Mail {
	t.Helper()
	select {
	case m := <-r.mails:
		return m
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for a mail")
		return nil
	}
}

func processAll(*Mail) (Disposition, error) { return Processed, nil }

// startRun runs mb until the test ends; stop cancels it and checks that Run
// returned context.Canceled.
func startRun(t *testing.T, mb *Mailbox, h Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mb.Run(ctx, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Run() = %v, want context.Canceled", err)
				}
			case <-time.After(testTimeout):
				t.Errorf("Run did not return within %v of cancel", testTimeout)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// testMessage returns a small RFC 5322 message whose body is n bytes of
// text after a line naming it.
func testMessage(name string, n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: holder@example.test\r\nTo: desk@example.test\r\nSubject: %s\r\nMessage-ID: <%s@example.test>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\n%s\r\n", name, name, name)
	line := strings.Repeat("x", 70) + "\r\n"
	for b.Len() < n {
		b.WriteString(line)
	}
	return b.Bytes()
}

// ---------- a test IMAP client, for appending and checking folders ----------

func dialTestClient(t testing.TB, addr, user, password string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

func createFolder(t *testing.T, c *imapclient.Client, name string) {
	t.Helper()
	if err := c.Create(name, nil).Wait(); err != nil {
		t.Fatalf("CREATE %s: %v", name, err)
	}
}

func appendMessage(t testing.TB, c *imapclient.Client, mailbox string, raw []byte) {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		t.Fatalf("APPEND write: %v", err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("APPEND close: %v", err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("APPEND %s: %v", mailbox, err)
	}
}

// folderMessages returns the raw messages in a folder, in UID order.
func folderMessages(t *testing.T, c *imapclient.Client, folder string) [][]byte {
	t.Helper()
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("EXAMINE %s: %v", folder, err)
	}
	var out [][]byte
	if sel.NumMessages > 0 {
		section := &imap.FetchItemBodySection{Peek: true}
		bufs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
			UID:         true,
			BodySection: []*imap.FetchItemBodySection{section},
		}).Collect()
		if err != nil {
			t.Fatalf("FETCH %s: %v", folder, err)
		}
		for _, b := range bufs {
			out = append(out, b.FindBodySection(section))
		}
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatalf("UNSELECT: %v", err)
	}
	return out
}

func checkFolder(t *testing.T, c *imapclient.Client, folder string, want ...[]byte) {
	t.Helper()
	got := folderMessages(t, c, folder)
	if len(got) != len(want) {
		t.Errorf("folder %s holds %d messages, want %d", folder, len(got), len(want))
		return
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("folder %s message %d differs from the one appended (%d bytes, want %d)", folder, i+1, len(got[i]), len(want[i]))
		}
	}
}

// ---------- the in-memory server ----------

// memServer is a go-imap in-memory server on 127.0.0.1 with one user. With
// oauthToken set, that user logs in only with XOAUTH2 and that token.
type memServer struct {
	addr string
	// xoauth2 records what the XOAUTH2 server received.
	mu           sync.Mutex
	xoauth2IRs   [][]byte
	xoauth2Final [][]byte
}

func newMemServer(t *testing.T, caps imap.CapSet, oauthToken string) *memServer {
	t.Helper()
	ms := &memServer{}
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(memUser, memPassword)
	// INBOX is not created for you.
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatalf("creating INBOX: %v", err)
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			if oauthToken != "" {
				return &xoauth2Session{srv: ms, user: u, token: oauthToken}, nil, nil
			}
			return mem.NewSession(), nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       discardLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	ms.addr = ln.Addr().String()
	return ms
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// xoauth2Session accepts only XOAUTH2 with the right token, answering a
// wrong one the way Gmail does: a JSON error challenge, then NO.
type xoauth2Session struct {
	*imapmemserver.UserSession
	srv   *memServer
	user  *imapmemserver.User
	token string
}

func (s *xoauth2Session) Login(string, string) error { return imapserver.ErrAuthFailed }

func (s *xoauth2Session) AuthenticateMechanisms() []string { return []string{"XOAUTH2"} }

func (s *xoauth2Session) Authenticate(mech string) (sasl.Server, error) {
	if mech != "XOAUTH2" {
		return nil, imapserver.ErrAuthFailed
	}
	return &xoauth2Server{sess: s}, nil
}

type xoauth2Server struct {
	sess   *xoauth2Session
	failed bool
}

const xoauth2ErrorJSON = `{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`

func (x *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	ms := x.sess.srv
	if x.failed {
		ms.mu.Lock()
		ms.xoauth2Final = append(ms.xoauth2Final, resp)
		ms.mu.Unlock()
		return nil, false, imapserver.ErrAuthFailed
	}
	if resp == nil {
		return []byte{}, false, nil // ask for the initial response
	}
	ms.mu.Lock()
	ms.xoauth2IRs = append(ms.xoauth2IRs, resp)
	ms.mu.Unlock()
	want := "user=" + memUser + "\x01auth=Bearer " + x.sess.token + "\x01\x01"
	if string(resp) != want {
		x.failed = true
		return []byte(xoauth2ErrorJSON), false, nil
	}
	x.sess.UserSession = imapmemserver.NewUserSession(x.sess.user)
	return nil, true, nil
}

// capability sets of the in-memory server, one per way of moving mail.
var memCaps = []struct {
	name string
	caps imap.CapSet
}{
	{"move", imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}},
	{"copy-uidexpunge", imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}},
	{"copy-expunge", imap.CapSet{imap.CapIMAP4rev1: {}}},
}

func memConfig(addr string, sink *logSink) MailboxConfig {
	return MailboxConfig{
		Address:  addr,
		Security: SecurityNone,
		Username: memUser,
		Password: memPassword,
		Backoff:  fastBackoff,
		Logger:   sink.logger(),
	}
}

// ---------- tests ----------

func TestNewMailbox(t *testing.T) {
	valid := func() MailboxConfig {
		return MailboxConfig{Address: "imap.example.fr:993", Username: "u", Password: "p"}
	}
	tests := []struct {
		name    string
		edit    func(c *MailboxConfig)
		field   string // "" when valid
		errIs   error
		errText string
	}{
		{name: "ok/defaults", edit: func(c *MailboxConfig) {}},
		{name: "ok/starttls", edit: func(c *MailboxConfig) { c.Security = SecurityStartTLS }},
		{name: "ok/none-ipv4-loopback", edit: func(c *MailboxConfig) { c.Address, c.Security = "127.0.0.2:143", SecurityNone }},
		{name: "ok/none-ipv6-loopback", edit: func(c *MailboxConfig) { c.Address, c.Security = "[::1]:143", SecurityNone }},
		{name: "ok/none-localhost", edit: func(c *MailboxConfig) { c.Address, c.Security = "localhost:143", SecurityNone }},
		{name: "ok/token-source", edit: func(c *MailboxConfig) {
			c.Password = ""
			c.TokenSource = func(context.Context) (string, error) { return "t", nil }
		}},
		{name: "fail/none-public-ip", edit: func(c *MailboxConfig) { c.Address, c.Security = "192.0.2.1:143", SecurityNone }, field: "Security", errIs: ErrPlaintextNotLoopback},
		{name: "fail/none-hostname", edit: func(c *MailboxConfig) { c.Address, c.Security = "imap.example.fr:143", SecurityNone }, field: "Security", errIs: ErrPlaintextNotLoopback},
		{name: "fail/none-unspecified", edit: func(c *MailboxConfig) { c.Address, c.Security = "0.0.0.0:143", SecurityNone }, field: "Security", errIs: ErrPlaintextNotLoopback},
		{name: "fail/none-with-tls-config", edit: func(c *MailboxConfig) {
			c.Address, c.Security = "127.0.0.1:143", SecurityNone
			c.TLSConfig = &tls.Config{}
		}, field: "TLSConfig", errText: "Security is"},
		{name: "fail/unknown-security", edit: func(c *MailboxConfig) { c.Security = "ssl" }, field: "Security", errText: "unknown mode"},
		{name: "fail/no-port", edit: func(c *MailboxConfig) { c.Address = "imap.example.fr" }, field: "Address", errText: "host:port"},
		{name: "fail/empty-host", edit: func(c *MailboxConfig) { c.Address = ":993" }, field: "Address", errText: "host:port"},
		{name: "fail/no-username", edit: func(c *MailboxConfig) { c.Username = "" }, field: "Username", errText: "empty"},
		{name: "fail/no-credentials", edit: func(c *MailboxConfig) { c.Password = "" }, field: "Password", errText: "neither"},
		{name: "fail/both-credentials", edit: func(c *MailboxConfig) {
			c.TokenSource = func(context.Context) (string, error) { return "t", nil }
		}, field: "TokenSource", errText: "more than one"},
		{name: "fail/processed-is-mailbox", edit: func(c *MailboxConfig) { c.ProcessedFolder = "inbox" }, field: "ProcessedFolder", errText: "also Mailbox"},
		{name: "fail/rejected-is-processed", edit: func(c *MailboxConfig) { c.RejectedFolder = "Processed" }, field: "RejectedFolder", errText: "also ProcessedFolder"},
		{name: "fail/folder-with-newline", edit: func(c *MailboxConfig) { c.RejectedFolder = "Re\r\njected" }, field: "RejectedFolder", errText: "control character"},
		{name: "fail/negative-max-bytes", edit: func(c *MailboxConfig) { c.MaxMessageBytes = -1 }, field: "MaxMessageBytes", errText: "outside"},
		{name: "fail/huge-max-bytes", edit: func(c *MailboxConfig) { c.MaxMessageBytes = 2 << 30 }, field: "MaxMessageBytes", errText: "outside"},
		{name: "fail/poll-too-often", edit: func(c *MailboxConfig) { c.PollInterval = time.Millisecond }, field: "PollInterval", errText: "below"},
		{name: "fail/idle-restart-past-30-min", edit: func(c *MailboxConfig) { c.IdleRestart = 31 * time.Minute }, field: "IdleRestart", errText: "outside"},
		{name: "fail/negative-leave-retry", edit: func(c *MailboxConfig) { c.LeaveRetry = -time.Second }, field: "LeaveRetry", errText: "negative"},
		{name: "ok/parallel", edit: func(c *MailboxConfig) { c.Parallel = maxParallel }},
		{name: "fail/negative-parallel", edit: func(c *MailboxConfig) { c.Parallel = -1 }, field: "Parallel", errText: "outside"},
		{name: "fail/parallel-over-the-batch", edit: func(c *MailboxConfig) { c.Parallel = maxParallel + 1 }, field: "Parallel", errText: "outside"},
		{name: "fail/backoff-min-over-max", edit: func(c *MailboxConfig) {
			c.Backoff.Min, c.Backoff.Max = time.Minute, time.Second
		}, field: "Backoff", errText: "Min <= Max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.edit(&cfg)
			mb, err := NewMailbox(cfg)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("NewMailbox() = %v, want nil", err)
				}
				if mb.cfg.Mailbox != "INBOX" || mb.cfg.ProcessedFolder != "Processed" || mb.cfg.RejectedFolder != "Rejected" {
					t.Errorf("default folders = %q, %q, %q, want INBOX, Processed, Rejected", mb.cfg.Mailbox, mb.cfg.ProcessedFolder, mb.cfg.RejectedFolder)
				}
				if mb.cfg.MaxMessageBytes != DefaultMaxMessageBytes {
					t.Errorf("default MaxMessageBytes = %d, want %d", mb.cfg.MaxMessageBytes, DefaultMaxMessageBytes)
				}
				if want := max(cfg.Parallel, 1); mb.cfg.Parallel != want {
					t.Errorf("Parallel = %d, want %d", mb.cfg.Parallel, want)
				}
				return
			}
			var cerr *ConfigError
			if !errors.As(err, &cerr) {
				t.Fatalf("NewMailbox() = %v, want a *ConfigError", err)
			}
			if cerr.Field != tt.field {
				t.Errorf("ConfigError.Field = %q, want %q (%v)", cerr.Field, tt.field, err)
			}
			if tt.errIs != nil && !errors.Is(err, tt.errIs) {
				t.Errorf("NewMailbox() = %v, want errors.Is %v", err, tt.errIs)
			}
			if tt.errText != "" && !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("NewMailbox() = %v, want it to mention %q", err, tt.errText)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	b := newBackoff(time.Second, 10*time.Second)
	b.rand = func(n int64) int64 { return n - 1 } // the ceiling itself
	var got []time.Duration
	for range 6 {
		got = append(got, b.next())
	}
	want := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("ceiling sequence = %v, want %v", got, want)
			break
		}
	}
	b.reset()
	if d := b.next(); d != time.Second {
		t.Errorf("after reset, next() = %v, want %v", d, time.Second)
	}
	b.rand = func(int64) int64 { return 0 }
	if d := b.next(); d != time.Millisecond {
		t.Errorf("with a zero draw, next() = %v, want the %v floor", d, time.Millisecond)
	}
	// The real jitter stays within the ceiling.
	b = newBackoff(time.Second, 4*time.Second)
	for i := range 50 {
		ceiling := min(time.Second<<min(i, 10), 4*time.Second)
		if d := b.next(); d > ceiling {
			t.Fatalf("attempt %d: next() = %v, above the ceiling %v", i, d, ceiling)
		}
	}
}

// TestRetrySchedule checks a failing message's own schedule: doubling
// delays up to the maximum, forgotten on success, pruned when the message
// leaves the mailbox or the UIDVALIDITY changes.
func TestRetrySchedule(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	const v1, v2 = 7, 8
	k := retryKey{v1, 2}
	t.Run("ok/doubling-to-max", func(t *testing.T) {
		r := newRetrySchedule(time.Second, 5*time.Second)
		r.rand = func(n int64) int64 { return n - 1 }
		now := t0
		for i, want := range []time.Duration{1, 2, 4, 5, 5} {
			want *= time.Second
			d, failures := r.failed(k, now)
			if d != want || failures != i+1 {
				t.Fatalf("failure %d: failed() = %v, %d; want %v, %d", i+1, d, failures, want, i+1)
			}
			if !r.waiting(k, now.Add(d-time.Nanosecond)) {
				t.Errorf("failure %d: not waiting %v after it, want waiting until %v", i+1, d-time.Nanosecond, d)
			}
			if r.waiting(k, now.Add(d)) {
				t.Errorf("failure %d: still waiting %v after it, want due", i+1, d)
			}
			now = now.Add(d)
		}
	})
	t.Run("ok/jitter-within-ceiling", func(t *testing.T) {
		r := newRetrySchedule(time.Second, 4*time.Second)
		for i := range 20 {
			ceiling := min(time.Second<<min(i, 10), 4*time.Second)
			if d, _ := r.failed(k, t0); d <= 0 || d > ceiling {
				t.Fatalf("failure %d: delay %v, want within (0, %v]", i+1, d, ceiling)
			}
		}
	})
	t.Run("ok/success-forgets", func(t *testing.T) {
		r := newRetrySchedule(time.Second, 5*time.Second)
		r.failed(k, t0)
		if !r.succeeded(k) {
			t.Errorf("succeeded() = false after a failure, want true")
		}
		if r.succeeded(k) || r.waiting(k, t0) || r.len() != 0 {
			t.Errorf("after success: succeeded() true, waiting or len %d; want forgotten", r.len())
		}
		r.rand = func(n int64) int64 { return n - 1 }
		if d, failures := r.failed(k, t0); d != time.Second || failures != 1 {
			t.Errorf("failure after a success: failed() = %v, %d; want %v, 1", d, failures, time.Second)
		}
	})
	t.Run("ok/prune-gone-and-old-uidvalidity", func(t *testing.T) {
		r := newRetrySchedule(time.Second, 5*time.Second)
		for _, uid := range []imap.UID{1, 2, 5} {
			r.failed(retryKey{v1, uid}, t0)
		}
		r.prune(v1, []imap.UID{1, 3, 5})
		if r.len() != 2 || r.waiting(retryKey{v1, 2}, t0) || !r.waiting(retryKey{v1, 5}, t0) {
			t.Errorf("after UID 2 left: %d entries, want UIDs 1 and 5 kept", r.len())
		}
		r.prune(v2, []imap.UID{1, 3, 5})
		if r.len() != 0 {
			t.Errorf("after a UIDVALIDITY change: %d entries, want none", r.len())
		}
	})
	t.Run("ok/next-of-current-uidvalidity", func(t *testing.T) {
		r := newRetrySchedule(time.Second, 5*time.Second)
		r.rand = func(n int64) int64 { return n - 1 }
		r.failed(retryKey{v1, 1}, t0)                  // due t0+1s
		r.failed(retryKey{v1, 2}, t0.Add(time.Second)) // due t0+2s
		r.failed(retryKey{v2, 1}, t0.Add(-time.Hour))  // another UIDVALIDITY
		if got, ok := r.next(v1, t0); !ok || !got.Equal(t0.Add(time.Second)) {
			t.Errorf("next(v1, t0) = %v, %v; want %v", got, ok, t0.Add(time.Second))
		}
		if got, ok := r.next(v1, t0.Add(time.Second)); !ok || !got.Equal(t0.Add(2*time.Second)) {
			t.Errorf("next(v1, t0+1s) = %v, %v; want %v (the past one skipped)", got, ok, t0.Add(2*time.Second))
		}
		if got, ok := r.next(v1, t0.Add(time.Minute)); ok {
			t.Errorf("next(v1, t0+1m) = %v, want none", got)
		}
	})
}

// TestSessionHealthy checks when a session's end starts the reconnect
// backoff over.
func TestSessionHealthy(t *testing.T) {
	herr := fmt.Errorf("the handler failed on every message handed over (1): %w", &handlerError{uid: 1, err: errors.New("store down")})
	serverErr := errors.New("connection closed by the server")
	tests := []struct {
		name string
		res  sessionResult
		err  error
		want bool
	}{
		{"ok/scanned-then-server-error", sessionResult{scanned: true}, serverErr, true},
		{"ok/handled-then-handler-errors", sessionResult{scanned: true, handled: true}, herr, true},
		{"ok/handled-before-the-first-scan-ended", sessionResult{handled: true}, herr, true},
		{"fail/handler-errors-only", sessionResult{scanned: true}, herr, false},
		{"fail/first-scan-ended-by-handler-errors", sessionResult{}, herr, false},
		{"fail/connect-error", sessionResult{}, serverErr, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.res.healthy(tt.err); got != tt.want {
				t.Errorf("%+v.healthy(%v) = %v, want %v", tt.res, tt.err, got, tt.want)
			}
		})
	}
}

func TestDispositionString(t *testing.T) {
	for d, want := range map[Disposition]string{Leave: "leave", Processed: "processed", Rejected: "rejected", 7: "Disposition(7)"} {
		if got := d.String(); got != want {
			t.Errorf("Disposition(%d).String() = %q, want %q", int(d), got, want)
		}
	}
}

func TestXOAUTH2Client(t *testing.T) {
	t.Run("ok/initial-response", func(t *testing.T) {
		c := newXOAUTH2Client("someone@example.com", "ya29.abc")
		mech, ir, err := c.Start()
		if err != nil {
			t.Fatalf("Start() error = %v", err)
		}
		if mech != "XOAUTH2" {
			t.Errorf("mechanism = %q, want XOAUTH2", mech)
		}
		// The example of Google's documentation, before base64.
		want := "user=someone@example.com\x01auth=Bearer ya29.abc\x01\x01"
		if string(ir) != want {
			t.Errorf("initial response = %q, want %q", ir, want)
		}
	})
	t.Run("ok/error-challenge-answered-empty", func(t *testing.T) {
		c := newXOAUTH2Client("u", "t")
		resp, err := c.Next([]byte(xoauth2ErrorJSON + "\n"))
		if err != nil {
			t.Fatalf("Next() error = %v", err)
		}
		if resp == nil || len(resp) != 0 {
			t.Errorf("Next() = %q, want an empty non-nil response", resp)
		}
		got := c.wrap(errors.New("NO")).Error()
		if !strings.Contains(got, `"status":"401"`) || strings.Contains(got, "\n") {
			t.Errorf("wrapped error = %q, want the server's JSON without control characters", got)
		}
		if _, err := c.Next([]byte("again")); !errors.Is(err, sasl.ErrUnexpectedServerChallenge) {
			t.Errorf("second Next() error = %v, want ErrUnexpectedServerChallenge", err)
		}
	})
	t.Run("fail/control-character-in-token", func(t *testing.T) {
		_, _, err := newXOAUTH2Client("u", "tok\x01en").Start()
		if !errors.Is(err, errXOAUTH2Field) {
			t.Errorf("Start() error = %v, want errXOAUTH2Field", err)
		}
		_, _, err = newXOAUTH2Client("u", "token\n").Start()
		if !errors.Is(err, errXOAUTH2Field) {
			t.Errorf("Start() with a trailing newline error = %v, want errXOAUTH2Field", err)
		}
	})
	t.Run("fail/empty-token", func(t *testing.T) {
		if _, _, err := newXOAUTH2Client("u", "").Start(); err == nil || !strings.Contains(err.Error(), "empty") {
			t.Errorf("Start() error = %v, want an empty-token error", err)
		}
	})
}

// TestMemServerDispositions runs the whole flow against the in-memory server
// with MOVE, with COPY + UID EXPUNGE and with COPY + EXPUNGE: mail present
// at start, mail arriving during IDLE, every disposition, and the size cap.
func TestMemServerDispositions(t *testing.T) {
	for _, mc := range memCaps {
		t.Run("ok/"+mc.name, func(t *testing.T) {
			t.Parallel()
			ms := newMemServer(t, mc.caps, "")
			tc := dialTestClient(t, ms.addr, memUser, memPassword)

			processed := testMessage("processed", 500)
			rejected := testMessage("rejected", 500)
			left := testMessage("left", 500)
			big := testMessage("big", 8000)
			later := testMessage("later", 500)
			for _, raw := range [][]byte{processed, rejected, left, big} {
				appendMessage(t, tc, "INBOX", raw)
			}

			sink := newLogSink()
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("log:\n%s", sink)
				}
			})
			cfg := memConfig(ms.addr, sink)
			cfg.MaxMessageBytes = 4000
			// imapmemserver's IDLE misses an update that arrives between its
			// "+ idling" and the start of its watch loop, which is exactly
			// when this test appends: the restart bounds the wait. The
			// Dovecot tests check the notification itself.
			cfg.IdleRestart = 500 * time.Millisecond
			mb, err := NewMailbox(cfg)
			if err != nil {
				t.Fatal(err)
			}
			h := newRecorder(func(m *Mail) (Disposition, error) {
				switch {
				case m.OverCap:
					return Rejected, nil
				case bytes.Contains(m.Raw, []byte("Subject: rejected")):
					return Rejected, nil
				case bytes.Contains(m.Raw, []byte("Subject: left")):
					return Leave, nil
				}
				return Processed, nil
			})
			stop := startRun(t, mb, h)

			var uids []uint32
			for _, want := range [][]byte{processed, rejected, left, nil} {
				m := h.next(t)
				uids = append(uids, m.UID)
				if want == nil {
					if !m.OverCap || m.Raw != nil || m.Size != int64(len(big)) {
						t.Errorf("big mail: OverCap %v, %d raw bytes, Size %d; want OverCap, no bytes, Size %d", m.OverCap, len(m.Raw), m.Size, len(big))
					}
					continue
				}
				if !bytes.Equal(m.Raw, want) || m.OverCap || m.Size != int64(len(want)) {
					t.Errorf("mail UID %d: %d bytes (OverCap %v, Size %d), want the %d appended", m.UID, len(m.Raw), m.OverCap, m.Size, len(want))
				}
				if m.Mailbox != "INBOX" || m.UIDValidity == 0 || m.InternalDate.IsZero() {
					t.Errorf("mail UID %d: Mailbox %q, UIDValidity %d, InternalDate %v; want INBOX and non-zero", m.UID, m.Mailbox, m.UIDValidity, m.InternalDate)
				}
			}
			for i := 1; i < len(uids); i++ {
				if uids[i] <= uids[i-1] {
					t.Errorf("mails handed over in UID order %v, want increasing", uids)
				}
			}
			sink.waitFor(t, "waiting for new mail", 1)

			// Delivered while the session idles.
			appendMessage(t, tc, "INBOX", later)
			if m := h.next(t); !bytes.Equal(m.Raw, later) {
				t.Errorf("mail delivered during IDLE: got %d bytes, want the %d appended", len(m.Raw), len(later))
			}
			sink.waitFor(t, "message handled", 4)
			stop()

			checkFolder(t, tc, "INBOX", left)
			checkFolder(t, tc, "Processed", processed, later)
			checkFolder(t, tc, "Rejected", rejected, big)

			st := mb.Stats()
			if st.Fetched != 5 || st.Processed != 2 || st.Rejected != 2 || st.Left != 1 || st.OverCap != 1 || st.Connects != 1 {
				t.Errorf("Stats() = %+v, want 5 fetched, 2 processed, 2 rejected, 1 left, 1 over cap, 1 connect", st)
			}
			sink.checkNoSecrets(t, memPassword, "xxxxxxxxxx")
		})
	}
}

// TestMemServerHandlerError checks that a handler error leaves the mail in
// place and that it is retried after a backoff, on a new connection since it
// was the only mail handed over.
func TestMemServerHandlerError(t *testing.T) {
	ms := newMemServer(t, memCaps[0].caps, "")
	tc := dialTestClient(t, ms.addr, memUser, memPassword)
	raw := testMessage("retry", 300)
	appendMessage(t, tc, "INBOX", raw)

	sink := newLogSink()
	mb, err := NewMailbox(memConfig(ms.addr, sink))
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	h := newRecorder(func(m *Mail) (Disposition, error) {
		calls++
		if calls == 1 {
			return Leave, errors.New("store is down")
		}
		return Processed, nil
	})
	stop := startRun(t, mb, h)
	first, second := h.next(t), h.next(t)
	if first.UID != second.UID || !bytes.Equal(first.Raw, second.Raw) {
		t.Errorf("retried mail UID %d (%d bytes), want UID %d again with the same bytes", second.UID, len(second.Raw), first.UID)
	}
	sink.waitFor(t, "message handled", 1)
	stop()
	st := mb.Stats()
	if st.HandlerErrors != 1 || st.Connects != 2 || st.Reconnects != 1 || st.Processed != 1 || st.Failing != 0 {
		t.Errorf("Stats() = %+v, want 1 handler error, 2 connects, 1 reconnect, 1 processed, none failing", st)
	}
	if !strings.Contains(sink.String(), "store is down") {
		t.Errorf("log does not say why the session ended:\n%s", sink)
	}
	checkFolder(t, tc, "Processed", raw)
}

// TestMemServerPolling strips IDLE from the server's capabilities, so the
// session polls.
func TestMemServerPolling(t *testing.T) {
	ms := newMemServer(t, imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}, "")
	proxy := imaptest.NewProxy(t, ms.addr, func(line []byte) []byte {
		if bytes.Contains(line, []byte("CAPABILITY")) {
			return bytes.Replace(line, []byte(" IDLE"), nil, 1)
		}
		return line
	})
	tc := dialTestClient(t, ms.addr, memUser, memPassword)
	sink := newLogSink()
	cfg := memConfig(proxy.Addr, sink)
	cfg.PollInterval = 100 * time.Millisecond
	mb, err := NewMailbox(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := newRecorder(processAll)
	startRun(t, mb, h)
	sink.waitFor(t, "mode=poll", 1)
	raw := testMessage("polled", 300)
	appendMessage(t, tc, "INBOX", raw)
	if m := h.next(t); !bytes.Equal(m.Raw, raw) {
		t.Errorf("polled mail: %d bytes, want the %d appended", len(m.Raw), len(raw))
	}
	if strings.Contains(sink.String(), "mode=idle") {
		t.Errorf("session used IDLE although the server does not offer it")
	}
}

// TestMemServerCutMidFetch cuts the first connection in the middle of a
// message body: the truncated message must not reach the handler, and the
// next session hands it over whole.
func TestMemServerCutMidFetch(t *testing.T) {
	ms := newMemServer(t, memCaps[0].caps, "")
	tc := dialTestClient(t, ms.addr, memUser, memPassword)
	raw := testMessage("cut", 200_000)
	appendMessage(t, tc, "INBOX", raw)

	proxy := imaptest.NewProxy(t, ms.addr, nil)
	proxy.CutNextAfter(100_000)
	sink := newLogSink()
	mb, err := NewMailbox(memConfig(proxy.Addr, sink))
	if err != nil {
		t.Fatal(err)
	}
	h := newRecorder(processAll)
	stop := startRun(t, mb, h)
	m := h.next(t)
	select {
	case <-proxy.Cut():
	default:
		t.Fatalf("the proxy did not cut the connection")
	}
	if !bytes.Equal(m.Raw, raw) {
		t.Fatalf("mail after the cut: %d bytes, want the %d appended", len(m.Raw), len(raw))
	}
	sink.waitFor(t, "message handled", 1)
	stop()
	if st := mb.Stats(); st.Fetched != 1 || st.Reconnects != 1 {
		t.Errorf("Stats() = %+v, want 1 fetched and 1 reconnect", st)
	}
	checkFolder(t, tc, "INBOX")
}

// TestMemServerFetchMissing hides one size response from the session: the
// message is listed but not fetched, and it must not be skipped silently.
func TestMemServerFetchMissing(t *testing.T) {
	ms := newMemServer(t, memCaps[0].caps, "")
	var mu sync.Mutex
	dropped := false
	proxy := imaptest.NewProxy(t, ms.addr, func(line []byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		if !dropped && bytes.Contains(line, []byte(" FETCH ")) && bytes.Contains(line, []byte("RFC822.SIZE")) {
			dropped = true
			return nil
		}
		return line
	})
	tc := dialTestClient(t, ms.addr, memUser, memPassword)
	raw := testMessage("hidden", 300)
	appendMessage(t, tc, "INBOX", raw)
	sink := newLogSink()
	mb, err := NewMailbox(memConfig(proxy.Addr, sink))
	if err != nil {
		t.Fatal(err)
	}
	h := newRecorder(processAll)
	stop := startRun(t, mb, h)
	if m := h.next(t); !bytes.Equal(m.Raw, raw) {
		t.Errorf("mail: %d bytes, want the %d appended", len(m.Raw), len(raw))
	}
	sink.waitFor(t, "message handled", 1)
	stop()
	if !strings.Contains(sink.String(), "listed but not returned by FETCH") {
		t.Errorf("log does not report the message FETCH did not return:\n%s", sink)
	}
	if st := mb.Stats(); st.Reconnects != 1 || st.Vanished != 0 || st.Fetched != 1 {
		t.Errorf("Stats() = %+v, want 1 reconnect, nothing vanished, 1 fetched", st)
	}
}

// TestMemServerExpungeGuard: on a server without UIDPLUS, a message that
// another client flagged \Deleted must be handed over before any EXPUNGE
// of ours removes it. The handler leaves it the first time, so that the
// other message of the batch is copied out while it is still unhandled.
func TestMemServerExpungeGuard(t *testing.T) {
	ms := newMemServer(t, imap.CapSet{imap.CapIMAP4rev1: {}}, "")
	tc := dialTestClient(t, ms.addr, memUser, memPassword)
	normal, flagged := testMessage("normal", 300), testMessage("flagged", 300)
	appendMessage(t, tc, "INBOX", normal)
	appendMessage(t, tc, "INBOX", flagged)
	if _, err := tc.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	err := tc.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}

	sink := newLogSink()
	cfg := memConfig(ms.addr, sink)
	cfg.LeaveRetry = 50 * time.Millisecond
	mb, err := NewMailbox(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	leftOnce := false
	h := newRecorder(func(m *Mail) (Disposition, error) {
		mu.Lock()
		defer mu.Unlock()
		if bytes.Equal(m.Raw, flagged) && !leftOnce {
			leftOnce = true
			return Leave, nil
		}
		return Processed, nil
	})
	stop := startRun(t, mb, h)
	for _, want := range [][]byte{normal, flagged, flagged} {
		if m := h.next(t); !bytes.Equal(m.Raw, want) {
			t.Errorf("mail UID %d: %d bytes, want the %d appended", m.UID, len(m.Raw), len(want))
		}
	}
	sink.waitFor(t, "message handled", 2)
	stop()
	if !strings.Contains(sink.String(), "not expunging") {
		t.Errorf("log does not show the EXPUNGE held back:\n%s", sink)
	}
	checkFolder(t, tc, "INBOX")
	checkFolder(t, tc, "Processed", normal, flagged)
}

// TestMemServerUnknownDisposition: a disposition the package does not know
// keeps the message, the one answer that loses nothing.
func TestMemServerUnknownDisposition(t *testing.T) {
	ms := newMemServer(t, memCaps[0].caps, "")
	tc := dialTestClient(t, ms.addr, memUser, memPassword)
	raw := testMessage("odd", 300)
	appendMessage(t, tc, "INBOX", raw)
	sink := newLogSink()
	mb, err := NewMailbox(memConfig(ms.addr, sink))
	if err != nil {
		t.Fatal(err)
	}
	h := newRecorder(func(*Mail) (Disposition, error) { return Disposition(42), nil })
	stop := startRun(t, mb, h)
	h.next(t)
	sink.waitFor(t, "unknown disposition", 1)
	stop()
	checkFolder(t, tc, "INBOX", raw)
	if st := mb.Stats(); st.Left != 1 || st.Processed+st.Rejected != 0 {
		t.Errorf("Stats() = %+v, want the message left", st)
	}
}

func TestMemServerXOAUTH2(t *testing.T) {
	t.Run("ok/token", func(t *testing.T) {
		ms := newMemServer(t, memCaps[0].caps, memToken)
		sink := newLogSink()
		cfg := memConfig(ms.addr, sink)
		cfg.Password = ""
		cfg.TokenSource = func(context.Context) (string, error) { return memToken, nil }
		mb, err := NewMailbox(cfg)
		if err != nil {
			t.Fatal(err)
		}
		startRun(t, mb, newRecorder(processAll))
		sink.waitFor(t, "waiting for new mail", 1)
		ms.mu.Lock()
		irs := ms.xoauth2IRs
		ms.mu.Unlock()
		want := "user=" + memUser + "\x01auth=Bearer " + memToken + "\x01\x01"
		if len(irs) != 1 || string(irs[0]) != want {
			t.Errorf("server received %q, want one %q", irs, want)
		}
		sink.checkNoSecrets(t, memToken)
	})
	t.Run("fail/refused-token", func(t *testing.T) {
		ms := newMemServer(t, memCaps[0].caps, memToken)
		sink := newLogSink()
		cfg := memConfig(ms.addr, sink)
		cfg.Password = ""
		cfg.TokenSource = func(context.Context) (string, error) { return "expired-token", nil }
		cfg.AuthRetry = time.Millisecond
		mb, err := NewMailbox(cfg)
		if err != nil {
			t.Fatal(err)
		}
		h := newRecorder(processAll)
		stop := startRun(t, mb, h)
		sink.waitFor(t, "refuse", 3)
		stop()
		// A refusal is its own state, logged at ERROR once, not at each
		// attempt.
		if n := sink.count("ERROR the IMAP server refused the credentials"); n != 1 {
			t.Errorf("%d ERROR lines about the refusal, want 1:\n%s", n, sink)
		}
		if hl := mb.Health(); hl.State != SessionAuthFailed || hl.AuthFailures < 3 || !strings.Contains(hl.LastError, "AUTHENTICATIONFAILED") {
			t.Errorf("Health() = %+v, want auth_failed after 3 refusals", hl)
		}
		if !strings.Contains(sink.String(), `server said {"status":"401"`) {
			t.Errorf("log does not carry the server's XOAUTH2 error:\n%s", sink)
		}
		ms.mu.Lock()
		final := ms.xoauth2Final
		ms.mu.Unlock()
		if len(final) == 0 || len(final[0]) != 0 {
			t.Errorf("responses to the error challenge = %q, want empty ones", final)
		}
		if st := mb.Stats(); st.Connects != 0 || st.ConnectFailures < 2 {
			t.Errorf("Stats() = %+v, want no connect and at least 2 failures", st)
		}
		select {
		case m := <-h.mails:
			t.Errorf("handler called with UID %d although authentication failed", m.UID)
		default:
		}
		sink.checkNoSecrets(t, "expired-token")
	})
	t.Run("fail/no-xoauth2-offered", func(t *testing.T) {
		ms := newMemServer(t, memCaps[0].caps, "")
		sink := newLogSink()
		cfg := memConfig(ms.addr, sink)
		cfg.Password = ""
		cfg.TokenSource = func(context.Context) (string, error) { return memToken, nil }
		mb, err := NewMailbox(cfg)
		if err != nil {
			t.Fatal(err)
		}
		startRun(t, mb, newRecorder(processAll))
		sink.waitFor(t, "does not offer AUTH=XOAUTH2", 1)
	})
}

func TestRunContract(t *testing.T) {
	ms := newMemServer(t, memCaps[0].caps, "")
	sink := newLogSink()
	mb, err := NewMailbox(memConfig(ms.addr, sink))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("fail/nil-handler", func(t *testing.T) {
		if err := mb.Run(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "nil Handler") {
			t.Errorf("Run(nil) = %v, want a nil-handler error", err)
		}
	})
	t.Run("fail/second-run", func(t *testing.T) {
		stop := startRun(t, mb, newRecorder(processAll))
		sink.waitFor(t, "waiting for new mail", 1)
		if err := mb.Run(context.Background(), newRecorder(processAll)); !errors.Is(err, ErrRunning) {
			t.Errorf("second Run() = %v, want ErrRunning", err)
		}
		stop()
	})
	t.Run("ok/cancel-during-backoff", func(t *testing.T) {
		// A server that is not there: Run keeps retrying until canceled.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cfg := memConfig(addr, newLogSink())
		cfg.Backoff.Min, cfg.Backoff.Max = time.Hour, time.Hour
		mb, err := NewMailbox(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := mb.Run(ctx, newRecorder(processAll)); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run() = %v, want context.DeadlineExceeded", err)
		}
	})
}
