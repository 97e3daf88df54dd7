package queue

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Kinds of evidence.
const (
	EvidenceMail     = "eml"
	EvidencePDF      = "pdf"
	EvidenceReport   = "report"
	EvidenceDecision = "decision"
	// EvidenceMailOrigin is the JSON of an ingest.Evidence: what a mail
	// says of its origin (S/MIME, DKIM, Authentication-Results).
	EvidenceMailOrigin = "mail-evidence"
)

// ErrNotFound is returned when a mail, request, job or piece of evidence
// does not exist.
var ErrNotFound = errors.New("not found")

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// putEvidence stores b under its SHA-256 unless it is there already, and
// returns the hash.
func putEvidence(ctx context.Context, tx *sql.Tx, kind string, b []byte, at time.Time) (string, error) {
	sum := sha256Hex(b)
	if _, err := tx.ExecContext(ctx, `INSERT INTO evidence (sha256, kind, bytes, size, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING`, sum, kind, b, len(b), formatTime(at)); err != nil {
		return "", fmt.Errorf("storing %s evidence %s: %w", kind, sum, err)
	}
	return sum, nil
}

// putOptionalEvidence is putEvidence for a piece a request may lack: it
// stores nothing and returns "" when b is empty.
func putOptionalEvidence(ctx context.Context, tx *sql.Tx, kind string, b []byte, at time.Time) (string, error) {
	if len(b) == 0 {
		return "", nil
	}
	return putEvidence(ctx, tx, kind, b, at)
}

// Evidence returns the stored bytes whose SHA-256 is sum (lower-case hex),
// and their kind (EvidenceMail, EvidencePDF, ...). It returns ErrNotFound
// when nothing is stored under sum.
func (s *Store) Evidence(ctx context.Context, sum string) (b []byte, kind string, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT bytes, kind FROM evidence WHERE sha256 = ?`, sum).Scan(&b, &kind)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", fmt.Errorf("evidence %s: %w", sum, ErrNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading evidence %s: %w", sum, err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, kind, nil
}
