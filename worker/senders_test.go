package worker_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/internal/scenario"
	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/pdfverify"
	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/revocation"
	"github.com/revokd/revokd/worker"
)

// A signed, valid request (scenario mail 0 is accepted and queued) is not
// dropped because of a header that only says "do not auto-reply", nor
// because its From names the sender in windows-1252.
func TestRequestKeptWhateverItsHeaders(t *testing.T) {
	s := getScenario(t)
	orig := string(s.Mails[0].Raw)
	cases := []struct{ name, old, new string }{
		{"ok/windows-1252-from", "From: helene.dupont@example.fr\r\n",
			"From: =?windows-1252?Q?H=E9l=E8ne_Dupont?= <helene.dupont@example.fr>\r\n"},
		{"ok/precedence-list-added-by-a-group-alias", "From: helene.dupont@example.fr\r\n",
			"From: helene.dupont@example.fr\r\nPrecedence: list\r\n"},
		{"ok/auto-forwarded", "From: helene.dupont@example.fr\r\n",
			"From: helene.dupont@example.fr\r\nAuto-Submitted: auto-forwarded\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			w := newWorker(t, st, st)
			raw := strings.Replace(orig, tc.old, tc.new, 1)
			if raw == orig {
				t.Fatal("header not replaced")
			}
			if _, err := w.Handle(context.Background(), mail(1, []byte(raw))); err != nil {
				t.Fatal(err)
			}
			rows := requestsOf(t, st)
			if len(rows) != 1 || rows[0].State != "queued" {
				t.Errorf("got %+v; want one queued request", rows)
			}
		})
	}
}

// The result goes to From, never to a Reply-To, and never carries the
// operator's detail (registry facts: the SIREN looked up, the issuer DN,
// the signer's serial).
func TestResultKeepsOperatorDetailAndIgnoresReplyTo(t *testing.T) {
	s := getScenario(t)
	st := openStore(t)
	w := newWorker(t, st, st)
	raw := strings.Replace(string(s.Mails[4].Raw), "From: paul.durand@example.fr\r\n",
		"From: paul.durand@example.fr\r\nReply-To: someone-else@attacker.example\r\n", 1)
	if _, err := w.Handle(context.Background(), mail(1, []byte(raw))); err != nil {
		t.Fatal(err)
	}
	for {
		row, err := st.ClaimOutbox(context.Background(), time.Minute)
		if err != nil || row == nil {
			break
		}
		t.Logf("to %s (%s):\n%s", row.To, row.Kind, row.Body)
		if row.Kind == "result" && strings.Contains(row.Body, "matches no registered representative of SIREN") {
			t.Errorf("result to %s carries the operator's detail", row.To)
		}
		if row.To != "paul.durand@example.fr" {
			t.Errorf("%s sent to %s, want the From address", row.Kind, row.To)
		}
	}
}

// Identical PDFs in one mail are one request, and the distinct PDFs one
// mail can make revokd verify are bounded.
func TestManyPDFsInOneMail(t *testing.T) {
	s := getScenario(t)
	st := openStore(t)
	w := newWorker(t, st, st)
	raw := string(s.Mails[2].Raw) // a rejected (forged) PDF: verification runs fully
	i := strings.Index(raw, "--sep\r\nContent-Type: application/pdf")
	j := strings.LastIndex(raw, "--sep--")
	part := raw[i:j]
	const copies = 200
	many := raw[:i] + strings.Repeat(part, copies) + raw[j:]
	start := time.Now()
	if _, err := w.Handle(context.Background(), mail(1, []byte(many))); err != nil {
		t.Fatal(err)
	}
	rows := requestsOf(t, st)
	t.Logf("%d requests recorded for one mail of %d bytes in %v", len(rows), len(many), time.Since(start))
	if len(rows) != 1 {
		t.Errorf("%d identical PDFs gave %d requests, want 1", copies, len(rows))
	}
}

