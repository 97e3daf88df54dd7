package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"github.com/revokd/revokd/internal/scenario"
	"github.com/revokd/revokd/queue"
)

// demoTimeout bounds the whole demo: six mails take well under a second.
const demoTimeout = 2 * time.Minute

const (
	demoUser     = "revocation@ca.example"
	demoPassword = "demo"
)

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", stdout, stderr)
	keep := fs.Bool("keep", false, "keep the demo's data folder (store, evidence, config)")
	verbose := fs.Bool("v", false, "log the worker's events to stderr")
	serve := fs.Bool("serve", false, "then serve the operators' review desk on loopback until interrupted")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	dir, err := os.MkdirTemp("", "revokd-demo-")
	if err != nil {
		fmt.Fprintln(stderr, "revokd:", err)
		return exitUsage
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := demoWith(ctx, dir, log, stdout, *serve); err != nil {
		fmt.Fprintln(stderr, "revokd: demo:", err)
		return exitRejected
	}
	if *keep {
		fmt.Fprintf(stdout, "\nThe store, the evidence and revokd.toml are in %s:\n  revokd queue list --config %s\n",
			dir, filepath.Join(dir, "revokd.toml"))
	}
	return exitOK
}

// demo runs the real worker on the sample scenario, against go-imap's
// in-memory IMAP server on loopback, with a SQLite store in dir.
func demo(ctx context.Context, dir string, log *slog.Logger, out io.Writer) error {
	return demoWith(ctx, dir, log, out, false)
}

// demoWith is demo, then, when serve is set, the review desk on loopback
// with demo accounts until base ends.
func demoWith(base context.Context, dir string, log *slog.Logger, out io.Writer, serve bool) error {
	ctx, cancel := context.WithTimeout(base, demoTimeout)
	defer cancel()
	now := time.Now()
	sc, err := scenario.New(now)
	if err != nil {
		return fmt.Errorf("building the test CA and mails: %w", err)
	}
	defer sc.Close()

	addr, stop, err := startMemIMAP()
	if err != nil {
		return err
	}
	defer stop()
	relay, err := startDemoSMTP()
	if err != nil {
		return err
	}
	defer relay.close()
	if err := appendMails(addr, sc.Mails); err != nil {
		return err
	}

	rootPath, issuerPath := filepath.Join(dir, "root.pem"), filepath.Join(dir, "issuer.pem")
	if err := os.WriteFile(rootPath, sc.RootPEM, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(issuerPath, sc.IssuerPEM, 0o644); err != nil {
		return err
	}
	cfg := defaultConfig()
	cfg.DataDir = dir
	cfg.Trust.Roots = []string{rootPath}
	cfg.CA.Issuers = []string{issuerPath}
	cfg.IMAP.Address, cfg.IMAP.Security = addr, "none"
	cfg.IMAP.Username, cfg.IMAP.Password = demoUser, demoPassword
	// One mail at a time: the demo tells its mails in order, and their
	// references follow it.
	cfg.IMAP.Parallel = 1
	cfg.SMTP.From = demoUser
	cfg.SMTP.Address, cfg.SMTP.Security = relay.addr, "none"
	toml := fmt.Sprintf("data_dir = %q\n\n[imap]\naddress = %q\nsecurity = \"none\"\nusername = %q\n\n[trust]\nroots = [%q]\n\n[ca]\nissuers = [%q]\n",
		dir, addr, demoUser, rootPath, issuerPath)
	if err := os.WriteFile(filepath.Join(dir, "revokd.toml"), []byte(toml), 0o644); err != nil {
		return err
	}

	a, err := newApp(ctx, cfg, log, nil)
	if err != nil {
		return err
	}
	defer a.store.Close()
	if err := sc.Load(ctx, a.store); err != nil {
		return err
	}
	snd, err := newSender(cfg, a.store, log)
	if err != nil {
		return err
	}
	snd.PollInterval = demoPoll
	sndCtx, stopSender := context.WithCancel(base)
	sndDone := make(chan error, 1)
	go func() { sndDone <- snd.Run(sndCtx) }()
	defer func() {
		stopSender()
		<-sndDone
	}()

	runCtx, stopRun := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.run(runCtx, log) }()
	tick := time.NewTicker(demoPoll)
	defer tick.Stop()
	for {
		s := a.mailbox.Stats()
		if int(s.Processed+s.Rejected) >= len(sc.Mails) {
			break
		}
		select {
		case <-ctx.Done():
			stopRun()
			return fmt.Errorf("the worker handled %d of %d mails in time", s.Processed+s.Rejected, len(sc.Mails))
		case err := <-done:
			stopRun()
			return fmt.Errorf("the worker stopped: %w", err)
		case <-tick.C:
		}
	}
	stopRun()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	outbox, err := drainOutbox(ctx, a.store)
	if err != nil {
		return err
	}
	rows, err := a.store.ListRequests(ctx, queue.ListOptions{All: true})
	if err != nil {
		return err
	}
	if err := printDemo(out, sc, rows); err != nil {
		return err
	}
	// Play the CA's executor, as `revokd queue next` and `revokd queue
	// done` would: the confirmations of the revocations go out.
	fmt.Fprintln(out)
	for {
		job, err := a.store.ClaimJob(ctx, time.Minute, "demo-executor")
		if err != nil {
			return err
		}
		if job == nil {
			break
		}
		if _, err := a.store.CompleteJob(ctx, job.ID, "demo-executor"); err != nil {
			return err
		}
		fmt.Fprintf(out, "The executor revoked certificate %s (revokd queue done %d).\n", job.Serial, job.ID)
	}
	if outbox, err = drainOutbox(ctx, a.store); err != nil {
		return err
	}
	printMails(out, relay.mails())
	delivered := relay.count()
	fmt.Fprintf(out, "\n%d notifications delivered to the senders (in-process SMTP server)\n", delivered)
	if outbox.Failed > 0 || delivered != outbox.Sent {
		return fmt.Errorf("%d notifications sent and %d failed in the outbox, %d received by the SMTP server",
			outbox.Sent, outbox.Failed, delivered)
	}
	if !serve {
		fmt.Fprintln(out, "\nrevokd demo --serve then serves the operators' review desk on these requests.")
		return nil
	}
	return serveDemoDesk(base, cfg, a, log, out)
}

