package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/revocation"
)

// The review desk: what operators do with refused requests. Every action
// is one transaction with its audit row (the operator's name, role and
// justification) and, when the sender is told, its outbox row.

// ErrReviewState is wrapped by the errors of review actions that the
// request's state does not allow (dismissing an accepted request,
// approving an override that was rejected or has expired).
var ErrReviewState = errors.New("the request's state does not allow this")

// ErrFourEyes is wrapped by the errors of an operator acting twice on the
// same override: the proposer can never approve nor reject it.
var ErrFourEyes = errors.New("four eyes: another operator must decide")

// ErrOperatorExists is returned by AddOperator for a name already taken.
var ErrOperatorExists = errors.New("operator already exists")

// OverrideTTL is how long a proposed override waits for its approver
// before it expires: the 24 hours the CA has to handle a request.
const OverrideTTL = 24 * time.Hour

// Reviewer is the operator who acts, as the audit log records them.
type Reviewer struct {
	Name string // the operator's account
	Role string // operator | approver | auditor
	// OSUser is the system user that ran the command line; "" from the
	// web.
	OSUser string
	// Via is "web" or "cli".
	Via string
}

func (r Reviewer) actor() string { return "operator:" + r.Name }

// reviewEvent is the audit record of one review action; one shape for all
// of them, so that the log reads the same whoever acted and how.
type reviewEvent struct {
	Operator      string `json:"operator"`
	Role          string `json:"role"`
	OSUser        string `json:"osUser,omitempty"`
	Via           string `json:"via,omitempty"`
	Reason        string `json:"reason,omitempty"`
	Justification string `json:"justification,omitempty"`
	OverrideID    int64  `json:"overrideId,omitempty"`
	JobID         int64  `json:"jobId,omitempty"`
	Serial        string `json:"serial,omitempty"`
	IssuerDN      string `json:"issuerDN,omitempty"`
	Previous      string `json:"previous,omitempty"` // the reason code before a re-verification
	Now           string `json:"now,omitempty"`      // and after it
	ReportSHA256  string `json:"reportSha256,omitempty"`
	Notified      string `json:"notified,omitempty"` // the outbox kind queued for the sender
}

func newEvent(by Reviewer) reviewEvent {
	return reviewEvent{Operator: by.Name, Role: by.Role, OSUser: by.OSUser, Via: by.Via}
}

// ReviewAction is how an operator closed a refused request.
type ReviewAction string

// The review actions that close a request (its state becomes dismissed).
const (
	// ReviewDismissed: the refusal stands; the sender is told.
	ReviewDismissed ReviewAction = "dismissed"
	// ReviewNewFormAsked: the sender is asked for a corrected form, which
	// comes as a new request.
	ReviewNewFormAsked ReviewAction = "new_form_asked"
)

// Override states.
const (
	OverridePending  = "pending"
	OverrideApproved = "approved"
	OverrideRejected = "rejected"
	OverrideExpired  = "expired"
)

// Override is a proposal to accept a refused request despite its refusal,
// waiting for a second operator with the approver role.
type Override struct {
	ID            int64     `json:"id"`
	RequestID     int64     `json:"requestId"`
	State         string    `json:"state"`
	Proposer      string    `json:"proposer"`
	ProposerRole  string    `json:"proposerRole"`
	Justification string    `json:"justification"`
	Serial        string    `json:"serial"`
	IssuerDN      string    `json:"issuerDN"`
	Reason        string    `json:"reason"` // RFC 5280 name
	NoReasonCode  bool      `json:"noReasonCode"`
	ProposedAt    time.Time `json:"proposedAt"`
	ExpiresAt     time.Time `json:"expiresAt"`
	DecidedBy     string    `json:"decidedBy,omitempty"`
	DecidedRole   string    `json:"decidedRole,omitempty"`
	DecidedAt     time.Time `json:"decidedAt,omitzero"`
	Note          string    `json:"note,omitempty"`
	JobID         int64     `json:"jobId,omitempty"`
}

