package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gomessage "github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"github.com/revokd/revokd/queue"
)

const (
	deskAddress = "revocation@ca.example"
	holder      = "helene.dupont@example.fr"
	waitLong    = 10 * time.Second
)

// testClock is a clock that moves only when told.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *testClock { return &testClock{t: time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)} }

func openStore(t *testing.T, clk *testClock) *queue.Store {
	t.Helper()
	s, err := queue.OpenWith(context.Background(), t.TempDir(), &queue.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// queueMails archives a request mail with the given Message-ID and
// records an outcome with the given outbox mails, as the worker does.
func queueMails(t *testing.T, s *queue.Store, uid uint32, messageID string, out ...queue.OutboxMessage) int64 {
	t.Helper()
	ctx := context.Background()
	raw := fmt.Appendf(nil, "From: %s\r\nMessage-ID: %s\r\nSubject: x\r\n\r\nmail %d\r\n", holder, messageID, uid)
	id, err := s.ArchiveMail(ctx, queue.IncomingMail{Key: queue.MailKey{Mailbox: "INBOX", UIDValidity: 1, UID: uid},
		Raw: raw, MessageID: messageID, From: holder})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordOutcome(ctx, queue.Outcome{MailID: id, Disposition: queue.DispositionProcessed,
		NotARequest: "no PDF attached", Outbox: out}); err != nil {
		t.Fatal(err)
	}
	return id
}

const frenchBody = "Bonjour,\n\nVotre message ne contient pas de demande de révocation exploitable (aucun PDF joint). " +
	"Joignez le formulaire de demande signé au format PDF ; nous l'examinerons dès réception.\n\n--\nHello,\n\n" +
	"Your message holds no revocation request we can process (no PDF attached).\n"

func result(to, subject string) queue.OutboxMessage {
	return queue.OutboxMessage{Kind: "result", To: to, Subject: subject, Body: frenchBody}
}

func plainSender(relay *testRelay, s Store, clk *testClock) *Sender {
	return &Sender{Store: s, Address: relay.addr, Security: SecurityNone, From: deskAddress, Now: clk.Now,
		Timeout: waitLong}
}

// sendNext runs one SendNext and fails the test on a store error.
func sendNext(t *testing.T, snd *Sender) bool {
	t.Helper()
	busy, err := snd.SendNext(context.Background())
	if err != nil {
		t.Fatalf("SendNext: %v", err)
	}
	return busy
}

func status(t *testing.T, s *queue.Store, id int64) queue.OutboxStatus {
	t.Helper()
	o, err := s.Outbox(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// parsed is a delivered message read back with go-message.
type parsed struct {
	header gomail.Header
	body   string
}

// messageID is the Message-ID of a delivered message.
func messageID(t *testing.T, data []byte) string {
	t.Helper()
	h := parse(t, data).header
	id, err := h.MessageID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	e, err := gomessage.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("reading the delivered message: %v", err)
	}
	b, err := io.ReadAll(e.Body)
	if err != nil {
		t.Fatalf("decoding the delivered body: %v", err)
	}
	return parsed{header: gomail.Header{Header: e.Header}, body: strings.ReplaceAll(string(b), "\r\n", "\n")}
}

func TestDeliveredMessage(t *testing.T) {
	clk := newClock()
	store := openStore(t, clk)
	relay := startRelay(t, relayOptions{})
	// The worker stores the request's raw Subject header with "Re: ".
	mailID := queueMails(t, store, 1, "<req-1@example.fr>",
		result(holder, "Re: =?utf-8?q?Demande_de_r=C3=A9vocation?="))

	snd := plainSender(relay, store, clk)
	if !sendNext(t, snd) {
		t.Fatal("SendNext = false, want a mail sent")
	}
	if sendNext(t, snd) {
		t.Error("second SendNext = true, want an empty outbox")
	}
	msgs := relay.messages()
	if len(msgs) != 1 {
		t.Fatalf("relay received %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.from != deskAddress || !cmp.Equal(m.to, []string{holder}) || m.helo != "ca.example" || m.utf8 {
		t.Errorf("envelope: MAIL FROM %q, RCPT TO %q, EHLO %q, SMTPUTF8 %v; want %q, [%q], ca.example, false",
			m.from, m.to, m.helo, m.utf8, deskAddress, holder)
	}
	for i, c := range m.data {
		if c >= 0x80 {
			t.Fatalf("byte %d of the message is %#x: want 7-bit (quoted-printable body, encoded subject)", i, c)
		}
	}
	for _, line := range strings.Split(string(m.data), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line of %d characters, want at most 78: %q", len(line), line)
		}
	}
	if !bytes.Contains(m.data, []byte("\r\nSubject: =?utf-8?q?Re:_Demande_de_r=C3=A9vocation?=\r\n")) {
		t.Errorf("the subject is not RFC 2047 encoded once:\n%s", m.data)
	}

	p := parse(t, m.data)
	subject, err := p.header.Subject()
	if err != nil {
		t.Fatal(err)
	}
	date, err := p.header.Date()
	if err != nil {
		t.Fatal(err)
	}
	from, _ := p.header.AddressList("From")
	to, _ := p.header.AddressList("To")
	msgID, _ := p.header.MessageID()
	inReplyTo, _ := p.header.MsgIDList("In-Reply-To")
	refs, _ := p.header.MsgIDList("References")
	ct, params, _ := p.header.ContentType()
	got := map[string]string{
		"Subject":                   subject,
		"Date":                      date.UTC().Format(time.RFC3339),
		"From":                      fmt.Sprint(from),
		"To":                        fmt.Sprint(to),
		"In-Reply-To":               strings.Join(inReplyTo, " "),
		"References":                strings.Join(refs, " "),
		"Auto-Submitted":            p.header.Get("Auto-Submitted"),
		"X-Auto-Response-Suppress":  p.header.Get("X-Auto-Response-Suppress"),
		"Content-Type":              ct + "; charset=" + params["charset"],
		"Content-Transfer-Encoding": p.header.Get("Content-Transfer-Encoding"),
		"MIME-Version":              p.header.Get("MIME-Version"),
	}
	want := map[string]string{
		"Subject":                   "Re: Demande de révocation",
		"Date":                      clk.Now().Format(time.RFC3339),
		"From":                      "[<" + deskAddress + ">]",
		"To":                        "[<" + holder + ">]",
		"In-Reply-To":               "req-1@example.fr",
		"References":                "req-1@example.fr",
		"Auto-Submitted":            "auto-replied",
		"X-Auto-Response-Suppress":  "All",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
		"MIME-Version":              "1.0",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delivered header (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(msgID, "revokd.1.") || !strings.HasSuffix(msgID, "@ca.example") {
		t.Errorf("Message-ID %q, want revokd.1.…@ca.example", msgID)
	}
	if p.body != frenchBody {
		t.Errorf("decoded body:\n%q\nwant:\n%q", p.body, frenchBody)
	}

	st := status(t, store, 1)
	if st.State != queue.OutboxSent || !st.SentAt.Equal(clk.Now()) || st.Attempts != 1 || st.MailID != mailID {
		t.Errorf("outbox after delivery: %+v, want sent now after 1 attempt", st)
	}
}

// A request mail without a usable Message-ID is answered without
// In-Reply-To and References rather than with a broken one.
func TestUnusableOriginalMessageID(t *testing.T) {
	for _, id := range []string{"", "no-brackets@example.fr", "<two words@example.fr>", "<no-at-sign>", "<a@b>\r\nBcc: evil@example.net",
		"<" + strings.Repeat("a", 300) + "@example.fr>"} {
		t.Run(fmt.Sprintf("%.20q", id), func(t *testing.T) {
			if got, ok := parseMessageID(id); ok {
				t.Errorf("parseMessageID(%q) = %q, true; want refused", id, got)
			}
		})
	}
	if got, ok := parseMessageID(" <a.b@c.example> "); !ok || got != "a.b@c.example" {
		t.Errorf("parseMessageID(<a.b@c.example>) = %q, %v; want a.b@c.example, true", got, ok)
	}

	clk := newClock()
	store := openStore(t, clk)
	relay := startRelay(t, relayOptions{})
	queueMails(t, store, 1, "<broken", result(holder, "Re: x"))
	sendNext(t, plainSender(relay, store, clk))
	msgs := relay.messages()
	if len(msgs) != 1 {
		t.Fatalf("relay received %d messages, want 1", len(msgs))
	}
	p := parse(t, msgs[0].data)
	if p.header.Has("In-Reply-To") || p.header.Has("References") {
		t.Errorf("In-Reply-To %q, References %q: want neither", p.header.Get("In-Reply-To"), p.header.Get("References"))
	}
}

func TestSecurity(t *testing.T) {
	ca := newTestCA(t)
	other := newTestCA(t)
	tests := []struct {
		name      string
		relay     relayOptions
		security  Security
		user      string
		pass      string
		wantSent  bool
		wantStage string // of the failure, when not sent
		wantAuth  string // user the relay saw
		wantTLS   bool
	}{
		{name: "ok/starttls-auth-plain", relay: relayOptions{tls: &ca.cert, user: "desk", pass: "s3cret"},
			security: SecuritySTARTTLS, user: "desk", pass: "s3cret", wantSent: true, wantAuth: "desk", wantTLS: true},
		{name: "ok/implicit-tls-auth-plain", relay: relayOptions{tls: &ca.cert, implicitTLS: true, user: "desk", pass: "s3cret"},
			security: SecurityTLS, user: "desk", pass: "s3cret", wantSent: true, wantAuth: "desk", wantTLS: true},
		{name: "ok/starttls-without-auth", relay: relayOptions{tls: &ca.cert}, security: SecuritySTARTTLS,
			wantSent: true, wantTLS: true},
		{name: "ok/plain-loopback-auth", relay: relayOptions{user: "desk", pass: "s3cret", insecureAuth: true},
			security: SecurityNone, user: "desk", pass: "s3cret", wantSent: true, wantAuth: "desk"},
		{name: "fail/wrong-password", relay: relayOptions{tls: &ca.cert, user: "desk", pass: "s3cret"},
			security: SecuritySTARTTLS, user: "desk", pass: "wrong", wantStage: StageAuth},
		{name: "fail/starttls-not-offered", relay: relayOptions{user: "desk", pass: "s3cret", insecureAuth: true},
			security: SecuritySTARTTLS, user: "desk", pass: "s3cret", wantStage: StageStartTLS},
		{name: "fail/starttls-certificate-from-another-ca", relay: relayOptions{tls: &other.cert},
			security: SecuritySTARTTLS, wantStage: StageStartTLS},
		{name: "fail/implicit-tls-certificate-from-another-ca", relay: relayOptions{tls: &other.cert, implicitTLS: true},
			security: SecurityTLS, wantStage: StageTLS},
		{name: "fail/auth-plain-not-offered-in-plain-text", relay: relayOptions{user: "desk", pass: "s3cret"},
			security: SecurityNone, user: "desk", pass: "s3cret", wantStage: StageAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			store := openStore(t, clk)
			relay := startRelay(t, tt.relay)
			queueMails(t, store, 1, "<req-1@example.fr>", result(holder, "Re: x"))
			snd := plainSender(relay, store, clk)
			snd.Security, snd.Username, snd.Password = tt.security, tt.user, tt.pass
			snd.TLSConfig = &tls.Config{RootCAs: ca.roots}
			sendNext(t, snd)
			msgs := relay.messages()
			st := status(t, store, 1)
			if !tt.wantSent {
				if len(msgs) != 0 || st.State != queue.OutboxPending || !strings.HasPrefix(st.LastError, tt.wantStage+": ") {
					t.Fatalf("got %d messages, outbox %s %q; want none, pending with a %s failure", len(msgs), st.State, st.LastError, tt.wantStage)
				}
				t.Logf("last error: %s", st.LastError)
				return
			}
			if len(msgs) != 1 || st.State != queue.OutboxSent {
				t.Fatalf("got %d messages, outbox %s %q; want 1, sent", len(msgs), st.State, st.LastError)
			}
			if msgs[0].authUser != tt.wantAuth || msgs[0].tls != tt.wantTLS {
				t.Errorf("relay saw user %q, TLS %v; want %q, %v", msgs[0].authUser, msgs[0].tls, tt.wantAuth, tt.wantTLS)
			}
		})
	}
}

func TestRelayReplies(t *testing.T) {
	tempRcpt := smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "try again later")
	tests := []struct {
		name          string
		mail, rcpt    []error
		data          []error
		wantState     string
		wantError     string // last_error after the first attempt
		wantDelivered bool   // after the retry, when pending
	}{
		{name: "ok/4xx-on-rcpt-retried", rcpt: []error{tempRcpt}, wantState: queue.OutboxPending,
			wantError: "rcpt: 451 4.3.0 try again later", wantDelivered: true},
		{name: "ok/4xx-on-data-retried", data: []error{smtpErr(452, smtp.EnhancedCode{4, 3, 1}, "insufficient storage")},
			wantState: queue.OutboxPending, wantError: "data: 452 4.3.1 insufficient storage", wantDelivered: true},
		{name: "ok/5xx-on-mail-from-retried", mail: []error{smtpErr(553, smtp.EnhancedCode{5, 7, 1}, "sender not allowed")},
			wantState: queue.OutboxPending, wantError: "mail: 553 5.7.1 sender not allowed", wantDelivered: true},
		{name: "fail/5xx-on-rcpt-not-retried", rcpt: []error{smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "no such user")},
			wantState: queue.OutboxFailed, wantError: "rcpt: 550 5.1.1 no such user"},
		{name: "fail/5xx-on-data-not-retried", data: []error{smtpErr(554, smtp.EnhancedCode{5, 7, 1}, "message refused")},
			wantState: queue.OutboxFailed, wantError: "data: 554 5.7.1 message refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			store := openStore(t, clk)
			relay := startRelay(t, relayOptions{})
			relay.mailReplies, relay.rcptReplies, relay.dataReplies = tt.mail, tt.rcpt, tt.data
			queueMails(t, store, 1, "<req-1@example.fr>", result(holder, "Re: x"))
			snd := plainSender(relay, store, clk)

			if !sendNext(t, snd) {
				t.Fatal("SendNext = false, want an attempt")
			}
			st := status(t, store, 1)
			if st.State != tt.wantState || st.LastError != tt.wantError || len(relay.messages()) != 0 {
				t.Fatalf("after the first attempt: %s %q, %d delivered; want %s %q, none",
					st.State, st.LastError, len(relay.messages()), tt.wantState, tt.wantError)
			}
			if sendNext(t, snd) {
				t.Fatal("SendNext before the retry delay = true, want nothing due")
			}
			clk.Advance(queue.OutboxRetryDelay)
			sent := sendNext(t, snd)
			_, rcpts := relay.counts()
			if !tt.wantDelivered {
				// Failed for good: never offered to the relay again.
				clk.Advance(48 * time.Hour)
				if sent || sendNext(t, snd) {
					t.Error("SendNext handed out a failed mail")
				}
				if _, again := relay.counts(); again != rcpts || len(relay.messages()) != 0 {
					t.Errorf("relay saw %d RCPT TO after the failure, want none", again-rcpts)
				}
				return
			}
			st = status(t, store, 1)
			if !sent || st.State != queue.OutboxSent || st.Attempts != 2 || len(relay.messages()) != 1 {
				t.Errorf("after the retry: %+v, %d delivered; want sent on attempt 2, 1 delivered", st, len(relay.messages()))
			}
			if st.LastError != tt.wantError {
				t.Errorf("last error after success = %q, want the first failure kept: %q", st.LastError, tt.wantError)
			}
		})
	}
}

func TestConnectionRefusedIsRetried(t *testing.T) {
	clk := newClock()
	store := openStore(t, clk)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	queueMails(t, store, 1, "<req-1@example.fr>", result(holder, "Re: x"))
	snd := &Sender{Store: store, Address: addr, Security: SecurityNone, From: deskAddress, Now: clk.Now, Timeout: waitLong}
	sendNext(t, snd)
	if st := status(t, store, 1); st.State != queue.OutboxPending || !strings.HasPrefix(st.LastError, StageConnect+": ") {
		t.Errorf("outbox after a refused connection: %s %q, want pending with a connect failure", st.State, st.LastError)
	}
}

// Recipients come from mails anyone can send: a hostile one is refused
// before any connection, and the mail is failed, not retried.
func TestRecipientRefused(t *testing.T) {
	tests := []struct {
		name, to, wantReason string
	}{
		{"fail/header-injection-crlf", holder + "\r\nBcc: victim@example.net", "contains a line break"},
		{"fail/header-injection-lf", holder + "\nBcc: victim@example.net", "contains a line break"},
		{"fail/control-character", "helene\x00@example.fr", "contains a control character"},
		{"fail/two-addresses", holder + ", victim@example.net", "expected single address"},
		{"fail/desk-own-address", "Revocation@CA.example", "the desk's own address (mail loop)"},
		{"fail/desk-own-address-with-name", "Desk <revocation@ca.example>", "the desk's own address (mail loop)"},
		{"fail/not-an-address", "helene.dupont", "missing '@'"},
		{"fail/blank", "  ", "no recipient"},
		{"fail/too-long", strings.Repeat("a", 250) + "@example.fr", "exceeds 254"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			store := openStore(t, clk)
			relay := startRelay(t, relayOptions{})
			queueMails(t, store, 1, "<req-1@example.fr>", result(tt.to, "Re: x"))
			snd := plainSender(relay, store, clk)
			if !sendNext(t, snd) {
				t.Fatal("SendNext = false, want an attempt")
			}
			st := status(t, store, 1)
			if st.State != queue.OutboxFailed || !strings.HasPrefix(st.LastError, "not sent: ") || !strings.Contains(st.LastError, tt.wantReason) {
				t.Errorf("outbox: %s %q; want failed, not sent: …%s…", st.State, st.LastError, tt.wantReason)
			}
			if sessions, _ := relay.counts(); sessions != 0 {
				t.Errorf("the relay saw %d connections, want none", sessions)
			}
		})
	}

	r, err := plainSender(&testRelay{addr: "127.0.0.1:25"}, openStore(t, newClock()), newClock()).resolve()
	if err != nil {
		t.Fatal(err)
	}
	var re *RefusedError
	if _, err := r.recipient(""); !errors.As(err, &re) || re.Reason != "no recipient" {
		t.Errorf("recipient(\"\") = %v, want RefusedError no recipient", err)
	}
}

