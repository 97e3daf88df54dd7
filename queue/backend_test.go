package queue

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/revokd/revokd/internal/pgtest"
)

// testPostgres is the server the second run of the package's tests uses;
// nil during the first run, on SQLite.
var testPostgres *pgtest.Postgres

// TestMain runs every test of the package twice: on SQLite, then on a
// throwaway PostgreSQL server, so that both backends keep one behaviour.
func TestMain(m *testing.M) {
	if code := m.Run(); code != 0 {
		os.Exit(code)
	}
	if pgtest.BinDir() == "" {
		if pgtest.Required() {
			fmt.Fprintln(os.Stderr, "queue: PostgreSQL is required in CI: initdb not found")
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "queue: PostgreSQL's server is not installed: the tests ran on SQLite only")
		os.Exit(0)
	}
	p, err := pgtest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "queue: starting PostgreSQL:", err)
		os.Exit(1)
	}
	testPostgres = p
	fmt.Fprintln(os.Stderr, "queue: the same tests on PostgreSQL")
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, "queue: the failures above are on PostgreSQL")
	}
	p.Stop()
	os.Exit(code)
}

// testDatabases maps a test's data folder to its PostgreSQL database, so
// that reopening the folder reopens the same store, as on SQLite.
var testDatabases struct {
	sync.Mutex
	byDir map[string]string
	n     int
}

// backendOptions returns o for the backend of this run: on PostgreSQL,
// with the URL of dir's own database (created the first time).
func backendOptions(t testing.TB, dir string, o *Options) *Options {
	t.Helper()
	var r Options
	if o != nil {
		r = *o
	}
	if testPostgres == nil || r.URL != "" {
		return &r
	}
	testDatabases.Lock()
	defer testDatabases.Unlock()
	if testDatabases.byDir == nil {
		testDatabases.byDir = map[string]string{}
	}
	name, ok := testDatabases.byDir[dir]
	if !ok {
		testDatabases.n++
		name = fmt.Sprintf("store_%d", testDatabases.n)
		if err := testPostgres.CreateDatabase(name); err != nil {
			t.Fatal(err)
		}
		testDatabases.byDir[dir] = name
	}
	r.URL = testPostgres.URL(name)
	return &r
}

// openBackend opens the store of dir on this run's backend.
func openBackend(t testing.TB, dir string, o *Options) (*Store, error) {
	t.Helper()
	return OpenWith(t.Context(), dir, backendOptions(t, dir, o))
}

// onlySQLite skips a test of the SQLite file itself on the PostgreSQL run.
func onlySQLite(t testing.TB) {
	t.Helper()
	if testPostgres != nil {
		t.Skip("about the SQLite database file")
	}
}