// OverrideTarget is the certificate an override revokes, and why.
type OverrideTarget struct {
	Serial       string // lower-case hex
	IssuerDN     string
	Reason       revocation.Reason
	NoReasonCode bool
}

// requestState reads a request's state and mail for an action, or
// ErrNotFound.
func requestState(ctx context.Context, tx *sql.Tx, id int64) (revocation.State, int64, error) {
	var state string
	var mailID int64
	err := tx.QueryRowContext(ctx, `SELECT state, mail_id FROM requests WHERE id = ?`, id).Scan(&state, &mailID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, fmt.Errorf("request %d: %w", id, ErrNotFound)
	}
	return revocation.State(state), mailID, err
}

// expireOverrides marks expired the pending overrides past their time, so
// that no approval lands on a stale proposal.
func expireOverrides(ctx context.Context, tx *sql.Tx, now time.Time) error {
	stamp := formatTime(now)
	rows, err := tx.QueryContext(ctx, `UPDATE overrides SET state = 'expired', decided_at = ?
		WHERE state = 'pending' AND expires_at <= ? RETURNING id, request_id`, stamp, stamp)
	if err != nil {
		return fmt.Errorf("expiring overrides: %w", err)
	}
	type exp struct{ id, req int64 }
	var done []exp
	for rows.Next() {
		var e exp
		if err := rows.Scan(&e.id, &e.req); err != nil {
			rows.Close()
			return err
		}
		done = append(done, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, e := range done {
		if err := appendAudit(ctx, tx, now, "review", "override.expired", requestSubject(e.req),
			map[string]any{"overrideId": e.id}); err != nil {
			return err
		}
	}
	return nil
}

// pendingOverride returns the request's pending override id, 0 when none.
func pendingOverride(ctx context.Context, tx *sql.Tx, requestID int64) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM overrides WHERE request_id = ? AND state = 'pending'`, requestID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, err
}

// openRejected checks, inside tx, that request id is rejected with no
// override pending (one past its time expires first), and returns its
// mail.
func openRejected(ctx context.Context, tx *sql.Tx, id int64, now time.Time) (mailID int64, err error) {
	if err := expireOverrides(ctx, tx, now); err != nil {
		return 0, err
	}
	state, mailID, err := requestState(ctx, tx, id)
	if err != nil {
		return 0, err
	}
	if state != revocation.StateRejected {
		return 0, fmt.Errorf("request %d is %s, not rejected: %w", id, state, ErrReviewState)
	}
	if p, err := pendingOverride(ctx, tx, id); err != nil {
		return 0, err
	} else if p != 0 {
		return 0, fmt.Errorf("request %d has override %d pending: an approver decides it first: %w", id, p, ErrReviewState)
	}
	return mailID, nil
}

// CloseRequest records an operator's dismissal of a refused request, or
// their asking the sender for a new form: the request becomes dismissed,
// with notice (when not nil) queued for the sender in the same
// transaction. A request with an override pending cannot be closed until
// that override is decided.
func (s *Store) CloseRequest(ctx context.Context, id int64, action ReviewAction, by Reviewer, reason string, notice *OutboxMessage) error {
	if action != ReviewDismissed && action != ReviewNewFormAsked {
		return fmt.Errorf("closing request %d: unknown action %q: %w", id, action, ErrInvalidOutcome)
	}
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("closing request %d: no reason given: %w", id, ErrInvalidOutcome)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		mailID, err := openRejected(ctx, tx, id, now)
		if err != nil {
			return err
		}
		stamp := formatTime(now)
		if _, err := tx.ExecContext(ctx, `UPDATE requests SET state = ?, review_action = ?, review_reason = ?, updated_at = ?
			WHERE id = ?`, string(revocation.StateDismissed), string(action), reason, stamp, id); err != nil {
			return err
		}
		ev := newEvent(by)
		ev.Reason = reason
		if notice != nil {
			n := *notice
			n.MailID, n.RequestID = mailID, id
			if _, err := EnqueueTx(ctx, tx, now, by.actor(), n); err != nil {
				return err
			}
			ev.Notified = n.Kind
		}
		return appendAudit(ctx, tx, now, by.actor(), "request."+string(action), requestSubject(id), ev)
	})
	if err != nil {
		return fmt.Errorf("closing request %d: %w", id, err)
	}
	return nil
}

// ProposeOverride records an operator's proposal to accept a refused
// request and revoke t, with their written justification. It waits for a
// different operator with the approver role (ApproveOverride) and expires
// after OverrideTTL.
func (s *Store) ProposeOverride(ctx context.Context, id int64, by Reviewer, justification string, t OverrideTarget) (Override, error) {
	if strings.TrimSpace(justification) == "" {
		return Override{}, fmt.Errorf("proposing an override of request %d: no justification: %w", id, ErrInvalidOutcome)
	}
	if t.Serial == "" || t.IssuerDN == "" || !t.Reason.Valid() {
		return Override{}, fmt.Errorf("proposing an override of request %d: no certificate to revoke: %w", id, ErrInvalidOutcome)
	}
	var o Override
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		if _, err := openRejected(ctx, tx, id, now); err != nil {
			return err
		}
		var oid int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO overrides (request_id, state, proposer, proposer_role, justification,
			serial, issuer_dn, reason, no_reason_code, proposed_at, expires_at)
			VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, id, by.Name, by.Role, justification,
			t.Serial, t.IssuerDN, int(t.Reason), t.NoReasonCode, formatTime(now), formatTime(now.Add(OverrideTTL))).Scan(&oid); err != nil {
			return err
		}
		ev := newEvent(by)
		ev.Justification, ev.OverrideID, ev.Serial, ev.IssuerDN = justification, oid, t.Serial, t.IssuerDN
		if err := appendAudit(ctx, tx, now, by.actor(), "override.proposed", requestSubject(id), ev); err != nil {
			return err
		}
		var err error
		o, err = readOverride(ctx, tx, oid)
		return err
	})
	if err != nil {
		return Override{}, fmt.Errorf("proposing an override of request %d: %w", id, err)
	}
	return o, nil
}

// decidable reads the pending override of request id for a decision by
// by, refusing the proposer.
func decidable(ctx context.Context, tx *sql.Tx, id int64, by Reviewer) (Override, error) {
	if _, _, err := requestState(ctx, tx, id); err != nil {
		return Override{}, err
	}
	oid, err := pendingOverride(ctx, tx, id)
	if err != nil {
		return Override{}, err
	}
	if oid == 0 {
		return Override{}, fmt.Errorf("request %d has no override pending (none proposed, or it was decided or expired): %w", id, ErrReviewState)
	}
	o, err := readOverride(ctx, tx, oid)
	if err != nil {
		return o, err
	}
	if o.Proposer == by.Name {
		return o, fmt.Errorf("override %d was proposed by %s, who cannot decide it: %w", oid, by.Name, ErrFourEyes)
	}
	return o, nil
}

// ApproveOverride approves the pending override of request id: by must
// not be its proposer. The request becomes overridden and its revocation
// is queued, unless the certificate already has a job in the ledger (the
// request then points at that job).
func (s *Store) ApproveOverride(ctx context.Context, id int64, by Reviewer) (Override, error) {
	var o Override
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		if err := expireOverrides(ctx, tx, now); err != nil {
			return err
		}
		var err error
		if o, err = decidable(ctx, tx, id, by); err != nil {
			return err
		}
		stamp := formatTime(now)
		reason, _ := revocation.ParseReason(o.Reason)
		var jobID int64
		created := false
		err = tx.QueryRowContext(ctx, `SELECT id FROM revocation_jobs WHERE issuer_dn = ? AND serial = ?`, o.IssuerDN, o.Serial).Scan(&jobID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if err := tx.QueryRowContext(ctx, `INSERT INTO revocation_jobs (request_id, issuer_dn, serial, reason, no_reason_code,
				state, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?) RETURNING id`,
				id, o.IssuerDN, o.Serial, int(reason), o.NoReasonCode, stamp, stamp, stamp).Scan(&jobID); err != nil {
				return fmt.Errorf("queueing the revocation of %s: %w", o.Serial, err)
			}
			created = true
		case err != nil:
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE overrides SET state = 'approved', decided_by = ?, decided_role = ?, decided_at = ?,
			job_id = ? WHERE id = ?`, by.Name, by.Role, stamp, jobID, o.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE requests SET state = ?, review_action = 'overridden', review_reason = ?,
			serial = ?, issuer_dn = ?, revocation_reason = ?, no_reason_code = ?, job_id = ?, updated_at = ? WHERE id = ?`,
			string(revocation.StateOverridden), o.Justification, o.Serial, o.IssuerDN, int(reason), o.NoReasonCode,
			jobID, stamp, id); err != nil {
			return err
		}
		ev := newEvent(by)
		ev.OverrideID, ev.JobID, ev.Serial, ev.IssuerDN, ev.Justification = o.ID, jobID, o.Serial, o.IssuerDN, o.Justification
		if err := appendAudit(ctx, tx, now, by.actor(), "override.approved", requestSubject(id), ev); err != nil {
			return err
		}
		if created {
			if err := appendAudit(ctx, tx, now, by.actor(), "job.created", jobSubject(jobID), map[string]any{
				"requestId": id, "serial": o.Serial, "issuerDN": o.IssuerDN, "reason": o.Reason,
				"noReasonCode": o.NoReasonCode, "overrideId": o.ID, "proposer": o.Proposer, "approver": by.Name,
			}); err != nil {
				return err
			}
		}
		o, err = readOverride(ctx, tx, o.ID)
		return err
	})
	if err != nil {
		return Override{}, fmt.Errorf("approving the override of request %d: %w", id, err)
	}
	return o, nil
}

// RejectOverride cancels the pending override of request id; the request
// stays rejected, for another proposal or a dismissal. by must not be
// its proposer.
func (s *Store) RejectOverride(ctx context.Context, id int64, by Reviewer, note string) (Override, error) {
	var o Override
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		if err := expireOverrides(ctx, tx, now); err != nil {
			return err
		}
		var err error
		if o, err = decidable(ctx, tx, id, by); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE overrides SET state = 'rejected', decided_by = ?, decided_role = ?, decided_at = ?,
			note = ? WHERE id = ?`, by.Name, by.Role, formatTime(now), note, o.ID); err != nil {
			return err
		}
		ev := newEvent(by)
		ev.OverrideID, ev.Reason = o.ID, note
		if err := appendAudit(ctx, tx, now, by.actor(), "override.rejected", requestSubject(id), ev); err != nil {
			return err
		}
		o, err = readOverride(ctx, tx, o.ID)
		return err
	})
	if err != nil {
		return Override{}, fmt.Errorf("rejecting the override of request %d: %w", id, err)
	}
	return o, nil
}

