package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/revocation"
)

// TestReviewCommands drives the operators' commands on the demo's store:
// accounts from standard input, the same four-eyes rules as the web desk,
// and the exit codes runbooks rely on (0 done, 1 refused, 2 usage).
func TestReviewCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var demoOut bytes.Buffer
	if err := demo(ctx, dir, slog.New(slog.DiscardHandler), &demoOut); err != nil {
		t.Fatalf("demo: %v\n%s", err, demoOut.String())
	}
	cfg := filepath.Join(dir, "revokd.toml")
	cli := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(ctx, args, strings.NewReader(stdin), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	expect := func(want int, stdin string, args ...string) string {
		t.Helper()
		code, out, errOut := cli(stdin, args...)
		if code != want {
			t.Fatalf("revokd %s: exit %d, want %d\nstdout %s\nstderr %s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out
	}

	// Accounts.
	for _, a := range []struct{ name, role string }{{"alice", "operator"}, {"bruno", "approver"}, {"chloe", "approver"}, {"denis", "auditor"}} {
		out := expect(0, "a long enough password\na long enough password\n", "operator", "add", "--config", cfg, "--role", a.role, a.name)
		if !strings.HasPrefix(out, "otpauth://totp/revokd:"+a.name+"?") || !strings.Contains(out, "secret=") {
			t.Errorf("operator add %s printed %q, want an otpauth:// URI", a.name, out)
		}
	}
	expect(0, "only one line of password\n", "operator", "add", "--config", cfg, "--role", "operator", "otto")
	expect(1, "a long enough password\nanother password here\n", "operator", "add", "--config", cfg, "--role", "operator", "olga")
	expect(1, "short\n", "operator", "add", "--config", cfg, "--role", "operator", "olga")
	expect(1, "", "operator", "add", "--config", cfg, "--role", "operator", "olga")
	expect(1, "a long enough password\n", "operator", "add", "--config", cfg, "--role", "operator", "alice")
	expect(2, "a long enough password\n", "operator", "add", "--config", cfg, "--role", "admin", "olga")
	expect(2, "a long enough password\n", "operator", "add", "--config", cfg, "olga")
	var accounts []map[string]any
	list := expect(0, "", "operator", "list", "--config", cfg, "--json")
	if err := json.Unmarshal([]byte(list), &accounts); err != nil || len(accounts) != 5 {
		t.Fatalf("operator list --json: %v, %s", err, list)
	}
	if strings.Contains(list, "argon2") || strings.Contains(list, "secret") {
		t.Errorf("operator list shows credentials: %s", list)
	}

	store, err := queue.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ids := map[string]int64{}
	rows, err := store.ListRequests(ctx, queue.ListOptions{State: revocation.StateRejected})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		ids[string(r.ReasonCode)] = r.ID
	}
	id := func(code string) string {
		if ids[code] == 0 {
			t.Fatalf("no rejected request with code %s in %v", code, ids)
		}
		return strconv.FormatInt(ids[code], 10)
	}
	forged, impostor, unknown := id("modified_after_signing"), id("not_representative"), id("unknown_serial")

	// Dismissal: roles, accounts, usage, state.
	expect(1, "", "queue", "dismiss", "--config", cfg, "--operator", "denis", "--reason", "forged or altered form", forged)
	expect(1, "", "queue", "dismiss", "--config", cfg, "--operator", "nobody", "--reason", "forged or altered form", forged)
	expect(2, "", "queue", "dismiss", "--config", cfg, "--operator", "alice", forged)
	expect(2, "", "queue", "dismiss", "--config", cfg, "--reason", "x", forged)
	expect(2, "", "queue", "dismiss", "--config", cfg, "--operator", "alice", "--reason", "x", "forty-two")
	out := expect(0, "", "queue", "dismiss", "--config", cfg, "--operator", "alice", "--reason", "the serial was changed after signing", forged)
	if !strings.Contains(out, "dismissed") {
		t.Errorf("queue dismiss printed %q", out)
	}
	expect(1, "", "queue", "dismiss", "--config", cfg, "--operator", "alice", "--reason", "again", forged)

	// Four eyes.
	expect(1, "", "queue", "override", "--config", cfg, "--operator", "bruno", "--justification", "typo in the serial", unknown)
	expect(2, "", "queue", "override", "--config", cfg, "--operator", "alice", impostor)
	var res reviewResult
	out = expect(0, "", "queue", "override", "--config", cfg, "--operator", "alice", "--justification", "mandate registered late", "--json", impostor)
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Override == nil || res.Override.State != queue.OverridePending || res.State != "rejected" {
		t.Fatalf("queue override --json: %v %s", err, out)
	}
	expect(1, "", "queue", "approve", "--config", cfg, "--operator", "alice", impostor) // an operator
	expect(1, "", "queue", "approve", "--config", cfg, "--operator", "denis", impostor) // an auditor
	expect(0, "", "queue", "reject", "--config", cfg, "--operator", "bruno", "--reason", "no proof", impostor)
	expect(1, "", "queue", "approve", "--config", cfg, "--operator", "chloe", impostor) // nothing pending
	expect(0, "", "queue", "override", "--config", cfg, "--operator", "bruno", "--justification", "confirmed by phone", impostor)
	expect(1, "", "queue", "approve", "--config", cfg, "--operator", "bruno", impostor) // the proposer
	expect(1, "", "queue", "reject", "--config", cfg, "--operator", "bruno", impostor)  // the proposer
	if d, err := store.Request(ctx, ids["not_representative"]); err != nil || d.State != revocation.StateRejected {
		t.Fatalf("before approval: %v, %+v", err, d)
	}
	out = expect(0, "", "queue", "approve", "--config", cfg, "--operator", "chloe", "--json", impostor)
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.State != "overridden" || res.Override.JobID == 0 {
		t.Fatalf("queue approve --json: %v %s", err, out)
	}
	d, err := store.Request(ctx, ids["not_representative"])
	if err != nil || d.Job == nil || d.Job.ID != res.Override.JobID {
		t.Fatalf("after approval: %v, job %+v, want job %d", err, d.Job, res.Override.JobID)
	}
	var approved *queue.AuditRecord
	for i := range d.Audit {
		if d.Audit[i].Action == "override.approved" {
			approved = &d.Audit[i]
		}
	}
	if approved == nil || approved.Actor != "operator:chloe" || !strings.Contains(string(approved.Details), `"via":"cli"`) ||
		!strings.Contains(string(approved.Details), `"role":"approver"`) || !strings.Contains(string(approved.Details), `"osUser"`) {
		t.Errorf("audit of the approval: %+v", approved)
	}

	// Disabled accounts act no more.
	expect(0, "", "operator", "disable", "--config", cfg, "alice")
	expect(1, "", "queue", "ask", "--config", cfg, "--operator", "alice", "--reason", "sign with your own certificate", unknown)
	expect(1, "", "operator", "disable", "--config", cfg, "nobody")
	out = expect(0, "", "queue", "ask", "--config", cfg, "--operator", "otto", "--reason", "the serial does not exist: check it", unknown)
	if !strings.Contains(out, "new form") {
		t.Errorf("queue ask printed %q", out)
	}
}
