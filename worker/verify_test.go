package worker_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/pdfverify"
	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/worker"
)

// syncBuffer is a log destination several goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newLoggedWorker is newWorker with a log and a verifier lease.
func newLoggedWorker(t *testing.T, store worker.Store, reg authorize.Registry, lease time.Duration) (*worker.Worker, *syncBuffer) {
	t.Helper()
	s := getScenario(t)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(s.RootPEM)
	logs := &syncBuffer{}
	w, err := worker.New(worker.Config{
		Store:     store,
		Registry:  reg,
		Authorize: authorize.Options{Issuers: []*x509.Certificate{s.PKI.Intermediate.Cert}},
		Verify: &pdfverify.Options{Roots: roots,
			Revocation: pdfverify.NewRevocationSource(pdfverify.RevocationOptions{Online: true})},
		Address:     "revocation@ca.example",
		Logger:      slog.New(slog.NewTextHandler(logs, nil)),
		VerifyLease: lease,
	})
	if err != nil {
		t.Fatal(err)
	}
	return w, logs
}

// busyVerifiers is a store whose queue of mails to verify always looks
// empty: the verifiers of a worker running it never get a mail, as when
// they are all busy.
type busyVerifiers struct{ *queue.Store }

func (busyVerifiers) ClaimVerification(context.Context, time.Duration, int64) (queue.ArchivedMail, bool, error) {
	return queue.ArchivedMail{}, false, nil
}

