package review

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/revocation"
)

// jobFor returns the revocation job of serial, nil when none.
func (d *desk) jobFor(serial string) *queue.Job {
	d.t.Helper()
	for _, st := range []queue.JobState{queue.JobPending, queue.JobRunning, queue.JobDone, queue.JobFailed} {
		jobs, err := d.store.JobsInState(context.Background(), st)
		if err != nil {
			d.t.Fatal(err)
		}
		for i := range jobs {
			if jobs[i].Serial == serial {
				return &jobs[i]
			}
		}
	}
	return nil
}

func (d *desk) state(id int64) revocation.State {
	d.t.Helper()
	r, err := d.store.Request(context.Background(), id)
	if err != nil {
		d.t.Fatal(err)
	}
	return r.State
}

// TestOverrideFourEyes: an override waits for a different approver; the
// proposer never decides it, an operator cannot approve, one rejection
// cancels it, it expires after 24 hours, and the revocation job appears
// only once it is approved.
func TestOverrideFourEyes(t *testing.T) {
	ctx := context.Background()
	d := newDesk(t)
	for _, n := range []struct{ name, role string }{
		{"olga", RoleOperator}, {"otto", RoleOperator}, {"bruno", RoleApprover}, {"chloe", RoleApprover}, {"denis", RoleAuditor}, {"gone", RoleApprover},
	} {
		d.addOperator(n.name, n.role)
	}
	if err := d.store.DisableOperator(ctx, "gone", "test"); err != nil {
		t.Fatal(err)
	}
	id := d.ids[mailImpostor]
	serial := authorize.FormatSerial(d.sc.Colleague.Cert.SerialNumber)
	jobOf := func() *queue.Job { return d.jobFor(serial) }
	req := func(name string) Actor { return Actor{Name: name, Via: "cli", OSUser: "tester"} }
	refusedWith := func(t *testing.T, err error, want error) {
		t.Helper()
		if err == nil || !IsRefused(err) {
			t.Fatalf("err = %v, want a refusal", err)
		}
		if want != nil && !errors.Is(err, want) {
			t.Errorf("err = %v, want %v", err, want)
		}
	}

	if _, err := d.svc.Override(ctx, req("denis"), id, "x"); err == nil {
		t.Error("an auditor proposed an override")
	}
	if _, err := d.svc.Override(ctx, req("gone"), id, "x"); err == nil {
		t.Error("a disabled account proposed an override")
	}
	if _, err := d.svc.Override(ctx, req("olga"), id, "  "); err == nil {
		t.Error("an override without justification was proposed")
	}
	o, err := d.svc.Override(ctx, req("olga"), id, "the mandate was registered after the signature")
	if err != nil {
		t.Fatal(err)
	}
	if o.State != queue.OverridePending || o.Serial != serial || o.Reason != "keyCompromise" {
		t.Errorf("override %+v, want pending on %s for keyCompromise", o, serial)
	}
	if !o.ExpiresAt.Equal(o.ProposedAt.Add(24 * time.Hour)) {
		t.Errorf("expires %s, want 24 h after %s", o.ExpiresAt, o.ProposedAt)
	}
	if _, err := d.svc.Override(ctx, req("otto"), id, "again"); err == nil {
		t.Error("a second override was proposed while one is pending")
	}
	if err := d.svc.Dismiss(ctx, req("otto"), id, "other", "meanwhile"); err == nil {
		t.Error("a request with a pending override was dismissed")
	}

	_, err = d.svc.Approve(ctx, req("olga"), id)
	refusedWith(t, err, nil) // an operator: the role refuses first
	_, err = d.svc.Approve(ctx, req("otto"), id)
	refusedWith(t, err, nil)
	if j := jobOf(); j != nil || d.state(id) != revocation.StateRejected {
		t.Fatalf("after refused approvals: job %+v, state %s; want none, rejected", j, d.state(id))
	}

	// One rejection cancels.
	if _, err := d.svc.Reject(ctx, req("chloe"), id, "no proof of the mandate"); err != nil {
		t.Fatal(err)
	}
	_, err = d.svc.Approve(ctx, req("bruno"), id)
	refusedWith(t, err, queue.ErrReviewState)
	if j := jobOf(); j != nil || d.state(id) != revocation.StateRejected {
		t.Fatalf("after a rejection: job %+v, state %s; want none, rejected", j, d.state(id))
	}

	// An approver's own proposal: they can neither approve nor reject it.
	if _, err := d.svc.Override(ctx, req("bruno"), id, "the mandate is in the registry since this morning"); err != nil {
		t.Fatal(err)
	}
	_, err = d.svc.Approve(ctx, req("bruno"), id)
	refusedWith(t, err, queue.ErrFourEyes)
	_, err = d.svc.Reject(ctx, req("bruno"), id, "changed my mind")
	refusedWith(t, err, queue.ErrFourEyes)
	if jobOf() != nil {
		t.Fatal("the proposer's refused approval queued a job")
	}

	// Expiry after 24 hours.
	d.clock.Advance(24*time.Hour + time.Second)
	_, err = d.svc.Approve(ctx, req("chloe"), id)
	refusedWith(t, err, queue.ErrReviewState)
	ovs, err := d.store.Overrides(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := ovs[len(ovs)-1].State; got != queue.OverrideExpired {
		t.Errorf("the 24-hour-old override is %s, want expired", got)
	}

	// A fresh proposal, approved by a different approver: now, and only
	// now, the job appears.
	if _, err := d.svc.Override(ctx, req("olga"), id, "mandate confirmed by phone with the company"); err != nil {
		t.Fatal(err)
	}
	if jobOf() != nil {
		t.Fatal("a job exists before the approval")
	}
	o, err = d.svc.Approve(ctx, req("chloe"), id)
	if err != nil {
		t.Fatal(err)
	}
	r, err := d.store.Request(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if j := jobOf(); j == nil || j.ID != o.JobID || j.RequestID != id || j.State != queue.JobPending || j.Reason != revocation.KeyCompromise {
		t.Errorf("job after approval %+v, want pending job %d for request %d, keyCompromise", j, o.JobID, id)
	}
	if r.State != revocation.StateOverridden || r.JobID == nil || *r.JobID != o.JobID {
		t.Errorf("after approval: state %s, job %v; want overridden with job %d", r.State, r.JobID, o.JobID)
	}
	var actions []string
	for _, a := range r.Audit {
		if strings.HasPrefix(a.Action, "override.") || a.Action == "job.created" && a.Subject == fmt.Sprintf("job:%d", o.JobID) {
			actions = append(actions, a.Actor+" "+a.Action)
		}
	}
	want := []string{"operator:olga override.proposed", "operator:chloe override.rejected", "operator:bruno override.proposed",
		"review override.expired", "operator:olga override.proposed", "operator:chloe override.approved", "operator:chloe job.created"}
	if strings.Join(actions[:min(len(actions), len(want))], "|") != strings.Join(want, "|") {
		t.Errorf("audit of the overrides:\n%s\nwant\n%s", strings.Join(actions, "\n"), strings.Join(want, "\n"))
	}
	if _, err := d.svc.Approve(ctx, req("bruno"), id); err == nil {
		t.Error("an override was approved twice")
	}
}

func TestOverrideRefusesWhatCannotBeRevoked(t *testing.T) {
	ctx := context.Background()
	d := newDesk(t)
	d.addOperator("olga", RoleOperator)
	a := Actor{Name: "olga"}
	if _, err := d.svc.Override(ctx, a, d.ids[mailUnknown], "typo"); err == nil || !strings.Contains(err.Error(), "registry has no certificate") {
		t.Errorf("override of an unknown serial: %v, want a refusal naming the registry", err)
	}
	if _, err := d.svc.Override(ctx, a, d.ids[mailHolder], "accepted already"); err == nil || !IsRefused(err) {
		t.Errorf("override of a queued request: %v, want a refusal", err)
	}
	if _, err := d.svc.Override(ctx, Actor{Name: "nobody"}, d.ids[mailForged], "x"); err == nil || !IsRefused(err) {
		t.Errorf("override by an unknown account: %v, want a refusal", err)
	}
}

// TestReverify runs verification and the decision again on the stored
// evidence: the forged form stays forged; the impostor passes once the
// registry knows him as a representative, and still needs an override.
func TestReverify(t *testing.T) {
	ctx := context.Background()
	d := newDesk(t)
	d.addOperator("olga", RoleOperator)
	a := Actor{Name: "olga"}
	r, err := d.svc.Reverify(ctx, a, d.ids[mailForged])
	if err != nil {
		t.Fatal(err)
	}
	if r.Accepted || r.ReasonCode != "modified_after_signing" {
		t.Errorf("forged form re-verified: %+v, want modified_after_signing", r)
	}
	id := d.ids[mailImpostor]
	orig, err := d.store.Request(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// The impostor is registered as a representative of the company
	// since before the mail: the registry changed, the evidence did not.
	if _, err := d.store.UpsertRepresentative(ctx, authorize.Representative{SIREN: "732829320", Surname: "Durand", GivenName: "Paul",
		Email: "paul.durand@example.fr", ValidFrom: orig.ReceivedAt.AddDate(0, -1, 0)}); err != nil {
		t.Fatal(err)
	}
	r, err = d.svc.Reverify(ctx, a, id)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Accepted {
		t.Fatalf("re-verified after the registry change: %+v, want a pass", r)
	}
	after, err := d.store.Request(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if after.State != revocation.StateRejected || !strings.Contains(after.Note, "passes now") {
		t.Errorf("state %s, note %q: want still rejected with a note that it passes", after.State, after.Note)
	}
	if after.ReportSHA256 == "" || after.DecisionSHA256 == orig.DecisionSHA256 {
		t.Errorf("decision evidence %s unchanged from %s", after.DecisionSHA256, orig.DecisionSHA256)
	}
	last := after.Audit[len(after.Audit)-1]
	if last.Action != "request.reverified" || !strings.Contains(string(last.Details), `"previous":"not_representative"`) {
		t.Errorf("last audit row %s %s, want request.reverified from not_representative", last.Action, last.Details)
	}
	if j := d.jobFor(authorize.FormatSerial(d.sc.Colleague.Cert.SerialNumber)); j != nil && j.RequestID == id {
		t.Error("a re-verification queued a revocation")
	}
}

func TestClock(t *testing.T) {
	ctx := context.Background()
	d := newDesk(t)
	c, err := d.store.Clock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Waiting != 3 || c.Over12h != 0 || c.Over24h != 0 {
		t.Errorf("clock %+v, want 3 waiting, none late", c)
	}
	d.clock.Advance(13 * time.Hour)
	c, _ = d.store.Clock(ctx)
	if c.Over12h != 3 || c.Over24h != 0 {
		t.Errorf("after 13 h: %+v, want 3 past 12 h", c)
	}
	d.clock.Advance(12 * time.Hour)
	c, _ = d.store.Clock(ctx)
	line, late := ClockHealth(c, d.clock.Now())
	if c.Over24h != 3 || !late || !strings.Contains(line, "3 past 24 h") {
		t.Errorf("after 25 h: %+v, %q, late %v", c, line, late)
	}
}
