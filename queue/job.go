package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/revokd/revokd/revocation"
)

// JobState is where a revocation job stands.
type JobState string

// The states of a revocation job.
const (
	// JobPending: waiting for an executor (again, after a failure, once
	// NextAttemptAt has passed).
	JobPending JobState = "pending"
	// JobRunning: handed to an executor until LeaseUntil; handed out again
	// after that if the executor neither finished nor failed it.
	JobRunning JobState = "running"
	// JobDone: the CA revoked the certificate.
	JobDone JobState = "done"
	// JobFailed: every attempt failed; an operator looks into it and may
	// retry it.
	JobFailed JobState = "failed"
)

// ErrJobState is wrapped by the errors of job operations refused because
// of the job's state (failing a job that is not running, retrying one that
// has not failed).
var ErrJobState = ErrState

// maxErrorText bounds the error text an executor leaves on a job: enough
// for any CA tool's message, not a dump of its logs.
const maxErrorText = 4 << 10

// Job is a revocation job: the CA is to revoke the certificate Serial
// issued by IssuerDN, with Reason (or no reason code at all when
// NoReasonCode is set).
type Job struct {
	ID            int64
	RequestID     int64
	Serial        string // lower-case hex
	IssuerDN      string
	Reason        revocation.Reason
	NoReasonCode  bool
	State         JobState
	Attempts      int // times handed to an executor, this one included
	NextAttemptAt time.Time
	LeaseUntil    time.Time // while running: when the job is handed out again
	LastError     string
	CreatedAt     time.Time
	DoneAt        time.Time

	// The issuer as the CA's tools match it, when the caller could tell
	// (the registry's certificate and the configured issuing CAs): the
	// name in RFC 4514 with attribute names (pdfverify.FormatName), the
	// issuer name's DER as the certificate carries it (standard base64),
	// and the SHA-256 of the issuing CA's certificate (lower-case hex).
	IssuerName       string
	IssuerDER        string
	IssuerCertSHA256 string
}

