package ingest

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
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
			tc.run(t, newDovecotEnv(t, dv, tc.parallel))
		})
		if tc.alsoParallel > 0 {
			t.Run(fmt.Sprintf("%s/parallel-%d", tc.name, tc.alsoParallel), func(t *testing.T) {
				t.Parallel()
				tc.run(t, newDovecotEnv(t, dv, tc.alsoParallel))
			})
		}
	}
}

// dovecotEnv is one case's user on the shared server.
type dovecotEnv struct {
	dv   *imaptest.Dovecot
	user string
	// parallel is the MailboxConfig.Parallel of config.
	parallel int
	// tc is the test's own connection, standing for the MTA and for the
	// operator's mail client.
	tc   *imapclient.Client
	sink *logSink
}

func newDovecotEnv(t *testing.T, dv *imaptest.Dovecot, parallel int) *dovecotEnv {
	user, err := dv.NewUser()
	if err != nil {
		t.Fatal(err)
	}
	e := &dovecotEnv{dv: dv, user: user, parallel: parallel, sink: newLogSink()}
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
		Parallel: e.parallel,
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

// dovecotCases run with Parallel 1 (the default, or parallel when set),
// and those with alsoParallel again with that many handler calls at once.
var dovecotCases = []struct {
	name         string
	run          func(t *testing.T, e *dovecotEnv)
	parallel     int
	alsoParallel int
}{
	{name: "ok/mail-present-at-start", run: testDovecotPresentAtStart, alsoParallel: 4},
	{name: "ok/new-mail-during-idle", run: testDovecotNewMailDuringIdle, alsoParallel: 4},
	{name: "ok/new-mail-while-polling", run: testDovecotPolling, alsoParallel: 4},
	{name: "ok/same-mail-twice", run: testDovecotSameMailTwice, alsoParallel: 4},
	{name: "ok/uidvalidity-change", run: testDovecotUIDValidityChange},
	{name: "ok/uidvalidity-change-while-connected", run: testDovecotUIDValidityChangeLive},
	{name: "ok/connection-cut-mid-fetch", run: testDovecotCutMidFetch, alsoParallel: 4},
	{name: "ok/over-cap-not-downloaded", run: testDovecotOverCap, alsoParallel: 4},
	{name: "ok/500-parts-intact", run: testDovecot500Parts},
	{name: "ok/handler-error-retried", run: testDovecotHandlerError, alsoParallel: 4},
	{name: "ok/leave-stays", run: testDovecotLeave, alsoParallel: 4},
	{name: "ok/retry-due-during-a-pass", run: testDovecotRetryDueDuringPass, alsoParallel: 4},
	{name: "ok/expunged-by-another-client", run: testDovecotExpungedElsewhere, alsoParallel: 4},
	{name: "ok/expunged-after-download", run: testDovecotExpungedAfterDownload, alsoParallel: 4},
	{name: "ok/starttls", run: testDovecotStartTLS},
	{name: "ok/login-without-auth-plain", run: testDovecotLogin},
	{name: "ok/implicit-tls", run: testDovecotImplicitTLS},
	{name: "fail/starttls-unknown-ca", run: testDovecotUnknownCA},
	{name: "ok/parallel-calls-overlap", run: testDovecotParallelOverlap, parallel: 4},
	{name: "ok/batch-mixed-outcomes", run: testDovecotBatchMixedOutcomes, alsoParallel: 4},
	{name: "ok/over-cap-in-batch", run: testDovecotOverCapInBatch, alsoParallel: 4},
	{name: "ok/understated-size-in-batch", run: testDovecotUnderstatedSize, alsoParallel: 4},
	{name: "ok/move-fails-after-commit", run: testDovecotMoveFails, alsoParallel: 4},
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
	got := map[string]bool{}
	for i, want := range raws {
		m := h.next(t)
		got[string(m.Raw)] = true
		// Calls made at once end in any order.
		if e.parallel <= 1 && !bytes.Equal(m.Raw, want) {
			t.Errorf("mail %d: got %d bytes, want the %d appended in that order", i, len(m.Raw), len(want))
		}
	}
	for i, want := range raws {
		if !got[string(want)] {
			t.Errorf("mail %d was not handed over", i)
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

// testDovecotRetryDueDuringPass: a mail held back by a pass because its
// retry was not due yet, and whose retry comes due while that pass still
// runs (another mail's handler is slow), is handled once the pass ends,
// without new mail or an IDLE restart to wake the session.
func testDovecotRetryDueDuringPass(t *testing.T, e *dovecotEnv) {
	failing, first, slow := testMessage("failing", 1000), testMessage("first", 1000), testMessage("slow", 1000)
	appendMessage(t, e.tc, "INBOX", failing)
	appendMessage(t, e.tc, "INBOX", first)
	cfg := e.config(e.dv.Addr)
	const retry = 500 * time.Millisecond
	cfg.Backoff.Min, cfg.Backoff.Max = retry, retry
	mb := e.mailbox(t, cfg)
	var (
		mu       sync.Mutex
		failures int
	)
	h := newRecorder(func(m *Mail) (Disposition, error) {
		switch {
		case bytes.Contains(m.Raw, []byte("Subject: failing")):
			mu.Lock()
			defer mu.Unlock()
			if failures++; failures == 1 {
				return Processed, errors.New("store down")
			}
		case bytes.Contains(m.Raw, []byte("Subject: slow")):
			// Past the failing mail's retry, which this pass held back.
			time.Sleep(3 * retry)
		}
		return Processed, nil
	})
	stop := startRun(t, mb, h)
	defer stop()
	e.sink.waitFor(t, "message handled", 1)
	appendMessage(t, e.tc, "INBOX", slow)
	e.sink.waitFor(t, "message handled", 3)
	checkFolder(t, e.tc, "INBOX")
	if st := mb.Stats(); st.Processed != 3 || st.HandlerErrors != 1 {
		t.Errorf("Stats() = %+v, want 3 processed after 1 handler error", st)
	}
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
	// The operator's client deletes the second message once the session
	// has listed both, before the session's FETCH reaches the server.
	var once sync.Once
	proxy := imaptest.NewProxy(t, e.dv.Addr, func(line []byte) []byte {
		if bytes.HasPrefix(line, []byte("* SEARCH")) || bytes.HasPrefix(line, []byte("* ESEARCH")) {
			once.Do(func() {
				if err := expungeSeq(e.tc, 2); err != nil {
					t.Errorf("expunging the second message: %v", err)
				}
			})
		}
		return line
	})
	mb := e.mailbox(t, e.config(proxy.Addr))
	h := newRecorder(processAll)
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
	checkFolder(t, e.tc, "INBOX")
	checkFolder(t, e.tc, "Processed", first)
}

// testDovecotExpungedAfterDownload: a message another client expunges
// after the session downloaded it (here while the handler deals with the
// message before it in the batch) is handed over, since its bytes are
// whole; Dovecot then refuses the batch's MOVE (EXPUNGEISSUED) until the
// session has seen the expunge, and the others move without a reconnect.
func testDovecotExpungedAfterDownload(t *testing.T, e *dovecotEnv) {
	first, doomed := testMessage("first", 1000), testMessage("doomed", 1000)
	appendMessage(t, e.tc, "INBOX", first)
	appendMessage(t, e.tc, "INBOX", doomed)
	mb := e.mailbox(t, e.config(e.dv.Addr))
	var once sync.Once
	var onceErr error
	h := newRecorder(func(m *Mail) (Disposition, error) {
		if bytes.Contains(m.Raw, []byte("Subject: first")) {
			once.Do(func() { onceErr = expungeSeq(e.tc, 2) })
			return Processed, onceErr
		}
		return Processed, nil
	})
	stop := startRun(t, mb, h)
	got := map[string]bool{}
	for range 2 {
		got[string(h.next(t).Raw)] = true
	}
	if !got[string(first)] || !got[string(doomed)] {
		t.Errorf("the handler did not get both mails of the batch")
	}
	e.sink.waitFor(t, "message handled", 2)
	stop()
	if st := mb.Stats(); st.Fetched != 2 || st.Reconnects != 0 || st.HandlerErrors != 0 {
		t.Errorf("Stats() = %+v, want 2 fetched, no reconnect, no handler error", st)
	}
	checkFolder(t, e.tc, "INBOX")
	checkFolder(t, e.tc, "Processed", first)
}

// expungeSeq deletes message seq of INBOX through c, as an operator's mail
// client would.
func expungeSeq(c *imapclient.Client, seq uint32) error {
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		return err
	}
	err := c.Store(imap.SeqSetNum(seq), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	if err == nil {
		err = c.Expunge().Close()
	}
	if err == nil {
		err = c.Unselect().Wait()
	}
	return err
}

// testDovecotParallelOverlap: with Parallel 4 the handler is called for up
// to 4 messages at once and never more, and every message ends in the
// folder its answer names, Processed and Rejected within one batch.
func testDovecotParallelOverlap(t *testing.T, e *dovecotEnv) {
	const n = 40
	var processed, rejected [][]byte
	for i := range n {
		raw := testMessage(fmt.Sprintf("overlap-%02d", i), 1000)
		appendMessage(t, e.tc, "INBOX", raw)
		if i%3 == 0 {
			rejected = append(rejected, raw)
		} else {
			processed = append(processed, raw)
		}
	}
	var (
		mu                   sync.Mutex
		calls, running, most int
		overlapped           = make(chan struct{})
		overlapOnce          sync.Once
	)
	h := newRecorder(func(m *Mail) (Disposition, error) {
		mu.Lock()
		calls++
		first := calls == 1
		running++
		most = max(most, running)
		if running > 1 {
			overlapOnce.Do(func() { close(overlapped) })
		}
		mu.Unlock()
		// The first call waits for a second one to start: calls made one
		// at a time would time out here and leave most at 1.
		if first {
			select {
			case <-overlapped:
			case <-time.After(testTimeout / 4):
			}
		}
		mu.Lock()
		running--
		mu.Unlock()
		var i int
		fmt.Sscanf(subjectOf(m.Raw), "overlap-%d", &i)
		if i%3 == 0 {
			return Rejected, nil
		}
		return Processed, nil
	})
	mb := e.mailbox(t, e.config(e.dv.Addr))
	stop := startRun(t, mb, h)
	for range n {
		h.next(t)
	}
	e.sink.waitFor(t, "message handled", n)
	stop()
	mu.Lock()
	defer mu.Unlock()
	if most < 2 || most > e.parallel {
		t.Errorf("at most %d handler calls ran at once, want 2..%d", most, e.parallel)
	}
	checkFolder(t, e.tc, "INBOX")
	checkFolder(t, e.tc, "Processed", processed...)
	checkFolder(t, e.tc, "Rejected", rejected...)
	if st := mb.Stats(); st.Processed != uint64(len(processed)) || st.Rejected != uint64(len(rejected)) || st.Fetched != n {
		t.Errorf("Stats() = %+v, want %d processed, %d rejected, %d fetched", st, len(processed), len(rejected), n)
	}
}

// testDovecotBatchMixedOutcomes: in one batch, a handler error keeps only
// its own message in INBOX, Leave keeps its own, and the others move to
// the folders their answers name.
func testDovecotBatchMixedOutcomes(t *testing.T, e *dovecotEnv) {
	var all, processed, rejected [][]byte
	var failing, left []byte
	for _, name := range []string{"ok-1", "fail", "rej-1", "left", "ok-2", "rej-2", "ok-3"} {
		raw := testMessage(name, 1000)
		appendMessage(t, e.tc, "INBOX", raw)
		all = append(all, raw)
		switch {
		case name == "fail":
			failing = raw
		case name == "left":
			left = raw
		case strings.HasPrefix(name, "rej"):
			rejected = append(rejected, raw)
		default:
			processed = append(processed, raw)
		}
	}
	cfg := e.config(e.dv.Addr)
	// The failing mail's retries come after the test.
	cfg.Backoff.Min, cfg.Backoff.Max = time.Hour, time.Hour
	mb := e.mailbox(t, cfg)
	h := newRecorder(func(m *Mail) (Disposition, error) {
		switch subject := subjectOf(m.Raw); {
		case subject == "fail":
			return Processed, errors.New("cannot record this one")
		case subject == "left":
			return Leave, nil
		case strings.HasPrefix(subject, "rej"):
			return Rejected, nil
		}
		return Processed, nil
	})
	stop := startRun(t, mb, h)
	for range all {
		h.next(t)
	}
	e.sink.waitFor(t, "mode=idle", 1)
	stop()
	checkFolder(t, e.tc, "INBOX", failing, left)
	checkFolder(t, e.tc, "Processed", processed...)
	checkFolder(t, e.tc, "Rejected", rejected...)
	st := mb.Stats()
	if st.HandlerErrors != 1 || st.Left != 1 || st.Failing != 1 || st.Processed != 3 || st.Rejected != 2 || st.Reconnects != 0 {
		t.Errorf("Stats() = %+v, want 1 handler error, 1 left, 1 failing, 3 processed, 2 rejected, no reconnect", st)
	}
}

// testDovecotOverCapInBatch: in a batch, the message over the cap reaches
// the handler with its header only, and its body is never downloaded; the
// others come whole.
func testDovecotOverCapInBatch(t *testing.T, e *dovecotEnv) {
	proxyBytes, bigSize := runOverCapBatch(t, e, nil)
	if proxyBytes > 100_000 {
		t.Errorf("the server sent %d bytes, want well under the %d of the big message", proxyBytes, bigSize)
	}
}

// testDovecotUnderstatedSize: a server whose RFC822.SIZE understates a
// message (the proxy rewrites it) still cannot make the batched FETCH
// download more than the cap of it: the message is handed over as over
// the cap, with its header.
func testDovecotUnderstatedSize(t *testing.T, e *dovecotEnv) {
	understate := func(big []byte) func(line []byte) []byte {
		realSize := []byte(fmt.Sprintf("RFC822.SIZE %d", len(big)))
		return func(line []byte) []byte {
			return bytes.Replace(line, realSize, []byte("RFC822.SIZE 1000"), 1)
		}
	}
	proxyBytes, _ := runOverCapBatch(t, e, understate)
	if proxyBytes > 3*overCapBatchLimit+20_000 {
		t.Errorf("the server sent %d bytes, want at most the cap's worth of each message", proxyBytes)
	}
}

// overCapBatchLimit is the MaxMessageBytes of runOverCapBatch.
const overCapBatchLimit = 20_000

// runOverCapBatch hands over a batch of a small, a big (over the cap) and a
// small message through a proxy whose rewrite, when not nil, is made from
// the big message; it checks that the handler got the small ones whole
// and the big one as over the cap with its header, and returns the bytes
// the server sent and the big message's size.
func runOverCapBatch(t *testing.T, e *dovecotEnv, rewrite func(big []byte) func(line []byte) []byte) (proxyBytes int64, bigSize int) {
	t.Helper()
	small1, big, small2 := testMessage("small-1", 1000), testMessage("big", 400_000), testMessage("small-2", 1000)
	for _, raw := range [][]byte{small1, big, small2} {
		appendMessage(t, e.tc, "INBOX", raw)
	}
	var rw func(line []byte) []byte
	if rewrite != nil {
		rw = rewrite(big)
	}
	proxy := imaptest.NewProxy(t, e.dv.Addr, rw)
	cfg := e.config(proxy.Addr)
	cfg.MaxMessageBytes = overCapBatchLimit
	mb := e.mailbox(t, cfg)
	h := newRecorder(processAll)
	stop := startRun(t, mb, h)
	header, _, _ := bytes.Cut(big, []byte("\r\n\r\n"))
	header = append(header, "\r\n\r\n"...)
	for range 3 {
		m := h.next(t)
		switch subjectOf(m.Raw) {
		case "small-1", "small-2":
			if m.OverCap || (!bytes.Equal(m.Raw, small1) && !bytes.Equal(m.Raw, small2)) {
				t.Errorf("small mail UID %d: OverCap %v, %d bytes; want it whole", m.UID, m.OverCap, len(m.Raw))
			}
		default:
			if !m.OverCap || m.Raw != nil || !bytes.Equal(m.Header, header) {
				t.Errorf("big mail UID %d: OverCap %v, %d raw bytes, header %q; want over the cap with the header only", m.UID, m.OverCap, len(m.Raw), m.Header)
			}
		}
	}
	e.sink.waitFor(t, "message handled", 3)
	stop()
	if st := mb.Stats(); st.OverCap != 1 || st.Fetched != 3 {
		t.Errorf("Stats() = %+v, want 1 over the cap of 3 fetched", st)
	}
	checkFolder(t, e.tc, "INBOX")
	return proxy.ServerBytes(), len(big)
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

// testDovecotMoveFails: the server answers NO to the batch's MOVE (the
// proxy turns Dovecot's OK into one) after the handler committed every
// message: the session ends with an error naming the move, reconnects, and
// nothing is lost: the messages the MOVE did carry are not handed over
// again, and every one is in Processed.
func testDovecotMoveFails(t *testing.T, e *dovecotEnv) {
	var raws [][]byte
	for i := range 3 {
		raw := testMessage(fmt.Sprintf("move-fails-%d", i), 1000)
		raws = append(raws, raw)
		appendMessage(t, e.tc, "INBOX", raw)
	}
	var once sync.Once
	proxy := imaptest.NewProxy(t, e.dv.Addr, func(line []byte) []byte {
		if bytes.Contains(line, []byte(" OK Move completed")) {
			once.Do(func() { line = bytes.Replace(line, []byte(" OK Move completed"), []byte(" NO Move refused"), 1) })
		}
		return line
	})
	mb := e.mailbox(t, e.config(proxy.Addr))
	h := newRecorder(processAll)
	stop := startRun(t, mb, h)
	for range raws {
		h.next(t)
	}
	e.sink.waitFor(t, "after the handler committed them", 1)
	e.sink.waitFor(t, "mode=idle", 1)
	stop()
	select {
	case m := <-h.mails:
		t.Errorf("handler got UID %d again although the MOVE had carried it", m.UID)
	default:
	}
	if st := mb.Stats(); st.Reconnects != 1 || st.Fetched != 3 {
		t.Errorf("Stats() = %+v, want 1 reconnect and 3 fetched", st)
	}
	checkFolder(t, e.tc, "INBOX")
	checkFolder(t, e.tc, "Processed", raws...)
}
