package review

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/pdfverify"
	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/revocation"
)

// Roles of the review desk's accounts. Trusted roles are separate (EN 319
// 401): an auditor reads everything and changes nothing; only an approver
// decides an override, and never one they proposed.
const (
	RoleOperator = "operator" // dismisses, asks for a new form, proposes overrides, re-verifies, retries jobs
	RoleApprover = "approver" // all of the above, and approves or rejects overrides
	RoleAuditor  = "auditor"  // reads
)

// ParseRole returns the role spelled s.
func ParseRole(s string) (string, error) {
	switch s {
	case RoleOperator, RoleApprover, RoleAuditor:
		return s, nil
	}
	return "", fmt.Errorf("unknown role %q: want operator, approver or auditor", s)
}

// Action is something an operator does to a request or a job.
type Action string

// The actions, each allowed to some roles (see allowed).
const (
	ActDismiss  Action = "dismiss"
	ActAsk      Action = "ask"
	ActOverride Action = "override"
	ActApprove  Action = "approve"
	ActReject   Action = "reject"
	ActReverify Action = "reverify"
	ActRetry    Action = "retry"
)

// allowed says whether role may do a.
func allowed(role string, a Action) bool {
	switch a {
	case ActApprove, ActReject:
		return role == RoleApprover
	case ActDismiss, ActAsk, ActOverride, ActReverify, ActRetry:
		return role == RoleOperator || role == RoleApprover
	}
	return false
}

// RefusedError is an action the desk's rules refuse: unknown or disabled
// account, a role that does not allow it, the proposer deciding their own
// override, a state that does not allow it, a missing reason. The command
// line exits 1 on it.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }

func refused(format string, args ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// IsRefused reports whether err is a refusal by the desk's rules rather
// than a failure of the store.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r) || errors.Is(err, queue.ErrReviewState) || errors.Is(err, queue.ErrFourEyes) ||
		errors.Is(err, queue.ErrNotFound) || errors.Is(err, queue.ErrJobState) || errors.Is(err, queue.ErrInvalidOutcome)
}

// Reexaminer verifies a stored PDF again and decides on it, at the given
// validation time; the worker is one.
type Reexaminer interface {
	Reexamine(ctx context.Context, name string, pdf []byte, validationTime time.Time) (queue.RequestOutcome, error)
}

// Notices build the mails that tell a sender what an operator decided
// (notify's Dismissed and NewFormAsked): the words are notify's, the
// desk commits the mail with its action.
type Notices struct {
	Dismissed    func(r queue.RequestSummary, note string) queue.OutboxMessage
	NewFormAsked func(r queue.RequestSummary, note string) queue.OutboxMessage
}

// Service is the review desk's actions, for the web UI and the command
// line alike: it checks the account and its role, then has the store act
// in one transaction with its audit row.
type Service struct {
	Store *queue.Store
	// Notices build the mails to the senders; both are required for
	// dismissals and requests for a new form.
	Notices Notices
	// Reexaminer re-verifies stored evidence; nil: re-verification is
	// refused as unavailable.
	Reexaminer Reexaminer
	// Fields names the form's fields, to read the reason of a request
	// refused before authorisation; zero: the reference form's.
	Fields authorize.FormFields
}

// Actor is who acts: the account's name, and where from.
type Actor struct {
	Name   string
	OSUser string // the system user of a command-line run
	Via    string // "web" or "cli"
}

// Account returns the enabled account called name, or a refusal.
func (s *Service) Account(ctx context.Context, name string) (queue.Operator, error) {
	o, err := s.Store.Operator(ctx, name)
	if errors.Is(err, queue.ErrNotFound) {
		return o, refused("unknown operator %q", name)
	}
	if err != nil {
		return o, err
	}
	if o.Disabled {
		return o, refused("operator %q is disabled", name)
	}
	return o, nil
}

// reviewer checks that a may do act and returns them as the audit log
// records them.
func (s *Service) reviewer(ctx context.Context, a Actor, act Action) (queue.Reviewer, error) {
	o, err := s.Account(ctx, a.Name)
	if err != nil {
		return queue.Reviewer{}, err
	}
	if !allowed(o.Role, act) {
		return queue.Reviewer{}, refused("operator %q has the %s role, which does not allow %s", a.Name, o.Role, act)
	}
	return queue.Reviewer{Name: o.Name, Role: o.Role, OSUser: a.OSUser, Via: a.Via}, nil
}

// DismissReasons are the reasons an operator picks from to dismiss a
// request; free text completes them.
var DismissReasons = []string{
	"forged or altered form",
	"signer not entitled to revoke this certificate",
	"duplicate of another request",
	"not a revocation request",
	"certificate already revoked or expired",
	"other",
}

// IsDismissReason reports whether r is one of DismissReasons.
func IsDismissReason(r string) bool {
	for _, x := range DismissReasons {
		if r == x {
			return true
		}
	}
	return false
}