// demoPoll is how often the demo looks at its progress; the demo's
// sender looks at the outbox as often.
const demoPoll = 20 * time.Millisecond

// drainOutbox waits until the sender has sent (or failed) every
// notification, and returns the outbox's final counts.
func drainOutbox(ctx context.Context, store *queue.Store) (queue.OutboxStats, error) {
	tick := time.NewTicker(demoPoll)
	defer tick.Stop()
	for {
		st, err := store.OutboxStats(ctx)
		if err != nil {
			return st, err
		}
		if st.Pending == 0 {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("%d notifications still unsent: %w", st.Pending, ctx.Err())
		case <-tick.C:
		}
	}
}

func printDemo(out io.Writer, sc *scenario.Scenario, rows []queue.RequestSummary) error {
	byID := map[string]queue.RequestSummary{}
	for _, r := range rows {
		byID[r.MessageID] = r
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MAIL\tOUTCOME\tREASON CODE\tSERIAL\tWHY")
	mismatch := 0
	for i, m := range sc.Mails {
		r, ok := byID[fmt.Sprintf("<demo-%d@example.fr>", i+1)]
		if !ok {
			fmt.Fprintf(tw, "%s\t(no outcome)\t\t\t\n", m.Name)
			mismatch++
			continue
		}
		code := r.ReasonCode
		if code == "" {
			code = "-"
		}
		why := r.Reason
		if rs := []rune(why); len(rs) > 90 {
			why = string(rs[:87]) + "..."
		}
		mark := ""
		if string(r.State) != m.Want || r.ReasonCode != m.WantCode {
			mark = "  (expected " + m.Want + ")"
			mismatch++
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%s\t%s\t%s\n", m.Name, r.State, mark, code, orDash(r.Serial), why)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if mismatch > 0 {
		return fmt.Errorf("%d mail(s) did not get their expected outcome", mismatch)
	}
	return nil
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// startMemIMAP serves go-imap's in-memory server on a loopback port.
func startMemIMAP() (string, func(), error) {
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(demoUser, demoPassword)
	if err := u.Create("INBOX", nil); err != nil {
		return "", nil, err
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
		Logger:       discardIMAPLog{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }, nil
}

// demoSMTP is go-smtp's server on a loopback port, standing for the
// desk's relay: it takes every message and keeps it.
type demoSMTP struct {
	addr string
	srv  *smtp.Server
	mu   sync.Mutex
	got  []relayedMail
	// hold, when set, is asked about each message before it is accepted:
	// true keeps the client waiting for the reply until release is
	// closed, and then refuses the message (tests kill the sender then).
	hold    func(data []byte) bool
	held    chan struct{}
	release chan struct{}
}

// relayedMail is a message the demo's relay accepted.
type relayedMail struct {
	From string
	To   []string
	Data []byte
}

// maxDemoMessage bounds one message the demo's relay reads: notifications
// are a few kilobytes.
const maxDemoMessage = 1 << 20

func startDemoSMTP() (*demoSMTP, error) { return listenDemoSMTP("127.0.0.1:0") }

// listenDemoSMTP is startDemoSMTP on a given address.
func listenDemoSMTP(addr string) (*demoSMTP, error) {
	d := &demoSMTP{}
	d.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &demoSession{d: d}, nil }))
	d.srv.Domain = "localhost"
	d.srv.MaxMessageBytes = maxDemoMessage
	d.srv.ReadTimeout, d.srv.WriteTimeout = demoTimeout, demoTimeout
	d.srv.ErrorLog = stdlog.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	go d.srv.Serve(ln)
	d.addr = ln.Addr().String()
	return d, nil
}

func (d *demoSMTP) close() { d.srv.Close() }

func (d *demoSMTP) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.got)
}

