package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/notify"
	"github.com/revokd/revokd/pdfverify"
	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/revocation"
)

const queueUsage = `usage:
  revokd queue list [--config F] [--all] [--state S] [--limit N] [--json]
      requests, newest first; --all adds the mails that were not requests
  revokd queue show [--config F] [--json] ID
      one request: its mail, evidence, verification, decision, job, audit
  revokd queue next [--config F] [--lease 5m] [--actor NAME]
      hand the next revocation job to the CA's executor: prints one JSON
      object, or null when no job is due (exit 0 either way)
  revokd queue done [--config F] [--actor NAME] JOB_ID
      the CA revoked the job's certificate
  revokd queue failed [--config F] [--actor NAME] [--attempt A] [--permanent | --snooze D] --error TEXT JOB_ID
      the executor could not revoke it: retried later with a doubling
      wait, marked failed after [queue] max_attempts (default 5), or at
      once with --permanent; --snooze hands it out again after D without
      counting the attempt; A is the
      "attempts" of the job as queue next printed it: the report is
      refused (exit 1) if the job was handed out again since (0: no check)
  revokd queue retry [--config F] [--actor NAME] JOB_ID
      put a failed job back in the queue
` + queueReviewUsage + `
exit status: 0 done, 1 refused (unknown id, a job or request state that
does not allow it, an unknown or disabled operator, a role that does not
allow it, the proposer of an override deciding it), 2 usage, configuration or store error (a data_dir without a store
included: these commands never create one)
`

// defaultJobLease is how long an executor has to revoke a certificate and
// say so before the job is handed to another: a CA signing a CRL entry
// takes seconds, a queue of requests to an HSM a minute or two.
const defaultJobLease = 5 * time.Minute

// cmdQueue runs `revokd queue ...`.
func cmdQueue(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, queueUsage)
		return exitUsage
	}
	switch args[0] {
	case "list":
		return queueList(ctx, args[1:], stdout, stderr)
	case "show":
		return queueShow(ctx, args[1:], stdout, stderr)
	case "next":
		return queueNext(ctx, args[1:], stdout, stderr)
	case "done":
		return queueDone(ctx, args[1:], stdout, stderr)
	case "failed":
		return queueFailed(ctx, args[1:], stdout, stderr)
	case "retry":
		return queueRetry(ctx, args[1:], stdout, stderr)
	case "dismiss", "ask", "override", "approve", "reject", "reverify":
		return queueReview(ctx, args[0], args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, queueUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "revokd: unknown queue command %q\n%s", args[0], queueUsage)
	return exitUsage
}

// queueFlags is the flag set of one queue command, with --config.
func queueFlags(name string, stdout, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := newFlagSet("queue "+name, stdout, stderr)
	return fs, fs.String("config", "", "configuration `file` (revokd.toml)")
}

// parseQueueArgs parses flags anywhere among the arguments and returns the
// want positional ones, or prints why not.
func parseQueueArgs(fs *flag.FlagSet, args []string, want int, what string, stdout, stderr io.Writer) ([]string, int, bool) {
	pos, err := parseInterspersed(fs, args)
	if code, ok := flagOutcome(fs, err, stdout); !ok {
		return nil, code, false
	}
	if len(pos) != want {
		if want == 0 {
			fmt.Fprintf(stderr, "revokd: %s takes no arguments, got %q\n", fs.Name(), pos)
		} else {
			fmt.Fprintf(stderr, "revokd: %s: want exactly one %s, got %d arguments\n", fs.Name(), what, len(pos))
		}
		return nil, exitUsage, false
	}
	return pos, exitOK, true
}

func parseID(s, what string, stderr io.Writer) (int64, bool) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		fmt.Fprintf(stderr, "revokd: %s %q is not a positive number\n", what, s)
		return 0, false
	}
	return id, true
}

// openQueueStore opens the store the configuration names, or reports why
// not and returns the exit code.
func openQueueStore(ctx context.Context, configPath string, stderr io.Writer) (*queue.Store, int) {
	store, _, code := openConfiguredStore(ctx, configPath, stderr)
	return store, code
}

