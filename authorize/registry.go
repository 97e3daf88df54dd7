// Package authorize decides whether the signer of a verified revocation
// request may revoke the certificate the request names, from a registry of
// the certificates the CA issued and of the legal representatives of the
// organisations they belong to.
//
// Decide trusts what it is given: the pdfverify.Report must come from
// pdfverify (it refuses any report that is not TOTAL_PASSED), and the
// registry must hold what the CA really issued and the representatives it
// really registered. It does not read PDF bytes, fetch anything, or revoke
// anything: it returns a Decision that the caller records.
//
// The registry is filled by ImportCertificates and ImportRepresentatives.
package authorize

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"sort"
	"strings"
	"sync"
	"time"
)

// Registry is what Decide reads. The store implements it.
type Registry interface {
	// CertificatesBySerial returns every registered certificate with this
	// serial number, whatever its issuer (two CAs may use the same serial),
	// and an empty slice when there is none.
	CertificatesBySerial(ctx context.Context, serial *big.Int) ([]Certificate, error)
	// RepresentativesBySIREN returns every registered legal representative
	// of the organisation, past mandates included.
	RepresentativesBySIREN(ctx context.Context, siren string) ([]Representative, error)
}

// RegistryWriter is what the importers write to. Both methods are upserts
// keyed as the store's unique constraints are, and say what they did.
type RegistryWriter interface {
	// UpsertCertificate registers c, keyed by issuer DN and serial. It
	// returns ErrConflict when another certificate (another fingerprint) is
	// registered under the same key. See MergeCertificate.
	UpsertCertificate(ctx context.Context, c Certificate) (Change, error)
	// UpsertRepresentative registers r, keyed by SIREN, normalised e-mail
	// and ValidFrom. See MergeRepresentative.
	UpsertRepresentative(ctx context.Context, r Representative) (Change, error)
}

// Change says what an upsert did.
type Change int

// The outcomes of an upsert.
const (
	Unchanged Change = iota
	Added
	Changed
)

func (c Change) String() string {
	switch c {
	case Added:
		return "added"
	case Changed:
		return "changed"
	}
	return "unchanged"
}

// ErrConflict is returned by UpsertCertificate when the registry already
// holds a different certificate with the same issuer and serial. A CA never
// issues two, so one of the two files is not what it claims to be.
var ErrConflict = errors.New("another certificate with the same issuer and serial is registered")

// Certificate is one certificate issued by the CA, as the registry knows it.
type Certificate struct {
	Serial *big.Int
	// IssuerDN and SubjectDN are the names as crypto/x509's
	// pkix.Name.String formats them (RFC 2253 order).
	IssuerDN, SubjectDN string
	// Email is the first rfc822Name of the subject alternative names, else
	// the subject's emailAddress attribute.
	Email      string
	Surname    string
	GivenName  string
	CommonName string
	// IdentitySerial is the subject's SERIALNUMBER attribute: the holder's
	// identifier at the CA, the same in all of their certificates.
	IdentitySerial string
	Organization   string
	// SIREN is the organisation's 9-digit number, from an OU "0002 <SIREN>"
	// or an organizationIdentifier "NTRFR-<SIREN>" (the first 9 digits of a
	// SIRET there); empty for a certificate of no organisation.
	SIREN               string
	NotBefore, NotAfter time.Time
	// Revoked is sticky: once registered as revoked, a certificate stays so.
	Revoked   bool
	RevokedAt time.Time
	// SHA256 is the certificate's fingerprint, lower-case hex.
	SHA256 string
	DER    []byte
}

// Representative is a legal representative of an organisation, registered by
// the CA, for the period of their mandate.
type Representative struct {
	SIREN     string
	Surname   string
	GivenName string
	Email     string
	// ValidFrom is midnight, in France, of the first day of the mandate.
	ValidFrom time.Time
	// ValidTo is midnight, in France, of the last day of the mandate (the
	// whole day is covered); nil while the representative is in office.
	ValidTo *time.Time
}

// Covers reports whether the mandate covers the instant t.
func (r Representative) Covers(t time.Time) bool {
	if t.Before(r.ValidFrom) {
		return false
	}
	return r.ValidTo == nil || t.Before(r.ValidTo.In(registerLocation()).AddDate(0, 0, 1))
}

// Key returns the registry's unique key for r: SIREN, normalised e-mail and
// first day of the mandate.
func (r Representative) Key() string {
	return r.SIREN + "|" + NormalizeEmail(r.Email) + "|" + r.ValidFrom.In(registerLocation()).Format(dateLayout)
}

