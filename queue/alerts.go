package queue

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// AlertRule names why operators must look at something.
type AlertRule string

// The alert rules.
const (
	// AlertReview: a refused request has waited for review too long.
	AlertReview AlertRule = "review"
	// AlertNotExecuted: an accepted request's revocation is not done
	// long after the mail was received (the 24-hour commitment).
	AlertNotExecuted AlertRule = "not_executed"
	// AlertJobFailed: a revocation job failed for good.
	AlertJobFailed AlertRule = "job_failed"
	// AlertMailFailed: a notification failed for good.
	AlertMailFailed AlertRule = "mail_failed"
)

// DueAlert is one thing operators must look at.
type DueAlert struct {
	// Key identifies the item for the alerted ledger: an item is new
	// until a digest named it.
	Key       string
	Rule      AlertRule
	RequestID int64 // the request concerned; 0 when none
	ID        int64 // the job (not_executed, job_failed) or outbox mail (mail_failed)
	Serial    string
	Code      string // the request's reason code (review)
	Since     time.Time
	Detail    string // the executor's or the relay's last error
	// Alerted says an earlier digest named the item already.
	Alerted bool
}

// KindOperatorAlert is the outbox kind of the operators' digest.
const KindOperatorAlert = "operator_alert"

// DueAlerts returns what operators must look at as of now: refused
// requests waiting for review for more than after, accepted requests not
// executed more than after their mail was received, failed revocation
// jobs, and notifications failed for good (but the digests themselves).
func (s *Store) DueAlerts(ctx context.Context, now time.Time, after time.Duration) ([]DueAlert, error) {
	cutoff := formatTime(now.Add(-after))
	queries := []struct {
		rule AlertRule
		sql  string
		args []any
	}{
		{AlertReview, `SELECT 'review:' || r.id, r.id, r.id, r.serial, r.reason_code, r.created_at, ''
			FROM requests r WHERE r.state = 'rejected' AND r.created_at <= ? ORDER BY r.id`, []any{cutoff}},
		{AlertNotExecuted, `SELECT 'execution:' || j.id, j.request_id, j.id, j.serial, '', m.received_at, j.last_error
			FROM revocation_jobs j JOIN requests r ON r.id = j.request_id JOIN mails m ON m.id = r.mail_id
			WHERE j.state <> 'done' AND m.received_at <= ? ORDER BY j.id`, []any{cutoff}},
		{AlertJobFailed, `SELECT 'job-failed:' || j.id || ':' || j.updated_at, j.request_id, j.id, j.serial, '', j.updated_at, j.last_error
			FROM revocation_jobs j WHERE j.state = 'failed' ORDER BY j.id`, nil},
		{AlertMailFailed, `SELECT 'mail-failed:' || o.id, IFNULL(o.request_id, 0), o.id, '', '',
			CASE WHEN o.updated_at <> '' THEN o.updated_at ELSE o.next_attempt_at END, o.last_error
			FROM outbox o WHERE o.state = 'failed' AND o.kind <> ? ORDER BY o.id`, []any{KindOperatorAlert}},
	}
	var out []DueAlert
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		for _, q := range queries {
			rows, err := tx.QueryContext(ctx, q.sql, q.args...)
			if err != nil {
				return fmt.Errorf("%s alerts: %w", q.rule, err)
			}
			for rows.Next() {
				a := DueAlert{Rule: q.rule}
				var since string
				if err := rows.Scan(&a.Key, &a.RequestID, &a.ID, &a.Serial, &a.Code, &since, &a.Detail); err != nil {
					rows.Close()
					return err
				}
				if a.Since, err = parseTime(since); err != nil {
					rows.Close()
					return fmt.Errorf("%s alert %s: %w", q.rule, a.Key, err)
				}
				out = append(out, a)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		for i := range out {
			err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM alerted WHERE item = ?)`, out[i].Key).Scan(&out[i].Alerted)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the due alerts: %w", err)
	}
	return out, nil
}

// LastDigest returns when the last operators' digest was queued, or the
// zero time.
func (s *Store) LastDigest(ctx context.Context) (time.Time, error) {
	var last sql.NullString
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(created_at) FROM outbox WHERE kind = ?`, KindOperatorAlert).Scan(&last); err != nil {
		return time.Time{}, fmt.Errorf("reading the last digest: %w", err)
	}
	return parseNullTime(last)
}

// RecordDigest queues the digest mails and records the items they name
// as alerted, in one transaction.
func (s *Store) RecordDigest(ctx context.Context, keys []string, msgs []OutboxMessage) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		ids, err := EnqueueTx(ctx, tx, now, ActorNotify, msgs...)
		if err != nil {
			return err
		}
		var first any
		if len(ids) > 0 {
			first = ids[0]
		}
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO alerted (item, outbox_id, alerted_at) VALUES (?, ?, ?)`,
				k, first, formatTime(now)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queueing the operators' digest: %w", err)
	}
	return nil
}
