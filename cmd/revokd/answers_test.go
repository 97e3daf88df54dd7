package main

import (
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/revokd/revokd/queue"
)

// decodedMail is a relayed mail as its recipient reads it.
type decodedMail struct{ subject, body string }

// relayedBy lists the mails the relay accepted, decoded, by recipient.

func relayedBy(t *testing.T, relay *demoSMTP) map[string][]decodedMail {
	t.Helper()
	out := map[string][]decodedMail{}
	for _, m := range relay.mails() {
		subject, body, err := decodeMail(m.Data)
		if err != nil {
			t.Fatalf("a relayed mail does not read: %v", err)
		}
		for _, to := range m.To {
			out[to] = append(out[to], decodedMail{subject, body})
		}
	}
	return out
}

func withSubject(ms []decodedMail, prefix string) []decodedMail {
	var out []decodedMail
	for _, m := range ms {
		if strings.HasPrefix(m.subject, prefix) {
			out = append(out, m)
		}
	}
	return out
}

// automaticMail turns a scenario mail into one a machine sent from from.
func automaticMail(raw []byte, from string, n int) []byte {
	s := replaceMessageID(string(raw), n)
	s = s[:strings.Index(s, "From: ")] + "From: " + from + s[strings.Index(s, "\r\n"):]
	return []byte("Auto-Submitted: auto-replied\r\n" + s)
}

