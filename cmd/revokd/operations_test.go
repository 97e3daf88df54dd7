package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revokd/revokd/internal/imaptest"
	"github.com/revokd/revokd/queue"
)

// revokdProc is a `revokd run` process of a test, its log in a file.
type revokdProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	log  string
	http string // http://127.0.0.1:PORT, once known
	done chan struct{}
}

// startRevokd starts `revokd run --config cfg`, logging to logName in dir.
func startRevokd(t *testing.T, bin, cfg, dir, logName string) *revokdProc {
	t.Helper()
	p := &revokdProc{t: t, log: filepath.Join(dir, logName), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "run", "--config", cfg)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("%s:\n%s", logName, b)
		}
	})
	line := p.waitLog("revokd running", 20*time.Second)
	var rec struct{ HTTP string }
	if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.HTTP == "" {
		t.Fatalf("no HTTP address in %q: %v", line, err)
	}
	p.http = rec.HTTP
	return p
}

// waitLog waits for a log line containing substr and returns it.
func (p *revokdProc) waitLog(substr string, timeout time.Duration) string {
	p.t.Helper()
	var line string
	waitUntil(p.t, timeout, "a log line with "+substr, func() bool {
		f, err := os.Open(p.log)
		if err != nil {
			return false
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), substr) {
				line = sc.Text()
				return true
			}
		}
		select {
		case <-p.done:
			p.t.Fatalf("revokd exited (%v) before logging %q", p.cmd.ProcessState, substr)
		default:
		}
		return false
	})
	return line
}

func (p *revokdProc) get(path string) (int, string) {
	p.t.Helper()
	resp, err := http.Get(p.http + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReady waits until /readyz answers code with a body containing
// substr, and returns the body.
func (p *revokdProc) waitReady(code int, substr string, timeout time.Duration) string {
	p.t.Helper()
	var body string
	waitUntil(p.t, timeout, fmt.Sprintf("/readyz %d with %q", code, substr), func() bool {
		var got int
		got, body = p.get("/readyz")
		return got == code && strings.Contains(body, substr)
	})
	return body
}

// waitUntil polls cond until it holds or timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, timeout)
		}
		<-tick.C
	}
}

// opsSetup is a Dovecot user, a scenario's PKI and registry in a store,
// and a configuration whose IMAP password is read from a file.
type opsSetup struct {
	dv       *imaptest.Dovecot
	user     string
	dir      string
	cfg      string
	password string // the password file
	world    *crashWorld
}

