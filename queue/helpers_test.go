package queue

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/revocation"
)

// testClock is a clock that moves only when told.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
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

// openClocked opens a store in dir on clk.
func openClocked(t testing.TB, dir string, clk *testClock) *Store {
	t.Helper()
	s, err := openBackend(t, dir, &Options{Now: clk.Now})
	if err != nil {
		t.Fatalf("OpenWith(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func inbox(uid uint32) MailKey { return MailKey{Mailbox: "INBOX", UIDValidity: 7, UID: uid} }

// rawMail is a distinct raw message for uid.
func rawMail(uid uint32) []byte {
	return fmt.Appendf(nil, "From: holder@example.fr\r\nMessage-ID: <%d@example.fr>\r\nSubject: revocation\r\n\r\nmail %d\r\n", uid, uid)
}

// archive archives the mail rawMail(uid) under inbox(uid).
func archive(t testing.TB, s *Store, uid uint32) int64 {
	t.Helper()
	id, err := s.ArchiveMail(context.Background(), IncomingMail{
		Key: inbox(uid), Raw: rawMail(uid), MessageID: fmt.Sprintf("<%d@example.fr>", uid), From: "holder@example.fr",
		ReceivedAt: time.Date(2026, 3, 1, 8, 0, int(uid), 0, time.UTC),
	})
	if err != nil {
		t.Fatalf("ArchiveMail(uid %d): %v", uid, err)
	}
	return id
}

// acceptedReq is an accepted request to revoke serial with the given PDF
// and form hash.
func acceptedReq(serial, pdf, form string) RequestOutcome {
	return RequestOutcome{
		State: revocation.StateAccepted, Reason: "signer is the holder", Serial: serial, IssuerDN: "CN=Our CA",
		RevocationReason: revocation.KeyCompromise, Role: "holder", SignerSubject: "CN=Hélène Dupont",
		SignerSerial: "77", AttachmentName: "demande.pdf", PDF: []byte(pdf),
		ReportJSON:   []byte(`{"indication":"TOTAL_PASSED","subIndication":"","signatures":[{"indication":"TOTAL_PASSED","signer":{"subject":"CN=Hélène Dupont","email":"helene@example.fr","serialNumber":"77"},"coversWholeDocument":true}]}`),
		DecisionJSON: []byte(`{"Accepted":true,"Code":""}`),
		FormSHA256:   sha256Hex([]byte(form)),
	}
}

func rejectedReq(code, pdf string) RequestOutcome {
	return RequestOutcome{
		State: revocation.StateRejected, ReasonCode: authorize.Code(code), Reason: "the signature does not verify",
		Serial: "0A1B", AttachmentName: "forged.pdf", PDF: []byte(pdf),
		ReportJSON: []byte(`{"indication":"TOTAL_FAILED","subIndication":"HASH_FAILURE"}`),
	}
}

func ack(to string) []OutboxMessage {
	return []OutboxMessage{{Kind: "acknowledgement", To: to, Subject: "Accusé de réception", Body: "Bonjour"}}
}

// record archives mail uid and records the outcome built for it.
func record(t testing.TB, s *Store, uid uint32, disp Disposition, reqs ...RequestOutcome) int64 {
	t.Helper()
	id := archive(t, s, uid)
	if err := s.RecordOutcome(context.Background(), Outcome{MailID: id, Disposition: disp, Requests: reqs, Outbox: ack("holder@example.fr")}); err != nil {
		t.Fatalf("RecordOutcome(mail %d): %v", id, err)
	}
	return id
}

func count(t testing.TB, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