// openConfiguredStore is openQueueStore that also returns the
// configuration.
func openConfiguredStore(ctx context.Context, configPath string, stderr io.Writer) (*queue.Store, *Config, int) {
	cfg, err := loadConfig(configPath)
	if err != nil {
		fmt.Fprintf(stderr, "revokd: %v\n", err)
		return nil, nil, exitUsage
	}
	// These commands read or act on what the worker stored: an empty store
	// created here by a wrong --config would answer "nothing to do" for
	// ever, so a missing one is an error. (A PostgreSQL database is
	// created by its administrator, and the schema by the first opening.)
	if cfg.Store.URL == "" {
		db := filepath.Join(cfg.DataDir, queue.DatabaseFile)
		if _, err := os.Stat(db); errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "revokd: no store at %s (data_dir of %s): wrong --config? revokd run creates it\n",
				db, orDefault(configPath, "the default configuration"))
			return nil, nil, exitUsage
		} else if err != nil {
			fmt.Fprintf(stderr, "revokd: %v\n", err)
			return nil, nil, exitUsage
		}
	}
	store, err := queue.OpenWith(ctx, cfg.DataDir, cfg.storeOptions())
	if err != nil {
		fmt.Fprintf(stderr, "revokd: %v\n", err)
		return nil, nil, exitUsage
	}
	return store, cfg, exitOK
}

// storeFailure reports err and returns its exit code: 1 for what the store
// refused (unknown id, wrong state), 2 for the rest.
func storeFailure(err error, stderr io.Writer) int {
	fmt.Fprintf(stderr, "revokd: %v\n", err)
	if errors.Is(err, queue.ErrNotFound) || errors.Is(err, queue.ErrJobState) {
		return exitRejected
	}
	return exitUsage
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func queueList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, configPath := queueFlags("list", stdout, stderr)
	all := fs.Bool("all", false, "include the mails that were not requests")
	state := fs.String("state", "", "only requests in this `state`")
	limit := fs.Int("limit", 0, "only the `N` newest (0: all)")
	asJSON := fs.Bool("json", false, "print a JSON array")
	if _, code, ok := parseQueueArgs(fs, args, 0, "", stdout, stderr); !ok {
		return code
	}
	o := queue.ListOptions{All: *all, Limit: *limit}
	if *state != "" {
		st, err := revocation.ParseState(*state)
		if err != nil {
			fmt.Fprintf(stderr, "revokd: --state: %v\n", err)
			return exitUsage
		}
		o.State = st
	}
	store, code := openQueueStore(ctx, *configPath, stderr)
	if store == nil {
		return code
	}
	defer store.Close()
	reqs, err := store.ListRequests(ctx, o)
	if err != nil {
		return storeFailure(err, stderr)
	}
	if *asJSON {
		if err := writeJSON(stdout, reqs); err != nil {
			fmt.Fprintf(stderr, "revokd: %v\n", err)
			return exitUsage
		}
		return exitOK
	}
	if len(reqs) == 0 {
		fmt.Fprintln(stdout, "no requests")
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRECEIVED\tSTATE\tCODE\tSERIAL\tJOB\tFROM\tMESSAGE-ID")
	for _, r := range reqs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.ReceivedAt.UTC().Format(time.RFC3339), r.State,
			orDash(cleanText(string(r.ReasonCode), 40)), orDash(cleanText(r.Serial, 42)), jobCell(r),
			orDash(cleanText(r.Sender, 60)), orDash(cleanText(r.MessageID, 80)))
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "revokd: %v\n", err)
		return exitUsage
	}
	return exitOK
}

// jobCell is the JOB column: the job's id and state, and its attempts once
// it has had any.
func jobCell(r queue.RequestSummary) string {
	if r.JobID == nil {
		return "-"
	}
	s := fmt.Sprintf("%d %s", *r.JobID, r.JobState)
	if r.Attempts > 0 {
		s += fmt.Sprintf(" (%d tries)", r.Attempts)
	}
	return s
}