// jobJSON is the JSON of a job; its first eight fields are the
// executor's contract (`revokd queue next`).
type jobJSON struct {
	ID            int64      `json:"id"`
	RequestID     int64      `json:"requestId"`
	Serial        string     `json:"serial"`
	IssuerDN      string     `json:"issuerDN"`
	IssuerDER     string     `json:"issuerDER,omitempty"`
	IssuerCert    string     `json:"issuerCertSha256,omitempty"`
	Reason        string     `json:"reason"`
	ReasonCode    int        `json:"reasonCode"`
	NoReasonCode  bool       `json:"noReasonCode"`
	Attempts      int        `json:"attempts"`
	State         JobState   `json:"state"`
	LeaseUntil    *time.Time `json:"leaseUntil,omitempty"`
	NextAttemptAt *time.Time `json:"nextAttemptAt,omitempty"`
	LastError     string     `json:"lastError,omitempty"`
	CreatedAt     time.Time  `json:"createdAt"`
	DoneAt        *time.Time `json:"doneAt,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// MarshalJSON encodes j with the fields the executor relies on: id,
// requestId, serial, issuerDN (IssuerName when set, else IssuerDN),
// issuerDER (base64) and issuerCertSha256 when known, reason (the RFC 5280
// name), reasonCode (its number), noReasonCode and attempts; then state,
// leaseUntil (while running), nextAttemptAt (while pending), lastError,
// createdAt and doneAt.
func (j Job) MarshalJSON() ([]byte, error) {
	name := j.IssuerName
	if name == "" {
		name = j.IssuerDN
	}
	v := jobJSON{
		ID: j.ID, RequestID: j.RequestID, Serial: j.Serial, IssuerDN: name, IssuerDER: j.IssuerDER, IssuerCert: j.IssuerCertSHA256,
		Reason: j.Reason.String(), ReasonCode: int(j.Reason), NoReasonCode: j.NoReasonCode,
		Attempts: j.Attempts, State: j.State, LastError: j.LastError,
		CreatedAt: j.CreatedAt.UTC(), DoneAt: timePtr(j.DoneAt),
	}
	switch j.State {
	case JobRunning:
		v.LeaseUntil = timePtr(j.LeaseUntil)
	case JobPending:
		v.NextAttemptAt = timePtr(j.NextAttemptAt)
	}
	return json.Marshal(v)
}

const jobColumns = `id, request_id, serial, issuer_dn, reason, no_reason_code, state, attempts, next_attempt_at,
	lease_until, last_error, created_at, done_at`

func scanJob(row scanner) (Job, error) {
	var (
		j                    Job
		reason               int
		state, next, created string
		lease, done          sql.NullString
	)
	if err := row.Scan(&j.ID, &j.RequestID, &j.Serial, &j.IssuerDN, &reason, &j.NoReasonCode, &state, &j.Attempts,
		&next, &lease, &j.LastError, &created, &done); err != nil {
		return j, err
	}
	j.Reason, j.State = revocation.Reason(reason), JobState(state)
	var err error
	if j.NextAttemptAt, err = parseTime(next); err != nil {
		return j, fmt.Errorf("job %d: %w", j.ID, err)
	}
	if j.LeaseUntil, err = parseNullTime(lease); err != nil {
		return j, fmt.Errorf("job %d: %w", j.ID, err)
	}
	if j.CreatedAt, err = parseTime(created); err != nil {
		return j, fmt.Errorf("job %d: %w", j.ID, err)
	}
	if j.DoneAt, err = parseNullTime(done); err != nil {
		return j, fmt.Errorf("job %d: %w", j.ID, err)
	}
	return j, nil
}

// Job returns the job with the given id, or ErrNotFound.
func (s *Store) Job(ctx context.Context, id int64) (Job, error) {
	j, err := scanJob(s.db.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM revocation_jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return j, fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return j, fmt.Errorf("reading job %d: %w", id, err)
	}
	return j, nil
}

// ClaimJob hands the next due job to an executor for lease: a pending job
// whose next attempt is due, or a running one whose lease has expired (its
// executor died). It returns nil when no job is due. Two executors never
// get the same job while its lease lasts. A running job whose lease
// expired after its last allowed attempt (Options.Jobs.MaxAttempts) is
// marked failed instead.
func (s *Store) ClaimJob(ctx context.Context, lease time.Duration, actor string) (*Job, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("claiming a job: lease %v must be positive", lease)
	}
	var job *Job
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		c, abandoned, ok, err := s.jobs.claim(ctx, tx, now, lease)
		if err != nil {
			return err
		}
		for _, a := range abandoned {
			if err := appendAudit(ctx, tx, now, ActorExecutor, "job.failed", jobSubject(a.id), map[string]any{
				"attempts": a.attempts, "error": s.jobs.abandonedError(),
			}); err != nil {
				return err
			}
		}
		if !ok {
			return nil
		}
		j, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM revocation_jobs WHERE id = ?`, c.id))
		if err != nil {
			return err
		}
		job = &j
		return appendAudit(ctx, tx, now, actor, "job.claimed", jobSubject(j.ID), map[string]any{
			"attempt": j.Attempts, "leaseUntil": formatTime(c.leaseUntil),
		})
	})
	if err != nil {
		return nil, fmt.Errorf("claiming a job: %w", err)
	}
	return job, nil
}