// TestAnswersThroughDovecot runs `revokd run` as a process against a real
// Dovecot and a real SMTP conversation (go-smtp's server on 127.0.0.1),
// and checks what every sender is told: the acknowledgement and the
// result with its reference, in French and English, the advice for a
// refusal, nothing to mail sent by a machine; then, after `revokd queue
// done`, the confirmation of the revocation once to the sender and once
// to the holder, even though revokd is killed (SIGKILL) while the relay
// holds the first confirmation, between the done mark and the send.
func TestAnswersThroughDovecot(t *testing.T) {
	requireDovecotTests(t)
	relay, err := startDemoSMTP()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.close()
	var holdOnce sync.Once
	relay.held, relay.release = make(chan struct{}, 1), make(chan struct{})
	relay.hold = func(data []byte) bool {
		subject, _, _ := decodeMail(data)
		held := false
		if strings.HasPrefix(subject, "Confirmation de la révocation") {
			holdOnce.Do(func() { held = true })
		}
		return held
	}
	const desk = "revocation@ca.example"
	s := newOpsSetup(t, 0, fmt.Sprintf("[smtp]\naddress = %q\nsecurity = \"none\"\nfrom = %q\n", relay.addr, desk))
	bin := revokdBinary(t)
	sc := s.world.sc
	mails := [][]byte{}
	for _, m := range sc.Mails {
		mails = append(mails, m.Raw)
	}
	// A machine's mail carrying a genuine form, and one carrying nothing.
	mails = append(mails, automaticMail(sc.Mails[0].Raw, "robot@example.fr", 90),
		automaticMail(sc.Mails[5].Raw, "absent@example.fr", 91))
	c := imapLogin(t, s.dv, s.user)
	for _, m := range mails {
		imapAppend(t, c, m)
	}

	proc := startRevokd(t, bin, s.cfg, s.dir, "run-1.log")
	// Five request mails get two answers each, the mail without a form
	// one, the machines none.
	waitUntil(t, time.Minute, "11 answers and the mailbox drained", func() bool {
		return relay.count() >= 11 && messages(t, c, "INBOX") == 0 &&
			messages(t, c, "Processed")+messages(t, c, "Rejected") == uint32(len(mails))
	})
	ctx := context.Background()
	st, err := queue.Open(ctx, filepath.Join(s.dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waitUntil(t, time.Minute, "the outbox drained", func() bool {
		o, err := st.OutboxStats(ctx)
		return err == nil && o.Pending == 0
	})
	rows, err := st.ListRequests(ctx, queue.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	byMessageID := map[string]queue.RequestSummary{}
	for _, r := range rows {
		byMessageID[r.MessageID] = r
	}
	ref := func(i int) string {
		return fmt.Sprintf("[réf. %d]", byMessageID[fmt.Sprintf("<demo-%d@example.fr>", i)].ID)
	}

	got := relayedBy(t, relay)
	if len(got["robot@example.fr"])+len(got["absent@example.fr"]) != 0 {
		t.Errorf("automatic mail was answered: %v", got)
	}
	if r := byMessageID["<demo-90@example.fr>"]; r.ID == 0 || r.Sender != "robot@example.fr" {
		t.Errorf("the machine's form was not recorded: %+v", r)
	}
	checks := []struct {
		to      string
		mail    int // the scenario mail (1-based, its Message-ID) the answer is about
		subject string
		want    []string
	}{
		{"helene.dupont@example.fr", 1, "Accusé de réception", []string{"Bonjour", "Hello", "24 heures", "24 hours"}},
		{"helene.dupont@example.fr", 1, "Résultat", []string{"demande acceptée", "request accepted", "e-mail de confirmation"}},
		{"claire.lefevre@example.fr", 2, "Résultat", []string{"demande acceptée", "request accepted"}},
		{"helene.dupont@example.fr", 3, "Résultat", []string{"le formulaire a été modifié après sa signature",
			"Renvoyez le formulaire tel qu’il était au moment de la signature", "the form was changed after it was signed",
			"Send the form as it was when it was signed"}},
		{"helene.dupont@example.fr", 4, "Résultat", []string{"aucun certificat émis par notre autorité",
			"Vérifiez le numéro de série sur le certificat", "Check the serial number on the certificate"}},
		{"paul.durand@example.fr", 5, "Résultat", []string{"n’est pas enregistré comme représentant légal",
			"Faites signer le formulaire par le titulaire", "Have the form signed by the certificate's holder"}},
		{"jean.martin@example.fr", 6, "Votre message n’est pas une demande", []string{"aucun formulaire PDF", "no PDF form",
			"représentant légal", desk}},
	}
	for _, ch := range checks {
		var found *decodedMail
		for _, m := range withSubject(got[ch.to], ch.subject) {
			if strings.HasSuffix(m.subject, ref(ch.mail)) {
				found = &m
			}
		}
		if found == nil {
			t.Errorf("no %q answer to %s with %s among %d mails", ch.subject, ch.to, ref(ch.mail), len(got[ch.to]))
			continue
		}
		for _, w := range ch.want {
			if !strings.Contains(found.body, w) {
				t.Errorf("%q answer to %s lacks %q:\n%s", ch.subject, ch.to, w, found.body)
			}
		}
	}

	// The CA revokes the colleague's certificate that Claire asked for.
	rep := byMessageID["<demo-2@example.fr>"]
	if rep.JobID == nil {
		t.Fatalf("the representative's request has no job: %+v", rep)
	}
	done := func() string {
		out, err := exec.Command(bin, "queue", "done", "--config", s.cfg, fmt.Sprint(*rep.JobID)).CombinedOutput()
		if err != nil {
			t.Fatalf("queue done: %v\n%s", err, out)
		}
		return string(out)
	}
	done()
	// The relay holds the first confirmation; revokd dies meanwhile.
	select {
	case <-relay.held:
	case <-time.After(time.Minute):
		t.Fatal("no confirmation reached the relay")
	}
	proc.cmd.Process.Signal(syscall.SIGKILL)
	<-proc.done
	close(relay.release)
	// Time passes: the dead sender's lease on the mail runs out.
	expireLeases(t, filepath.Join(s.dir, "data", queue.DatabaseFile))
	startRevokd(t, bin, s.cfg, s.dir, "run-2.log")
	waitUntil(t, time.Minute, "the confirmations sent", func() bool {
		o, err := st.OutboxStats(ctx)
		return err == nil && o.Pending == 0 && o.Sent == 13
	})
	// A second report of the same revocation changes nothing.
	if out := done(); !strings.Contains(out, "already done") {
		t.Errorf("second queue done said %q", out)
	}
	if o, err := st.OutboxStats(ctx); err != nil || o.Pending != 0 || o.Sent != 13 || o.Failed != 0 {
		t.Errorf("outbox %+v (%v) after the second done, want 13 sent", o, err)
	}

	got = relayedBy(t, relay)
	holder := sc.Colleague.Cert.EmailAddresses[0]
	for _, to := range []string{"claire.lefevre@example.fr", holder} {
		conf := withSubject(got[to], "Confirmation de la révocation")
		if len(conf) != 1 {
			t.Errorf("%d confirmations to %s, want exactly 1", len(conf), to)
			continue
		}
		serial := strings.ToLower(sc.Colleague.Cert.SerialNumber.Text(16))
		for _, w := range []string{serial, sc.Colleague.Cert.Issuer.String(), "(heure de Paris)", " UTC", "Paris time",
			"compromission de la clé privée", "key compromise", ref(2)} {
			if !strings.Contains(conf[0].subject+"\n"+conf[0].body, w) {
				t.Errorf("confirmation to %s lacks %q:\n%s\n%s", to, w, conf[0].subject, conf[0].body)
			}
		}
		if isHolder := strings.Contains(conf[0].body, "celle du titulaire du certificat"); isHolder != (to == holder) {
			t.Errorf("confirmation to %s: holder's sentence %v", to, isHolder)
		}
	}
	var others int
	for to, ms := range got {
		if to != "claire.lefevre@example.fr" && to != holder {
			others += len(withSubject(ms, "Confirmation de la révocation"))
		}
	}
	if others != 0 {
		t.Errorf("%d confirmations to other addresses", others)
	}
}

// expireLeases ends the lease of every mail being sent, as the clock
// would after DefaultLease: its sender died without saying how it went.
func expireLeases(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	past := time.Now().Add(-time.Minute).UTC().Format("2006-01-02T15:04:05.000000000Z")
	res, err := db.Exec(`UPDATE outbox SET next_attempt_at = ?, lease_until = ? WHERE state = 'running'`, past, past)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%d mails were being sent when revokd died, want the held confirmation", n)
	}
}