func newOpsSetup(t *testing.T, mails int, extra string) *opsSetup {
	t.Helper()
	s := &opsSetup{dv: startDovecot(t), dir: t.TempDir(), world: newWorld(t, mails, false)}
	var err error
	if s.user, err = s.dv.NewUser(); err != nil {
		t.Fatal(err)
	}
	root, issuer := filepath.Join(s.dir, "root.pem"), filepath.Join(s.dir, "issuer.pem")
	s.password = filepath.Join(s.dir, "imap.password")
	for p, b := range map[string][]byte{root: s.world.sc.RootPEM, issuer: s.world.sc.IssuerPEM, s.password: []byte(s.dv.Password + "\n")} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(`data_dir = "data"
[imap]
address = %q
security = "none"
username = %q
password_file = "imap.password"
auth_retry = "1s"
[ca]
issuers = ["issuer.pem"]
[trust]
roots = ["root.pem"]
[http]
address = "127.0.0.1:0"
%s`, s.dv.Addr, s.user, extra)
	s.cfg = filepath.Join(s.dir, "revokd.toml")
	if err := os.WriteFile(s.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := queue.Open(context.Background(), filepath.Join(s.dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := s.world.sc.Load(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	return s
}

func requireDovecotTests(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Dovecot and revokd processes")
	}
}

// After a SIGKILL, the restarted worker has the mailbox at once (the
// kernel dropped its predecessor's lock) and handles a mail that arrived
// meanwhile within 5 s of its start. A second live worker waits, and says
// who holds the mailbox.
func TestRestartAfterSIGKILL(t *testing.T) {
	requireDovecotTests(t)
	s := newOpsSetup(t, 3, "")
	bin := revokdBinary(t)
	c := imapLogin(t, s.dv, s.user)

	first := startRevokd(t, bin, s.cfg, s.dir, "first.log")
	first.waitReady(http.StatusOK, "imap: ok", 20*time.Second)
	first.cmd.Process.Signal(syscall.SIGKILL)
	<-first.done

	imapAppend(t, c, s.world.mails[0])
	start := time.Now()
	second := startRevokd(t, bin, s.cfg, s.dir, "second.log")
	waitUntil(t, 5*time.Second, "the mail handled after the restart", func() bool {
		return messages(t, c, "Processed")+messages(t, c, "Rejected") == 1
	})
	t.Logf("the mail was handled %v after the restart", time.Since(start).Round(time.Millisecond))
	if messages(t, c, "Processed") != 1 {
		t.Errorf("the holder's request was not processed")
	}

	// A second live worker on the same mailbox waits and names the holder.
	third := startRevokd(t, bin, s.cfg, s.dir, "third.log")
	line := third.waitLog("another revokd reads this mailbox", 10*time.Second)
	var rec struct {
		HolderHost  string `json:"holder_host"`
		HolderPID   int    `json:"holder_pid"`
		HolderSince string `json:"holder_since"`
	}
	host, _ := os.Hostname()
	if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.HolderPID != second.cmd.Process.Pid || rec.HolderHost != host || rec.HolderSince == "" {
		t.Errorf("the waiting worker logged %s (%v), want holder %s pid %d and since when", line, err, host, second.cmd.Process.Pid)
	}
	body := third.waitReady(http.StatusServiceUnavailable, "imap: FAIL waiting for the mailbox", 5*time.Second)
	if !strings.Contains(body, fmt.Sprintf("pid %d since ", second.cmd.Process.Pid)) {
		t.Errorf("/readyz of the waiting worker: %q, want the holder's pid", body)
	}
	imapAppend(t, c, s.world.mails[1])
	waitUntil(t, 10*time.Second, "the second mail handled by the live holder", func() bool {
		return messages(t, c, "Processed") == 2
	})

	// The holder stops cleanly: the waiting worker takes over.
	second.cmd.Process.Signal(syscall.SIGTERM)
	<-second.done
	third.waitLog("holding the mailbox", 5*time.Second)
	imapAppend(t, c, s.world.mails[2])
	waitUntil(t, 10*time.Second, "the third mail handled by the new holder", func() bool {
		return messages(t, c, "Processed") == 3
	})
}

// /readyz names the component at fault, and is 200 again once it is
// fixed, without a restart.
func TestReadyz(t *testing.T) {
	requireDovecotTests(t)
	relay, err := startDemoSMTP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.close() })
	s := newOpsSetup(t, 2, fmt.Sprintf(`[smtp]
address = %q
security = "none"
from = "revocation@example.fr"
retry_delay = "1s"
max_retry_delay = "1s"
`, relay.addr))
	if err := os.WriteFile(s.password, []byte("wrong-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := revokdBinary(t)
	p := startRevokd(t, bin, s.cfg, s.dir, "revokd.log")
	c := imapLogin(t, s.dv, s.user)

	t.Run("fail/wrong-imap-password-then-fixed", func(t *testing.T) {
		p.t = t
		p.waitReady(http.StatusServiceUnavailable, "imap: FAIL authentication failed", 20*time.Second)
		if _, m := p.get("/metrics"); !strings.Contains(m, `revokd_imap_session_state{state="auth_failed"} 1`) {
			t.Errorf("/metrics does not show the authentication failure")
		}
		p.waitLog("the IMAP server refused the credentials", time.Second)
		if err := os.WriteFile(s.password, []byte(s.dv.Password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		p.waitReady(http.StatusOK, "imap: ok", 20*time.Second)
		// Refused at every attempt until fixed, logged at ERROR once.
		b, _ := os.ReadFile(p.log)
		if n := strings.Count(string(b), `"level":"ERROR","msg":"the IMAP server refused the credentials`); n != 1 {
			t.Errorf("%d ERROR lines about the refused credentials, want 1", n)
		}
	})
	t.Run("fail/smtp-relay-down-then-back", func(t *testing.T) {
		p.t = t
		relay.close()
		imapAppend(t, c, s.world.mails[0])
		p.waitReady(http.StatusServiceUnavailable, "smtp: FAIL relay unreachable at the last attempt", 20*time.Second)
		var err error
		if relay, err = listenDemoSMTP(relay.addr); err != nil {
			t.Fatal(err)
		}
		p.waitReady(http.StatusOK, "smtp: ok at the last attempt", 20*time.Second)
		waitUntil(t, 10*time.Second, "the acknowledgement delivered", func() bool { return relay.count() > 0 })
	})
	db := filepath.Join(s.dir, "data", queue.DatabaseFile)
	t.Run("fail/store-file-removed-then-restored", func(t *testing.T) {
		p.t = t
		if err := os.Rename(db, db+".moved"); err != nil {
			t.Fatal(err)
		}
		p.waitReady(http.StatusServiceUnavailable, "store: FAIL "+db+": no such file or directory", 5*time.Second)
		if err := os.Rename(db+".moved", db); err != nil {
			t.Fatal(err)
		}
		p.waitReady(http.StatusOK, "store: ok", 5*time.Second)
	})
	t.Run("fail/store-file-unwritable-then-writable", func(t *testing.T) {
		p.t = t
		lock, unlock := []string{"chmod", "0400", db}, []string{"chmod", "0600", db}
		if os.Geteuid() == 0 {
			// Root writes whatever the mode: only an immutable file stops it.
			lock, unlock = []string{"chattr", "+i", db}, []string{"chattr", "-i", db}
		}
		if out, err := exec.Command(lock[0], lock[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", lock, err, out)
		}
		t.Cleanup(func() { exec.Command(unlock[0], unlock[1:]...).Run() })
		p.waitReady(http.StatusServiceUnavailable, "store: FAIL "+db+" is not writable", 5*time.Second)
		if out, err := exec.Command(unlock[0], unlock[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", unlock, err, out)
		}
		p.waitReady(http.StatusOK, "store: ok", 5*time.Second)
	})
	t.Run("fail/dovecot-stopped-then-back", func(t *testing.T) {
		p.t = t
		if err := s.dv.Stop(); err != nil {
			t.Fatal(err)
		}
		p.waitReady(http.StatusServiceUnavailable, "imap: FAIL disconnected since ", 20*time.Second)
		if err := s.dv.Restart(); err != nil {
			t.Fatal(err)
		}
		p.waitReady(http.StatusOK, "imap: ok", 60*time.Second)
		c := imapLogin(t, s.dv, s.user)
		imapAppend(t, c, s.world.mails[1])
		waitUntil(t, 10*time.Second, "a mail handled after Dovecot came back", func() bool {
			return messages(t, c, "Processed") == 2
		})
	})
	p.t = t
	if code, body := p.get("/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
}

// revokd check tries the IMAP login, the relay and the store, and says
// which works.
func TestCheck(t *testing.T) {
	requireDovecotTests(t)
	relay, err := startDemoSMTP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.close() })
	s := newOpsSetup(t, 1, fmt.Sprintf("[smtp]\naddress = %q\nsecurity = \"none\"\nfrom = \"revocation@example.fr\"\n", relay.addr))
	check := func() (int, string) {
		var out, errOut strings.Builder
		code := run(context.Background(), []string{"check", "--config", s.cfg}, strings.NewReader(""), &out, &errOut)
		return code, out.String() + errOut.String()
	}
	code, out := check()
	for _, want := range []string{
		"ok    configuration " + s.cfg + "\n",
		"ok    imap " + s.dv.Addr + ": logged in as " + s.user + ", INBOX holds 0 messages, IDLE\n",
		"ok    smtp " + relay.addr + ": greeting, none accepted\n",
		"ok    store " + filepath.Join(s.dir, "data", queue.DatabaseFile) + ": readable and writable, schema version ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("revokd check lacks %q:\n%s", want, out)
		}
	}
	if code != exitOK {
		t.Errorf("revokd check: exit %d, want 0\n%s", code, out)
	}

	if err := os.WriteFile(s.password, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	relay.close()
	code, out = check()
	if code != exitRejected || !strings.Contains(out, "FAIL  imap "+s.dv.Addr+": authentication refused: ") ||
		!strings.Contains(out, "FAIL  smtp "+relay.addr+": connect: ") || !strings.Contains(out, "ok    store ") {
		t.Errorf("revokd check with a wrong password and the relay down: exit %d\n%s", code, out)
	}
}
