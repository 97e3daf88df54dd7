package notify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/revocation"
)

// recordRequest archives mail uid and records one request for it.
func recordRequest(t *testing.T, s *queue.Store, uid uint32, r queue.RequestOutcome, disp queue.Disposition) {
	t.Helper()
	ctx := context.Background()
	id, err := s.ArchiveMail(ctx, queue.IncomingMail{Key: queue.MailKey{Mailbox: "INBOX", UIDValidity: 1, UID: uid},
		Raw: []byte("From: " + holder + "\r\n\r\nmail " + string(rune('a'+uid)) + "\r\n"), From: holder})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordOutcome(ctx, queue.Outcome{MailID: id, Disposition: disp, Requests: []queue.RequestOutcome{r}}); err != nil {
		t.Fatal(err)
	}
}

func digests(t *testing.T, s *queue.Store) []Message {
	t.Helper()
	var out []Message
	for id := int64(1); ; id++ {
		o, err := s.Outbox(context.Background(), id)
		if err != nil {
			break
		}
		if o.Kind != string(KindOperatorAlert) {
			continue
		}
		data, err := s.OutboxData(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		m, err := DecodeMessage(data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// Operators get a digest when something becomes due — a refused request
// waiting for review 12 hours, an accepted one not executed 12 hours
// after receipt, a failed job — at most once an hour, and only when
// something is new.
func TestAlerts(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s := openStore(t, clk)
	recordRequest(t, s, 1, queue.RequestOutcome{State: revocation.StateRejected, ReasonCode: "holder_mismatch", Serial: "c0ffee",
		PDF: []byte("%PDF-1")}, queue.DispositionRejected)
	recordRequest(t, s, 2, queue.RequestOutcome{State: revocation.StateAccepted, Serial: "a1b2", IssuerDN: "CN=AC",
		RevocationReason: revocation.KeyCompromise, PDF: []byte("%PDF-2")}, queue.DispositionProcessed)
	a := &Alerter{Store: s, Operators: []string{"ops@ca.example", "astreinte@ca.example"}, Now: clk.Now}

	check := func(want bool) {
		t.Helper()
		got, err := a.CheckOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("at %s CheckOnce = %v, want %v", clk.Now().Format(time.RFC3339), got, want)
		}
	}
	clk.Advance(11 * time.Hour)
	check(false) // nothing is due yet
	clk.Advance(2 * time.Hour)
	check(true)
	d := digests(t, s)
	if len(d) != 2 {
		t.Fatalf("%d digests, want one per operator", len(d))
	}
	g := d[0].Digest
	if len(g.Review) != 1 || g.Review[0].Reference != 1 || !g.Review[0].New || g.Review[0].Code != "holder_mismatch" ||
		len(g.NotExecuted) != 1 || g.NotExecuted[0].Reference != 2 || g.NotExecuted[0].Serial != "a1b2" {
		t.Fatalf("first digest %+v", g)
	}
	check(false) // nothing new

	j, err := s.ClaimJob(ctx, time.Minute, "executor")
	if err != nil || j == nil {
		t.Fatal(j, err)
	}
	if _, err := s.FailJobWith(ctx, j.ID, j.Attempts, queue.Failure{Kind: queue.Cancel, Message: "ca-revoke: refused"}, "executor"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Minute)
	check(false) // new, but the last digest is less than an hour old
	clk.Advance(time.Hour)
	check(true)
	d = digests(t, s)
	if len(d) != 4 {
		t.Fatalf("%d digests, want 4", len(d))
	}
	g = d[3].Digest
	if len(g.FailedJobs) != 1 || !g.FailedJobs[0].New || g.FailedJobs[0].Detail != "ca-revoke: refused" || g.Review[0].New {
		t.Fatalf("second digest %+v", g)
	}
	clk.Advance(3 * time.Hour)
	check(false)

	// The digest reads as operators need it, French then English.
	relay := startRelay(t, relayOptions{})
	drain(t, plainSender(relay, s, clk))
	msgs := relay.messages()
	if len(msgs) != 4 {
		t.Fatalf("relay got %d mails, want 4 digests", len(msgs))
	}
	body := readBack(t, msgs[3].data)
	for _, w := range []string{"Demandes refusées en attente d’examen", "référence 1, certificat c0ffee, code holder_mismatch",
		"Tâches de révocation en échec", "ca-revoke: refused (nouveau)", "Failed revocation jobs", "(new)"} {
		if !strings.Contains(body.body, w) {
			t.Errorf("digest lacks %q:\n%s", w, body.body)
		}
	}
	if v, _ := body.header.Text("Auto-Submitted"); v != "auto-generated" {
		t.Errorf("digest Auto-Submitted = %q, want auto-generated", v)
	}
	if !strings.HasPrefix(body.subject, "Guichet de révocation : points à traiter") {
		t.Errorf("digest subject %q", body.subject)
	}
}