func TestRebind(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"ok/none", `SELECT 1`, `SELECT 1`},
		{"ok/numbered", `UPDATE t SET a = ?, b = ? WHERE id = ?`, `UPDATE t SET a = $1, b = $2 WHERE id = $3`},
		{"ok/literal-kept", `SELECT '?', "a?b", ? -- why?` + "\n" + `/* ? */ FROM t WHERE x = ?`,
			`SELECT '?', "a?b", $1 -- why?` + "\n" + `/* ? */ FROM t WHERE x = $2`},
		{"ok/doubled-quote", `SELECT 'it''s ?', ?`, `SELECT 'it''s ?', $1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rebind(tt.in); got != tt.want {
				t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// Mail carries NUL bytes and invalid UTF-8, which PostgreSQL refuses in
// text: the store keeps the mail, its headers cleaned, on both backends.
func TestHostileHeadersAreStoredCleaned(t *testing.T) {
	ctx := t.Context()
	s := openClocked(t, t.TempDir(), newTestClock())
	raw := []byte("From: a\x00b@example.fr\r\nMessage-ID: <\x00x\xff@example.fr>\r\n\r\nbody\x00\r\n")
	id, err := s.ArchiveMail(ctx, IncomingMail{Key: inbox(9), Raw: raw, MessageID: "<\x00x\xff@example.fr>", From: "a\x00b@example.fr"})
	if err != nil {
		t.Fatalf("ArchiveMail with NUL bytes: %v", err)
	}
	var msgID, from string
	if err := s.db.QueryRowContext(ctx, `SELECT message_id, sender FROM mails WHERE id = ?`, id).Scan(&msgID, &from); err != nil {
		t.Fatal(err)
	}
	if msgID != "<\uFFFDx\uFFFD@example.fr>" || from != "a\uFFFDb@example.fr" {
		t.Errorf("stored message_id %q, sender %q; want <\uFFFDx\uFFFD@example.fr>, a\uFFFDb@example.fr", msgID, from)
	}
	b, _, err := s.Evidence(ctx, sha256Hex(raw))
	if err != nil || string(b) != string(raw) {
		t.Errorf("evidence = %q, %v; want the raw bytes unchanged", b, err)
	}
	err = s.RecordOutcome(ctx, Outcome{MailID: id, Disposition: DispositionRejected, NotARequest: "no PDF\x00 attached \xfe"})
	if err != nil {
		t.Fatalf("RecordOutcome with NUL bytes: %v", err)
	}
	if _, err := s.VerifyAudit(ctx); err != nil {
		t.Errorf("VerifyAudit: %v", err)
	}
}

// Several processes append to one audit chain at once (each store here
// has its own connections, as each worker has): the chain stays one
// chain, every row follows the one before, and none is lost.
func TestAuditChainUnderConcurrentWriters(t *testing.T) {
	const writers, mailsEach = 4, 25
	dir := t.TempDir()
	clk := newTestClock()
	stores := make([]*Store, writers)
	for i := range stores {
		stores[i] = openClocked(t, dir, clk)
	}
	ctx := t.Context()
	before, err := stores[0].VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*mailsEach)
	for w, s := range stores {
		wg.Go(func() {
			for i := range mailsEach {
				uid := uint32(1000*(w+1) + i)
				if _, err := s.ArchiveMail(ctx, IncomingMail{Key: inbox(uid), Raw: rawMail(uid), MessageID: fmt.Sprint(uid)}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("ArchiveMail: %v", err)
	}
	head, err := stores[writers-1].VerifyAudit(ctx)
	if err != nil {
		t.Fatalf("VerifyAudit after concurrent writers: %v", err)
	}
	if got, want := head.Rows-before.Rows, int64(writers*mailsEach); got != want {
		t.Errorf("%d audit rows appended, want %d", got, want)
	}
}

// On PostgreSQL the mailbox lease is a session advisory lock: when the
// server cuts the holder's connection, the holder learns it lost the
// lease and another worker takes it; a holder whose process ends (its
// connections close) frees it at once.
func TestSessionLeaseLostWithItsConnection(t *testing.T) {
	if testPostgres == nil {
		t.Skip("the session lease is PostgreSQL's")
	}
	ctx := t.Context()
	dir := t.TempDir()
	clk := newTestClock()
	a, b := openClocked(t, dir, clk), openClocked(t, dir, clk)
	const name = "imap:desk@imap.example.fr:993/INBOX"
	la, lb := a.Lease(name), b.Lease(name)
	if ok, _, err := la.TryAcquire(ctx); err != nil || !ok {
		t.Fatalf("TryAcquire(a) = %v, %v, want true", ok, err)
	}
	if ok, _, err := lb.TryAcquire(ctx); err != nil || ok {
		t.Fatalf("TryAcquire(b) while a holds it = %v, %v, want false", ok, err)
	}
	// An operator (or a failover) cuts every session of a.
	lost := la.Lost()
	if _, err := b.db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(30 * time.Second):
		t.Fatal("the holder was not told that its session was cut")
	}
	if ok, _, err := lb.TryAcquire(ctx); err != nil || !ok {
		t.Fatalf("TryAcquire(b) after a's session was cut = %v, %v, want true", ok, err)
	}
	if ok, _, err := la.TryAcquire(ctx); err != nil || ok {
		t.Errorf("TryAcquire(a) again while b holds it = %v, %v, want false", ok, err)
	}
	// b's process ends without Release: its connections close.
	b.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, _, err := la.TryAcquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lease was not freed when its holder's connections closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
