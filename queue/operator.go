package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Operator is an account of the review desk. The store keeps the
// credentials as given (a password hash, a TOTP key); checking them is the
// review package's work.
type Operator struct {
	Name         string
	Role         string
	PasswordHash string
	TOTPSecret   string
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func operatorSubject(name string) string { return "operator:" + name }

// AddOperator creates an account; a name already taken is
// ErrOperatorExists. actor is who created it, for the audit log.
func (s *Store) AddOperator(ctx context.Context, o Operator, actor string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM operators WHERE name = ?`, o.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%q: %w", o.Name, ErrOperatorExists)
		}
		now := s.now()
		stamp := formatTime(now)
		if _, err := tx.ExecContext(ctx, `INSERT INTO operators (name, role, password_hash, totp_secret, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)`, o.Name, o.Role, o.PasswordHash, o.TOTPSecret, stamp, stamp); err != nil {
			return err
		}
		return appendAudit(ctx, tx, now, actor, "operator.added", operatorSubject(o.Name), map[string]any{
			"role": o.Role, "totp": o.TOTPSecret != "",
		})
	})
	if err != nil {
		return fmt.Errorf("adding operator: %w", err)
	}
	return nil
}

// ResetOperator replaces an account's password hash and TOTP key (after a
// lost phone or a forgotten password); a disabled account stays disabled.
func (s *Store) ResetOperator(ctx context.Context, name, passwordHash, totpSecret, actor string) error {
	return s.updateOperator(ctx, name, actor, "operator.reset", `UPDATE operators SET password_hash = ?, totp_secret = ?, updated_at = ? WHERE name = ?`,
		passwordHash, totpSecret)
}

// DisableOperator disables an account: its sessions end at their next
// request, and it can no longer log in nor act from the command line.
func (s *Store) DisableOperator(ctx context.Context, name, actor string) error {
	return s.updateOperator(ctx, name, actor, "operator.disabled", `UPDATE operators SET disabled = 1, updated_at = ? WHERE name = ?`)
}

func (s *Store) updateOperator(ctx context.Context, name, actor, action, stmt string, args ...any) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		res, err := tx.ExecContext(ctx, stmt, append(args, formatTime(now), name)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("operator %q: %w", name, ErrNotFound)
		}
		return appendAudit(ctx, tx, now, actor, action, operatorSubject(name), map[string]any{})
	})
	if err != nil {
		return fmt.Errorf("%s %q: %w", action, name, err)
	}
	return nil
}

const operatorColumns = `name, role, password_hash, totp_secret, disabled, created_at, updated_at`

func scanOperator(row scanner) (Operator, error) {
	var (
		o                Operator
		created, updated string
	)
	if err := row.Scan(&o.Name, &o.Role, &o.PasswordHash, &o.TOTPSecret, &o.Disabled, &created, &updated); err != nil {
		return o, err
	}
	var err error
	if o.CreatedAt, err = parseTime(created); err != nil {
		return o, err
	}
	o.UpdatedAt, err = parseTime(updated)
	return o, err
}

// Operator returns the account called name, or ErrNotFound.
func (s *Store) Operator(ctx context.Context, name string) (Operator, error) {
	o, err := scanOperator(s.db.QueryRowContext(ctx, `SELECT `+operatorColumns+` FROM operators WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("operator %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return o, fmt.Errorf("reading operator %q: %w", name, err)
	}
	return o, nil
}

// Operators returns every account, by name.
func (s *Store) Operators(ctx context.Context) ([]Operator, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+operatorColumns+` FROM operators ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing operators: %w", err)
	}
	defer rows.Close()
	out := []Operator{}
	for rows.Next() {
		o, err := scanOperator(rows)
		if err != nil {
			return nil, fmt.Errorf("listing operators: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}
