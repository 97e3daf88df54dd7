package ingest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

// handlerCall is one Handle call as a test handler saw it.
type handlerCall struct {
	subject  string
	uid      uint32
	at       time.Time
	connects uint64 // Stats().Connects during the call: which session made it
}

// subjectOf returns the name testMessage put in the Subject, "" when none.
func subjectOf(raw []byte) string {
	_, rest, ok := bytes.Cut(raw, []byte("Subject: "))
	if !ok {
		return ""
	}
	subject, _, _ := bytes.Cut(rest, []byte("\r\n"))
	return string(subject)
}

// callRecorder is a Handler that reports every call on a channel and fails
// on the subjects in fail.
type callRecorder struct {
	mb    *Mailbox
	fail  func(subject string) bool
	calls chan handlerCall
}

func newCallRecorder(mb *Mailbox, fail func(subject string) bool) *callRecorder {
	return &callRecorder{mb: mb, fail: fail, calls: make(chan handlerCall, 1024)}
}

func (r *callRecorder) Handle(_ context.Context, m *Mail) (Disposition, error) {
	c := handlerCall{subject: subjectOf(m.Raw), uid: m.UID, at: time.Now(), connects: r.mb.Stats().Connects}
	r.calls <- c
	if r.fail(c.subject) {
		return Leave, fmt.Errorf("cannot record %q", c.subject)
	}
	return Processed, nil
}

func (r *callRecorder) next(t *testing.T) handlerCall {
	t.Helper()
	select {
	case c := <-r.calls:
		return c
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for a handler call")
		return handlerCall{}
	}
}

// ceilingRand draws the top of the jitter range, so delays are exactly the
// backoff's ceilings.
func ceilingRand(n int64) int64 { return n - 1 }

// TestMemServerFailingMailDoesNotBlockTheOthers: a mail on which the
// handler fails every time (a corrupt registry row it names, a key
// conflict) must not stop the mails behind it, and must be retried with
// growing delays rather than in a loop. Before the per-message schedule, a
// handler error ended the session, the next one started again at the
// lowest UID, and the mail behind was never handed over.
func TestMemServerFailingMailDoesNotBlockTheOthers(t *testing.T) {
	ms := newMemServer(t, memCaps[0].caps, "")
	tc := dialTestClient(t, ms.addr, memUser, memPassword)
	poison, good := testMessage("poison", 300), testMessage("good", 300)
	appendMessage(t, tc, "INBOX", poison)
	appendMessage(t, tc, "INBOX", good)

	sink := newLogSink()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", sink)
		}
	})
	cfg := memConfig(ms.addr, sink)
	cfg.Backoff.Min, cfg.Backoff.Max = 20*time.Millisecond, 80*time.Millisecond
	mb, err := NewMailbox(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mb.retries.rand = ceilingRand
	h := newCallRecorder(mb, func(subject string) bool { return subject == "poison" })
	stop := startRun(t, mb, h)

	first, second := h.next(t), h.next(t)
	if first.subject != "poison" || second.subject != "good" {
		t.Fatalf("first calls were for %q then %q, want poison then good", first.subject, second.subject)
	}
	if second.connects != first.connects {
		t.Errorf("good mail handed over in session %d, poison in session %d: want the same session", second.connects, first.connects)
	}
	sink.waitFor(t, "message handled", 1)

	// Each retry of the poison mail comes no sooner than its own doubling
	// delay: the ceilings 20, 40, 80 and 80 ms.
	prev := first
	for _, wantGap := range []time.Duration{20, 40, 80, 80} {
		wantGap *= time.Millisecond
		c := h.next(t)
		if c.subject != "poison" || c.uid != first.uid {
			t.Fatalf("call for %q (UID %d), want a retry of the poison mail (UID %d)", c.subject, c.uid, first.uid)
		}
		if gap := c.at.Sub(prev.at); gap < wantGap {
			t.Errorf("poison mail retried after %v, want at least %v", gap, wantGap)
		}
		prev = c
	}
	stop()

	checkFolder(t, tc, "INBOX", poison)
	checkFolder(t, tc, "Processed", good)
	st := mb.Stats()
	if st.Processed != 1 || st.HandlerErrors < 5 || st.Failing != 1 {
		t.Errorf("Stats() = %+v, want 1 processed, at least 5 handler errors, 1 failing", st)
	}
	if n := sink.count("handler failed, the message stays"); n < 5 {
		t.Errorf("log shows %d handler failures, want at least 5:\n%s", n, sink)
	}
}

// TestMemServerStoreDownEndsTheSession: when the handler fails on every
// mail (the store is down for everyone), a session stops after
// maxHandlerErrorStreak failures and backs off instead of downloading and
// handing over every mail; the next session goes on with the mails not yet
// tried, and passes over those waiting for their retry.
func TestMemServerStoreDownEndsTheSession(t *testing.T) {
	ms := newMemServer(t, memCaps[0].caps, "")
	tc := dialTestClient(t, ms.addr, memUser, memPassword)
	var mails [][]byte
	for i := range 5 {
		raw := testMessage(fmt.Sprintf("mail-%d", i), 300)
		appendMessage(t, tc, "INBOX", raw)
		mails = append(mails, raw)
	}

	sink := newLogSink()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", sink)
		}
	})
	cfg := memConfig(ms.addr, sink)
	// Every mail's retry is far beyond the test; reconnects are at once.
	cfg.Backoff.Min, cfg.Backoff.Max = time.Hour, time.Hour
	mb, err := NewMailbox(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mb.retries.rand = ceilingRand
	mb.backoffRand = func(int64) int64 { return 0 }
	h := newCallRecorder(mb, func(string) bool { return true })
	stop := startRun(t, mb, h)

	var got []handlerCall
	for range 5 {
		got = append(got, h.next(t))
	}
	sink.waitFor(t, "reconnecting", 2)
	stop()

	for i, c := range got {
		wantSession := uint64(1)
		if i >= maxHandlerErrorStreak {
			wantSession = 2
		}
		if want := fmt.Sprintf("mail-%d", i); c.subject != want || c.connects != wantSession {
			t.Errorf("call %d: %q in session %d, want %q in session %d", i, c.subject, c.connects, want, wantSession)
		}
	}
	select {
	case c := <-h.calls:
		t.Errorf("extra call for %q in session %d: every mail is waiting for its retry", c.subject, c.connects)
	default:
	}
	checkFolder(t, tc, "INBOX", mails...)
	st := mb.Stats()
	if st.HandlerErrors != 5 || st.Failing != 5 || st.Deferred < maxHandlerErrorStreak || st.Reconnects < 2 {
		t.Errorf("Stats() = %+v, want 5 handler errors, 5 failing, at least %d deferred, at least 2 reconnects", st, maxHandlerErrorStreak)
	}
	if n := sink.count("failed on 3 messages in a row"); n != 1 {
		t.Errorf("log says %d times that a session ended after 3 failures in a row, want once:\n%s", n, sink)
	}
}