// CompleteJob records that the CA revoked the job's certificate: the job
// is done, its requests (the one that created it and those that found it
// in the ledger) are executed, and the registry marks the certificate
// revoked. It takes a job in any state but done, since the CA's word is
// final; completing a job already done changes nothing and returns
// alreadyDone. The confirmation of the revocation is queued in the same
// transaction (to the requests' senders and the holder's registered
// e-mail), so that it goes out once per job.
func (s *Store) CompleteJob(ctx context.Context, id int64, actor string) (alreadyDone bool, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		previous, err := s.jobs.complete(ctx, tx, now, id)
		if err != nil {
			return err
		}
		if JobState(previous) == JobDone {
			alreadyDone = true
			return nil
		}
		j, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM revocation_jobs WHERE id = ?`, id))
		if err != nil {
			return err
		}
		stamp := formatTime(now)
		rows, err := tx.QueryContext(ctx, `UPDATE requests SET state = ?, updated_at = ?
			WHERE job_id = ? AND state IN (?, ?) RETURNING id`,
			string(revocation.StateExecuted), stamp, id, string(revocation.StateQueued), string(revocation.StateAccepted))
		if err != nil {
			return err
		}
		var reqIDs []int64
		for rows.Next() {
			var r int64
			if err := rows.Scan(&r); err != nil {
				rows.Close()
				return err
			}
			reqIDs = append(reqIDs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE certificates SET revoked = 1, revoked_at = ?, updated_at = ?
			WHERE issuer_dn = ? AND serial = ? AND revoked = 0`, stamp, stamp, j.IssuerDN, j.Serial); err != nil {
			return err
		}
		if err := appendAudit(ctx, tx, now, actor, "job.done", jobSubject(id), map[string]any{
			"serial": j.Serial, "issuerDN": j.IssuerDN, "attempts": j.Attempts, "previousState": previous,
		}); err != nil {
			return err
		}
		for _, r := range reqIDs {
			if err := appendAudit(ctx, tx, now, actor, "request.executed", requestSubject(r), map[string]any{"jobId": id}); err != nil {
				return err
			}
		}
		return queueRevocationDone(ctx, tx, now, j, reqIDs, actor)
	})
	if err != nil {
		return false, fmt.Errorf("completing job %d: %w", id, err)
	}
	return alreadyDone, nil
}

// FailJob records that the executor could not revoke the job's
// certificate on the given attempt (the job's Attempts when it was
// claimed): a retryable failure, see FailJobWith.
func (s *Store) FailJob(ctx context.Context, id int64, attempt int, message, actor string) (Job, error) {
	return s.FailJobWith(ctx, id, attempt, Failure{Kind: Retry, Message: message}, actor)
}

// FailJobWith records a failed attempt of a running job, on the given
// attempt (the job's Attempts when it was claimed). A Retry hands it out
// again after a delay that doubles with each attempt (Options.Jobs), or
// marks it failed once it has had Options.Jobs.MaxAttempts attempts; a
// Cancel marks it failed at once (the CA refuses for good); a Snooze hands
// it out again after f.SnoozeFor without counting the attempt. Only a
// running job can fail, and only on the attempt it is running: an executor
// whose lease expired may report after the job was handed to another, and
// its failure must not cut the other's attempt short, so a report on
// another attempt is refused with ErrJobState. Attempt 0 skips that check,
// for executors that do not say which attempt they report on. It returns
// the job as it now stands.
func (s *Store) FailJobWith(ctx context.Context, id int64, attempt int, f Failure, actor string) (Job, error) {
	var out Job
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		res, err := s.jobs.fail(ctx, tx, now, id, attempt, f)
		if err != nil {
			return err
		}
		action := "job.retry_scheduled"
		details := map[string]any{"attempt": res.Attempts, "error": boundError(f.Message)}
		switch {
		case res.State == stateFailed:
			action = "job.failed"
		case f.Kind == Snooze:
			action = "job.snoozed"
			details["nextAttemptAt"] = formatTime(res.NextAttemptAt)
		default:
			details["nextAttemptAt"] = formatTime(res.NextAttemptAt)
		}
		if f.Kind == Cancel {
			details["permanent"] = true
		}
		if err := appendAudit(ctx, tx, now, actor, action, jobSubject(id), details); err != nil {
			return err
		}
		out, err = scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM revocation_jobs WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return Job{}, fmt.Errorf("failing job %d: %w", id, err)
	}
	return out, nil
}

// RetryJob puts a failed job back in the queue with a fresh count of
// attempts, for an operator who fixed what made it fail.
func (s *Store) RetryJob(ctx context.Context, id int64, actor string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		if err := s.jobs.retry(ctx, tx, now, id); err != nil {
			return err
		}
		return appendAudit(ctx, tx, now, actor, "job.retried", jobSubject(id), map[string]any{})
	})
	if err != nil {
		return fmt.Errorf("retrying job %d: %w", id, err)
	}
	return nil
}