// Dismiss confirms the refusal of request id: it becomes dismissed and the
// sender is told. reason is one of DismissReasons; text says more (needed
// for "other").
func (s *Service) Dismiss(ctx context.Context, a Actor, id int64, reason, text string) error {
	if !IsDismissReason(reason) {
		return refused("dismiss: reason %q is not one of: %s", reason, strings.Join(DismissReasons, "; "))
	}
	text = strings.TrimSpace(text)
	if reason == "other" && text == "" {
		return refused("dismiss: say why in the text when the reason is \"other\"")
	}
	full := reason
	if text != "" {
		full += ": " + text
	}
	return s.close(ctx, a, ActDismiss, queue.ReviewDismissed, id, full)
}

// AskNewForm closes request id and asks its sender for a new form; fix
// says what to correct, and is sent to them.
func (s *Service) AskNewForm(ctx context.Context, a Actor, id int64, fix string) error {
	if strings.TrimSpace(fix) == "" {
		return refused("ask: say what the sender must fix")
	}
	return s.close(ctx, a, ActAsk, queue.ReviewNewFormAsked, id, strings.TrimSpace(fix))
}

func (s *Service) close(ctx context.Context, a Actor, act Action, action queue.ReviewAction, id int64, reason string) error {
	by, err := s.reviewer(ctx, a, act)
	if err != nil {
		return err
	}
	d, err := s.Store.Request(ctx, id)
	if err != nil {
		return err
	}
	var notice *queue.OutboxMessage
	// Only a mail the worker answered is answered again: automatic mail
	// and mail without a sender never are (the same loop protection).
	if len(d.Outbox) > 0 && d.Sender != "" {
		build := s.Notices.Dismissed
		if action == queue.ReviewNewFormAsked {
			build = s.Notices.NewFormAsked
		}
		if build == nil {
			return fmt.Errorf("review: no notice configured for %s", action)
		}
		m := build(d.RequestSummary, reason)
		notice = &m
	}
	return s.Store.CloseRequest(ctx, id, action, by, reason, notice)
}

// Override proposes to accept refused request id despite its refusal,
// with a written justification. The certificate is the one the request
// names (the registry must know it) and the reason the form's.
func (s *Service) Override(ctx context.Context, a Actor, id int64, justification string) (queue.Override, error) {
	by, err := s.reviewer(ctx, a, ActOverride)
	if err != nil {
		return queue.Override{}, err
	}
	if strings.TrimSpace(justification) == "" {
		return queue.Override{}, refused("override: a written justification is required")
	}
	d, err := s.Store.Request(ctx, id)
	if err != nil {
		return queue.Override{}, err
	}
	if d.State != revocation.StateRejected {
		return queue.Override{}, refused("request %d is %s, not rejected", id, d.State)
	}
	t, err := s.target(ctx, d)
	if err != nil {
		return queue.Override{}, err
	}
	return s.Store.ProposeOverride(ctx, id, by, strings.TrimSpace(justification), t)
}

// target finds the certificate a refused request would revoke, and why.
func (s *Service) target(ctx context.Context, d *queue.RequestDetail) (queue.OverrideTarget, error) {
	if d.Serial == "" {
		return queue.OverrideTarget{}, refused("request %d names no readable serial: ask the sender for a new form", d.ID)
	}
	n, err := authorize.ParseSerial(d.Serial)
	if err != nil {
		return queue.OverrideTarget{}, refused("request %d: serial %q: %v", d.ID, d.Serial, err)
	}
	t := queue.OverrideTarget{Serial: authorize.FormatSerial(n), IssuerDN: d.IssuerDN}
	if t.IssuerDN == "" {
		certs, err := s.Store.CertificatesBySerial(ctx, n)
		if err != nil {
			return t, err
		}
		switch len(certs) {
		case 0:
			return t, refused("the registry has no certificate with serial %s: nothing to revoke", t.Serial)
		case 1:
			t.IssuerDN = certs[0].IssuerDN
		default:
			return t, refused("several certificates have serial %s: ask the sender for a new form", t.Serial)
		}
	}
	reason, ok := s.formReason(ctx, d)
	if !ok {
		return t, refused("request %d: the form's reason does not read: ask the sender for a new form", d.ID)
	}
	t.Reason = reason
	// RFC 5280: a CRL entry of reason unspecified carries no reasonCode.
	t.NoReasonCode = reason == revocation.Unspecified
	return t, nil
}

// formReason reads the revocation reason of the signed form, from the
// stored report.
func (s *Service) formReason(ctx context.Context, d *queue.RequestDetail) (revocation.Reason, bool) {
	rep, err := s.report(ctx, d.ReportSHA256)
	if err != nil || rep == nil {
		return 0, false
	}
	return s.reasonOf(rep)
}

// reasonOf is the revocation reason the form asks for.
func (s *Service) reasonOf(rep *pdfverify.Report) (revocation.Reason, bool) {
	f := s.Fields
	if f.Reason == "" {
		f = authorize.DefaultFormFields()
	}
	return revocation.ParseFrenchReason(rep.Form[f.Reason])
}

