package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// GenesisHash is the prev_hash of the first audit row.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Actors recorded in the audit log by the store itself.
const (
	ActorWorker   = "worker"
	ActorExecutor = "executor"
)

// AuditRecord is one row of the audit log.
type AuditRecord struct {
	Seq      int64           `json:"seq"`
	At       time.Time       `json:"at"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Subject  string          `json:"subject"` // "mail:ID", "request:ID" or "job:ID"
	Details  json.RawMessage `json:"details"`
	PrevHash string          `json:"prevHash"`
	Hash     string          `json:"hash"`
}

// auditHash returns the hash of a row: the lower-case hex SHA-256 of
// prevHash (as 64 ASCII hex digits) followed by the row's fields as
// netstrings, "<length in bytes>:<bytes>," each, in the order seq
// (decimal), at (as stored), actor, action, subject, details (the stored
// JSON text). Netstrings, not JSON, so that anyone can recompute the chain
// byte for byte in any language.
func auditHash(prevHash string, seq int64, at, actor, action, subject, details string) string {
	h := sha256.New()
	h.Write([]byte(prevHash))
	for _, f := range []string{strconv.FormatInt(seq, 10), at, actor, action, subject, details} {
		fmt.Fprintf(h, "%d:%s,", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// appendAudit adds a row to the audit log inside tx, which must hold the
// write lock (every write transaction of the store does), so that no
// other row can take the same place in the chain.
func appendAudit(ctx context.Context, tx *sql.Tx, at time.Time, actor, action, subject string, details any) error {
	// Without HTML escaping: the log is read by people, not browsers, and
	// "<1@example.fr>" reads better than "\u003c1@example.fr\u003e".
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(details); err != nil {
		return fmt.Errorf("encoding audit details: %w", err)
	}
	d := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	var (
		seq  int64
		prev string
	)
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		seq, prev = 0, GenesisHash
	case err != nil:
		return fmt.Errorf("reading the audit log's head: %w", err)
	}
	seq++
	stamp := formatTime(at)
	hash := auditHash(prev, seq, stamp, actor, action, subject, string(d))
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit (seq, at, actor, action, subject, details, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, seq, stamp, actor, action, subject, string(d), prev, hash); err != nil {
		return fmt.Errorf("appending to the audit log: %w", err)
	}
	return nil
}

// AuditError says where the audit chain breaks.
type AuditError struct {
	Seq    int64  // the first row that does not verify
	Reason string // what is wrong with it
}

func (e *AuditError) Error() string {
	return fmt.Sprintf("audit log broken at seq %d: %s", e.Seq, e.Reason)
}

// AuditHead is the end of a verified audit chain.
type AuditHead struct {
	Rows int64  // rows verified
	Seq  int64  // the last row's seq; 0 for an empty log
	Hash string // the last row's hash; GenesisHash for an empty log
}

// VerifyAudit recomputes the audit log's hash chain from its first row. It
// returns the head of the chain, or an *AuditError naming the first row
// whose seq, prev_hash or hash is not what the rows before it imply (a row
// changed, inserted or removed). Rows removed from the end cannot be seen:
// compare the head with one kept elsewhere for that.
func (s *Store) VerifyAudit(ctx context.Context) (AuditHead, error) {
	head := AuditHead{Hash: GenesisHash}
	// One statement is one snapshot: rows the worker appends meanwhile
	// are not half-seen.
	rows, err := s.db.QueryContext(ctx, `SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit ORDER BY seq`)
	if err != nil {
		return head, fmt.Errorf("reading the audit log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			seq                                                 int64
			at, actor, action, subject, details, prevHash, hash string
		)
		if err := rows.Scan(&seq, &at, &actor, &action, &subject, &details, &prevHash, &hash); err != nil {
			return head, fmt.Errorf("reading the audit log: %w", err)
		}
		switch {
		case seq != head.Seq+1:
			return head, &AuditError{Seq: seq, Reason: fmt.Sprintf("follows seq %d: rows are missing", head.Seq)}
		case prevHash != head.Hash:
			return head, &AuditError{Seq: seq, Reason: "prev_hash is not the previous row's hash"}
		case auditHash(prevHash, seq, at, actor, action, subject, details) != hash:
			return head, &AuditError{Seq: seq, Reason: "the row's content does not match its hash"}
		}
		head.Rows++
		head.Seq, head.Hash = seq, hash
	}
	if err := rows.Err(); err != nil {
		return head, fmt.Errorf("reading the audit log: %w", err)
	}
	return head, nil
}

// AuditLog returns the audit rows about the given subjects ("request:12",
// "job:3", "mail:7"), oldest first.
func (s *Store) AuditLog(ctx context.Context, subjects ...string) ([]AuditRecord, error) {
	return auditLog(ctx, s.db, subjects...)
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func auditLog(ctx context.Context, q querier, subjects ...string) ([]AuditRecord, error) {
	out := []AuditRecord{}
	if len(subjects) == 0 {
		return out, nil
	}
	args := make([]any, len(subjects))
	for i, subj := range subjects {
		args[i] = subj
	}
	rows, err := q.QueryContext(ctx, `SELECT seq, at, actor, action, subject, details, prev_hash, hash
		FROM audit WHERE subject IN (?`+strings.Repeat(", ?", len(subjects)-1)+`) ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r       AuditRecord
			at      string
			details string
		)
		if err := rows.Scan(&r.Seq, &at, &r.Actor, &r.Action, &r.Subject, &details, &r.PrevHash, &r.Hash); err != nil {
			return nil, fmt.Errorf("reading the audit log: %w", err)
		}
		if r.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("audit row %d: %w", r.Seq, err)
		}
		r.Details = json.RawMessage(details)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	return out, nil
}

func mailSubject(id int64) string    { return "mail:" + strconv.FormatInt(id, 10) }
func requestSubject(id int64) string { return "request:" + strconv.FormatInt(id, 10) }
func jobSubject(id int64) string     { return "job:" + strconv.FormatInt(id, 10) }
