package ingest

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/revokd/revokd/internal/imaptest"
)

// TestDovecot runs the Mailbox against a real Dovecot 2.3 started in a
// temporary directory, listening on 127.0.0.1. Each case has a mail user of
// its own and runs in parallel with the others; the server stops when they
// are all done.
//
// Dovecot matters because it behaves unlike the in-memory server where it
// hurts: mail appended through another connection stays invisible to a
// session until NOOP or IDLE, and a FETCH of it returns nothing.
func TestDovecot(t *testing.T) {
	if imaptest.DovecotPath() == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("dovecot is not installed (Debian: apt-get install dovecot-imapd)")
		}
		t.Skip("dovecot is not installed (Debian: apt-get install dovecot-imapd)")
	}
	// Not t.TempDir: Dovecot's Unix sockets need a short path, and the mail
	// user must be able to traverse the directory.
	dir, err := os.MkdirTemp("", "dovecot")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	dv, err := imaptest.StartDovecot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dovecot log:\n%s", dv.Log())
		}
		if err := dv.Stop(); err != nil {
			t.Error(err)
		}
	})

	for _, tc := range dovecotCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newDovecotEnv(t, dv))
		})
	}
}

// dovecotEnv is one case's user on the shared server.
type dovecotEnv struct {
	dv   *imaptest.Dovecot
	user string
	// tc is the test's own connection, standing for the MTA and for the
	// operator's mail client.
	tc   *imapclient.Client
	sink *logSink
}

func newDovecotEnv(t *testing.T, dv *imaptest.Dovecot) *dovecotEnv {
	user, err := dv.NewUser()
	if err != nil {
		t.Fatal(err)
	}
	e := &dovecotEnv{dv: dv, user: user, sink: newLogSink()}
	e.tc = dialTestClient(t, dv.Addr, user, dv.Password)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mailbox log:\n%s", e.sink)
		}
	})
	return e
}

// config returns a plaintext config for addr (Dovecot's or a proxy's).
func (e *dovecotEnv) config(addr string) MailboxConfig {
	return MailboxConfig{
		Address:  addr,
		Security: SecurityNone,
		Username: e.user,
		Password: e.dv.Password,
		Backoff:  fastBackoff,
		Logger:   e.sink.logger(),
	}
}

func (e *dovecotEnv) mailbox(t *testing.T, cfg MailboxConfig) *Mailbox {
	t.Helper()
	mb, err := NewMailbox(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

// idempotentStore stands for the worker's store: it commits each distinct
// message (by hash) once, whatever its UID, and counts the commits.
type idempotentStore struct {
	mu      sync.Mutex
	commits map[[32]byte]int
	seen    []*Mail
}

func newIdempotentStore() *idempotentStore {
	return &idempotentStore{commits: make(map[[32]byte]int)}
}

// record commits m unless it was already committed, and reports whether it
// was new.
func (s *idempotentStore) record(m *Mail) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, m)
	key := sha256.Sum256(m.Raw)
	if s.commits[key] > 0 {
		return false
	}
	s.commits[key]++
	return true
}

var dovecotCases = []struct {
	name string
	run  func(t *testing.T, e *dovecotEnv)
}{
	{"ok/mail-present-at-start", testDovecotPresentAtStart},
	{"ok/new-mail-during-idle", testDovecotNewMailDuringIdle},
	{"ok/new-mail-while-polling", testDovecotPolling},
	{"ok/same-mail-twice", testDovecotSameMailTwice},
	{"ok/uidvalidity-change", testDovecotUIDValidityChange},
	{"ok/uidvalidity-change-while-connected", testDovecotUIDValidityChangeLive},
	{"ok/connection-cut-mid-fetch", testDovecotCutMidFetch},
	{"ok/over-cap-not-downloaded", testDovecotOverCap},
	{"ok/500-parts-intact", testDovecot500Parts},
	{"ok/handler-error-retried", testDovecotHandlerError},
	{"ok/leave-stays", testDovecotLeave},
	{"ok/expunged-by-another-client", testDovecotExpungedElsewhere},
	{"ok/starttls", testDovecotStartTLS},
	{"ok/login-without-auth-plain", testDovecotLogin},
	{"ok/implicit-tls", testDovecotImplicitTLS},
	{"fail/starttls-unknown-ca", testDovecotUnknownCA},
}