// cleanText makes text from a mail safe to print on a terminal: control
// and formatting characters (escape sequences, bidirectional overrides)
// become U+FFFD, and it is cut to limit runes.
func cleanText(s string, limit int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == limit {
			b.WriteString("…")
			break
		}
		if !unicode.IsGraphic(r) {
			r = unicode.ReplacementChar
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

func queueShow(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, configPath := queueFlags("show", stdout, stderr)
	asJSON := fs.Bool("json", false, "print a JSON object")
	pos, code, ok := parseQueueArgs(fs, args, 1, "request ID", stdout, stderr)
	if !ok {
		return code
	}
	id, ok := parseID(pos[0], "request ID", stderr)
	if !ok {
		return exitUsage
	}
	store, code := openQueueStore(ctx, *configPath, stderr)
	if store == nil {
		return code
	}
	defer store.Close()
	d, err := store.Request(ctx, id)
	if err != nil {
		return storeFailure(err, stderr)
	}
	if *asJSON {
		if err := writeJSON(stdout, d); err != nil {
			fmt.Fprintf(stderr, "revokd: %v\n", err)
			return exitUsage
		}
		return exitOK
	}
	if err := printRequest(stdout, d); err != nil {
		fmt.Fprintf(stderr, "revokd: %v\n", err)
		return exitUsage
	}
	return exitOK
}

func printRequest(w io.Writer, d *queue.RequestDetail) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(k, format string, args ...any) {
		fmt.Fprintf(tw, "  %s\t%s\n", k, fmt.Sprintf(format, args...))
	}
	const long = 200
	fmt.Fprintf(tw, "request %d: %s\n", d.ID, d.State)
	m := d.Mail
	line("mail", "%d, %s UIDVALIDITY %d UID %d, %d bytes%s, %s%s", m.ID, cleanText(m.Mailbox, 80), m.UIDValidity, m.UID,
		m.Size, map[bool]string{true: " (over the size cap, not kept)"}[m.OverCap], m.State, prefixed(" ", parenthesized(string(m.Disposition))))
	line("received", "%s", m.ReceivedAt.UTC().Format(time.RFC3339))
	line("from", "%s", orDash(cleanText(m.Sender, long)))
	line("message-id", "%s", orDash(cleanText(m.MessageID, long)))
	printMailEvidence(line, m.Evidence, long)
	if d.State == revocation.StateNotARequest {
		line("not a request", "%s%s", cleanText(d.Reason, long), prefixed(" ", parenthesized(cleanText(string(d.ReasonCode), 64))))
	} else {
		line("attachment", "%s", orDash(cleanText(d.AttachmentName, long)))
		line("code", "%s", orDash(cleanText(string(d.ReasonCode), long)))
		line("reason", "%s", orDash(cleanText(d.Reason, long)))
		line("certificate", "%s issued by %s", orDash(d.Serial), orDash(cleanText(d.IssuerDN, long)))
		if d.RevocationReason != "" {
			rr := d.RevocationReason
			if d.NoReasonCode {
				rr = "none (no reasonCode extension)"
			}
			line("revocation", "%s", rr)
		}
		line("signer", "%s (serial %s), role %s", orDash(cleanText(d.Signer, long)), orDash(cleanText(d.SignerSerial, 64)), orDash(d.Role))
		if d.Report != nil {
			line("verification", "%s%s", d.Report.Indication, prefixed("/", d.Report.SubIndication))
			for i, sig := range d.Report.Signatures {
				line(fmt.Sprintf("signature %d", i+1), "%s%s by %s, signed %s, whole document %v", sig.Indication,
					prefixed("/", sig.SubIndication), orDash(cleanText(sig.Signer.Subject, long)), orDash(sig.SigningTime), sig.CoversWholeDocument)
			}
		}
		if len(d.Decision) > 0 {
			var dec authorize.Decision
			if json.Unmarshal(d.Decision, &dec) == nil {
				if dec.Code == "" {
					// Written before decisions carried their code:
					// only acceptances had none.
					dec.Code = authorize.CodeAccepted
				}
				line("decision", "%s: %s", dec.Code, orDash(cleanText(notify.OperatorSummary(dec), long)))
			}
		}
	}
	if d.Note != "" {
		line("note", "%s", cleanText(d.Note, long))
	}
	for _, e := range []struct{ kind, sum string }{
		{"eml", m.RawSHA256}, {"pdf", d.PDFSHA256}, {"report", d.ReportSHA256}, {"decision", d.DecisionSHA256}, {"form", d.FormSHA256},
	} {
		if e.sum != "" {
			line("evidence", "%-8s %s", e.kind, e.sum)
		}
	}
	if j := d.Job; j != nil {
		s := fmt.Sprintf("%d %s, %d attempts", j.ID, j.State, j.Attempts)
		switch j.State {
		case queue.JobPending:
			s += ", next at " + j.NextAttemptAt.UTC().Format(time.RFC3339)
		case queue.JobRunning:
			s += ", leased until " + j.LeaseUntil.UTC().Format(time.RFC3339)
		case queue.JobDone:
			s += ", at " + j.DoneAt.UTC().Format(time.RFC3339)
		}
		if j.RequestID != d.ID {
			s += fmt.Sprintf(", created for request %d", j.RequestID)
		}
		line("job", "%s", s)
		if j.LastError != "" {
			line("last error", "%s", cleanText(j.LastError, long))
		}
	}
	for _, o := range d.Outbox {
		line("outbox", "%d %s to %s: %s", o.ID, o.Kind, cleanText(o.To, long), o.State)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "audit")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, a := range d.Audit {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", a.Seq, a.At.UTC().Format(time.RFC3339), cleanText(a.Actor, 40),
			a.Subject, a.Action, cleanText(string(a.Details), long))
	}
	return tw.Flush()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func parenthesized(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

// defaultActor names the person running an operator's command in the
// audit log.
func defaultActor(role string) string {
	if u := os.Getenv("USER"); u != "" {
		return role + ":" + u
	}
	return role
}

func queueNext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, configPath := queueFlags("next", stdout, stderr)
	lease := fs.Duration("lease", defaultJobLease, "how long the executor has before the job is handed out again")
	actor := fs.String("actor", queue.ActorExecutor, "`name` recorded in the audit log")
	if _, code, ok := parseQueueArgs(fs, args, 0, "", stdout, stderr); !ok {
		return code
	}
	if *lease <= 0 {
		fmt.Fprintf(stderr, "revokd: --lease %s: must be positive\n", *lease)
		return exitUsage
	}
	store, cfg, code := openConfiguredStore(ctx, *configPath, stderr)
	if store == nil {
		return code
	}
	defer store.Close()
	j, err := store.ClaimJob(ctx, *lease, *actor)
	if err != nil {
		return storeFailure(err, stderr)
	}
	if j != nil {
		if err := describeIssuer(ctx, store, cfg, j); err != nil {
			// The job is claimed: hand it out with the stored name, and
			// say why the rest is missing.
			fmt.Fprintf(stderr, "revokd: job %d: %v\n", j.ID, err)
		}
	}
	b, err := json.Marshal(j) // a nil *Job is null
	if err != nil {
		fmt.Fprintf(stderr, "revokd: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "%s\n", b)
	return exitOK
}

func queueDone(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, configPath := queueFlags("done", stdout, stderr)
	actor := fs.String("actor", queue.ActorExecutor, "`name` recorded in the audit log")
	pos, code, ok := parseQueueArgs(fs, args, 1, "job ID", stdout, stderr)
	if !ok {
		return code
	}
	id, ok := parseID(pos[0], "job ID", stderr)
	if !ok {
		return exitUsage
	}
	store, code := openQueueStore(ctx, *configPath, stderr)
	if store == nil {
		return code
	}
	defer store.Close()
	already, err := store.CompleteJob(ctx, id, *actor)
	if err != nil {
		return storeFailure(err, stderr)
	}
	if already {
		fmt.Fprintf(stdout, "job %d was already done\n", id)
		return exitOK
	}
	fmt.Fprintf(stdout, "job %d done\n", id)
	return exitOK
}

func queueFailed(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, configPath := queueFlags("failed", stdout, stderr)
	actor := fs.String("actor", queue.ActorExecutor, "`name` recorded in the audit log")
	message := fs.String("error", "", "what went wrong (required)")
	maxAttempts := fs.Int("max-attempts", 0, "must equal [queue] max_attempts of the configuration when given (the policy lives there, for queue next too)")
	attempt := fs.Int("attempt", 0, "the job's `attempts` as queue next printed them; 0 reports on whatever attempt runs")
	permanent := fs.Bool("permanent", false, "the CA refuses for good (unknown certificate, wrong issuer): failed at once, no retry")
	snooze := fs.Duration("snooze", 0, "not a failure (the CA is in maintenance): hand the job out again after this `duration`, the attempt not counted")
	pos, code, ok := parseQueueArgs(fs, args, 1, "job ID", stdout, stderr)
	if !ok {
		return code
	}
	id, ok := parseID(pos[0], "job ID", stderr)
	if !ok {
		return exitUsage
	}
	f := queue.Failure{Kind: queue.Retry, Message: *message}
	switch {
	case *permanent && *snooze != 0:
		fmt.Fprintln(stderr, "revokd: queue failed: --permanent and --snooze exclude each other")
		return exitUsage
	case *snooze < 0:
		fmt.Fprintf(stderr, "revokd: --snooze %s: must be positive\n", *snooze)
		return exitUsage
	case *permanent:
		f.Kind = queue.Cancel
	case *snooze > 0:
		f.Kind, f.SnoozeFor = queue.Snooze, *snooze
	}
	if strings.TrimSpace(*message) == "" {
		fmt.Fprintln(stderr, "revokd: queue failed: --error is required: say what went wrong")
		return exitUsage
	}
	if *attempt < 0 {
		fmt.Fprintf(stderr, "revokd: --attempt %d: must be positive, or 0 for no check\n", *attempt)
		return exitUsage
	}
	if *maxAttempts < 0 {
		fmt.Fprintf(stderr, "revokd: --max-attempts %d: must be positive\n", *maxAttempts)
		return exitUsage
	}
	store, cfg, code := openConfiguredStore(ctx, *configPath, stderr)
	if store == nil {
		return code
	}
	defer store.Close()
	policy := cfg.storeOptions().Jobs
	if *maxAttempts != 0 && *maxAttempts != policy.MaxAttempts {
		// queue next gives up a job whose lease ran out by the
		// configuration's count: one number, in one place.
		fmt.Fprintf(stderr, "revokd: --max-attempts %d differs from [queue] max_attempts = %d of the configuration: set max_attempts there\n",
			*maxAttempts, policy.MaxAttempts)
		return exitUsage
	}
	j, err := store.FailJobWith(ctx, id, *attempt, f, *actor)
	if err != nil {
		return storeFailure(err, stderr)
	}
	if f.Kind == queue.Snooze {
		fmt.Fprintf(stdout, "job %d snoozed: handed out again at %s, %d attempts counted\n", id,
			j.NextAttemptAt.UTC().Format(time.RFC3339), j.Attempts)
		return exitOK
	}
	if j.State == queue.JobFailed {
		fmt.Fprintf(stdout, "job %d failed after %d attempts: it waits for an operator (revokd queue retry %d)\n", id, j.Attempts, id)
		return exitOK
	}
	fmt.Fprintf(stdout, "job %d: attempt %d of %d failed, next attempt at %s\n", id, j.Attempts, policy.MaxAttempts,
		j.NextAttemptAt.UTC().Format(time.RFC3339))
	return exitOK
}

func queueRetry(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, configPath := queueFlags("retry", stdout, stderr)
	actor := fs.String("actor", defaultActor("operator"), "`name` recorded in the audit log")
	pos, code, ok := parseQueueArgs(fs, args, 1, "job ID", stdout, stderr)
	if !ok {
		return code
	}
	id, ok := parseID(pos[0], "job ID", stderr)
	if !ok {
		return exitUsage
	}
	store, code := openQueueStore(ctx, *configPath, stderr)
	if store == nil {
		return code
	}
	defer store.Close()
	if err := store.RetryJob(ctx, id, *actor); err != nil {
		return storeFailure(err, stderr)
	}
	fmt.Fprintf(stdout, "job %d queued again\n", id)
	return exitOK
}

// describeIssuer fills in the job's issuer as the CA's tools match it:
// the name in RFC 4514 with attribute names and its DER, from the
// registry's copy of the certificate to revoke, and the SHA-256 of the
// configured issuing CA certificate that issued it (same name, and the
// same key when the certificate names it).
func describeIssuer(ctx context.Context, store *queue.Store, cfg *Config, j *queue.Job) error {
	serial, err := authorize.ParseSerial(j.Serial)
	if err != nil {
		return fmt.Errorf("serial %q: %w", j.Serial, err)
	}
	certs, err := store.CertificatesBySerial(ctx, serial)
	if err != nil {
		return err
	}
	var target *x509.Certificate
	for _, c := range certs {
		if c.IssuerDN == j.IssuerDN && len(c.DER) > 0 {
			if target, err = x509.ParseCertificate(c.DER); err != nil {
				return fmt.Errorf("the registry's certificate: %w", err)
			}
			break
		}
	}
	if target == nil {
		return errors.New("the registry holds no copy of the certificate: issuerDN as stored, without issuerDER nor issuerCertSha256")
	}
	j.IssuerName = pdfverify.FormatName(target.Issuer)
	j.IssuerDER = base64.StdEncoding.EncodeToString(target.RawIssuer)
	issuers, err := loadCertificates(cfg.CA.Issuers)
	if err != nil {
		return fmt.Errorf("ca.issuers: %w", err)
	}
	for _, ca := range issuers {
		if !bytes.Equal(ca.RawSubject, target.RawIssuer) ||
			(len(target.AuthorityKeyId) > 0 && !bytes.Equal(ca.SubjectKeyId, target.AuthorityKeyId)) {
			continue
		}
		sum := sha256.Sum256(ca.Raw)
		j.IssuerCertSHA256 = hex.EncodeToString(sum[:])
		return nil
	}
	return errors.New("no certificate of ca.issuers issued it: issuerCertSha256 left out")
}

// printMailEvidence shows what the mail says of its origin: evidence for
// the operator, never part of the decision.
func printMailEvidence(line func(k, format string, args ...any), raw json.RawMessage, long int) {
	if len(raw) == 0 {
		return
	}
	var ev ingest.Evidence
	if json.Unmarshal(raw, &ev) != nil {
		return
	}
	if ev.FromDecoding != "" {
		line("from field", "read as %s from the raw %q", ev.FromDecoding, cleanText(string(ev.FromRaw), long))
	}
	for _, l := range ev.SMIME {
		where := "part " + l.Path
		if l.Path == "" {
			where = "the message"
		}
		verdict := "signature valid (certificate not chained; evidence only)"
		if !l.SignatureValid {
			verdict = "signature NOT valid: " + cleanText(l.SignatureError, long)
		}
		switch {
		case l.Kind == ingest.SMIMEEncrypted:
			line("s/mime", "%s (%s), opened with the desk's key", l.Kind, where)
		case l.Signer == nil:
			line("s/mime", "%s (%s), no single signer: %s", l.Kind, where, verdict)
		default:
			line("s/mime", "%s (%s) by %s, serial %s: %s", l.Kind, where, cleanText(l.Signer.Subject, long), l.Signer.SerialNumber, verdict)
		}
	}
	for _, r := range ev.DKIM {
		line("dkim", "%s %s%s", r.Result, orDash(cleanText(r.Domain, long)), prefixed(": ", cleanText(r.Error, long)))
	}
	for _, a := range ev.AuthenticationResults {
		line("auth-results", "%s", cleanText(a, long))
	}
	for _, u := range ev.Unopened {
		line("not read", "part %s %s (%s): %s", u.Path, cleanText(u.FileName, long), u.Kind, cleanText(u.Reason, long))
	}
}
