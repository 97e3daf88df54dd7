package queue

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// AcquireLease takes or renews the lease called name for holder until ttl
// from now. It returns false when another holder has the lease and it has
// not expired.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" {
		return false, errors.New("acquiring a lease: empty name or holder")
	}
	if ttl <= 0 {
		return false, fmt.Errorf("acquiring lease %q: ttl %v must be positive", name, ttl)
	}
	now := s.now()
	// One statement: insert, renew our own, or take over an expired one.
	res, err := s.db.ExecContext(ctx, `INSERT INTO leases (name, holder, until) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
		WHERE leases.holder = excluded.holder OR leases.until <= ?`,
		name, holder, formatTime(now.Add(ttl)), formatTime(now))
	if err != nil {
		return false, fmt.Errorf("acquiring lease %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("acquiring lease %q: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease gives up the lease called name if holder has it, so that
// another holder need not wait for it to expire.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return fmt.Errorf("releasing lease %q: %w", name, err)
	}
	return nil
}
