package review

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/http/httptest"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/notify"
	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/revocation"
)

// chromium finds Debian's chromium. Under CI=true its absence fails the
// test: scripts/test.sh installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (scripts/test.sh installs Debian's chromium)")
	}
	t.Skip("chromium is not installed; scripts/test.sh installs it")
	return ""
}

// browser drives one headless Chromium with a fresh profile.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	d     *desk
	shots string
}

func newBrowser(t *testing.T, d *desk, base string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return &browser{t: t, ctx: ctx, base: base, d: d, shots: t.TempDir()}
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

// submit clicks a button that posts a form, and waits for the next page.
func (b *browser) submit(button chromedp.CSS) {
	b.t.Helper()
	if _, err := chromedp.RunResponse(b.ctx, chromedp.Click(button)); err != nil {
		b.t.Fatalf("clicking %s: %v", button, err)
	}
}

func (b *browser) open(path string) {
	b.t.Helper()
	if _, err := chromedp.RunResponse(b.ctx, chromedp.Navigate(b.base+path)); err != nil {
		b.t.Fatalf("opening %s: %v", path, err)
	}
}

// text is the page's visible text.
func (b *browser) text() string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

func (b *browser) mustSee(what ...string) {
	b.t.Helper()
	page := b.text()
	for _, w := range what {
		if !strings.Contains(page, w) {
			b.t.Fatalf("the page does not show %q:\n%s", w, page)
		}
	}
}

func (b *browser) count(sel chromedp.CSS) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Nodes(sel, chromedp.AtLeast(0)))
	if err != nil {
		b.t.Fatal(err)
	}
	return len(n)
}

// login types the account's name, password and current TOTP code and
// presses Enter, as an operator at a keyboard does.
func (b *browser) login(name string) {
	b.t.Helper()
	b.d.clock.Advance(totpStep) // a code is good once
	b.open("/login")
	if _, err := chromedp.RunResponse(b.ctx,
		chromedp.SendKeys(chromedp.CSS("input[name=name]"), name),
		chromedp.SendKeys(chromedp.CSS("input[name=password]"), name+"-password"),
		chromedp.SendKeys(chromedp.CSS("input[name=code]"), b.d.code(name)+kb.Enter),
	); err != nil {
		b.t.Fatalf("logging %s in: %v", name, err)
	}
	b.mustSee("Refused requests waiting for review", name)
}

func (b *browser) logout() {
	b.t.Helper()
	b.submit(chromedp.CSS("header form[action='/logout'] button"))
	b.mustSee("Code from your authenticator app")
}

// screenshot saves the whole page as name.png in the test's temporary
// folder, and in $REVOKD_SCREENSHOTS when set, for a person to look at.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	dirs := []string{b.shots}
	if extra := os.Getenv("REVOKD_SCREENSHOTS"); extra != "" {
		dirs = append(dirs, extra)
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.t.Fatal(err)
		}
		p := filepath.Join(dir, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
		b.t.Logf("screenshot %s", p)
	}
}