// testDovecotPresentAtStart: mail delivered while the worker is down is
// handled at start, in UID order, and moved.
func testDovecotPresentAtStart(t *testing.T, e *dovecotEnv) {
	// More than one metaBatch, so sizes are fetched in several batches.
	const n = 2*metaBatch + 5
	var raws [][]byte
	for i := range n {
		raw := testMessage("early-"+strconv.Itoa(i), 1000)
		raws = append(raws, raw)
		appendMessage(t, e.tc, "INBOX", raw)
	}
	mb := e.mailbox(t, e.config(e.dv.Addr))
	h := newRecorder(processAll)
	stop := startRun(t, mb, h)
	for i, want := range raws {
		if m := h.next(t); !bytes.Equal(m.Raw, want) {
			t.Errorf("mail %d: got %d bytes, want the %d appended in that order", i, len(m.Raw), len(want))
		}
	}
	e.sink.waitFor(t, "message handled", n)
	stop()
	checkFolder(t, e.tc, "INBOX")
	checkFolder(t, e.tc, "Processed", raws...)
	checkFolder(t, e.tc, "Rejected")
	e.sink.checkNoSecrets(t, e.dv.Password)
}

// testDovecotNewMailDuringIdle: mail appended by another connection while
// the session idles is noticed and handled, with the default 25-minute IDLE
// restart, so through the server's notice.
func testDovecotNewMailDuringIdle(t *testing.T, e *dovecotEnv) {
	mb := e.mailbox(t, e.config(e.dv.Addr))
	h := newRecorder(processAll)
	stop := startRun(t, mb, h)
	var raws [][]byte
	for i := range 2 {
		e.sink.waitFor(t, "mode=idle", i+1)
		raw := testMessage("idle-"+strconv.Itoa(i), 1000)
		raws = append(raws, raw)
		appendMessage(t, e.tc, "INBOX", raw)
		if m := h.next(t); !bytes.Equal(m.Raw, raw) {
			t.Fatalf("mail %d delivered during IDLE: got %d bytes, want the %d appended", i, len(m.Raw), len(raw))
		}
		e.sink.waitFor(t, "message handled", i+1)
	}
	stop()
	checkFolder(t, e.tc, "Processed", raws...)
	if st := mb.Stats(); st.Connects != 1 || st.Reconnects != 0 {
		t.Errorf("Stats() = %+v, want one connection and no reconnect", st)
	}
}

// testDovecotPolling hides IDLE from the session: it must NOOP before
// listing, or Dovecot never shows it the new mail.
func testDovecotPolling(t *testing.T, e *dovecotEnv) {
	proxy := imaptest.NewProxy(t, e.dv.Addr, func(line []byte) []byte {
		if bytes.Contains(line, []byte("CAPABILITY")) {
			return bytes.Replace(line, []byte(" IDLE"), nil, 1)
		}
		return line
	})
	cfg := e.config(proxy.Addr)
	cfg.PollInterval = 200 * time.Millisecond
	mb := e.mailbox(t, cfg)
	h := newRecorder(processAll)
	startRun(t, mb, h)
	e.sink.waitFor(t, "mode=poll", 1)
	raw := testMessage("polled", 1000)
	appendMessage(t, e.tc, "INBOX", raw)
	if m := h.next(t); !bytes.Equal(m.Raw, raw) {
		t.Errorf("polled mail: got %d bytes, want the %d appended", len(m.Raw), len(raw))
	}
	if n := e.sink.count("mode=idle"); n != 0 {
		t.Errorf("session idled %d times although the server hid IDLE", n)
	}
}

// testDovecotSameMailTwice: the same bytes appended twice are two mails
// with their own UIDs; the idempotent handler commits once.
func testDovecotSameMailTwice(t *testing.T, e *dovecotEnv) {
	raw := testMessage("twice", 2000)
	appendMessage(t, e.tc, "INBOX", raw)
	appendMessage(t, e.tc, "INBOX", raw)
	store := newIdempotentStore()
	mb := e.mailbox(t, e.config(e.dv.Addr))
	h := newRecorder(func(m *Mail) (Disposition, error) {
		store.record(m)
		return Processed, nil
	})
	stop := startRun(t, mb, h)
	a, b := h.next(t), h.next(t)
	if a.UID == b.UID || !bytes.Equal(a.Raw, raw) || !bytes.Equal(b.Raw, raw) {
		t.Errorf("got UIDs %d and %d with %d and %d bytes, want two UIDs with the same %d bytes", a.UID, b.UID, len(a.Raw), len(b.Raw), len(raw))
	}
	e.sink.waitFor(t, "message handled", 2)
	stop()
	if n := len(store.commits); n != 1 {
		t.Errorf("store committed %d distinct mails, want 1", n)
	}
	checkFolder(t, e.tc, "Processed", raw, raw)
}