const overrideColumns = `id, request_id, state, proposer, proposer_role, justification, serial, issuer_dn, reason,
	no_reason_code, proposed_at, expires_at, decided_by, decided_role, decided_at, note, COALESCE(job_id, 0)`

func scanOverride(row scanner) (Override, error) {
	var (
		o                 Override
		reason            int
		proposed, expires string
		decided           sql.NullString
	)
	if err := row.Scan(&o.ID, &o.RequestID, &o.State, &o.Proposer, &o.ProposerRole, &o.Justification, &o.Serial, &o.IssuerDN,
		&reason, &o.NoReasonCode, &proposed, &expires, &o.DecidedBy, &o.DecidedRole, &decided, &o.Note, &o.JobID); err != nil {
		return o, err
	}
	o.Reason = revocation.Reason(reason).String()
	var err error
	if o.ProposedAt, err = parseTime(proposed); err != nil {
		return o, err
	}
	if o.ExpiresAt, err = parseTime(expires); err != nil {
		return o, err
	}
	o.DecidedAt, err = parseNullTime(decided)
	return o, err
}

func readOverride(ctx context.Context, tx *sql.Tx, id int64) (Override, error) {
	return scanOverride(tx.QueryRowContext(ctx, `SELECT `+overrideColumns+` FROM overrides WHERE id = ?`, id))
}