// TestBrowserReviewDesk drives the desk in a real Chromium: log in with a
// TOTP code, see why a forged form was refused, dismiss it and find the
// sender's notice at the SMTP server; then an override that waits for a
// different approver, a rejection that cancels one, and a revocation job
// that appears only once an override is approved.
func TestBrowserReviewDesk(t *testing.T) {
	d := newDesk(t)
	for _, n := range []struct{ name, role string }{{"alice", RoleOperator}, {"bruno", RoleApprover}, {"chloe", RoleApprover}} {
		d.addOperator(n.name, n.role)
	}
	sink := newSMTPSink(t)
	snd := &notify.Sender{Store: d.store, Address: sink.addr, Security: notify.SecurityNone, From: "revocation@ca.example",
		PollInterval: 20 * time.Millisecond}
	sctx, stopSender := context.WithCancel(context.Background())
	sent := make(chan error, 1)
	go func() { sent <- snd.Run(sctx) }()
	t.Cleanup(func() { stopSender(); <-sent })
	ts := httptest.NewServer(d.srv)
	t.Cleanup(ts.Close)
	b := newBrowser(t, d, ts.URL)

	forged := d.ids[mailForged]
	b.login("alice")
	b.mustSee(fmt.Sprintf("#%d", forged), "modified_after_signing", "waiting for review")
	b.screenshot("queue")

	// The refused request: why, the form as signed beside the registry.
	b.submit(chromedp.CSS(fmt.Sprintf("a[href='/requests/%d']", forged)))
	b.mustSee(fmt.Sprintf("Request #%d", forged), "Why it was refused", "modified_after_signing",
		"changed after it was signed", "Form as signed, beside the registry", "Download the PDF", "Audit trail")
	b.screenshot("request")

	b.do(chromedp.SetValue(chromedp.CSS("select#reason"), "forged or altered form"),
		chromedp.SendKeys(chromedp.CSS("textarea#text"), "The serial number was changed after the form was signed."))
	b.submit(chromedp.CSS("form[action$='/dismiss'] button"))
	b.mustSee("Request dismissed", "dismissed — forged or altered form")
	if st := d.state(forged); st != revocation.StateDismissed {
		t.Fatalf("state after dismissing: %s", st)
	}
	notice := waitForMail(t, sink, "helene.dupont@example.fr", "The serial number was changed after the form was signed.")
	if !strings.Contains(notice, "was reviewed by an operator") || !strings.Contains(notice, "no certificate will be revoked") {
		t.Errorf("the notice does not say the request was closed:\n%s", notice)
	}

	// Four eyes on an override of the impostor's request.
	imp := d.ids[mailImpostor]
	serial := authorize.FormatSerial(d.sc.Colleague.Cert.SerialNumber)
	impPath := fmt.Sprintf("/requests/%d", imp)
	propose := func(why string) {
		b.open(impPath)
		b.do(chromedp.SendKeys(chromedp.CSS("textarea#justification"), why))
		b.submit(chromedp.CSS("form[action$='/override'] button"))
		b.mustSee("Override proposed", "waits for a different operator with the approver role")
	}
	noJob := func(when string) {
		t.Helper()
		if j := d.jobFor(serial); j != nil {
			t.Fatalf("%s: revocation job %d exists", when, j.ID)
		}
		if st := d.state(imp); st != revocation.StateRejected {
			t.Fatalf("%s: request %s, want rejected", when, st)
		}
	}
	b.logout()
	b.login("bruno")
	propose("Claire Lefèvre confirmed by phone that Paul Durand acts for the company.")
	b.mustSee("You proposed this override")
	if n := b.count("form[action$='/approve']"); n != 0 {
		t.Fatalf("the proposer is offered %d approve buttons", n)
	}
	noJob("proposed by bruno")

	b.logout()
	b.login("chloe")
	b.open(impPath)
	b.do(chromedp.SendKeys(chromedp.CSS("textarea#note"), "A phone call is not a mandate."))
	b.submit(chromedp.CSS("form[action$='/reject'] button"))
	b.mustSee("Override rejected")
	noJob("rejected by chloe")

	b.logout()
	b.login("alice")
	propose("The registry's mandate of Paul Durand was entered late; see ticket 4711.")
	if n := b.count("form[action$='/approve']"); n != 0 {
		t.Fatalf("an operator is offered %d approve buttons", n)
	}
	b.screenshot("request-override-pending")
	noJob("proposed by alice")

	b.logout()
	b.login("bruno")
	b.open(impPath)
	b.submit(chromedp.CSS("form[action$='/approve'] button"))
	b.mustSee("Override approved", "overridden")
	j := d.jobFor(serial)
	if j == nil || j.RequestID != imp || j.State != queue.JobPending {
		t.Fatalf("after approval: job %+v, want a pending job for request %d", j, imp)
	}
	if st := d.state(imp); st != revocation.StateOverridden {
		t.Fatalf("after approval: request %s, want overridden", st)
	}
	b.open("/revocations?serial=" + serial)
	b.mustSee(fmt.Sprintf("#%d", imp), "overridden", serial)
	b.screenshot("revocations")
}

// waitForMail polls the SMTP server until a message to rcpt whose decoded
// body holds want arrives, and returns that body.
func waitForMail(t *testing.T, sink *smtpSink, rcpt, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range sink.messages() {
			if len(m.to) != 1 || m.to[0] != rcpt {
				continue
			}
			body, err := decodedBody(m.data)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(body, want) {
				return body
			}
		}
		time.Sleep(20 * time.Millisecond) // polling the server's state, not waiting for an event
	}
	t.Fatalf("no mail to %s with %q reached the SMTP server", rcpt, want)
	return ""
}

func decodedBody(raw string) (string, error) {
	msg, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		return "", err
	}
	var r io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return string(b), nil
}