// testDovecotUIDValidityChange: mails handled but not moved (the handler
// left them, as after a crash between commit and move) come again under a
// new UIDVALIDITY; the handler, idempotent by hash, commits each once.
func testDovecotUIDValidityChange(t *testing.T, e *dovecotEnv) {
	const folder = "Requests"
	createFolder(t, e.tc, folder)
	a, b := testMessage("uidv-a", 1500), testMessage("uidv-b", 1500)
	appendMessage(t, e.tc, folder, a)
	appendMessage(t, e.tc, folder, b)

	store := newIdempotentStore()
	var crashed bool // phase one: commit, then "crash" before the move
	var mu sync.Mutex
	h := newRecorder(func(m *Mail) (Disposition, error) {
		store.record(m)
		mu.Lock()
		defer mu.Unlock()
		if !crashed {
			return Leave, nil
		}
		return Processed, nil
	})
	cfg := e.config(e.dv.Addr)
	cfg.Mailbox = folder
	mb := e.mailbox(t, cfg)

	stop := startRun(t, mb, h)
	first := []*Mail{h.next(t), h.next(t)}
	e.sink.waitFor(t, "message left", 2)
	stop()

	if _, err := e.dv.Doveadm("mailbox", "update", "-u", e.user, "--uid-validity", strconv.FormatUint(uint64(first[0].UIDValidity)+1000, 10), folder); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	crashed = true
	mu.Unlock()
	stop = startRun(t, mb, h)
	second := []*Mail{h.next(t), h.next(t)}
	e.sink.waitFor(t, "message handled", 2)
	stop()

	for i := range 2 {
		if second[i].UIDValidity == first[i].UIDValidity {
			t.Errorf("mail %d: UIDVALIDITY %d both times, want a change", i, first[i].UIDValidity)
		}
		if !bytes.Equal(second[i].Raw, first[i].Raw) {
			t.Errorf("mail %d: bytes differ after the UIDVALIDITY change", i)
		}
	}
	for key, n := range store.commits {
		if n != 1 {
			t.Errorf("mail %x committed %d times, want 1", key[:4], n)
		}
	}
	if len(store.commits) != 2 {
		t.Errorf("store holds %d mails, want 2", len(store.commits))
	}
	if st := mb.Stats(); st.UIDValidityChanges != 1 || st.UIDValidity != second[0].UIDValidity {
		t.Errorf("Stats() = %+v, want 1 UIDVALIDITY change and UIDValidity %d", st, second[0].UIDValidity)
	}
	checkFolder(t, e.tc, folder)
	checkFolder(t, e.tc, "Processed", a, b)
}

// testDovecotUIDValidityChangeLive changes UIDVALIDITY under an idling
// session. Dovecot's IDLE says nothing about it; the next delivery wakes the
// session, whose next command finds the connection dropped, and the new
// session hands both messages over under the new UIDVALIDITY.
func testDovecotUIDValidityChangeLive(t *testing.T, e *dovecotEnv) {
	raw, wake := testMessage("uidv-live", 1000), testMessage("uidv-wake", 1000)
	appendMessage(t, e.tc, "INBOX", raw)
	store := newIdempotentStore()
	var firstUIDValidity uint32
	h := newRecorder(func(m *Mail) (Disposition, error) {
		store.record(m)
		if firstUIDValidity == 0 {
			firstUIDValidity = m.UIDValidity
		}
		if m.UIDValidity == firstUIDValidity {
			return Leave, nil
		}
		return Processed, nil
	})
	mb := e.mailbox(t, e.config(e.dv.Addr))
	stop := startRun(t, mb, h)
	first := h.next(t)
	e.sink.waitFor(t, "mode=idle", 1)
	newUIDValidity := first.UIDValidity + 1000
	if _, err := e.dv.Doveadm("mailbox", "update", "-u", e.user, "--uid-validity", strconv.FormatUint(uint64(newUIDValidity), 10), "INBOX"); err != nil {
		t.Fatal(err)
	}
	appendMessage(t, e.tc, "INBOX", wake)
	got := map[string]*Mail{}
	for len(got) < 2 {
		m := h.next(t)
		if m.UIDValidity != newUIDValidity {
			t.Fatalf("mail UID %d handed over with UIDVALIDITY %d after the change to %d", m.UID, m.UIDValidity, newUIDValidity)
		}
		got[string(m.Raw)] = m
	}
	e.sink.waitFor(t, "message handled", 2)
	stop()
	if got[string(raw)] == nil || got[string(wake)] == nil {
		t.Errorf("mails handed over after the change are not the two appended")
	}
	if len(store.commits) != 2 {
		t.Errorf("store holds %d mails, want 2", len(store.commits))
	}
	if st := mb.Stats(); st.UIDValidityChanges != 1 || st.Reconnects != 1 {
		t.Errorf("Stats() = %+v, want 1 UIDVALIDITY change and 1 reconnect", st)
	}
	checkFolder(t, e.tc, "Processed", raw, wake)
}