func TestDistinctPDFsPerMailAreBounded(t *testing.T) {
	s := getScenario(t)
	st := openStore(t)
	w := newWorker(t, st, st)
	var parts strings.Builder
	for i := 0; i < 12; i++ {
		pdf, err := scenario.SignedForm(map[string]string{"lieu": fmt.Sprintf("Paris %d", i)}, s.Holder, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		one := string(scenario.MailWith(i, "helene.dupont@example.fr", "x", fmt.Sprintf("f%d.pdf", i), pdf))
		k := strings.Index(one, "--sep\r\nContent-Type: application/pdf")
		parts.WriteString(one[k:strings.LastIndex(one, "--sep--")])
	}
	first := string(s.Mails[0].Raw)
	i := strings.Index(first, "--sep\r\nContent-Type: application/pdf")
	raw := first[:i] + parts.String() + "--sep--\r\n"
	if _, err := w.Handle(context.Background(), mail(1, []byte(raw))); err != nil {
		t.Fatal(err)
	}
	if rows := requestsOf(t, st); len(rows) != 10 {
		t.Errorf("12 distinct PDFs gave %d requests, want the first 10", len(rows))
	}
}

// A signature whose revocation status is unknown is tried again while the
// mail is young, and refused as TRY_LATER once the retry window has passed.
func TestRevocationUnknownIsRetriedThenRefused(t *testing.T) {
	s := getScenario(t)
	st := openStore(t)
	// A CA of the same trust that serves no CRL or OCSP.
	silent, err := testpki.New(testpki.Options{Now: time.Now(), NoServer: true, Mimic: s.PKI})
	if err != nil {
		t.Fatal(err)
	}
	h, err := silent.IssueHolder(testpki.HolderOptions{KeyType: testpki.ECDSAP256, GivenName: "Hélène", Surname: "Dupont",
		Email: "helene.dupont@example.fr", IdentitySerial: "1000000001", Organization: scenario.Company, SIREN: scenario.SIREN})
	if err != nil {
		t.Fatal(err)
	}
	pdf, err := scenario.SignedForm(map[string]string{"certificat_numero_serie": "01"}, h, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(silent.Root.Cert)
	now := time.Now()
	w, err := worker.New(worker.Config{
		Store: st, Registry: st,
		Authorize: authorize.Options{Issuers: []*x509.Certificate{s.PKI.Intermediate.Cert}},
		Verify:    &pdfverify.Options{Roots: roots},
		Now:       func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	m := mail(1, scenario.MailWith(1, "helene.dupont@example.fr", "x", "f.pdf", pdf))
	m.InternalDate = now.Add(-time.Hour)
	// Parked, not an error: the mailbox leaves it for later and goes on.
	if d, err := w.Handle(context.Background(), m); err != nil || d != ingest.Leave {
		t.Fatalf("young mail: Handle = %v, %v; want Leave without an error", d, err)
	}
	if rows := requestsOf(t, st); len(rows) != 1 || rows[0].State != revocation.StateParked {
		t.Fatalf("queue list --all while retrying: %+v, want only the parked mail", rows)
	}
	parked, err := st.ListRequests(context.Background(), queue.ListOptions{State: revocation.StateParked})
	if err != nil || len(parked) != 1 || parked[0].ReasonCode != queue.ParkRevocationUnknown || parked[0].ID != 0 ||
		!strings.Contains(parked[0].Reason, "revocation status unknown") {
		t.Fatalf("queue list --state parked = %+v, %v; want the mail parked as revocation_unknown", parked, err)
	}
	now = now.Add(25 * time.Hour)
	if d, err := w.Handle(context.Background(), m); err != nil || d != ingest.Rejected {
		t.Fatalf("after the window: Handle = %v, %v; want Rejected", d, err)
	}
	if rows := requestsOf(t, st); len(rows) != 1 || rows[0].ReasonCode != "try_later" {
		t.Errorf("after the window: %+v, want one request refused as try_later", rows)
	}
	if parked, err := st.ListRequests(context.Background(), queue.ListOptions{State: revocation.StateParked}); err != nil || len(parked) != 0 {
		t.Errorf("parked after the outcome: %+v, %v; want none", parked, err)
	}
}
