package worker_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/internal/scenario"
	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/revocation"
	"github.com/revokd/revokd/worker"
)

var (
	scOnce sync.Once
	sc     *scenario.Scenario
	scErr  error
)

func getScenario(t *testing.T) *scenario.Scenario {
	t.Helper()
	scOnce.Do(func() { sc, scErr = scenario.New(time.Now()) })
	if scErr != nil {
		t.Fatal(scErr)
	}
	return sc
}

func newWorker(t *testing.T, store worker.Store, reg authorize.Registry) *worker.Worker {
	t.Helper()
	w, _ := newLoggedWorker(t, store, reg, 0)
	return w
}

func openStore(t *testing.T) *queue.Store {
	t.Helper()
	return openStoreIn(t, t.TempDir())
}

func mail(uid uint32, raw []byte) *ingest.Mail {
	return &ingest.Mail{Mailbox: "INBOX", UIDValidity: 7, UID: uid, Size: int64(len(raw)), Raw: raw, InternalDate: time.Now()}
}

func requestsOf(t *testing.T, st *queue.Store) []queue.RequestSummary {
	t.Helper()
	rows, err := st.ListRequests(context.Background(), queue.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestScenarioOutcomes runs every sample mail through Handle and checks
// the recorded state, reason code and where the mail goes.
func TestScenarioOutcomes(t *testing.T) {
	s := getScenario(t)
	st := openStore(t)
	w := newWorker(t, st, st)
	for i, m := range s.Mails {
		d, err := w.Handle(context.Background(), mail(uint32(i+1), m.Raw))
		if err != nil {
			t.Fatalf("%s: Handle: %v", m.Name, err)
		}
		want := ingest.Rejected
		if m.Want != "rejected" {
			want = ingest.Processed
		}
		if d != want {
			t.Errorf("%s: disposition %v, want %v", m.Name, d, want)
		}
	}
	rows := requestsOf(t, st)
	if len(rows) != len(s.Mails) {
		t.Fatalf("%d rows, want %d", len(rows), len(s.Mails))
	}
	byID := map[string]queue.RequestSummary{}
	for _, r := range rows {
		byID[r.MessageID] = r
	}
	for i, m := range s.Mails {
		r := byID[fmt.Sprintf("<demo-%d@example.fr>", i+1)]
		if string(r.State) != m.Want || r.ReasonCode != m.WantCode {
			t.Errorf("%s: state %s code %q, want %s %q (%s)", m.Name, r.State, r.ReasonCode, m.Want, m.WantCode, r.Reason)
		}
	}
}

// TestHandleIsIdempotent: a mail handed over again (a crash between the
// commit and the move) gets its recorded disposition and nothing new.
func TestHandleIsIdempotent(t *testing.T) {
	s := getScenario(t)
	st := openStore(t)
	w := newWorker(t, st, st)
	m := mail(1, s.Mails[0].Raw)
	for i := 0; i < 2; i++ {
		d, err := w.Handle(context.Background(), m)
		if err != nil || d != ingest.Processed {
			t.Fatalf("Handle #%d = %v, %v; want Processed", i+1, d, err)
		}
	}
	// After a UIDVALIDITY change the same bytes come with a new key.
	m2 := *m
	m2.UIDValidity, m2.UID = 8, 40
	if d, err := w.Handle(context.Background(), &m2); err != nil || d != ingest.Processed {
		t.Fatalf("Handle after UIDVALIDITY change = %v, %v", d, err)
	}
	if rows := requestsOf(t, st); len(rows) != 1 {
		t.Errorf("%d requests after three hand-overs of one mail, want 1", len(rows))
	}
}

// TestReplayQueuesOneRevocation: the same signed PDF in a second mail is
// recorded, but no second revocation job is queued.
func TestReplayQueuesOneRevocation(t *testing.T) {
	s := getScenario(t)
	st := openStore(t)
	w := newWorker(t, st, st)
	first := s.Mails[0].Raw
	replay := []byte(strings.Replace(string(first), "<demo-1@example.fr>", "<replay@example.fr>", 1))
	for i, raw := range [][]byte{first, replay} {
		if _, err := w.Handle(context.Background(), mail(uint32(i+1), raw)); err != nil {
			t.Fatal(err)
		}
	}
	rows := requestsOf(t, st)
	jobs := map[int64]bool{}
	for _, r := range rows {
		if r.JobID != nil {
			jobs[*r.JobID] = true
		}
	}
	if len(rows) != 2 || len(jobs) != 1 {
		t.Errorf("%d requests and %d jobs, want 2 requests sharing 1 job: %+v", len(rows), len(jobs), rows)
	}
}

func TestNotRequests(t *testing.T) {
	st := openStore(t)
	w := newWorker(t, st, st)
	auto := []byte("From: robot@example.fr\r\nAuto-Submitted: auto-replied\r\nSubject: Absence\r\nMessage-ID: <a@x>\r\n\r\nJe suis absent.\r\n")
	own := []byte("From: revocation@ca.example\r\nSubject: loop\r\nMessage-ID: <b@x>\r\n\r\nx\r\n")
	dsn := []byte("From: MAILER-DAEMON@example.fr\r\nSubject: Undelivered\r\nMessage-ID: <c@x>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b--\r\n")
	over := &ingest.Mail{Mailbox: "INBOX", UIDValidity: 7, UID: 9, Size: 40 << 20, OverCap: true}
	for i, m := range []*ingest.Mail{mail(1, auto), mail(2, own), mail(3, dsn), over} {
		d, err := w.Handle(context.Background(), m)
		if err != nil {
			t.Fatalf("mail %d: %v", i, err)
		}
		if want := ingest.Processed; i == 3 {
			if d != ingest.Rejected {
				t.Errorf("over-cap mail: %v, want Rejected", d)
			}
		} else if d != want {
			t.Errorf("mail %d: %v, want %v", i, d, want)
		}
	}
	rows := requestsOf(t, st)
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4", len(rows))
	}
	for _, r := range rows {
		if r.State != "not_a_request" {
			t.Errorf("%s: state %s, want not_a_request", r.MessageID, r.State)
		}
	}
}

// failingStore fails the way a database that is down does.
type failingStore struct{ worker.Store }

var errDown = errors.New("database is down")

func (failingStore) HandledMail(context.Context, queue.MailKey, string) (queue.Disposition, bool, error) {
	return "", false, errDown
}

func TestStoreDownLeavesTheMail(t *testing.T) {
	s := getScenario(t)
	st := openStore(t)
	w := newWorker(t, failingStore{st}, st)
	d, err := w.Handle(context.Background(), mail(1, s.Mails[0].Raw))
	if !errors.Is(err, errDown) || d != ingest.Leave {
		t.Errorf("Handle with the store down = %v, %v; want Leave and the store's error", d, err)
	}
}

// failingRegistry cannot be read: a retryable failure, never a rejection.
type failingRegistry struct{ authorize.Registry }

func (failingRegistry) CertificatesBySerial(context.Context, *big.Int) ([]authorize.Certificate, error) {
	return nil, errDown
}

func TestRegistryDownLeavesTheMail(t *testing.T) {
	s := getScenario(t)
	st := openStore(t)
	w := newWorker(t, st, failingRegistry{st})
	d, err := w.Handle(context.Background(), mail(1, s.Mails[0].Raw))
	if !errors.Is(err, errDown) || d != ingest.Leave {
		t.Errorf("Handle with the registry down = %v, %v; want Leave and the registry's error", d, err)
	}
	if rows := requestsOf(t, st); len(rows) != 0 {
		t.Errorf("%d requests recorded while the registry was down, want 0", len(rows))
	}
}

// The server re-presenting an archived UID with other bytes is parked,
// not an error: the mailbox goes on, and an operator sees it.
func TestKeyConflictIsParked(t *testing.T) {
	ctx := context.Background()
	s := getScenario(t)
	st := openStore(t)
	w := newWorker(t, st, st)
	m := mail(7, s.Mails[0].Raw)
	key := queue.MailKey{Mailbox: m.Mailbox, UIDValidity: m.UIDValidity, UID: m.UID}
	if _, err := st.ArchiveMail(ctx, queue.IncomingMail{Key: key, Raw: []byte("the bytes archived first")}); err != nil {
		t.Fatal(err)
	}
	if d, err := w.Handle(ctx, m); err != nil || d != ingest.Leave {
		t.Fatalf("Handle of a conflicting mail = %v, %v; want Leave without an error", d, err)
	}
	rows := requestsOf(t, st)
	if len(rows) != 1 || rows[0].State != revocation.StateParked || rows[0].ReasonCode != queue.ParkKeyConflict ||
		!strings.Contains(rows[0].Reason, "bytes other than the archived ones") || !strings.HasPrefix(rows[0].Note, "tried again after ") {
		t.Errorf("queue list --all = %+v, want the mail parked as key_conflict", rows)
	}
	// Again (the next session): still parked, one audit row.
	if d, err := w.Handle(ctx, m); err != nil || d != ingest.Leave {
		t.Fatalf("second Handle = %v, %v", d, err)
	}
	if n := len(requestsOf(t, st)); n != 1 {
		t.Errorf("%d rows after the second attempt, want 1", n)
	}
}
