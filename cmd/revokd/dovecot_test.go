package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/internal/imaptest"
	"github.com/revokd/revokd/internal/scenario"
	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/queue"
)

// startDovecot starts a real Dovecot for one test; under CI a missing
// Dovecot fails the test.
func startDovecot(t testing.TB) *imaptest.Dovecot {
	t.Helper()
	if imaptest.DovecotPath() == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("dovecot is not installed (scripts/test.sh installs dovecot-imapd)")
		}
		t.Skip("dovecot is not installed")
	}
	// Dovecot's Unix sockets need a short path.
	dir, err := os.MkdirTemp("", "dovecot")
	if err != nil {
		t.Fatal(err)
	}
	dv, err := imaptest.StartDovecot(dir)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dovecot log:\n%s", dv.Log())
		}
		dv.Stop()
		os.RemoveAll(dir)
	})
	return dv
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// revokdBinary builds the command once per test run, for tests that must
// kill a real process.
func revokdBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "revokd-bin")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "revokd")
		// The README's build: static, without cgo.
		cmd := exec.Command("go", "build", "-o", buildPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// crashWorld is a scenario with many holders, so that many distinct
// certificates get revocation jobs.
type crashWorld struct {
	sc    *scenario.Scenario
	mails [][]byte
	// accepted counts the distinct certificates whose revocation must be
	// queued exactly once.
	accepted int
}

func newCrashWorld(t testing.TB, n int) *crashWorld { return newWorld(t, n, true) }

// newWorld builds n mails: with mix, holders' requests, replays,
// rejections and mails that are not requests; without, only holders'
// requests, each for a certificate of its own.
func newWorld(t testing.TB, n int, mix bool) *crashWorld {
	t.Helper()
	sc, err := scenario.New(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	w := &crashWorld{sc: sc}
	var lastPDF []byte
	for i := 0; i < n; i++ {
		from := fmt.Sprintf("holder%d@example.fr", i)
		kind := i % 5
		if !mix {
			kind = 0
		}
		switch kind {
		case 0, 1: // a holder revokes their own certificate
			h, err := sc.PKI.IssueHolder(testpki.HolderOptions{
				KeyType: testpki.ECDSAP256, GivenName: "Jeanne", Surname: fmt.Sprintf("Holder%d", i),
				Email: from, IdentitySerial: fmt.Sprintf("20%08d", i), Organization: scenario.Company, SIREN: scenario.SIREN,
			})
			if err != nil {
				t.Fatal(err)
			}
			sc.Certificates = append(sc.Certificates, certificateOf(h))
			pdf, err := scenario.SignedForm(map[string]string{
				"titulaire_nom": fmt.Sprintf("Holder%d", i), "titulaire_prenom": "Jeanne", "titulaire_email": from,
				"certificat_numero_serie": h.Cert.SerialNumber.Text(16), "raison": "Clé privée compromise",
				"demandeur_qualite": "Titulaire", "entreprise_siren": scenario.SIREN,
			}, h, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			lastPDF = pdf
			w.accepted++
			w.mails = append(w.mails, scenario.MailWith(i, from, "Révocation", "demande.pdf", pdf))
		case 2: // the same signed form again, in another mail: no second job
			w.mails = append(w.mails, scenario.MailWith(i, from, "Relance", "demande.pdf", lastPDF))
		case 3: // one of the scenario's rejections or non-requests
			m := sc.Mails[2+(i/5)%4].Raw
			w.mails = append(w.mails, []byte(replaceMessageID(string(m), i)))
		case 4:
			w.mails = append(w.mails, scenario.MailWith(i, from, "Question", "", nil))
		}
	}
	return w
}

func replaceMessageID(raw string, i int) string {
	for n := 1; n <= 9; n++ {
		old := fmt.Sprintf("<demo-%d@example.fr>", n)
		if idx := indexOf(raw, old); idx >= 0 {
			return raw[:idx] + fmt.Sprintf("<demo-%d@example.fr>", i) + raw[idx+len(old):]
		}
	}
	return raw
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// writeRunConfig writes a revokd.toml for Dovecot's user and the world.
func writeRunConfig(t testing.TB, dir string, dv *imaptest.Dovecot, user string, sc *scenario.Scenario) string {
	t.Helper()
	root, issuer := filepath.Join(dir, "root.pem"), filepath.Join(dir, "issuer.pem")
	for p, b := range map[string][]byte{root: sc.RootPEM, issuer: sc.IssuerPEM} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(`data_dir = %q
[imap]
address = %q
security = "none"
username = %q
password = %q
lease_ttl = "1s"
[ca]
issuers = [%q]
[trust]
roots = [%q]
[http]
address = "127.0.0.1:0"
`, filepath.Join(dir, "data"), dv.Addr, user, dv.Password, issuer, root)
	p := filepath.Join(dir, "revokd.toml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func imapLogin(t testing.TB, dv *imaptest.Dovecot, user string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(dv.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, dv.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

func imapAppend(t testing.TB, c *imapclient.Client, raw []byte) {
	t.Helper()
	cmd := c.Append("INBOX", int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

// messages returns how many messages a folder holds (0 when it does not
// exist yet).
func messages(t testing.TB, c *imapclient.Client, folder string) uint32 {
	t.Helper()
	st, err := c.Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || st.NumMessages == nil {
		return 0
	}
	return *st.NumMessages
}

// TestCrashRecovery kills the worker process (SIGKILL) at random points
// while 200 mails flow through a real Dovecot, restarts it, and then
// checks that every mail has exactly one outcome, every accepted request
// exactly one revocation job, and nothing is left in the mailbox.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a worker many times")
	}
	const n = 200
	dv := startDovecot(t)
	bin := revokdBinary(t)
	world := newCrashWorld(t, n)
	user, err := dv.NewUser()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgPath := writeRunConfig(t, dir, dv, user, world.sc)
	st, err := queue.Open(context.Background(), filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if err := world.sc.Load(context.Background(), st); err != nil {
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

	rng := rand.New(rand.NewPCG(1, 2))
	checker := imapLogin(t, dv, user)
	deadline := time.Now().Add(3 * time.Minute)
	kills := 0
	for {
		cmd := exec.Command(bin, "run", "--config", cfgPath)
		logf, _ := os.Create(filepath.Join(dir, fmt.Sprintf("run-%d.log", kills)))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		drained := false
		if kills < 12 {
			time.Sleep(time.Duration(100+rng.IntN(900)) * time.Millisecond)
			cmd.Process.Signal(syscall.SIGKILL)
			kills++
		} else {
			// The last run: let it drain the mailbox, then stop it cleanly.
			for time.Now().Before(deadline) {
				<-appended
				if messages(t, checker, "INBOX") == 0 &&
					messages(t, checker, "Processed")+messages(t, checker, "Rejected") >= n {
					drained = true
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			cmd.Process.Signal(syscall.SIGTERM)
		}
		cmd.Wait()
		logf.Close()
		if drained {
			break
		}
		if kills >= 12 && time.Now().After(deadline) {
			t.Fatalf("the mailbox was not drained in time: INBOX %d, Processed %d, Rejected %d",
				messages(t, checker, "INBOX"), messages(t, checker, "Processed"), messages(t, checker, "Rejected"))
		}
	}

	if got := messages(t, checker, "Processed") + messages(t, checker, "Rejected"); got != n {
		t.Errorf("Processed + Rejected hold %d messages, want %d (each mail moved exactly once)", got, n)
	}
	st, err = queue.Open(context.Background(), filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.ListRequests(context.Background(), queue.ListOptions{All: true})
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
	t.Logf("%d kills; %d mails, %d jobs", kills, len(perMail), len(jobs))
}

func certificateOf(c *testpki.Cert) authorize.Certificate {
	return authorize.CertificateFromX509(c.Cert)
}