// testDovecotCutMidFetch: the server's connection dies in the middle of a
// message body; the session reconnects and the handler sees the message
// once, whole.
func testDovecotCutMidFetch(t *testing.T, e *dovecotEnv) {
	raw := testMessage("cut", 300_000)
	appendMessage(t, e.tc, "INBOX", raw)
	proxy := imaptest.NewProxy(t, e.dv.Addr, nil)
	proxy.CutNextAfter(150_000)
	mb := e.mailbox(t, e.config(proxy.Addr))
	h := newRecorder(processAll)
	stop := startRun(t, mb, h)
	m := h.next(t)
	select {
	case <-proxy.Cut():
	default:
		t.Fatal("the proxy did not cut the connection")
	}
	if !bytes.Equal(m.Raw, raw) {
		t.Fatalf("mail after the cut: %d bytes, want the %d appended", len(m.Raw), len(raw))
	}
	e.sink.waitFor(t, "message handled", 1)
	stop()
	if st := mb.Stats(); st.Fetched != 1 || st.Reconnects != 1 || st.Connects != 2 {
		t.Errorf("Stats() = %+v, want 1 fetched, 1 reconnect, 2 connects", st)
	}
	if n := proxy.Accepted(); n != 2 {
		t.Errorf("proxy accepted %d connections, want 2", n)
	}
	checkFolder(t, e.tc, "INBOX")
	checkFolder(t, e.tc, "Processed", raw)
}