// Overrides returns the overrides proposed for request id, oldest first.
// A pending one past its time reads as expired.
func (s *Store) Overrides(ctx context.Context, id int64) ([]Override, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+overrideColumns+` FROM overrides WHERE request_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("reading the overrides of request %d: %w", id, err)
	}
	defer rows.Close()
	now := s.now()
	out := []Override{}
	for rows.Next() {
		o, err := scanOverride(rows)
		if err != nil {
			return nil, fmt.Errorf("reading the overrides of request %d: %w", id, err)
		}
		if o.State == OverridePending && !o.ExpiresAt.After(now) {
			o.State = OverrideExpired
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// Reverification is the outcome of verifying and deciding again on a
// request's stored PDF, at the request's original validation time.
type Reverification struct {
	// Accepted says the request passes now; it stays rejected until an
	// operator accepts it (an override).
	Accepted   bool
	ReasonCode authorize.Code // when not accepted
	Reason     string
	// ReportJSON and DecisionJSON are the new report and decision.
	ReportJSON, DecisionJSON []byte
	// Serial, IssuerDN and RevocationReason name the certificate, when the
	// decision established it.
	Serial           string
	IssuerDN         string
	RevocationReason revocation.Reason
	NoReasonCode     bool
	Role             string
}

// RecordReverification stores a re-verification of refused request id:
// the new report and decision as evidence, the new reason code, and what
// the decision established about the certificate. The request stays
// rejected: one that passes now still needs an operator to accept it.
func (s *Store) RecordReverification(ctx context.Context, id int64, by Reviewer, r Reverification) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		state, _, err := requestState(ctx, tx, id)
		if err != nil {
			return err
		}
		if state != revocation.StateRejected {
			return fmt.Errorf("request %d is %s, not rejected: %w", id, state, ErrReviewState)
		}
		var (
			prev           authorize.Code
			serial, issuer string
		)
		if err := tx.QueryRowContext(ctx, `SELECT reason_code, serial, issuer_dn FROM requests WHERE id = ?`, id).Scan(&prev, &serial, &issuer); err != nil {
			return err
		}
		reportSum, err := putOptionalEvidence(ctx, tx, EvidenceReport, r.ReportJSON, now)
		if err != nil {
			return err
		}
		decisionSum, err := putOptionalEvidence(ctx, tx, EvidenceDecision, r.DecisionJSON, now)
		if err != nil {
			return err
		}
		code, note := r.ReasonCode, ""
		if r.Accepted {
			code = prev
			note = fmt.Sprintf("re-verified %s: passes now; an override accepts it", now.Format(time.RFC3339))
		} else if code == "" {
			code = ReasonCodeUnspecified
		}
		if r.Serial != "" {
			serial = r.Serial
		}
		if r.IssuerDN != "" {
			issuer = r.IssuerDN
		}
		if _, err := tx.ExecContext(ctx, `UPDATE requests SET reason_code = ?, reason = ?, report_sha256 = ?, decision_sha256 = ?,
			serial = ?, issuer_dn = ?, revocation_reason = ?, no_reason_code = ?, role = ?, note = ?, reverified_at = ?, updated_at = ?
			WHERE id = ?`, code, r.Reason, reportSum, decisionSum, serial, issuer, int(r.RevocationReason), r.NoReasonCode,
			r.Role, note, formatTime(now), formatTime(now), id); err != nil {
			return err
		}
		ev := newEvent(by)
		ev.Previous, ev.ReportSHA256 = string(prev), reportSum
		ev.Now = string(code)
		if r.Accepted {
			ev.Now = "passes"
		}
		return appendAudit(ctx, tx, now, by.actor(), "request.reverified", requestSubject(id), ev)
	})
	if err != nil {
		return fmt.Errorf("recording the re-verification of request %d: %w", id, err)
	}
	return nil
}

// RetryJobAs is RetryJob for an operator of the review desk, recorded
// with their name and role.
func (s *Store) RetryJobAs(ctx context.Context, id int64, by Reviewer) error {
	return s.RetryJob(ctx, id, by.actor()+" ("+by.Role+")")
}

// ReviewFilter selects the refused requests of ReviewQueue. Empty fields
// select everything.
type ReviewFilter struct {
	Code   authorize.Code // reason code, exactly
	Sender string         // a part of the sender's address, any case
	SIREN  string         // the SIREN of the certificate named
	Serial string         // lower-case hex, exactly
	// From and To bound the time the mail was received.
	From, To time.Time
}

// ReviewItem is one refused request waiting for an operator.
type ReviewItem struct {
	RequestSummary
	// SIREN is the organisation of the certificate named, from the
	// registry; "" when unknown.
	SIREN string `json:"siren"`
	// KeyCompromise says the form asks for a key compromise revocation:
	// those come first among requests of the same age.
	KeyCompromise bool `json:"keyCompromise"`
	// PendingOverride is the override waiting for an approver, if any.
	PendingOverride *Override `json:"pendingOverride"`
	// ReportSHA256 names the stored verification report.
	ReportSHA256 string `json:"reportSha256"`
}

// ReviewQueue returns the refused requests waiting for an operator, oldest
// first; within the same hour of receipt, key compromises first.
func (s *Store) ReviewQueue(ctx context.Context, f ReviewFilter) ([]ReviewItem, error) {
	q := `SELECT ` + summaryColumns + `, COALESCE((SELECT c.siren FROM certificates c WHERE c.serial = r.serial AND r.serial <> ''
		ORDER BY c.issuer_dn = r.issuer_dn DESC LIMIT 1), '')` + summaryFrom + `
		WHERE r.state = 'rejected'`
	var args []any
	if f.Code != "" {
		q += ` AND r.reason_code = ?`
		args = append(args, string(f.Code))
	}
	if f.Serial != "" {
		q += ` AND r.serial = ?`
		args = append(args, strings.ToLower(f.Serial))
	}
	if f.Sender != "" {
		q += ` AND instr(lower(m.sender), ?) > 0`
		args = append(args, strings.ToLower(f.Sender))
	}
	if !f.From.IsZero() {
		q += ` AND m.received_at >= ?`
		args = append(args, formatTime(f.From))
	}
	if !f.To.IsZero() {
		q += ` AND m.received_at < ?`
		args = append(args, formatTime(f.To))
	}
	q += ` ORDER BY substr(m.received_at, 1, 13), r.revocation_reason = 1 DESC, m.received_at, r.id`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the review queue: %w", err)
	}
	var items []ReviewItem
	for rows.Next() {
		var it ReviewItem
		sum, err := scanSummaryWith(rows, &it.SIREN)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading the review queue: %w", err)
		}
		it.RequestSummary = sum
		items = append(items, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the review queue: %w", err)
	}
	out := items[:0]
	for _, it := range items {
		if f.SIREN != "" && it.SIREN != strings.ReplaceAll(f.SIREN, " ", "") {
			continue
		}
		var rr int
		if err := s.db.QueryRowContext(ctx, `SELECT revocation_reason, report_sha256 FROM requests WHERE id = ?`, it.ID).Scan(&rr, &it.ReportSHA256); err != nil {
			return nil, fmt.Errorf("reading the review queue: %w", err)
		}
		it.KeyCompromise = revocation.Reason(rr) == revocation.KeyCompromise
		ovs, err := s.Overrides(ctx, it.ID)
		if err != nil {
			return nil, err
		}
		for i := range ovs {
			if ovs[i].State == OverridePending {
				it.PendingOverride = &ovs[i]
			}
		}
		out = append(out, it)
	}
	return out, nil
}

// scanSummaryWith scans a summary row followed by extra columns.
func scanSummaryWith(rows *sql.Rows, extra ...any) (RequestSummary, error) {
	return scanSummary(extraScanner{rows, extra})
}

type extraScanner struct {
	rows  *sql.Rows
	extra []any
}

func (e extraScanner) Scan(dest ...any) error { return e.rows.Scan(append(dest, e.extra...)...) }

// ReviewClock is the 24-hour clock of the review desk: the refused
// requests waiting for an operator and how long they have waited.
type ReviewClock struct {
	Waiting int
	// Oldest is when the oldest waiting request was received; zero when
	// none waits.
	Oldest  time.Time
	Over12h int
	Over24h int
}

// Clock returns the review desk's clock at the store's current time.
func (s *Store) Clock(ctx context.Context) (ReviewClock, error) {
	now := s.now()
	var c ReviewClock
	var oldest sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(m.received_at),
		COALESCE(SUM(m.received_at <= ?), 0), COALESCE(SUM(m.received_at <= ?), 0)
		FROM requests r JOIN mails m ON m.id = r.mail_id WHERE r.state = 'rejected'`,
		formatTime(now.Add(-12*time.Hour)), formatTime(now.Add(-24*time.Hour))).Scan(&c.Waiting, &oldest, &c.Over12h, &c.Over24h)
	if err != nil {
		return c, fmt.Errorf("reading the review clock: %w", err)
	}
	if c.Oldest, err = parseNullTime(oldest); err != nil {
		return c, fmt.Errorf("reading the review clock: %w", err)
	}
	return c, nil
}

