package notify

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/revocation"
)

// drain sends until the outbox has nothing due.
func drain(t *testing.T, snd *Sender) {
	t.Helper()
	for i := 0; sendNext(t, snd); i++ {
		if i > 10000 {
			t.Fatal("the outbox does not drain")
		}
	}
}

// outboxStates counts the outbox by state.
func outboxStates(t *testing.T, s *queue.Store) queue.OutboxStats {
	t.Helper()
	st, err := s.OutboxStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A flood of mails with forged From: headers gets the answers the limits
// allow and no more; the rest are recorded as suppressed, with why.
func TestLimits(t *testing.T) {
	tests := []struct {
		name        string
		limits      Limits
		senders     func(i int) string // the From of mail i
		mails       int
		wantSent    int
		wantReasons []string
	}{
		{"ok/under-the-limits", Limits{}, func(i int) string { return fmt.Sprintf("p%d@a.example", i) }, 3, 6, nil},
		{"fail/one-address-flooded", Limits{PerAddress: 4}, func(int) string { return "victim@a.example" }, 5, 4,
			[]string{`to "victim@a.example"`}},
		{"fail/one-domain-flooded", Limits{PerDomain: 6}, func(i int) string { return fmt.Sprintf("v%d@victim.example", i) }, 5, 6,
			[]string{`to the domain "victim.example"`}},
		{"fail/everyone-flooded", Limits{Total: 7}, func(i int) string { return fmt.Sprintf("v@d%d.example", i) }, 5, 7,
			[]string{"in all"}},
		{"ok/no-limit", Limits{PerAddress: -1, PerDomain: -1, Total: -1}, func(int) string { return "victim@a.example" }, 30, 60, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s := openStore(t, clk)
			relay := startRelay(t, relayOptions{})
			for i := 0; i < tt.mails; i++ {
				to := tt.senders(i)
				queueMails(t, s, uint32(i+1), fmt.Sprintf("<m%d@x>", i), Acknowledgement(to, clk.Now()),
					Result(to, []Item{{FileName: "f.pdf", Code: authorize.CodeHashFailure}}))
			}
			snd := plainSender(relay, s, clk)
			snd.Limits = tt.limits
			drain(t, snd)
			st := outboxStates(t, s)
			if len(relay.messages()) != tt.wantSent || st.Sent != tt.wantSent || st.Suppressed != 2*tt.mails-tt.wantSent {
				t.Fatalf("relay got %d, outbox %+v; want %d sent, %d suppressed", len(relay.messages()), st, tt.wantSent, 2*tt.mails-tt.wantSent)
			}
			for id := int64(1); id <= int64(2*tt.mails); id++ {
				o := status(t, s, id)
				if o.State != queue.OutboxSuppressed {
					continue
				}
				ok := false
				for _, w := range tt.wantReasons {
					ok = ok || strings.Contains(o.LastError, w)
				}
				if !ok || !strings.HasPrefix(o.LastError, "suppressed: ") {
					t.Errorf("outbox %d suppressed with %q, want one of %q", id, o.LastError, tt.wantReasons)
				}
			}
			// The window slides: an hour later the same address is
			// answered again.
			if tt.wantReasons != nil {
				clk.Advance(DefaultLimitWindow + time.Minute)
				to := tt.senders(0)
				queueMails(t, s, 1000, "<later@x>", Acknowledgement(to, clk.Now()))
				drain(t, snd)
				if got := outboxStates(t, s).Sent; got != tt.wantSent+1 {
					t.Errorf("after the window: %d sent, want %d", got, tt.wantSent+1)
				}
			}
		})
	}
}