// A hostile subject cannot add a header line: it is cleaned and encoded.
func TestSubjectInjection(t *testing.T) {
	tests := []struct{ name, subject, want string }{
		{"ok/raw-crlf", "Re: hello\r\nBcc: victim@example.net", "Re: hello Bcc: victim@example.net"},
		{"ok/encoded-crlf", "Re: =?utf-8?q?hello=0D=0ABcc:_victim@example.net?=", "Re: hello Bcc: victim@example.net"},
		{"ok/controls-and-spaces", "Re:\t\x07 a   b\x00", "Re: a b"},
		{"ok/empty", "", defaultSubject},
		{"ok/long", strings.Repeat("é", 500), strings.Repeat("é", maxSubjectRunes-1) + "…"},
		{"ok/unknown-charset-kept-raw", "Re: =?x-unknown?q?abc?=", "Re: =?x-unknown?q?abc?="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			store := openStore(t, clk)
			relay := startRelay(t, relayOptions{})
			queueMails(t, store, 1, "<req-1@example.fr>", result(holder, tt.subject))
			sendNext(t, plainSender(relay, store, clk))
			msgs := relay.messages()
			if len(msgs) != 1 {
				t.Fatalf("relay received %d messages, want 1", len(msgs))
			}
			p := parse(t, msgs[0].data)
			if p.header.Has("Bcc") {
				t.Errorf("the message has a Bcc header: %q", p.header.Get("Bcc"))
			}
			if got, _ := p.header.Subject(); got != tt.want {
				t.Errorf("Subject = %q, want %q", got, tt.want)
			}
			if !cmp.Equal(msgs[0].to, []string{holder}) {
				t.Errorf("RCPT TO %q, want only %q", msgs[0].to, holder)
			}
		})
	}
}