// Revocations returns the requests accepted by the worker or by an
// override (accepted, queued, executed, overridden), newest first; serial,
// when not empty, keeps only those for that certificate.
func (s *Store) Revocations(ctx context.Context, serial string, limit int) ([]RequestSummary, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+summaryColumns+summaryFrom+`
		WHERE r.state IN ('accepted', 'queued', 'executed', 'overridden') AND (? = '' OR r.serial = ?)
		ORDER BY m.received_at DESC, r.id DESC LIMIT ?`, serial, strings.ToLower(serial), limit)
	if err != nil {
		return nil, fmt.Errorf("listing revocations: %w", err)
	}
	defer rows.Close()
	out := []RequestSummary{}
	for rows.Next() {
		r, err := scanSummary(rows)
		if err != nil {
			return nil, fmt.Errorf("listing revocations: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// JobsInState returns the revocation jobs in state, oldest first.
func (s *Store) JobsInState(ctx context.Context, state JobState) ([]Job, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+jobColumns+` FROM revocation_jobs WHERE state = ? ORDER BY id`, string(state))
	if err != nil {
		return nil, fmt.Errorf("listing %s jobs: %w", state, err)
	}
	defer rows.Close()
	out := []Job{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("listing %s jobs: %w", state, err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// ReviewState is what the review desk recorded on a request.
type ReviewState struct {
	Action     string     // dismissed | new_form_asked | overridden | ""
	Reason     string     // the operator's reason or justification
	Reverified *time.Time // the last re-verification
}

// RequestReview returns what the review desk recorded on request id.
func (s *Store) RequestReview(ctx context.Context, id int64) (ReviewState, error) {
	var (
		r  ReviewState
		at sql.NullString
	)
	err := s.db.QueryRowContext(ctx, `SELECT review_action, review_reason, reverified_at FROM requests WHERE id = ?`, id).
		Scan(&r.Action, &r.Reason, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("request %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("reading request %d: %w", id, err)
	}
	t, err := parseNullTime(at)
	r.Reverified = timePtr(t)
	return r, err
}