// Queue returns the refused requests waiting for an operator, oldest
// first, key compromises first among those of the same hour. A request
// refused before its decision (a forged form, an unknown signer) is a
// key compromise when its signed form says so.
func (s *Service) Queue(ctx context.Context, f queue.ReviewFilter) ([]queue.ReviewItem, error) {
	items, err := s.Store.ReviewQueue(ctx, f)
	if err != nil {
		return nil, err
	}
	for i := range items {
		if items[i].KeyCompromise || items[i].ReportSHA256 == "" {
			continue
		}
		if rep, err := s.report(ctx, items[i].ReportSHA256); err == nil && rep != nil {
			r, ok := s.reasonOf(rep)
			items[i].KeyCompromise = ok && r == revocation.KeyCompromise
		}
	}
	sort.SliceStable(items, func(i, j int) bool {
		hi, hj := items[i].ReceivedAt.UTC().Truncate(time.Hour), items[j].ReceivedAt.UTC().Truncate(time.Hour)
		if !hi.Equal(hj) {
			return hi.Before(hj)
		}
		if items[i].KeyCompromise != items[j].KeyCompromise {
			return items[i].KeyCompromise
		}
		return items[i].ReceivedAt.Before(items[j].ReceivedAt)
	})
	return items, nil
}

// maxReportBytes bounds a stored report read back: a few kilobytes per
// signature.
const maxReportBytes = 16 << 20

// report reads the stored verification report sum; nil when sum is "".
func (s *Service) report(ctx context.Context, sum string) (*pdfverify.Report, error) {
	if sum == "" {
		return nil, nil
	}
	b, _, err := s.Store.Evidence(ctx, sum)
	if err != nil {
		return nil, err
	}
	if len(b) > maxReportBytes {
		return nil, fmt.Errorf("report %s is too large to show", sum)
	}
	var rep pdfverify.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("report %s does not read: %w", sum, err)
	}
	return &rep, nil
}

// Approve approves the pending override of request id: the request is
// overridden and its revocation queued. The proposer cannot approve.
func (s *Service) Approve(ctx context.Context, a Actor, id int64) (queue.Override, error) {
	by, err := s.reviewer(ctx, a, ActApprove)
	if err != nil {
		return queue.Override{}, err
	}
	return s.Store.ApproveOverride(ctx, id, by)
}

// Reject cancels the pending override of request id.
func (s *Service) Reject(ctx context.Context, a Actor, id int64, note string) (queue.Override, error) {
	by, err := s.reviewer(ctx, a, ActReject)
	if err != nil {
		return queue.Override{}, err
	}
	return s.Store.RejectOverride(ctx, id, by, strings.TrimSpace(note))
}

// Reverify verifies request id's stored PDF again and decides on it, at
// the time its mail was received, with today's trust anchors and registry.
// It reports whether the request passes now; it stays rejected either way
// (an override accepts it).
func (s *Service) Reverify(ctx context.Context, a Actor, id int64) (queue.Reverification, error) {
	by, err := s.reviewer(ctx, a, ActReverify)
	if err != nil {
		return queue.Reverification{}, err
	}
	if s.Reexaminer == nil {
		return queue.Reverification{}, refused("re-verification is not available here")
	}
	d, err := s.Store.Request(ctx, id)
	if err != nil {
		return queue.Reverification{}, err
	}
	if d.State != revocation.StateRejected {
		return queue.Reverification{}, refused("request %d is %s, not rejected", id, d.State)
	}
	if d.PDFSHA256 == "" {
		return queue.Reverification{}, refused("request %d has no stored PDF", id)
	}
	pdf, _, err := s.Store.Evidence(ctx, d.PDFSHA256)
	if err != nil {
		return queue.Reverification{}, err
	}
	out, err := s.Reexaminer.Reexamine(ctx, d.AttachmentName, pdf, d.ReceivedAt)
	if err != nil {
		return queue.Reverification{}, fmt.Errorf("re-verifying request %d: %w", id, err)
	}
	r := queue.Reverification{
		Accepted: out.State == revocation.StateAccepted, ReasonCode: out.ReasonCode, Reason: out.Reason,
		ReportJSON: out.ReportJSON, DecisionJSON: out.DecisionJSON, Serial: out.Serial, IssuerDN: out.IssuerDN,
		RevocationReason: out.RevocationReason, NoReasonCode: out.NoReasonCode, Role: out.Role,
	}
	if r.Accepted {
		r.ReasonCode = ""
	}
	return r, s.Store.RecordReverification(ctx, id, by, r)
}

// RetryJob puts a failed revocation job back in the queue.
func (s *Service) RetryJob(ctx context.Context, a Actor, jobID int64) error {
	by, err := s.reviewer(ctx, a, ActRetry)
	if err != nil {
		return err
	}
	return s.Store.RetryJobAs(ctx, jobID, by)
}

// formSerial is the serial the request names, as a number; nil when none.
func formSerial(s string) *big.Int {
	n, err := authorize.ParseSerial(s)
	if err != nil {
		return nil
	}
	return n
}