// mails returns the messages accepted so far.
func (d *demoSMTP) mails() []relayedMail {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]relayedMail(nil), d.got...)
}

type demoSession struct {
	d    *demoSMTP
	from string
	rcpt []string
}

func (s *demoSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *demoSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpt = append(s.rcpt, to)
	return nil
}

func (s *demoSession) Reset()        { s.from, s.rcpt = "", nil }
func (s *demoSession) Logout() error { return nil }

func (s *demoSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.d.hold != nil && s.d.hold(data) {
		s.d.held <- struct{}{}
		<-s.d.release
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "held"}
	}
	s.d.mu.Lock()
	s.d.got = append(s.d.got, relayedMail{From: s.from, To: s.rcpt, Data: data})
	s.d.mu.Unlock()
	return nil
}

type discardIMAPLog struct{}

func (discardIMAPLog) Printf(string, ...any) {}

// appendMails delivers the sample mails as a mail server would.
func appendMails(addr string, mails []scenario.Mail) error {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return fmt.Errorf("connecting to the demo IMAP server: %w", err)
	}
	defer c.Close()
	if err := c.Login(demoUser, demoPassword).Wait(); err != nil {
		return err
	}
	for _, m := range mails {
		cmd := c.Append("INBOX", int64(len(m.Raw)), nil)
		if _, err := cmd.Write(m.Raw); err != nil {
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		if _, err := cmd.Wait(); err != nil {
			return fmt.Errorf("appending %q: %w", m.Name, err)
		}
	}
	return c.Logout().Wait()
}

// mailPreviewLines is how many lines of each mail's body the demo prints:
// the greeting and the first sentences, enough to see what each says.
const mailPreviewLines = 4

// printMails prints who each relayed mail went to, its subject and the
// first lines of its body, decoded.
func printMails(out io.Writer, mails []relayedMail) {
	fmt.Fprintf(out, "\nMails sent (first lines of each):\n")
	for _, m := range mails {
		subject, body, err := decodeMail(m.Data)
		if err != nil {
			fmt.Fprintf(out, "\n  To: %s\n  (unreadable: %v)\n", strings.Join(m.To, ", "), err)
			continue
		}
		fmt.Fprintf(out, "\n  To: %s\n  Subject: %s\n", strings.Join(m.To, ", "), subject)
		n := 0
		for _, line := range strings.Split(body, "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			if n == mailPreviewLines {
				fmt.Fprintln(out, "  | ...")
				break
			}
			if rs := []rune(line); len(rs) > 110 {
				line = string(rs[:107]) + "..."
			}
			fmt.Fprintf(out, "  | %s\n", line)
			n++
		}
	}
}

// decodeMail reads a mail as a mail client shows it: the decoded subject
// and the decoded text of its (single) body part.
func decodeMail(data []byte) (subject, body string, err error) {
	mr, err := gomail.CreateReader(bytes.NewReader(data))
	if err != nil {
		return "", "", err
	}
	if subject, err = mr.Header.Subject(); err != nil {
		return "", "", err
	}
	p, err := mr.NextPart()
	if err != nil {
		return "", "", err
	}
	b, err := io.ReadAll(p.Body)
	if err != nil {
		return "", "", err
	}
	return subject, strings.ReplaceAll(string(b), "\r\n", "\n"), nil
}