// runVerifiers runs w's verifiers until the test ends.
func runVerifiers(t *testing.T, w *worker.Worker, n int) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.RunVerifiers(ctx, n, 20*time.Millisecond) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// openShared opens a second handle on the store in dir, as another worker
// process does.
func openShared(t *testing.T, dir string) *queue.Store {
	t.Helper()
	st, err := queue.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// A mail fetched by the worker reading the mailbox is decided by another
// worker's verifier when its own are busy, and the reader moves it with the
// outcome the other recorded.
func TestMailIsDecidedByAnotherWorker(t *testing.T) {
	s := getScenario(t)
	dir := t.TempDir()
	readerStore := openStoreIn(t, dir)
	reader, readerLog := newLoggedWorker(t, busyVerifiers{readerStore}, readerStore, 0)
	runVerifiers(t, reader, 1)
	otherStore := openShared(t, dir)
	other, otherLog := newLoggedWorker(t, otherStore, otherStore, 0)
	runVerifiers(t, other, 2)

	for i, m := range s.Mails[:4] {
		d, err := reader.Handle(context.Background(), mail(uint32(i+1), m.Raw))
		want := ingest.Rejected
		if m.Want != "rejected" {
			want = ingest.Processed
		}
		if err != nil || d != want {
			t.Errorf("%s: Handle = %v, %v; want %v", m.Name, d, err, want)
		}
	}
	if n := strings.Count(otherLog.String(), `msg="mail handled"`); n != 4 {
		t.Errorf("the other worker decided %d mails, want 4", n)
	}
	if strings.Contains(readerLog.String(), `msg="mail handled"`) {
		t.Error("the reader decided a mail although its verifiers were busy")
	}
	if rows := requestsOf(t, readerStore); len(rows) != 4 {
		t.Errorf("%d requests recorded, want 4", len(rows))
	}
}

// The mail of a verifier that died holding it is decided by another once
// the lease runs out, and the mail reader waiting for it gets the outcome.
func TestMailOfADeadVerifierIsTakenOver(t *testing.T) {
	s := getScenario(t)
	dir := t.TempDir()
	st := openStoreIn(t, dir)
	const lease = 300 * time.Millisecond
	reader, _ := newLoggedWorker(t, busyVerifiers{st}, st, lease)
	runVerifiers(t, reader, 1)

	m := mail(1, s.Mails[0].Raw)
	handled := handleInBackground(t, reader, m)
	// The dead verifier: it claims the mail and is never heard of again.
	claimAndDie(t, openShared(t, dir), lease)
	select {
	case d := <-handled:
		t.Fatalf("Handle returned %v while the dead verifier's lease ran", d)
	case <-time.After(lease / 2):
	}
	otherStore := openShared(t, dir)
	other, _ := newLoggedWorker(t, otherStore, otherStore, lease)
	runVerifiers(t, other, 1)
	select {
	case d := <-handled:
		if d != ingest.Processed {
			t.Errorf("Handle = %v, want Processed", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the mail was not taken over after the dead verifier's lease")
	}
}

// handleInBackground hands m to w and returns where it goes, once known.
func handleInBackground(t *testing.T, w *worker.Worker, m *ingest.Mail) <-chan ingest.Disposition {
	handled := make(chan ingest.Disposition, 1)
	go func() {
		d, err := w.Handle(context.Background(), m)
		if err != nil {
			t.Errorf("Handle: %v", err)
		}
		handled <- d
	}()
	return handled
}

// claimAndDie claims the next mail to verify as a verifier that then dies:
// it waits for one to be due, takes it under lease and never answers.
func claimAndDie(t *testing.T, st *queue.Store, lease time.Duration) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok, err := st.ClaimVerification(context.Background(), lease, 0); err != nil {
			t.Fatal(err)
		} else if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no mail to verify was due within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// slowRegistry answers after a delay, like a registry under load, and
// counts the questions.
type slowRegistry struct {
	authorize.Registry
	delay time.Duration
	calls atomic.Int32
}

func (r *slowRegistry) CertificatesBySerial(ctx context.Context, n *big.Int) ([]authorize.Certificate, error) {
	r.calls.Add(1)
	time.Sleep(r.delay)
	return r.Registry.CertificatesBySerial(ctx, n)
}

// A verification longer than the lease renews it: no other verifier takes
// the mail over and decides it a second time.
func TestSlowVerificationKeepsItsMail(t *testing.T) {
	s := getScenario(t)
	dir := t.TempDir()
	st := openStoreIn(t, dir)
	const lease = 300 * time.Millisecond
	reg := &slowRegistry{Registry: st, delay: 4 * lease}
	first, _ := newLoggedWorker(t, st, reg, lease)
	runVerifiers(t, first, 1)
	otherStore := openShared(t, dir)
	second, _ := newLoggedWorker(t, otherStore, reg, lease)
	runVerifiers(t, second, 1)

	d, err := first.Handle(context.Background(), mail(1, s.Mails[0].Raw))
	if err != nil || d != ingest.Processed {
		t.Fatalf("Handle = %v, %v; want Processed", d, err)
	}
	if n := reg.calls.Load(); n != 1 {
		t.Errorf("the registry was asked %d times, want 1: the mail was taken over while it was being decided", n)
	}
}

// openStoreIn opens the store in dir with the scenario's registry.
func openStoreIn(t *testing.T, dir string) *queue.Store {
	t.Helper()
	st, err := queue.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := getScenario(t).Load(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	return st
}

// A mail whose verifiers all die holding it is parked as
// verification_failed after the policy's attempts; presented again by the
// mailbox, it is verified afresh and decided.
func TestMailKillingItsVerifiersIsParkedThenRetried(t *testing.T) {
	s := getScenario(t)
	dir := t.TempDir()
	st := openStoreIn(t, dir)
	reader, _ := newLoggedWorker(t, busyVerifiers{st}, st, 0)
	runVerifiers(t, reader, 1)
	m := mail(1, s.Mails[0].Raw)
	handled := handleInBackground(t, reader, m)

	// Verifiers that each take the mail and die: their lease runs out.
	dead := openShared(t, dir)
	const lease = 20 * time.Millisecond
	for range queue.DefaultVerificationRetry.MaxAttempts {
		claimAndDie(t, dead, lease)
		time.Sleep(2 * lease)
	}
	// The next look for work gives the last lease up.
	if _, ok, err := dead.ClaimVerification(context.Background(), lease, 0); err != nil || ok {
		t.Fatalf("ClaimVerification after the last attempt = %v, %v; want nothing", ok, err)
	}
	select {
	case d := <-handled:
		if d != ingest.Leave {
			t.Fatalf("Handle = %v, want Leave (parked)", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Handle still waits after the verification failed")
	}
	rows := requestsOf(t, st)
	if len(rows) != 1 || rows[0].ReasonCode != queue.ParkVerificationFailed {
		t.Fatalf("queue list: %+v, want the mail parked as %s", rows, queue.ParkVerificationFailed)
	}

	otherStore := openShared(t, dir)
	other, _ := newLoggedWorker(t, otherStore, otherStore, 0)
	d, err := other.Handle(context.Background(), m)
	if err != nil || d != ingest.Processed {
		t.Fatalf("Handle when presented again = %v, %v; want Processed", d, err)
	}
}
