package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to cut the workers' sessions

	"github.com/revokd/revokd/internal/imaptest"
	"github.com/revokd/revokd/internal/pgtest"
	"github.com/revokd/revokd/queue"
)

// chaosMails is how many request mails a chaos run sends:
// REVOKD_CHAOS_MAILS, else defaultChaosMails. The full run is 1,000; the
// default keeps the test command within CI's time on two cores.
const defaultChaosMails = 200

func chaosMails(t *testing.T) int {
	return mailsFromEnv(t, "REVOKD_CHAOS_MAILS", defaultChaosMails, 10)
}

// TestCrashRecovery is the chaos scenario on the embedded store: one
// worker on SQLite, SIGKILLed and restarted at random, Dovecot restarted
// once.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts workers many times")
	}
	runChaos(t, chaosMails(t), 1, false)
}

// TestChaosPostgres is the chaos scenario on PostgreSQL: three workers
// on one database, SIGKILLed and restarted at random, Dovecot restarted
// once, and every session of the workers cut once by the server.
func TestChaosPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts workers many times")
	}
	runChaos(t, chaosMails(t), 3, true)
}

// runChaos sends n mails through workers revokd processes and checks
// afterwards: every mail exactly one outcome, every accepted request
// exactly one revocation job, every mail answered and each answer
// delivered under one Message-ID (a copy delivered twice keeps it: the
// at-least-once rule) but those the abuse limits hold back, INBOX empty,
// the audit chain intact.
func runChaos(t *testing.T, n, workers int, postgres bool) {
	dv := startDovecot(t)
	bin := revokdBinary(t)
	world := newCrashWorld(t, n)
	user, err := dv.NewUser()
	if err != nil {
		t.Fatal(err)
	}
	relay, err := startDemoSMTP()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.close()
	dir := t.TempDir()
	cfgPath := writeRunConfig(t, dir, dv, user, world.sc)
	// A killed sender's claimed mail waits for its lease: short here.
	extra := fmt.Sprintf("[smtp]\naddress = %q\nsecurity = \"none\"\nfrom = %q\ntimeout = \"10s\"\nlease = \"15s\"\n"+
		"[notify]\nlimit_per_address = -1\nlimit_per_domain = -1\nlimit_total = -1\n", relay.addr, "desk@example.fr")
	var (
		opts = &queue.Options{}
		pgDB *sql.DB
	)
	if postgres {
		url := startChaosPostgres(t)
		extra += fmt.Sprintf("[store]\nurl = %q\n", url)
		opts.URL = url
		if pgDB, err = sql.Open("pgx", url); err != nil {
			t.Fatal(err)
		}
		defer pgDB.Close()
	}
	appendFile(t, cfgPath, extra)
	ctx := context.Background()
	st, err := queue.OpenWith(ctx, filepath.Join(dir, "data"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := world.sc.Load(ctx, st); err != nil {
		t.Fatal(err)
	}
	st.Close()

	appender := imapLogin(t, dv, user)
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		for _, m := range world.mails {
			imapAppend(t, appender, m)
		}
	}()

	ws := newWorkerSet(t, bin, cfgPath, dir, workers)
	defer ws.stopAll()
	rng := rand.New(rand.NewPCG(1, 2))
	// A mail whose revocation status no source could tell in time (a
	// loaded machine) is parked and tried again after 5 minutes: leave
	// room for one such retry.
	deadline := time.Now().Add(time.Duration(n)*300*time.Millisecond + 8*time.Minute)
	maxKills := 12 + n/50
	kills, dovecotRestarted, sessionsCut := 0, false, !postgres
	for {
		handled, inbox := folderCounts(t, dv, user)
		switch {
		case kills < maxKills:
			time.Sleep(time.Duration(100+rng.IntN(900)) * time.Millisecond)
			ws.killAndRestart(rng.IntN(workers))
			kills++
		case !dovecotRestarted && handled >= n/2:
			<-appended // the appender's session ends with the server
			if err := dv.Restart(); err != nil {
				t.Fatalf("restarting Dovecot: %v", err)
			}
			dovecotRestarted = true
		case !sessionsCut && handled >= 2*n/3:
			res, err := pgDB.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid()`)
			if err != nil {
				t.Fatalf("cutting the workers' sessions: %v", err)
			}
			cut, _ := res.RowsAffected()
			t.Logf("cut the workers' database sessions (%d rows)", cut)
			sessionsCut = true
		case handled >= n && inbox == 0 && dovecotRestarted && sessionsCut:
			if outboxDrained(opts, dir) {
				ws.stopAll()
				checkChaos(t, world, n, relay, dv, user, opts, dir, kills)
				return
			}
			time.Sleep(200 * time.Millisecond)
		default:
			time.Sleep(200 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			logWorkerTrouble(t, dir)
			t.Fatalf("not drained in time: %d of %d mails handled, INBOX %d, %d kills, Dovecot restarted %v, sessions cut %v",
				handled, n, inbox, kills, dovecotRestarted, sessionsCut)
		}
	}
}

// startChaosPostgres starts a throwaway PostgreSQL and returns the URL of
// an empty database; in CI a missing PostgreSQL fails the test.
func startChaosPostgres(t *testing.T) string {
	t.Helper()
	if pgtest.BinDir() == "" {
		if pgtest.Required() {
			t.Fatal("PostgreSQL is required in CI: initdb not found (scripts/test.sh installs postgresql)")
		}
		t.Skip("PostgreSQL's server is not installed")
	}
	return throwawayPostgres(t, "chaos")
}

// throwawayPostgres starts a PostgreSQL server for the test or benchmark,
// stopped at its end, and returns the URL of a new database name on it.
func throwawayPostgres(t testing.TB, name string) string {
	t.Helper()
	p, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	if err := p.CreateDatabase(name); err != nil {
		t.Fatal(err)
	}
	return p.URL(name)
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// folderCounts returns the mails moved out of INBOX and those still in
// it, on a session of its own (Dovecot may have restarted); -1, -1 while
// Dovecot does not answer.
func folderCounts(t *testing.T, dv *imaptest.Dovecot, user string) (handled, inbox int) {
	c, err := imapclient.DialInsecure(dv.Addr, nil)
	if err != nil {
		return -1, -1
	}
	defer c.Close()
	if err := c.Login(user, dv.Password).Wait(); err != nil {
		return -1, -1
	}
	return int(messages(t, c, "Processed") + messages(t, c, "Rejected")), int(messages(t, c, "INBOX"))
}

// outboxDrained reports whether the outbox has nothing left to send.
func outboxDrained(opts *queue.Options, dir string) bool {
	st, err := queue.OpenWith(context.Background(), filepath.Join(dir, "data"), opts)
	if err != nil {
		return false
	}
	defer st.Close()
	ob, err := st.OutboxStats(context.Background())
	return err == nil && ob.Pending == 0
}

func checkChaos(t *testing.T, world *crashWorld, n int, relay *demoSMTP, dv *imaptest.Dovecot, user string,
	opts *queue.Options, dir string, kills int) {
	t.Helper()
	ctx := context.Background()
	checker := imapLogin(t, dv, user)
	if got := messages(t, checker, "Processed") + messages(t, checker, "Rejected"); got != uint32(n) {
		t.Errorf("Processed + Rejected hold %d messages, want %d (each mail moved exactly once)", got, n)
	}
	if got := messages(t, checker, "INBOX"); got != 0 {
		t.Errorf("INBOX holds %d messages, want 0", got)
	}
	st, err := queue.OpenWith(ctx, filepath.Join(dir, "data"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.ListRequests(ctx, queue.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	perMail := map[string]int{}
	jobs := map[int64]bool{}
	for _, r := range rows {
		perMail[r.MessageID]++
		if r.State == "queued" {
			if r.JobID == nil {
				t.Errorf("accepted request %d has no revocation job", r.ID)
			} else {
				jobs[*r.JobID] = true
			}
		}
	}
	if len(perMail) != n {
		t.Errorf("%d mails have an outcome, want %d", len(perMail), n)
	}
	for id, k := range perMail {
		if k != 1 {
			t.Errorf("mail %s has %d outcomes, want 1", id, k)
		}
	}
	if len(jobs) != world.accepted {
		t.Errorf("%d revocation jobs, want %d (one per certificate)", len(jobs), world.accepted)
	}

	// The answers: every mail answered; each outbox row delivered under
	// one Message-ID, at least once.
	ob, err := st.OutboxStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	answered := map[string]bool{}
	copies := map[string]int{}
	for _, m := range relay.mails() {
		msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
		if err != nil {
			t.Errorf("relayed mail does not parse: %v", err)
			continue
		}
		copies[msg.Header.Get("Message-Id")]++
		answered[msg.Header.Get("In-Reply-To")] = true
	}
	if len(copies) != ob.Sent || ob.Failed != 0 {
		t.Errorf("%d distinct answers delivered; the outbox says %d sent, %d failed: want one delivered Message-ID per sent row",
			len(copies), ob.Sent, ob.Failed)
	}
	// The scenario's mails that are not requests come from a few senders
	// again and again: after the first, the abuse limits hold their answer
	// back on purpose (suppressed), whatever the crashes.
	var unanswered []string
	for id := range perMail {
		if !answered[id] {
			unanswered = append(unanswered, id)
		}
	}
	if len(unanswered) != ob.Suppressed {
		t.Errorf("%d mails got no answer (%q), and the outbox held back %d: want every mail answered but those held back",
			len(unanswered), unanswered, ob.Suppressed)
	}
	dup := 0
	for _, k := range copies {
		dup += k - 1
	}
	if _, err := st.VerifyAudit(ctx); err != nil {
		t.Errorf("VerifyAudit: %v", err)
	}
	t.Logf("%d kills; %d mails, %d jobs, %d answers (%d delivered twice or more, same Message-ID), %d held back",
		kills, len(perMail), len(jobs), len(copies), dup, ob.Suppressed)
}

// logWorkerTrouble shows the last warnings and errors of the workers'
// logs, and the store's verification queue, for a run that did not drain.
func logWorkerTrouble(t *testing.T, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "worker-*.log"))
	var trouble []string
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
				trouble = append(trouble, filepath.Base(l)+": "+strings.TrimSpace(line))
			}
		}
	}
	t.Logf("%d warnings and errors in %d worker logs; the last ones:", len(trouble), len(logs))
	for _, line := range trouble[max(0, len(trouble)-40):] {
		t.Log(line)
	}
}

// workerSet runs revokd run processes and restarts the one killed.
type workerSet struct {
	t        *testing.T
	bin, cfg string
	dir      string
	mu       sync.Mutex
	procs    []*exec.Cmd
	exited   []chan struct{}
	starts   int
}

func newWorkerSet(t *testing.T, bin, cfg, dir string, n int) *workerSet {
	ws := &workerSet{t: t, bin: bin, cfg: cfg, dir: dir, procs: make([]*exec.Cmd, n), exited: make([]chan struct{}, n)}
	for i := range n {
		ws.start(i)
	}
	return ws
}

func (ws *workerSet) start(i int) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	cmd := exec.Command(ws.bin, "run", "--config", ws.cfg)
	logf, err := os.Create(filepath.Join(ws.dir, fmt.Sprintf("worker-%d-run-%d.log", i, ws.starts)))
	if err != nil {
		ws.t.Fatal(err)
	}
	ws.starts++
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		ws.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	ws.procs[i], ws.exited[i] = cmd, exited
}

func (ws *workerSet) killAndRestart(i int) {
	ws.mu.Lock()
	p, exited := ws.procs[i], ws.exited[i]
	ws.mu.Unlock()
	p.Process.Signal(syscall.SIGKILL)
	<-exited
	ws.start(i)
}

// stopAll ends the workers cleanly (SIGTERM) and waits for them.
func (ws *workerSet) stopAll() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for i, p := range ws.procs {
		if p == nil {
			continue
		}
		p.Process.Signal(syscall.SIGTERM)
		<-ws.exited[i]
		ws.procs[i] = nil
	}
}