func TestInternationalisedRecipient(t *testing.T) {
	const to = "élodie@exemple.fr"
	for _, tt := range []struct {
		name      string
		smtpUTF8  bool
		wantState string
	}{
		{"ok/relay-with-smtputf8", true, queue.OutboxSent},
		{"fail/relay-without-smtputf8", false, queue.OutboxFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			store := openStore(t, clk)
			relay := startRelay(t, relayOptions{smtpUTF8: tt.smtpUTF8})
			queueMails(t, store, 1, "<req-1@example.fr>", result(to, "Re: x"))
			sendNext(t, plainSender(relay, store, clk))
			st := status(t, store, 1)
			if st.State != tt.wantState {
				t.Fatalf("outbox: %s %q, want %s", st.State, st.LastError, tt.wantState)
			}
			if tt.wantState == queue.OutboxFailed {
				if !strings.Contains(st.LastError, "SMTPUTF8") {
					t.Errorf("last error %q, want it to name SMTPUTF8", st.LastError)
				}
				return
			}
			m := relay.messages()[0]
			if !m.utf8 || !cmp.Equal(m.to, []string{to}) {
				t.Errorf("relay got SMTPUTF8 %v, RCPT TO %q; want true, %q", m.utf8, m.to, to)
			}
		})
	}
}

