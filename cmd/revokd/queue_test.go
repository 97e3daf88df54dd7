package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/revokd/revokd/internal/scenario"
	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/revocation"
)

// queueFixture is a config whose store holds three mails: an accepted
// request (job 1), a rejected one, and an auto-reply.
type queueFixture struct {
	dir, config, dataDir string
}

func newQueueFixture(t *testing.T) *queueFixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	f := &queueFixture{dir: dir, config: filepath.Join(dir, "revokd.toml"), dataDir: filepath.Join(dir, "data")}
	if err := os.WriteFile(f.config, []byte("data_dir = \"data\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := queue.Open(ctx, f.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mails := []struct {
		messageID string
		o         queue.Outcome
	}{
		{"<1@example.fr>", queue.Outcome{Disposition: queue.DispositionProcessed, Requests: []queue.RequestOutcome{{
			State: revocation.StateAccepted, Reason: "the signer is the holder", Serial: "0A1B", IssuerDN: "CN=Our CA",
			RevocationReason: revocation.KeyCompromise, Role: "holder", SignerSubject: "CN=Hélène Dupont",
			AttachmentName: "demande.pdf", PDF: []byte("%PDF-1.7 one"),
			ReportJSON:   []byte(`{"indication":"TOTAL_PASSED","subIndication":"","signatures":[{"indication":"TOTAL_PASSED","signer":{"subject":"CN=Hélène Dupont"}}]}`),
			DecisionJSON: []byte(`{"code":"accepted","serial":2587}`),
		}}, Outbox: []queue.OutboxMessage{{Kind: "acknowledgement", To: "helene@example.fr", Subject: "Accusé", Body: "Bonjour"}}}},
		// A Message-ID with a terminal escape sequence: the text output
		// must not pass it on.
		{"<2\x1b[31m@example.fr>", queue.Outcome{Disposition: queue.DispositionRejected, Requests: []queue.RequestOutcome{{
			State: revocation.StateRejected, ReasonCode: "hash_failure", Reason: "the document was changed after signing",
			AttachmentName: "forged.pdf", PDF: []byte("%PDF-1.7 two"),
		}}}},
		{"<3@example.fr>", queue.Outcome{Disposition: queue.DispositionProcessed, NotARequest: "auto-reply (Auto-Submitted: auto-replied)"}},
	}
	for i, m := range mails {
		id, err := s.ArchiveMail(ctx, queue.IncomingMail{
			Key: queue.MailKey{Mailbox: "INBOX", UIDValidity: 1, UID: uint32(i + 1)}, Raw: fmt.Appendf(nil, "mail %d", i+1),
			MessageID: m.messageID, From: "helene@example.fr", ReceivedAt: time.Date(2026, 3, 1, 8, 0, i, 0, time.UTC),
		})
		if err != nil {
			t.Fatal(err)
		}
		m.o.MailID = id
		if err := s.RecordOutcome(ctx, m.o); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *queueFixture) queue(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cmdQueue(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func (f *queueFixture) audit(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cmdAudit(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// queueListEntry is the documented JSON of `revokd queue list --json`.
type queueListEntry struct {
	ID         int64  `json:"id"`
	State      string `json:"state"`
	ReasonCode string `json:"reasonCode"`
	Serial     string `json:"serial"`
	MessageID  string `json:"messageId"`
	ReceivedAt string `json:"receivedAt"`
}

func TestQueueListJSON(t *testing.T) {
	f := newQueueFixture(t)
	decode := func(args ...string) []queueListEntry {
		t.Helper()
		code, out, errOut := f.queue(t, args...)
		if code != exitOK || errOut != "" {
			t.Fatalf("revokd queue %v: exit %d, stderr %q", args, code, errOut)
		}
		var got []queueListEntry
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("revokd queue %v: %v in %s", args, err, out)
		}
		return got
	}
	want := []queueListEntry{
		{2, "rejected", "hash_failure", "", "<2\x1b[31m@example.fr>", "2026-03-01T08:00:01Z"},
		{1, "queued", "", "a1b", "<1@example.fr>", "2026-03-01T08:00:00Z"},
	}
	if diff := cmp.Diff(want, decode("list", "--json", "--config", f.config)); diff != "" {
		t.Errorf("queue list --json (-want +got):\n%s", diff)
	}
	all := append([]queueListEntry{{3, "not_a_request", "", "", "<3@example.fr>", "2026-03-01T08:00:02Z"}}, want...)
	if diff := cmp.Diff(all, decode("list", "--config", f.config, "--all", "--json")); diff != "" {
		t.Errorf("queue list --all --json (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[1:], decode("list", "--config", f.config, "--state", "queued", "--json")); diff != "" {
		t.Errorf("queue list --state queued --json (-want +got):\n%s", diff)
	}

	empty := t.TempDir()
	cfg := filepath.Join(empty, "revokd.toml")
	if err := os.WriteFile(cfg, []byte("data_dir = \"data\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := queue.Open(context.Background(), filepath.Join(empty, "data"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if code, out, _ := f.queue(t, "list", "--json", "--config", cfg); code != exitOK || strings.TrimSpace(out) != "[]" {
		t.Errorf("queue list --json of an empty store: exit %d, %q, want []", code, out)
	}
}

func TestQueueListText(t *testing.T) {
	f := newQueueFixture(t)
	code, out, _ := f.queue(t, "list", "--config", f.config, "--all")
	if code != exitOK {
		t.Fatalf("queue list: exit %d", code)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID  RECEIVED              STATE") {
		t.Fatalf("queue list:\n%s", out)
	}
	// Columns line up: STATE starts at the same place on every line.
	col := strings.Index(lines[0], "STATE")
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l[col:], "not_a_request") && !strings.HasPrefix(l[col:], "rejected") && !strings.HasPrefix(l[col:], "queued") {
			t.Errorf("misaligned line %q", l)
		}
	}
	if strings.Contains(out, "\x1b") || !strings.Contains(out, "<2\uFFFD[31m@example.fr>") {
		t.Errorf("queue list passes a control character on:\n%q", out)
	}
	if !strings.Contains(lines[3], "1 pending") {
		t.Errorf("queue list: the queued request's line %q lacks its job", lines[3])
	}
}

func TestQueueShow(t *testing.T) {
	f := newQueueFixture(t)
	code, out, errOut := f.queue(t, "show", "1", "--config", f.config)
	if code != exitOK {
		t.Fatalf("queue show 1: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		"request 1: queued", "certificate   a1b issued by CN=Our CA", "revocation    keyCompromise",
		"verification  TOTAL_PASSED", "decision      accepted: request accepted: the revocation of certificate a1b is scheduled",
		"evidence      pdf", "job           1 pending, 0 attempts", "outbox        1 acknowledgement to helene@example.fr: pending",
		"job.created", "mail.handled",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("queue show 1 lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = f.queue(t, "show", "--json", "--config", f.config, "3")
	var d struct {
		ID     int64  `json:"id"`
		State  string `json:"state"`
		Reason string `json:"reason"`
		Mail   struct {
			RawSHA256 string `json:"rawSha256"`
		} `json:"mail"`
		Audit []struct {
			Action string `json:"action"`
		} `json:"audit"`
	}
	if err := json.Unmarshal([]byte(out), &d); code != exitOK || err != nil || d.State != "not_a_request" ||
		d.Reason != "auto-reply (Auto-Submitted: auto-replied)" || len(d.Mail.RawSHA256) != 64 || len(d.Audit) != 3 {
		t.Errorf("queue show --json 3: exit %d, %v, %+v", code, err, d)
	}
}

func TestQueueExecutor(t *testing.T) {
	f := newQueueFixture(t)
	code, out, errOut := f.queue(t, "next", "--config", f.config, "--lease", "10m")
	var job struct {
		ID           int64  `json:"id"`
		RequestID    int64  `json:"requestId"`
		Serial       string `json:"serial"`
		IssuerDN     string `json:"issuerDN"`
		Reason       string `json:"reason"`
		ReasonCode   *int   `json:"reasonCode"`
		NoReasonCode *bool  `json:"noReasonCode"`
		Attempts     int    `json:"attempts"`
	}
	if err := json.Unmarshal([]byte(out), &job); code != exitOK || err != nil {
		t.Fatalf("queue next: exit %d, %v, stdout %q, stderr %q", code, err, out, errOut)
	}
	if job.ID != 1 || job.RequestID != 1 || job.Serial != "a1b" || job.IssuerDN != "CN=Our CA" || job.Reason != "keyCompromise" ||
		job.ReasonCode == nil || *job.ReasonCode != 1 || job.NoReasonCode == nil || *job.NoReasonCode || job.Attempts != 1 {
		t.Errorf("queue next = %s", out)
	}
	// Leased: nothing else is due.
	if code, out, _ := f.queue(t, "next", "--config", f.config); code != exitOK || out != "null\n" {
		t.Errorf("second queue next: exit %d, %q, want null", code, out)
	}
	if code, out, _ := f.queue(t, "failed", "1", "--config", f.config, "--attempt", "1", "--error", "HSM offline"); code != exitOK ||
		!strings.HasPrefix(out, "job 1: attempt 1 of 5 failed, next attempt at ") {
		t.Errorf("queue failed: exit %d, %q", code, out)
	}
	if code, _, errOut := f.queue(t, "failed", "1", "--config", f.config, "--error", "again"); code != exitRejected ||
		!strings.Contains(errOut, "job 1 is pending, not running") {
		t.Errorf("queue failed of a pending job: exit %d, stderr %q, want %d", code, errOut, exitRejected)
	}
	if code, out, _ := f.queue(t, "done", "--config", f.config, "1"); code != exitOK || out != "job 1 done\n" {
		t.Errorf("queue done: exit %d, %q", code, out)
	}
	if code, out, _ := f.queue(t, "done", "--config", f.config, "1"); code != exitOK || out != "job 1 was already done\n" {
		t.Errorf("queue done again: exit %d, %q", code, out)
	}
	code, out, _ = f.queue(t, "list", "--json", "--config", f.config, "--state", "executed")
	if code != exitOK || !strings.Contains(out, `"jobState": "done"`) || !strings.Contains(out, `"id": 1,`) {
		t.Errorf("queue list --state executed: exit %d, %s", code, out)
	}
	if code, out, _ := f.audit(t, "verify", "--config", f.config); code != exitOK || !strings.HasPrefix(out, "audit log intact: ") {
		t.Errorf("audit verify: exit %d, %q", code, out)
	}
}

// An executor whose lease expired reports its failure after the job was
// handed to another: the report is refused, and the other keeps the job.
func TestQueueFailedStaleAttempt(t *testing.T) {
	f := newQueueFixture(t)
	if code, out, _ := f.queue(t, "next", "--config", f.config, "--lease", "1m"); code != exitOK || !strings.Contains(out, `"attempts":1`) {
		t.Fatalf("queue next: exit %d, %q", code, out)
	}
	// An hour later the lease has long expired and executor B claims it.
	later := func() time.Time { return time.Now().Add(time.Hour) }
	s, err := queue.OpenWith(context.Background(), f.dataDir, &queue.Options{Now: later})
	if err != nil {
		t.Fatal(err)
	}
	j, err := s.ClaimJob(context.Background(), time.Hour, "executor-B")
	s.Close()
	if err != nil || j == nil || j.Attempts != 2 {
		t.Fatalf("ClaimJob by B = %+v, %v, want attempt 2", j, err)
	}
	code, _, errOut := f.queue(t, "failed", "1", "--config", f.config, "--attempt", "1", "--error", "timeout")
	if code != exitRejected || !strings.Contains(errOut, "job 1 was handed out again (attempt 2); this report is for attempt 1") {
		t.Errorf("queue failed --attempt 1 during attempt 2: exit %d, stderr %q, want %d", code, errOut, exitRejected)
	}
	code, out, _ := f.queue(t, "list", "--json", "--config", f.config)
	if code != exitOK || !strings.Contains(out, `"jobState": "running"`) || strings.Contains(out, "timeout") {
		t.Errorf("queue list after the stale report: %s, want the job still running", out)
	}
	if code, out, _ := f.queue(t, "failed", "1", "--config", f.config, "--attempt", "2", "--error", "HSM offline"); code != exitOK ||
		!strings.HasPrefix(out, "job 1: attempt 2 of 5 failed, next attempt at ") {
		t.Errorf("queue failed --attempt 2: exit %d, %q", code, out)
	}
}

func TestQueueFailedUntilTheLimit(t *testing.T) {
	f := newQueueFixture(t)
	f.setConfig(t, "data_dir = \"data\"\n[queue]\nmax_attempts = 1\n")
	if code, _, _ := f.queue(t, "next", "--config", f.config); code != exitOK {
		t.Fatal("queue next failed")
	}
	code, out, _ := f.queue(t, "failed", "1", "--config", f.config, "--error", "certificate unknown to the CA")
	if code != exitOK || out != "job 1 failed after 1 attempts: it waits for an operator (revokd queue retry 1)\n" {
		t.Errorf("queue failed on the last attempt: exit %d, %q", code, out)
	}
	code, out, _ = f.queue(t, "list", "--json", "--config", f.config, "--state", "queued")
	if code != exitOK || !strings.Contains(out, `"jobState": "failed"`) || !strings.Contains(out, `"lastError": "certificate unknown to the CA"`) {
		t.Errorf("queue list after the job failed: %s", out)
	}
	if code, out, _ := f.queue(t, "retry", "1", "--config", f.config, "--actor", "operator:alice"); code != exitOK || out != "job 1 queued again\n" {
		t.Errorf("queue retry: exit %d, %q", code, out)
	}
	if code, out, _ := f.queue(t, "next", "--config", f.config); code != exitOK || !strings.Contains(out, `"attempts":1`) {
		t.Errorf("queue next after retry: exit %d, %q", code, out)
	}
}

func (f *queueFixture) setConfig(t *testing.T, text string) {
	t.Helper()
	if err := os.WriteFile(f.config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// queue next (a lease that ran out) and queue failed (a reported failure)
// give a job up after the same [queue] max_attempts, and a --max-attempts
// that disagrees with it is refused rather than undone by the next claim.
func TestQueueNextAndFailedShareMaxAttempts(t *testing.T) {
	config := "data_dir = \"data\"\n[queue]\nmax_attempts = 2\nretry_delay = \"1ns\"\nmax_retry_delay = \"1ns\"\n"
	t.Run("ok/queue-failed", func(t *testing.T) {
		f := newQueueFixture(t)
		f.setConfig(t, config)
		for attempt, want := range []string{"job 1: attempt 1 of 2 failed, next attempt at ", "job 1 failed after 2 attempts"} {
			if code, out, errOut := f.queue(t, "next", "--config", f.config); code != exitOK || !strings.Contains(out, fmt.Sprintf(`"attempts":%d`, attempt+1)) {
				t.Fatalf("queue next %d: exit %d, %q %q", attempt+1, code, out, errOut)
			}
			code, out, errOut := f.queue(t, "failed", "1", "--config", f.config, "--attempt", fmt.Sprint(attempt+1), "--error", "CA down")
			if code != exitOK || !strings.HasPrefix(out, want) {
				t.Fatalf("queue failed %d: exit %d, %q %q, want %q", attempt+1, code, out, errOut, want)
			}
		}
		if code, out, _ := f.queue(t, "next", "--config", f.config); code != exitOK || out != "null\n" {
			t.Errorf("queue next after the last attempt: exit %d, %q, want null", code, out)
		}
	})
	t.Run("ok/queue-next-lease-ran-out", func(t *testing.T) {
		f := newQueueFixture(t)
		f.setConfig(t, config)
		for attempt := 1; attempt <= 2; attempt++ {
			if code, out, _ := f.queue(t, "next", "--config", f.config, "--lease", "1ns"); code != exitOK || !strings.Contains(out, fmt.Sprintf(`"attempts":%d`, attempt)) {
				t.Fatalf("queue next %d: exit %d, %q", attempt, code, out)
			}
		}
		// The second lease ran out on the last attempt the configuration
		// allows: the job is given up, not handed out a third time.
		if code, out, _ := f.queue(t, "next", "--config", f.config); code != exitOK || out != "null\n" {
			t.Errorf("queue next after the last lease: exit %d, %q, want null", code, out)
		}
		code, out, _ := f.queue(t, "list", "--json", "--config", f.config, "--state", "queued")
		if code != exitOK || !strings.Contains(out, `"jobState": "failed"`) || !strings.Contains(out, `"attempts": 2`) {
			t.Errorf("queue list after the last lease: %s, want the job failed after 2 attempts", out)
		}
	})
	t.Run("fail/max-attempts-flag-disagrees", func(t *testing.T) {
		f := newQueueFixture(t)
		f.setConfig(t, config)
		f.queue(t, "next", "--config", f.config)
		code, _, errOut := f.queue(t, "failed", "1", "--config", f.config, "--max-attempts", "8", "--error", "x")
		if code != exitUsage || !strings.Contains(errOut, "[queue] max_attempts = 2") {
			t.Errorf("queue failed --max-attempts 8: exit %d, %q, want %d naming [queue] max_attempts", code, errOut, exitUsage)
		}
	})
}

// The executor separates what the CA refuses for good (--permanent: failed
// at once) from a pause that is no failure (--snooze: the attempt is not
// counted), as River's JobCancel and JobSnooze do.
func TestQueueFailedPermanentAndSnooze(t *testing.T) {
	f := newQueueFixture(t)
	f.queue(t, "next", "--config", f.config)
	code, out, _ := f.queue(t, "failed", "1", "--config", f.config, "--attempt", "1", "--snooze", "10m", "--error", "CA in maintenance")
	if code != exitOK || !strings.HasPrefix(out, "job 1 snoozed: handed out again at ") || !strings.HasSuffix(out, ", 0 attempts counted\n") {
		t.Errorf("queue failed --snooze: exit %d, %q", code, out)
	}
	if code, out, _ := f.queue(t, "next", "--config", f.config); code != exitOK || out != "null\n" {
		t.Errorf("queue next while snoozed: exit %d, %q, want null", code, out)
	}
	f2 := newQueueFixture(t)
	f2.queue(t, "next", "--config", f2.config)
	code, out, _ = f2.queue(t, "failed", "1", "--config", f2.config, "--attempt", "1", "--permanent", "--error", "certificate unknown to the CA")
	if code != exitOK || out != "job 1 failed after 1 attempts: it waits for an operator (revokd queue retry 1)\n" {
		t.Errorf("queue failed --permanent: exit %d, %q", code, out)
	}
	if code, _, errOut := f2.queue(t, "failed", "1", "--config", f2.config, "--permanent", "--snooze", "1m", "--error", "x"); code != exitUsage ||
		!strings.Contains(errOut, "exclude each other") {
		t.Errorf("--permanent with --snooze: exit %d, %q", code, errOut)
	}
}

func TestQueueErrors(t *testing.T) {
	f := newQueueFixture(t)
	pg := filepath.Join(f.dir, "pg.toml")
	if err := os.WriteFile(pg, []byte("[store]\nurl = \"postgres://revokd:secret@127.0.0.1:1/revokd?connect_timeout=5\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A configuration naming a data folder the worker never used: the
	// executor must hear about it, not poll an empty queue for ever.
	nostore := filepath.Join(f.dir, "elsewhere.toml")
	if err := os.WriteFile(nostore, []byte("data_dir = \"elsewhere\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"fail/no-subcommand", nil, exitUsage, "usage:"},
		{"fail/unknown-subcommand", []string{"purge"}, exitUsage, `unknown queue command "purge"`},
		{"fail/list-with-an-argument", []string{"list", "--config", f.config, "x"}, exitUsage, "queue list takes no arguments"},
		{"fail/list-unknown-state", []string{"list", "--config", f.config, "--state", "lost"}, exitUsage, `unknown request state "lost"`},
		{"fail/show-without-id", []string{"show", "--config", f.config}, exitUsage, "want exactly one request ID"},
		{"fail/show-bad-id", []string{"show", "--config", f.config, "abc"}, exitUsage, `request ID "abc" is not a positive number`},
		{"fail/show-unknown-id", []string{"show", "--config", f.config, "42"}, exitRejected, "request 42: not found"},
		{"fail/done-unknown-job", []string{"done", "--config", f.config, "42"}, exitRejected, "job 42: not found"},
		{"fail/failed-without-error", []string{"failed", "--config", f.config, "1"}, exitUsage, "--error is required"},
		{"fail/failed-negative-attempt", []string{"failed", "--config", f.config, "--attempt", "-1", "--error", "x", "1"}, exitUsage, "--attempt -1: must be positive"},
		{"fail/failed-attempt-not-made", []string{"failed", "--config", f.config, "--attempt", "3", "--error", "x", "1"}, exitRejected, "job 1 has had 0 attempts; this report is for attempt 3"},
		{"fail/failed-not-running", []string{"failed", "--config", f.config, "--error", "x", "1"}, exitRejected, "job 1 is pending, not running"},
		{"fail/retry-not-failed", []string{"retry", "--config", f.config, "1"}, exitRejected, "job 1 is pending, not failed"},
		{"fail/next-zero-lease", []string{"next", "--config", f.config, "--lease", "0s"}, exitUsage, "must be positive"},
		{"fail/unknown-flag", []string{"next", "--nope"}, exitUsage, "flag provided but not defined"},
		{"fail/missing-config", []string{"list", "--config", filepath.Join(f.dir, "missing.toml")}, exitUsage, "revokd: reading config"},
		{"fail/postgres-unreachable", []string{"list", "--config", pg}, exitUsage, "opening the PostgreSQL store"},
		{"fail/no-store", []string{"next", "--config", nostore}, exitUsage, "no store at " + filepath.Join(f.dir, "elsewhere", queue.DatabaseFile)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := f.queue(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantStderr) || strings.Contains(errOut, "secret") {
				t.Errorf("revokd queue %q: exit %d, stderr %q, want exit %d and %q", tt.args, code, errOut, tt.wantCode, tt.wantStderr)
			}
		})
	}
}

func TestAuditVerifyDetectsTampering(t *testing.T) {
	f := newQueueFixture(t)
	code, out, _ := f.audit(t, "verify", "--config", f.config, "--json")
	var res auditResult
	if err := json.Unmarshal([]byte(out), &res); code != exitOK || err != nil || !res.OK || res.Rows == 0 || len(res.Hash) != 64 {
		t.Fatalf("audit verify --json: exit %d, %v, %s", code, err, out)
	}

	db, err := sql.Open("sqlite", filepath.Join(f.dataDir, queue.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`DROP TRIGGER audit_no_update`, `UPDATE audit SET actor = 'mallory' WHERE seq = 4`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	code, out, _ = f.audit(t, "verify", "--config", f.config)
	if code != exitRejected || !strings.HasPrefix(out, "audit log BROKEN at seq 4: ") {
		t.Errorf("audit verify of a tampered log: exit %d, %q, want exit %d and seq 4", code, out, exitRejected)
	}
	for _, tt := range []struct {
		args       []string
		wantStderr string
	}{
		{nil, "usage:"},
		{[]string{"prune"}, `unknown audit command "prune"`},
		{[]string{"verify", "extra"}, "audit verify takes no arguments"},
	} {
		if code, _, errOut := f.audit(t, tt.args...); code != exitUsage || !strings.Contains(errOut, tt.wantStderr) {
			t.Errorf("revokd audit %q: exit %d, stderr %q, want %d and %q", tt.args, code, errOut, exitUsage, tt.wantStderr)
		}
	}
}

func TestCleanText(t *testing.T) {
	for _, tt := range []struct {
		in    string
		limit int
		want  string
	}{
		{"plain <1@example.fr>", 80, "plain <1@example.fr>"},
		{"a\x1b[2Jb", 80, "a\uFFFD[2Jb"},
		{"tab\there", 80, "tab\uFFFDhere"},
		{"rtl \u202eevil", 80, "rtl \uFFFDevil"},
		{"Hélène", 80, "Hélène"},
		{"Hélène Dupont", 6, "Hélène…"},
	} {
		if got := cleanText(tt.in, tt.limit); got != tt.want {
			t.Errorf("cleanText(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
		}
	}
}

// queue next names the issuer as the CA's tools match it: RFC 4514 with
// organizationIdentifier (not 2.5.4.97=#...), the issuer name's DER, and
// the issuing CA certificate's SHA-256.
func TestQueueNextIssuer(t *testing.T) {
	ctx := context.Background()
	sc, err := scenario.New(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "issuer.pem"), sc.IssuerPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	f := &queueFixture{dir: dir, config: filepath.Join(dir, "revokd.toml"), dataDir: filepath.Join(dir, "data")}
	f.setConfig(t, "data_dir = \"data\"\n[ca]\nissuers = [\"issuer.pem\"]\n")
	s, err := queue.Open(ctx, f.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Load(ctx, s); err != nil {
		t.Fatal(err)
	}
	holder := sc.Holder.Cert
	id, err := s.ArchiveMail(ctx, queue.IncomingMail{Key: queue.MailKey{Mailbox: "INBOX", UIDValidity: 1, UID: 1}, Raw: []byte("m"),
		MessageID: "<1@example.fr>", From: "h@example.fr", ReceivedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordOutcome(ctx, queue.Outcome{MailID: id, Disposition: queue.DispositionProcessed, Requests: []queue.RequestOutcome{{
		State: revocation.StateAccepted, Serial: holder.SerialNumber.Text(16), IssuerDN: holder.Issuer.String(),
		RevocationReason: revocation.KeyCompromise, PDF: []byte("%PDF-1.7"),
	}}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if !strings.Contains(holder.Issuer.String(), "2.5.4.97=#") {
		t.Fatalf("the test CA's name %q has no organizationIdentifier to render", holder.Issuer.String())
	}

	code, out, errOut := f.queue(t, "next", "--config", f.config)
	if code != exitOK {
		t.Fatalf("queue next: exit %d, %s", code, errOut)
	}
	var j struct {
		IssuerDN         string `json:"issuerDN"`
		IssuerDER        []byte `json:"issuerDER"`
		IssuerCertSHA256 string `json:"issuerCertSha256"`
	}
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatal(err)
	}
	issuerCert := sc.PKI.Intermediate.Cert
	sum := sha256.Sum256(issuerCert.Raw)
	if !strings.Contains(j.IssuerDN, "organizationIdentifier=NTRFR-") || strings.Contains(j.IssuerDN, "2.5.4.97") ||
		!strings.HasPrefix(j.IssuerDN, "CN=") {
		t.Errorf("issuerDN = %q, want RFC 4514 with organizationIdentifier", j.IssuerDN)
	}
	if !bytes.Equal(j.IssuerDER, holder.RawIssuer) {
		t.Errorf("issuerDER = %x, want the certificate's issuer DER %x", j.IssuerDER, holder.RawIssuer)
	}
	if j.IssuerCertSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("issuerCertSha256 = %q, want %x", j.IssuerCertSHA256, sum)
	}
	if errOut != "" {
		t.Errorf("stderr %q", errOut)
	}
}
