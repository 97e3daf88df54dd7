package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Ready reports whether the store can take the worker's next write. A
// PostgreSQL store is ready when the database answers. An SQLite store is
// when its
// file is still where it was opened (not removed or moved away behind the
// open connections, which would go on writing to a file nobody sees), it
// and its folder are writable, and the database answers. The error says
// which.
func (s *Store) Ready(ctx context.Context) error {
	if s.path == "" {
		var one int
		if err := s.db.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations LIMIT 1`).Scan(&one); err != nil {
			return fmt.Errorf("the PostgreSQL store: %w", err)
		}
		return nil
	}
	st, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("%s: %w", s.path, unwrapPath(err))
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a file", s.path)
	}
	for _, p := range []string{s.path, filepath.Dir(s.path)} {
		if !canWrite(p) {
			return fmt.Errorf("%s is not writable", p)
		}
	}
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations LIMIT 1`).Scan(&one); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// RequestCount is how many requests are in one state with one reason code.
type RequestCount struct {
	State      string
	ReasonCode string // "" when accepted
	N          int
}

// Depths counts the store's queues by state, for metrics.
type Depths struct {
	Requests []RequestCount
	Jobs     map[string]int // revocation jobs by state
	Outbox   map[string]int // notifications by state
	// Verifications are the archived mails to verify, by state.
	Verifications map[string]int
}

// Depths counts the requests (by state and reason code), the revocation
// jobs and the outbox (by state).
func (s *Store) Depths(ctx context.Context) (Depths, error) {
	var d Depths
	rows, err := s.db.QueryContext(ctx, `SELECT state, reason_code, COUNT(*) FROM requests GROUP BY state, reason_code`)
	if err != nil {
		return d, fmt.Errorf("counting requests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c RequestCount
		if err := rows.Scan(&c.State, &c.ReasonCode, &c.N); err != nil {
			return d, fmt.Errorf("counting requests: %w", err)
		}
		d.Requests = append(d.Requests, c)
	}
	if err := rows.Err(); err != nil {
		return d, fmt.Errorf("counting requests: %w", err)
	}
	if d.Jobs, err = s.jobs.depth(ctx, s.db); err != nil {
		return d, fmt.Errorf("counting revocation jobs: %w", err)
	}
	if d.Outbox, err = s.outbox.depth(ctx, s.db); err != nil {
		return d, fmt.Errorf("counting the outbox: %w", err)
	}
	if d.Verifications, err = s.verifications.depth(ctx, s.db); err != nil {
		return d, fmt.Errorf("counting verifications: %w", err)
	}
	return d, nil
}