// crashingStore loses the first MarkSent, as a sender killed right after
// the relay's answer would.
type crashingStore struct {
	*queue.Store
	mu      sync.Mutex
	crashed bool
}

var errCrash = errors.New("killed")

func (s *crashingStore) MarkSent(ctx context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.crashed {
		s.crashed = true
		return errCrash
	}
	return s.Store.MarkSent(ctx, id)
}

// Delivery is at least once: a mail claimed and never marked is sent
// again after its lease, with the same Message-ID.
func TestCrashSafety(t *testing.T) {
	t.Run("ok/claimed-and-abandoned-before-delivery", func(t *testing.T) {
		clk := newClock()
		store := openStore(t, clk)
		relay := startRelay(t, relayOptions{})
		queueMails(t, store, 1, "<req-1@example.fr>", result(holder, "Re: x"))
		// A sender claims the mail and dies.
		if o, err := store.ClaimOutbox(context.Background(), DefaultLease); err != nil || o == nil {
			t.Fatalf("ClaimOutbox = %v, %v", o, err)
		}
		snd := plainSender(relay, store, clk)
		if sendNext(t, snd) {
			t.Fatal("SendNext during the dead sender's lease = true, want nothing due")
		}
		clk.Advance(DefaultLease)
		if !sendNext(t, snd) {
			t.Fatal("SendNext after the lease = false, want the mail sent")
		}
		if st := status(t, store, 1); st.State != queue.OutboxSent || st.Attempts != 2 || len(relay.messages()) != 1 {
			t.Errorf("outbox %+v, %d delivered; want sent on attempt 2, 1 delivered", st, len(relay.messages()))
		}
	})
	t.Run("ok/delivered-but-not-marked-is-sent-again", func(t *testing.T) {
		clk := newClock()
		store := openStore(t, clk)
		relay := startRelay(t, relayOptions{})
		queueMails(t, store, 1, "<req-1@example.fr>", result(holder, "Re: x"))
		snd := plainSender(relay, &crashingStore{Store: store}, clk)
		if _, err := snd.SendNext(context.Background()); !errors.Is(err, errCrash) {
			t.Fatalf("SendNext = %v, want the crash", err)
		}
		if st := status(t, store, 1); st.State != queue.OutboxRunning {
			t.Fatalf("outbox after the crash: %s, want running (claimed)", st.State)
		}
		clk.Advance(DefaultLease)
		if !sendNext(t, snd) {
			t.Fatal("SendNext after the lease = false, want the mail sent again")
		}
		msgs := relay.messages()
		if len(msgs) != 2 {
			t.Fatalf("relay received %d messages, want 2 (at least once)", len(msgs))
		}
		id1, id2 := messageID(t, msgs[0].data), messageID(t, msgs[1].data)
		if id1 == "" || id1 != id2 {
			t.Errorf("Message-IDs %q and %q, want the same for both copies", id1, id2)
		}
		if st := status(t, store, 1); st.State != queue.OutboxSent {
			t.Errorf("outbox: %s, want sent", st.State)
		}
	})
}