// An address is told how to make a request once a day, however many
// mails without a form it sends.
func TestNotARequestOncePerDay(t *testing.T) {
	clk := newClock()
	s := openStore(t, clk)
	relay := startRelay(t, relayOptions{})
	snd := plainSender(relay, s, clk)
	for i := 1; i <= 3; i++ {
		queueMails(t, s, uint32(i), fmt.Sprintf("<n%d@x>", i), NotARequest(holder, WhyNoPDF))
		clk.Advance(time.Hour)
	}
	queueMails(t, s, 9, "<other@x>", NotARequest("someone.else@example.fr", WhyNoPDF))
	drain(t, snd)
	if st := outboxStates(t, s); st.Sent != 2 || st.Suppressed != 2 {
		t.Fatalf("outbox %+v, want 2 sent (one per address) and 2 suppressed", st)
	}
	if o := status(t, s, 2); !strings.Contains(o.LastError, "already told how to make a request") {
		t.Errorf("suppressed with %q", o.LastError)
	}
	clk.Advance(NotARequestInterval + time.Minute)
	queueMails(t, s, 10, "<n10@x>", NotARequest(holder, WhyNoPDF))
	drain(t, snd)
	if st := outboxStates(t, s); st.Sent != 3 {
		t.Errorf("a day later: %+v, want the address answered again", st)
	}
}

// The confirmation that `queue done` queues is delivered over SMTP once to
// the sender and once to the holder, with the serial, the issuing CA, the
// time in Paris and in UTC, and the reason.
func TestRevocationDoneDelivered(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s := openStore(t, clk)
	relay := startRelay(t, relayOptions{})
	if _, err := s.UpsertCertificate(ctx, authorize.Certificate{Serial: big.NewInt(0xa1b2), IssuerDN: "CN=AC Exemple,C=FR",
		SHA256: "aa", Email: "titulaire@acme.example"}); err != nil {
		t.Fatal(err)
	}
	id, err := s.ArchiveMail(ctx, queue.IncomingMail{Key: queue.MailKey{Mailbox: "INBOX", UIDValidity: 1, UID: 1},
		Raw: []byte("From: " + holder + "\r\nMessage-ID: <r1@example.fr>\r\n\r\nx\r\n"), MessageID: "<r1@example.fr>", From: holder})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordOutcome(ctx, queue.Outcome{MailID: id, Disposition: queue.DispositionProcessed,
		Requests: []queue.RequestOutcome{{State: revocation.StateAccepted, Serial: "a1b2", IssuerDN: "CN=AC Exemple,C=FR",
			RevocationReason: revocation.KeyCompromise, PDF: []byte("%PDF")}},
		Outbox: []queue.OutboxMessage{Acknowledgement(holder, clk.Now())}}); err != nil {
		t.Fatal(err)
	}
	snd := plainSender(relay, s, clk)
	drain(t, snd)
	j, err := s.ClaimJob(ctx, time.Minute, "executor")
	if err != nil || j == nil {
		t.Fatalf("ClaimJob = %v, %v", j, err)
	}
	if _, err := s.CompleteJob(ctx, j.ID, "executor"); err != nil {
		t.Fatal(err)
	}
	drain(t, snd)
	if _, err := s.CompleteJob(ctx, j.ID, "executor"); err != nil {
		t.Fatal(err)
	}
	drain(t, snd)
	got := map[string]int{}
	for _, m := range relay.messages()[1:] {
		got[m.to[0]]++
		d := readBack(t, m.data)
		for _, w := range []string{"a1b2", "CN=AC Exemple,C=FR", "02/03/2026 10:30 (heure de Paris)", "2026-03-02 09:30 UTC",
			"compromission de la clé privée", "key compromise", "Confirmation de la révocation", "référence 1"} {
			if !strings.Contains(d.subject+"\n"+d.body, w) {
				t.Errorf("confirmation to %s lacks %q:\n%s\n%s", m.to[0], w, d.subject, d.body)
			}
		}
		if holderCopy := strings.Contains(d.body, "celle du titulaire"); holderCopy != (m.to[0] == "titulaire@acme.example") {
			t.Errorf("confirmation to %s: holder sentence %v", m.to[0], holderCopy)
		}
	}
	if got[holder] != 1 || got["titulaire@acme.example"] != 1 || len(got) != 2 {
		t.Errorf("confirmations delivered %v, want one to the sender and one to the holder", got)
	}
}