// testDovecotOverCap: a 30 MB message over a 20 MB cap reaches the handler
// without its body, goes to Rejected, and is never downloaded.
func testDovecotOverCap(t *testing.T, e *dovecotEnv) {
	const size = 30 << 20
	raw := testMessage("huge", size)
	appendMessage(t, e.tc, "INBOX", raw)
	proxy := imaptest.NewProxy(t, e.dv.Addr, nil)
	cfg := e.config(proxy.Addr)
	cfg.MaxMessageBytes = 20 << 20
	mb := e.mailbox(t, cfg)
	h := newRecorder(func(m *Mail) (Disposition, error) {
		if m.OverCap {
			return Rejected, nil
		}
		return Processed, nil
	})
	stop := startRun(t, mb, h)
	m := h.next(t)
	if !m.OverCap || m.Raw != nil || m.Size != int64(len(raw)) {
		t.Errorf("mail: OverCap %v, %d raw bytes, Size %d; want OverCap, no bytes, Size %d", m.OverCap, len(m.Raw), m.Size, len(raw))
	}
	e.sink.waitFor(t, "message handled", 1)
	stop()
	if n := proxy.ServerBytes(); n > 64<<10 {
		t.Errorf("the server sent %d bytes through the proxy, want a few KiB (the body must not be fetched)", n)
	}
	// Check the Rejected folder by size: downloading 30 MB proves nothing.
	if _, err := e.tc.Select("Rejected", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	bufs, err := e.tc.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{RFC822Size: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(bufs) != 1 || bufs[0].RFC822Size != int64(len(raw)) {
		t.Errorf("Rejected holds %d messages, want the one of %d bytes", len(bufs), len(raw))
	}
	if err := e.tc.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	checkFolder(t, e.tc, "INBOX")
}

// testDovecot500Parts: a message of 500 PDF parts comes through byte for
// byte, and ParseMessage finds every part.
func testDovecot500Parts(t *testing.T, e *dovecotEnv) {
	const parts = 500
	var b bytes.Buffer
	b.WriteString("From: holder@example.test\r\nTo: desk@example.test\r\nSubject: many parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0undary\"\r\n\r\npreamble\r\n")
	for i := range parts {
		pdf := fmt.Sprintf("%%PDF-1.7\n%% part %d\n%%%%EOF\n", i)
		fmt.Fprintf(&b, "--b0undary\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"form-%d.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n", i, base64.StdEncoding.EncodeToString([]byte(pdf)))
	}
	b.WriteString("--b0undary--\r\n")
	raw := b.Bytes()
	appendMessage(t, e.tc, "INBOX", raw)
	mb := e.mailbox(t, e.config(e.dv.Addr))
	h := newRecorder(processAll)
	startRun(t, mb, h)
	m := h.next(t)
	if !bytes.Equal(m.Raw, raw) {
		t.Fatalf("got %d bytes, want the %d appended, unchanged", len(m.Raw), len(raw))
	}
	msg, err := ParseMessage(bytes.NewReader(m.Raw), Limits{})
	if err != nil {
		t.Fatalf("ParseMessage() error = %v", err)
	}
	if len(msg.Attachments) != parts {
		t.Errorf("ParseMessage() found %d PDF parts, want %d", len(msg.Attachments), parts)
	}
}

// testDovecotHandlerError: a failing handler leaves the mail in place; it
// comes again after the backoff, and then moves.
func testDovecotHandlerError(t *testing.T, e *dovecotEnv) {
	raw := testMessage("retry", 1000)
	appendMessage(t, e.tc, "INBOX", raw)
	mb := e.mailbox(t, e.config(e.dv.Addr))
	var mu sync.Mutex
	calls := 0
	h := newRecorder(func(m *Mail) (Disposition, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= 2 {
			return Processed, fmt.Errorf("store down (%d)", calls)
		}
		return Processed, nil
	})
	stop := startRun(t, mb, h)
	ms := []*Mail{h.next(t), h.next(t), h.next(t)}
	for _, m := range ms[1:] {
		if m.UID != ms[0].UID || !bytes.Equal(m.Raw, raw) {
			t.Errorf("retry handed UID %d (%d bytes), want UID %d with the same bytes", m.UID, len(m.Raw), ms[0].UID)
		}
	}
	e.sink.waitFor(t, "message handled", 1)
	stop()
	if st := mb.Stats(); st.HandlerErrors != 2 || st.Processed != 1 || st.Reconnects != 2 {
		t.Errorf("Stats() = %+v, want 2 handler errors, 2 reconnects, 1 processed", st)
	}
	checkFolder(t, e.tc, "INBOX")
	checkFolder(t, e.tc, "Processed", raw)
}

// testDovecotLeave: a mail the handler leaves stays in the mailbox, and is
// not handed over again within LeaveRetry.
func testDovecotLeave(t *testing.T, e *dovecotEnv) {
	left, other := testMessage("left", 1000), testMessage("other", 1000)
	appendMessage(t, e.tc, "INBOX", left)
	mb := e.mailbox(t, e.config(e.dv.Addr))
	h := newRecorder(func(m *Mail) (Disposition, error) {
		if bytes.Contains(m.Raw, []byte("Subject: left")) {
			return Leave, nil
		}
		return Processed, nil
	})
	stop := startRun(t, mb, h)
	if m := h.next(t); !bytes.Equal(m.Raw, left) {
		t.Fatalf("first mail: %d bytes, want the left one", len(m.Raw))
	}
	e.sink.waitFor(t, "mode=idle", 1)
	// New mail wakes the session; the left one must not come again yet.
	appendMessage(t, e.tc, "INBOX", other)
	if m := h.next(t); !bytes.Equal(m.Raw, other) {
		t.Errorf("second mail: %d bytes, want the other one (the left one is not due)", len(m.Raw))
	}
	e.sink.waitFor(t, "message handled", 1)
	stop()
	checkFolder(t, e.tc, "INBOX", left)
	checkFolder(t, e.tc, "Processed", other)
	if st := mb.Stats(); st.Left != 1 || st.Processed != 1 {
		t.Errorf("Stats() = %+v, want 1 left and 1 processed", st)
	}
}

// testDovecotExpungedElsewhere: a message listed by the session but
// expunged by another client before its body is fetched is not handed over,
// and is counted, not silently skipped.
func testDovecotExpungedElsewhere(t *testing.T, e *dovecotEnv) {
	first, doomed := testMessage("first", 1000), testMessage("doomed", 1000)
	appendMessage(t, e.tc, "INBOX", first)
	appendMessage(t, e.tc, "INBOX", doomed)
	mb := e.mailbox(t, e.config(e.dv.Addr))
	h := newRecorder(func(m *Mail) (Disposition, error) {
		if bytes.Contains(m.Raw, []byte("Subject: first")) {
			// The operator's client deletes the second message while the
			// first is being handled.
			if _, err := e.tc.Select("INBOX", nil).Wait(); err != nil {
				return Leave, err
			}
			err := e.tc.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
			if err == nil {
				err = e.tc.Expunge().Close()
			}
			if err == nil {
				err = e.tc.Unselect().Wait()
			}
			if err != nil {
				return Leave, err
			}
		}
		return Processed, nil
	})
	stop := startRun(t, mb, h)
	if m := h.next(t); !bytes.Equal(m.Raw, first) {
		t.Fatalf("first mail: %d bytes, want the first one", len(m.Raw))
	}
	e.sink.waitFor(t, "mode=idle", 1)
	stop()
	select {
	case m := <-h.mails:
		t.Errorf("handler got UID %d (%d bytes) after it was expunged", m.UID, len(m.Raw))
	default:
	}
	if st := mb.Stats(); st.Vanished != 1 || st.Fetched != 1 || st.Reconnects != 0 {
		t.Errorf("Stats() = %+v, want 1 vanished, 1 fetched, no reconnect", st)
	}
}

func (e *dovecotEnv) tlsConfig() *tls.Config {
	roots := x509.NewCertPool()
	roots.AddCert(e.dv.CACert)
	return &tls.Config{RootCAs: roots}
}

func testDovecotStartTLS(t *testing.T, e *dovecotEnv) {
	raw := testMessage("starttls", 1000)
	appendMessage(t, e.tc, "INBOX", raw)
	cfg := e.config(e.dv.Addr)
	cfg.Security = SecurityStartTLS
	cfg.TLSConfig = e.tlsConfig()
	mb := e.mailbox(t, cfg)
	h := newRecorder(processAll)
	startRun(t, mb, h)
	if m := h.next(t); !bytes.Equal(m.Raw, raw) {
		t.Errorf("mail over STARTTLS: %d bytes, want the %d appended", len(m.Raw), len(raw))
	}
}

func testDovecotImplicitTLS(t *testing.T, e *dovecotEnv) {
	raw := testMessage("tls", 1000)
	appendMessage(t, e.tc, "INBOX", raw)
	cfg := e.config(e.dv.TLSAddr)
	cfg.Security = SecurityTLS
	cfg.TLSConfig = e.tlsConfig()
	mb := e.mailbox(t, cfg)
	h := newRecorder(processAll)
	startRun(t, mb, h)
	if m := h.next(t); !bytes.Equal(m.Raw, raw) {
		t.Errorf("mail over TLS: %d bytes, want the %d appended", len(m.Raw), len(raw))
	}
}

// testDovecotLogin hides AUTH=PLAIN, so the session falls back to LOGIN.
func testDovecotLogin(t *testing.T, e *dovecotEnv) {
	proxy := imaptest.NewProxy(t, e.dv.Addr, func(line []byte) []byte {
		return bytes.ReplaceAll(line, []byte(" AUTH=PLAIN"), nil)
	})
	raw := testMessage("login", 1000)
	appendMessage(t, e.tc, "INBOX", raw)
	mb := e.mailbox(t, e.config(proxy.Addr))
	h := newRecorder(processAll)
	startRun(t, mb, h)
	if m := h.next(t); !bytes.Equal(m.Raw, raw) {
		t.Errorf("mail after LOGIN: %d bytes, want the %d appended", len(m.Raw), len(raw))
	}
	e.sink.checkNoSecrets(t, e.dv.Password)
}

// testDovecotUnknownCA: with the system roots, the test CA's certificate is
// refused and nothing is read.
func testDovecotUnknownCA(t *testing.T, e *dovecotEnv) {
	appendMessage(t, e.tc, "INBOX", testMessage("unread", 1000))
	cfg := e.config(e.dv.Addr)
	cfg.Security = SecurityStartTLS
	mb := e.mailbox(t, cfg)
	h := newRecorder(processAll)
	stop := startRun(t, mb, h)
	e.sink.waitFor(t, "reconnecting", 2)
	stop()
	if log := e.sink.String(); !strings.Contains(log, "certificate") {
		t.Errorf("log does not say the certificate was refused:\n%s", log)
	}
	if st := mb.Stats(); st.Connects != 0 || st.Fetched != 0 {
		t.Errorf("Stats() = %+v, want no connect and nothing fetched", st)
	}
	checkFolder(t, e.tc, "INBOX", testMessage("unread", 1000))
}