// Each outbox row has its own Message-ID.
func TestMessageIDsDiffer(t *testing.T) {
	clk := newClock()
	store := openStore(t, clk)
	relay := startRelay(t, relayOptions{})
	queueMails(t, store, 1, "<req-1@example.fr>", result(holder, "Re: x"), result(holder, "Re: x"))
	snd := plainSender(relay, store, clk)
	for sendNext(t, snd) {
	}
	msgs := relay.messages()
	if len(msgs) != 2 {
		t.Fatalf("relay received %d messages, want 2", len(msgs))
	}
	id1, id2 := messageID(t, msgs[0].data), messageID(t, msgs[1].data)
	if id1 == id2 {
		t.Errorf("both mails have Message-ID %q", id1)
	}
}

func TestRun(t *testing.T) {
	clk := newClock()
	store := openStore(t, clk)
	relay := startRelay(t, relayOptions{})
	for uid := uint32(1); uid <= 3; uid++ {
		queueMails(t, store, uid, fmt.Sprintf("<req-%d@example.fr>", uid), result(holder, "Re: x"))
	}
	snd := plainSender(relay, store, clk)
	snd.PollInterval = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- snd.Run(ctx) }()
	for i := range 3 {
		if err := relay.waitMessage(waitLong); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	// A mail queued while Run waits is found by the next poll.
	queueMails(t, store, 4, "<req-4@example.fr>", result(holder, "Re: x"))
	if err := relay.waitMessage(waitLong); err != nil {
		t.Fatalf("message queued later: %v", err)
	}
	// The relay has the message before the sender has its answer: wait
	// for the mark, or stopping now would leave the mail to its lease.
	waitSent(t, store, 4)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Run did not stop with its context")
	}
}

