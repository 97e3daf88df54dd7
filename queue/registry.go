package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/revokd/revokd/authorize"
)

// Store is the registry Decide reads and the importers write.
var (
	_ authorize.Registry       = (*Store)(nil)
	_ authorize.RegistryWriter = (*Store)(nil)
)

const certificateColumns = `issuer_dn, serial, subject_dn, email, surname, given_name, common_name,
	identity_serial, organization, siren, not_before, not_after, revoked, revoked_at, sha256, der`

// CertificatesBySerial implements authorize.Registry.
func (s *Store) CertificatesBySerial(ctx context.Context, serial *big.Int) ([]authorize.Certificate, error) {
	if serial == nil {
		return nil, errors.New("looking up certificates: no serial")
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+certificateColumns+` FROM certificates WHERE serial = ? ORDER BY issuer_dn`,
		authorize.FormatSerial(serial))
	if err != nil {
		return nil, fmt.Errorf("looking up serial %s: %w", authorize.FormatSerial(serial), err)
	}
	defer rows.Close()
	out := []authorize.Certificate{}
	for rows.Next() {
		c, err := scanCertificate(rows)
		if err != nil {
			return nil, fmt.Errorf("looking up serial %s: %w", authorize.FormatSerial(serial), err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("looking up serial %s: %w", authorize.FormatSerial(serial), err)
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanCertificate(row scanner) (authorize.Certificate, error) {
	var (
		c                   authorize.Certificate
		serial              string
		notBefore, notAfter string
		revokedAt           sql.NullString
	)
	err := row.Scan(&c.IssuerDN, &serial, &c.SubjectDN, &c.Email, &c.Surname, &c.GivenName, &c.CommonName,
		&c.IdentitySerial, &c.Organization, &c.SIREN, &notBefore, &notAfter, &c.Revoked, &revokedAt, &c.SHA256, &c.DER)
	if err != nil {
		return c, err
	}
	var ok bool
	if c.Serial, ok = new(big.Int).SetString(serial, 16); !ok {
		return c, fmt.Errorf("stored serial %q is not hexadecimal", serial)
	}
	if c.NotBefore, err = parseTime(notBefore); err != nil {
		return c, fmt.Errorf("stored not_before: %w", err)
	}
	if c.NotAfter, err = parseTime(notAfter); err != nil {
		return c, fmt.Errorf("stored not_after: %w", err)
	}
	if revokedAt.Valid {
		if c.RevokedAt, err = parseTime(revokedAt.String); err != nil {
			return c, fmt.Errorf("stored revoked_at: %w", err)
		}
	}
	return c, nil
}

// certificateArgs are c's values in the order of certificateColumns.
func certificateArgs(c authorize.Certificate) []any {
	var revokedAt any
	if c.Revoked && !c.RevokedAt.IsZero() {
		revokedAt = formatTime(c.RevokedAt)
	}
	return []any{c.IssuerDN, authorize.FormatSerial(c.Serial), c.SubjectDN, c.Email, c.Surname, c.GivenName,
		c.CommonName, c.IdentitySerial, c.Organization, c.SIREN, formatTime(c.NotBefore), formatTime(c.NotAfter),
		c.Revoked, revokedAt, c.SHA256, c.DER}
}

// ActorRegistry is the actor of the audit rows of registry changes. The
// importers do not say who runs them (authorize.RegistryWriter has no
// actor), so the rows name what changed, not who.
const ActorRegistry = "registry"

// certificateSubject is the audit subject of a registered certificate:
// its serial (hex, so without a colon) then its issuer's DN.
func certificateSubject(c authorize.Certificate) string {
	return "certificate:" + authorize.FormatSerial(c.Serial) + ":" + c.IssuerDN
}

// certificateAuditFields are c's fields as the audit log shows them: the
// DER by its length only, since the fingerprint already names it.
func certificateAuditFields(c authorize.Certificate) map[string]any {
	var revokedAt any
	if c.Revoked && !c.RevokedAt.IsZero() {
		revokedAt = formatTime(c.RevokedAt)
	}
	return map[string]any{
		"issuerDN": c.IssuerDN, "serial": authorize.FormatSerial(c.Serial), "subjectDN": c.SubjectDN,
		"email": c.Email, "surname": c.Surname, "givenName": c.GivenName, "commonName": c.CommonName,
		"identitySerial": c.IdentitySerial, "organization": c.Organization, "siren": c.SIREN,
		"notBefore": formatTime(c.NotBefore), "notAfter": formatTime(c.NotAfter),
		"revoked": c.Revoked, "revokedAt": revokedAt, "sha256": c.SHA256, "derLength": len(c.DER),
	}
}

// fieldChanges returns, for each field whose value differs between old
// and next, {"old": ..., "new": ...}.
func fieldChanges(old, next map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range next {
		if old[k] != v {
			out[k] = map[string]any{"old": old[k], "new": v}
		}
	}
	return out
}

// UpsertCertificate implements authorize.RegistryWriter, with the merge
// rules of authorize.MergeCertificate. A certificate added or changed
// leaves an audit row (actor ActorRegistry, action certificate.added or
// certificate.changed with the old and new values of what changed) in the
// same transaction: the registry says who may revoke what.
func (s *Store) UpsertCertificate(ctx context.Context, c authorize.Certificate) (authorize.Change, error) {
	if c.Serial == nil || c.Serial.Sign() <= 0 {
		return authorize.Unchanged, errors.New("registering a certificate: no valid serial")
	}
	// Stored times have nanosecond precision in UTC; compare like with like.
	c.NotBefore, c.NotAfter = c.NotBefore.UTC(), c.NotAfter.UTC()
	if !c.Revoked {
		c.RevokedAt = time.Time{}
	}
	serial := authorize.FormatSerial(c.Serial)
	var change authorize.Change
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		at := s.now()
		now := formatTime(at)
		old, err := scanCertificate(tx.QueryRowContext(ctx,
			`SELECT `+certificateColumns+` FROM certificates WHERE issuer_dn = ? AND serial = ?`, c.IssuerDN, serial))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			args := append(certificateArgs(c), now, now)
			if _, err := tx.ExecContext(ctx, `INSERT INTO certificates (`+certificateColumns+`, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...); err != nil {
				return err
			}
			change = authorize.Added
			return appendAudit(ctx, tx, at, ActorRegistry, "certificate.added", certificateSubject(c), certificateAuditFields(c))
		case err != nil:
			return err
		}
		merged, ch, err := authorize.MergeCertificate(old, c)
		if err != nil {
			return err // ErrConflict: the importer says which serial and file
		}
		if ch == authorize.Unchanged {
			return nil
		}
		args := append(certificateArgs(merged), now, merged.IssuerDN, authorize.FormatSerial(merged.Serial))
		if _, err := tx.ExecContext(ctx, `UPDATE certificates SET (`+certificateColumns+`, updated_at)
			= (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE issuer_dn = ? AND serial = ?`, args...); err != nil {
			return err
		}
		change = ch
		return appendAudit(ctx, tx, at, ActorRegistry, "certificate.changed", certificateSubject(merged), map[string]any{
			"issuerDN": merged.IssuerDN, "serial": serial,
			"changes": fieldChanges(certificateAuditFields(old), certificateAuditFields(merged)),
		})
	})
	if err != nil {
		if errors.Is(err, authorize.ErrConflict) {
			return authorize.Unchanged, err
		}
		return authorize.Unchanged, fmt.Errorf("registering serial %s: %w", serial, err)
	}
	return change, nil
}

// RepresentativesBySIREN implements authorize.Registry.
func (s *Store) RepresentativesBySIREN(ctx context.Context, siren string) ([]authorize.Representative, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT siren, surname, given_name, email, valid_from, valid_to
		FROM representatives WHERE siren = ? ORDER BY valid_from, email_norm`, siren)
	if err != nil {
		return nil, fmt.Errorf("looking up representatives of %s: %w", siren, err)
	}
	defer rows.Close()
	out := []authorize.Representative{}
	for rows.Next() {
		r, err := scanRepresentative(rows)
		if err != nil {
			return nil, fmt.Errorf("looking up representatives of %s: %w", siren, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("looking up representatives of %s: %w", siren, err)
	}
	return out, nil
}

func scanRepresentative(row scanner) (authorize.Representative, error) {
	var (
		r         authorize.Representative
		validFrom string
		validTo   sql.NullString
	)
	if err := row.Scan(&r.SIREN, &r.Surname, &r.GivenName, &r.Email, &validFrom, &validTo); err != nil {
		return r, err
	}
	var err error
	if r.ValidFrom, err = authorize.ParseDate(validFrom); err != nil {
		return r, fmt.Errorf("stored valid_from: %w", err)
	}
	if validTo.Valid {
		end, err := authorize.ParseDate(validTo.String)
		if err != nil {
			return r, fmt.Errorf("stored valid_to: %w", err)
		}
		r.ValidTo = &end
	}
	return r, nil
}

// representativeSubject is the audit subject of a registered mandate:
// SIREN, first day and normalised e-mail, the key of the registry's row.
func representativeSubject(r authorize.Representative) string {
	return "representative:" + r.SIREN + ":" + authorize.FormatDate(r.ValidFrom) + ":" + authorize.NormalizeEmail(r.Email)
}

// representativeAuditFields are r's fields as the audit log shows them;
// validTo is null while the mandate runs.
func representativeAuditFields(r authorize.Representative) map[string]any {
	var validTo any
	if r.ValidTo != nil {
		validTo = authorize.FormatDate(*r.ValidTo)
	}
	return map[string]any{
		"siren": r.SIREN, "surname": r.Surname, "givenName": r.GivenName, "email": r.Email,
		"validFrom": authorize.FormatDate(r.ValidFrom), "validTo": validTo,
	}
}

// UpsertRepresentative implements authorize.RegistryWriter, with the merge
// rules of authorize.MergeRepresentative. A mandate added or changed
// leaves an audit row (actor ActorRegistry, action representative.added or
// representative.changed with the old and new values of what changed) in
// the same transaction: a representative may revoke every certificate of
// the organisation, and a cleared valid_to reopens an ended mandate.
func (s *Store) UpsertRepresentative(ctx context.Context, r authorize.Representative) (authorize.Change, error) {
	// Dates are stored as days: compare what will be read back.
	var err error
	if r.ValidFrom, err = authorize.ParseDate(authorize.FormatDate(r.ValidFrom)); err != nil {
		return authorize.Unchanged, err
	}
	var validTo any
	if r.ValidTo != nil {
		end, err := authorize.ParseDate(authorize.FormatDate(*r.ValidTo))
		if err != nil {
			return authorize.Unchanged, err
		}
		r.ValidTo = &end
		validTo = authorize.FormatDate(end)
	}
	emailNorm := authorize.NormalizeEmail(r.Email)
	validFrom := authorize.FormatDate(r.ValidFrom)

	var change authorize.Change
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		at := s.now()
		now := formatTime(at)
		old, err := scanRepresentative(tx.QueryRowContext(ctx, `SELECT siren, surname, given_name, email, valid_from, valid_to
			FROM representatives WHERE siren = ? AND email_norm = ? AND valid_from = ?`, r.SIREN, emailNorm, validFrom))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := tx.ExecContext(ctx, `INSERT INTO representatives
				(siren, surname, given_name, email, email_norm, valid_from, valid_to, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				r.SIREN, r.Surname, r.GivenName, r.Email, emailNorm, validFrom, validTo, now, now); err != nil {
				return err
			}
			change = authorize.Added
			return appendAudit(ctx, tx, at, ActorRegistry, "representative.added", representativeSubject(r),
				representativeAuditFields(r))
		case err != nil:
			return err
		}
		if _, ch := authorize.MergeRepresentative(old, r); ch == authorize.Unchanged {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE representatives
			SET surname = ?, given_name = ?, email = ?, valid_to = ?, updated_at = ?
			WHERE siren = ? AND email_norm = ? AND valid_from = ?`,
			r.Surname, r.GivenName, r.Email, validTo, now, r.SIREN, emailNorm, validFrom); err != nil {
			return err
		}
		change = authorize.Changed
		return appendAudit(ctx, tx, at, ActorRegistry, "representative.changed", representativeSubject(r), map[string]any{
			"siren": r.SIREN, "validFrom": validFrom, "email": r.Email,
			"changes": fieldChanges(representativeAuditFields(old), representativeAuditFields(r)),
		})
	})
	if err != nil {
		return authorize.Unchanged, fmt.Errorf("registering a representative of %s: %w", r.SIREN, err)
	}
	return change, nil
}
