package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/internal/imaptest"
	"github.com/revokd/revokd/internal/scenario"
	"github.com/revokd/revokd/internal/testpki"
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

func certificateOf(c *testpki.Cert) authorize.Certificate {
	return authorize.CertificateFromX509(c.Cert)
}