// NormalizeEmail returns the form of an e-mail address that revokd compares:
// trimmed, with ASCII letters in lower case. QUIRK: RFC 5321 lets the local
// part be case sensitive, but no mail system the CA's holders use makes that
// distinction, and people type their address in any case. Only ASCII is
// folded: Unicode case rules map other characters onto ASCII letters (the
// Kelvin sign U+212A onto "k"), which would make two mailboxes one.
func NormalizeEmail(s string) string {
	b := []byte(strings.TrimSpace(s))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// MergeCertificate returns what the registry holds after registering next
// where old was registered under the same key, and what changed. The
// revocation state never goes back: a re-import without the CRL that listed
// the certificate leaves it revoked. It returns ErrConflict when both carry a
// fingerprint and they differ.
func MergeCertificate(old, next Certificate) (Certificate, Change, error) {
	if old.SHA256 != "" && next.SHA256 != "" && old.SHA256 != next.SHA256 {
		return old, Unchanged, ErrConflict
	}
	merged := next
	if old.Revoked {
		merged.Revoked = true
		merged.RevokedAt = old.RevokedAt
		if merged.RevokedAt.IsZero() {
			merged.RevokedAt = next.RevokedAt
		}
	}
	if len(merged.DER) == 0 {
		merged.DER = old.DER
	}
	if merged.SHA256 == "" {
		merged.SHA256 = old.SHA256
	}
	if sameCertificateRecord(old, merged) {
		return old, Unchanged, nil
	}
	return merged, Changed, nil
}

func sameCertificateRecord(a, b Certificate) bool {
	return cmpSerial(a.Serial, b.Serial) == 0 &&
		a.IssuerDN == b.IssuerDN && a.SubjectDN == b.SubjectDN &&
		a.Email == b.Email && a.Surname == b.Surname && a.GivenName == b.GivenName &&
		a.CommonName == b.CommonName && a.IdentitySerial == b.IdentitySerial &&
		a.Organization == b.Organization && a.SIREN == b.SIREN &&
		a.NotBefore.Equal(b.NotBefore) && a.NotAfter.Equal(b.NotAfter) &&
		a.Revoked == b.Revoked && a.RevokedAt.Equal(b.RevokedAt) &&
		a.SHA256 == b.SHA256 && bytes.Equal(a.DER, b.DER)
}

func cmpSerial(a, b *big.Int) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return a.Cmp(b)
}

// MergeRepresentative returns what the registry holds after registering
// next where old was registered under the same key, and what changed: the
// last import wins (a new valid_to ends a mandate, a corrected name
// replaces the old one).
func MergeRepresentative(old, next Representative) (Representative, Change) {
	same := old.SIREN == next.SIREN && old.Surname == next.Surname &&
		old.GivenName == next.GivenName && old.Email == next.Email &&
		old.ValidFrom.Equal(next.ValidFrom) &&
		((old.ValidTo == nil && next.ValidTo == nil) ||
			(old.ValidTo != nil && next.ValidTo != nil && old.ValidTo.Equal(*next.ValidTo)))
	if same {
		return old, Unchanged
	}
	return next, Changed
}

// MemoryRegistry is a Registry and RegistryWriter held in memory, for tests
// and the demo. Its zero value is empty and ready; it is safe for concurrent
// use.
type MemoryRegistry struct {
	mu    sync.Mutex
	certs map[string]Certificate
	reps  map[string]Representative
}

func certificateKey(c Certificate) string {
	return c.IssuerDN + "|" + FormatSerial(c.Serial)
}

// CertificatesBySerial implements Registry.
func (m *MemoryRegistry) CertificatesBySerial(ctx context.Context, serial *big.Int) ([]Certificate, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []Certificate{}
	for _, c := range m.certs {
		if cmpSerial(c.Serial, serial) == 0 {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IssuerDN < out[j].IssuerDN })
	return out, nil
}

// RepresentativesBySIREN implements Registry.
func (m *MemoryRegistry) RepresentativesBySIREN(ctx context.Context, siren string) ([]Representative, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []Representative{}
	for _, r := range m.reps {
		if r.SIREN == siren {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out, nil
}

// UpsertCertificate implements RegistryWriter.
func (m *MemoryRegistry) UpsertCertificate(ctx context.Context, c Certificate) (Change, error) {
	if c.Serial == nil {
		return Unchanged, errors.New("certificate without a serial number")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.certs == nil {
		m.certs = make(map[string]Certificate)
	}
	k := certificateKey(c)
	old, ok := m.certs[k]
	if !ok {
		m.certs[k] = c
		return Added, nil
	}
	merged, ch, err := MergeCertificate(old, c)
	if err != nil {
		return Unchanged, err
	}
	m.certs[k] = merged
	return ch, nil
}

// UpsertRepresentative implements RegistryWriter.
func (m *MemoryRegistry) UpsertRepresentative(ctx context.Context, r Representative) (Change, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reps == nil {
		m.reps = make(map[string]Representative)
	}
	k := r.Key()
	old, ok := m.reps[k]
	if !ok {
		m.reps[k] = r
		return Added, nil
	}
	merged, ch := MergeRepresentative(old, r)
	m.reps[k] = merged
	return ch, nil
}