// waitSent polls the store until n mails are sent.
func waitSent(t *testing.T, store *queue.Store, n int) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitLong)
	for {
		st, err := store.OutboxStats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Sent == n {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("OutboxStats = %+v, want %d sent", st, n)
		}
	}
}

func TestConfiguration(t *testing.T) {
	store := openStore(t, newClock())
	base := func() *Sender {
		return &Sender{Store: store, Address: "smtp.example.fr:587", From: deskAddress}
	}
	tests := []struct {
		name    string
		change  func(*Sender)
		wantErr string
	}{
		{"ok/defaults", func(*Sender) {}, ""},
		{"ok/none-on-loopback", func(s *Sender) { s.Address, s.Security = "127.0.0.1:25", SecurityNone }, ""},
		{"ok/none-on-localhost", func(s *Sender) { s.Address, s.Security = "localhost:25", SecurityNone }, ""},
		{"ok/none-on-ipv6-loopback", func(s *Sender) { s.Address, s.Security = "[::1]:25", SecurityNone }, ""},
		{"ok/from-with-name", func(s *Sender) { s.From = "Bureau des révocations <revocation@ca.example>" }, ""},
		{"fail/none-on-a-remote-relay", func(s *Sender) { s.Security = SecurityNone }, "only for a relay on loopback"},
		{"fail/unknown-security", func(s *Sender) { s.Security = "ssl" }, `security "ssl"`},
		{"fail/no-store", func(s *Sender) { s.Store = nil }, "no store"},
		{"fail/no-port", func(s *Sender) { s.Address = "smtp.example.fr" }, "want host:port"},
		{"fail/no-from", func(s *Sender) { s.From = "" }, "from address"},
		{"fail/from-without-domain", func(s *Sender) { s.From = "revocation@" }, "from address"},
		{"fail/non-ascii-from", func(s *Sender) { s.From = "révocation@ca.example" }, "must be ASCII"},
		{"fail/password-without-username", func(s *Sender) { s.Password = "x" }, "password without a username"},
		{"fail/lease-shorter-than-timeout", func(s *Sender) { s.Lease, s.Timeout = time.Minute, 2*time.Minute }, "must exceed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base()
			tt.change(s)
			r, err := s.resolve()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("resolve: %v", err)
				}
				if r.tlsConfig.ServerName == "" || r.LocalName != "ca.example" || r.Security == "" {
					t.Errorf("defaults not filled in: server name %q, local name %q, security %q",
						r.tlsConfig.ServerName, r.LocalName, r.Security)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("resolve = %v, want an error with %q", err, tt.wantErr)
			}
			if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Run = %v, want at once an error with %q", err, tt.wantErr)
			}
		})
	}
}
