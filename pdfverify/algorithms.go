package pdfverify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"
)

// AlgorithmRule allows one algorithm, from a minimum size, up to a date:
// one line of the dated table of ETSI TS 119 312 and of the
// AlgoExpirationDate list of a DSS validation policy.
type AlgorithmRule struct {
	// Algorithm is a key algorithm ("RSA", "ECDSA", "Ed25519") or a digest
	// ("SHA-1", "SHA-224", "SHA-256", "SHA-384", "SHA-512").
	Algorithm string
	// MinBits is, for a key algorithm, the smallest size the rule covers:
	// the RSA modulus, the size of an ECDSA curve (256 for P-256). A key is
	// judged by the rule of its algorithm with the largest MinBits at or
	// below its size. Zero for digests.
	MinBits int
	// Until is the last instant the algorithm is allowed at; zero means no
	// end date.
	Until time.Time
}

// AlgorithmTable is the set of algorithms every key and every digest a
// verification relies on must meet at the time it is judged at. An
// algorithm, or a key size, that no rule covers is never allowed.
type AlgorithmTable []AlgorithmRule

// endOfDay returns the last instant of the UTC day of the date y-m-d.
func endOfDay(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC).Add(-time.Nanosecond)
}

// DefaultAlgorithms is the table used when Options.Algorithms is empty:
// the rules of the French RGS, annexe B1 (ANSSI), which ETSI TS 119 312
// agrees with for signatures.
//   - RSA: 2048 bits until the end of 2030 (RGS RègleFact-1), then 3072
//     bits, which stays allowed with no end date (RègleFact-2, and TS 119
//     312's recommendation beyond 2030). RSA keys of 1024 to 2047 bits are
//     listed with the end of 2013, when NIST SP 800-131A retired them for
//     signatures, so that an old, timestamped signature is told from a
//     recent one in the report; they are refused today either way.
//   - ECDSA on curves of at least 256 bits: P-256, P-384, P-521 (RGS
//     RègleECp-1). P-224 is never allowed. Brainpool curves are not
//     listed: crypto/x509 cannot read their keys, so such certificates are
//     refused before this table is consulted.
//   - Digests of 256 bits or more: SHA-256, SHA-384, SHA-512 (RGS
//     RègleHash-1). SHA-1 is listed until the end of 2013 like RSA-1024;
//     SHA-224 and MD5 are never allowed.
var DefaultAlgorithms = AlgorithmTable{
	{Algorithm: "RSA", MinBits: 1024, Until: endOfDay(2013, time.December, 31)},
	{Algorithm: "RSA", MinBits: 2048, Until: endOfDay(2030, time.December, 31)},
	{Algorithm: "RSA", MinBits: 3072},
	{Algorithm: "ECDSA", MinBits: 256},
	{Algorithm: "SHA-1", Until: endOfDay(2013, time.December, 31)},
	{Algorithm: "SHA-256"},
	{Algorithm: "SHA-384"},
	{Algorithm: "SHA-512"},
}

// keyAlgorithms and digestAlgorithms are the names an AlgorithmRule may use.
var (
	keyAlgorithms    = []string{"RSA", "ECDSA", "Ed25519"}
	digestAlgorithms = []string{"MD5", "SHA-1", "SHA-224", "SHA-256", "SHA-384", "SHA-512"}
)

// Validate reports a rule that names an unknown algorithm, a key
// algorithm without MinBits, or a digest with one.
func (t AlgorithmTable) Validate() error {
	for _, r := range t {
		switch {
		case slices.Contains(keyAlgorithms, r.Algorithm):
			if r.MinBits <= 0 {
				return fmt.Errorf("algorithm rule %s: a key algorithm needs a positive MinBits", r.Algorithm)
			}
		case slices.Contains(digestAlgorithms, r.Algorithm):
			if r.MinBits != 0 {
				return fmt.Errorf("algorithm rule %s: a digest takes no MinBits", r.Algorithm)
			}
		default:
			return fmt.Errorf("algorithm rule %q: unknown algorithm (want one of %s, %s)", r.Algorithm,
				strings.Join(keyAlgorithms, ", "), strings.Join(digestAlgorithms, ", "))
		}
	}
	return nil
}

// rule returns the rule that judges algorithm alg of size bits (zero for a
// digest), if any.
func (t AlgorithmTable) rule(alg string, bits int) (AlgorithmRule, bool) {
	var best AlgorithmRule
	found := false
	for _, r := range t {
		if r.Algorithm == alg && r.MinBits <= bits && (!found || r.MinBits > best.MinBits) {
			best, found = r, true
		}
	}
	return best, found
}

// part names what uses an algorithm; it is formatted only when reported.
type part struct {
	what string            // "the CMS digest", or the part of cert: "key", "signature"
	role string            // with cert: "signer", "CA", "TSA", "its signer"
	cert *x509.Certificate // nil for a part of no certificate
}

func (p part) String() string {
	if p.cert == nil {
		return p.what
	}
	return fmt.Sprintf("%s certificate %q's %s", p.role, p.cert.Subject.CommonName, p.what)
}

// use is one algorithm as used: a digest, or a key algorithm and size.
type use struct {
	alg   string
	bits  int    // keys only
	curve string // ECDSA only
}

func (u use) String() string {
	switch {
	case u.curve != "":
		return "ECDSA " + u.curve
	case u.bits > 0 && u.alg == "RSA":
		return fmt.Sprintf("RSA-%d", u.bits)
	}
	return u.alg
}

// weakAlgorithm says why an algorithm is not allowed at a time.
type weakAlgorithm struct {
	what  part
	name  string    // "RSA-1024", "SHA-1", "ECDSA P-224"
	until time.Time // zero: never allowed
}

func (w weakAlgorithm) String() string {
	if w.until.IsZero() {
		return fmt.Sprintf("%s uses %s, which the algorithm rules never allow", w.what, w.name)
	}
	return fmt.Sprintf("%s uses %s, allowed only until %s", w.what, w.name, w.until.UTC().Format(time.DateOnly))
}

// material collects what a check relies on and judges it at one time.
type material struct {
	table AlgorithmTable
	at    time.Time
	weak  []weakAlgorithm
	used  []use
}

func (m *material) judge(what part, u use) {
	if !slices.Contains(m.used, u) {
		m.used = append(m.used, u)
	}
	r, ok := m.table.rule(u.alg, u.bits)
	switch {
	case !ok:
		m.weak = append(m.weak, weakAlgorithm{what: what, name: u.String()})
	case !r.Until.IsZero() && m.at.After(r.Until):
		m.weak = append(m.weak, weakAlgorithm{what: what, name: u.String(), until: r.Until})
	}
}

// key judges a public key.
func (m *material) key(what part, pub crypto.PublicKey) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		m.judge(what, use{alg: "RSA", bits: k.N.BitLen()})
	case *ecdsa.PublicKey:
		p := k.Curve.Params()
		m.judge(what, use{alg: "ECDSA", bits: p.BitSize, curve: p.Name})
	case ed25519.PublicKey:
		m.judge(what, use{alg: "Ed25519", bits: 256})
	default:
		m.weak = append(m.weak, weakAlgorithm{what: what, name: fmt.Sprintf("a %T key", pub)})
	}
}

// digest judges a hash function.
func (m *material) digest(what part, h crypto.Hash) {
	m.judge(what, use{alg: hashName(h)})
}

// signatureAlgorithm judges the digest of an X.509 signature algorithm
// (of a certificate, a CRL, an OCSP response); the key is judged apart.
func (m *material) signatureAlgorithm(what part, alg x509.SignatureAlgorithm) {
	switch alg {
	case x509.PureEd25519:
		return // Ed25519 hashes internally; its key is judged
	case x509.MD5WithRSA:
		m.judge(what, use{alg: "MD5"})
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1:
		m.judge(what, use{alg: "SHA-1"})
	case x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.ECDSAWithSHA256, x509.DSAWithSHA256:
		m.judge(what, use{alg: "SHA-256"})
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		m.judge(what, use{alg: "SHA-384"})
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		m.judge(what, use{alg: "SHA-512"})
	default:
		m.weak = append(m.weak, weakAlgorithm{what: what, name: "signature algorithm " + alg.String()})
	}
}

// chain judges every certificate of a chain, leaf first, that the
// verification relies on: the key of each (the anchor's signs the next
// one) and the signature of each but the anchor, whose self-signature
// proves nothing.
func (m *material) chain(role string, chain []*x509.Certificate) {
	for i, c := range chain {
		r := role
		if i > 0 {
			r = "CA"
		}
		m.key(part{what: "key", role: r, cert: c}, c.PublicKey)
		if i < len(chain)-1 {
			m.signatureAlgorithm(part{what: "signature", role: r, cert: c}, c.SignatureAlgorithm)
		}
	}
}

func (m *material) problem() string {
	parts := make([]string, len(m.weak))
	for i, w := range m.weak {
		parts[i] = w.String()
	}
	return strings.Join(parts, "; ")
}

// allowed lists the algorithms used, for the detail of a passed check.
func (m *material) allowed() string {
	names := make([]string, len(m.used))
	for i, u := range m.used {
		names[i] = u.String()
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func hashName(h crypto.Hash) string {
	switch h {
	case crypto.MD5:
		return "MD5"
	case crypto.SHA1:
		return "SHA-1"
	case crypto.SHA224:
		return "SHA-224"
	case crypto.SHA256:
		return "SHA-256"
	case crypto.SHA384:
		return "SHA-384"
	case crypto.SHA512:
		return "SHA-512"
	}
	return h.String()
}

// cryptoSubIndication is the sub-indication of material below the rules:
// without a proof of existence (a trusted signature timestamp), ETSI EN
// 319 102-1's CRYPTO_CONSTRAINTS_FAILURE_NO_POE; with one,
// CRYPTO_CONSTRAINTS_FAILURE.
func cryptoSubIndication(poe bool) SubIndication {
	if poe {
		return CryptoConstraintsFailure
	}
	return CryptoConstraintsFailed
}

// checkSignatureAlgorithms judges the signature's own material (CMS
// digest, signer key, every certificate of its chain) at the validation
// time (the timestamp's time when a trusted one proves the signature
// existed then, poe) and at the current time.
//
// QUIRK: EN 319 102-1's past signature validation would let a signature
// pass whose algorithms were allowed at a proven earlier time. A revocation
// request acts now, on a certificate still in use, so revokd refuses it
// as CRYPTO_CONSTRAINTS_FAILURE: the proof of existence changes the
// sub-indication, never the refusal.
func (v *verification) checkSignatureAlgorithms(sc *sigCheck, digest crypto.Hash, chain []*x509.Certificate, at time.Time, poe bool) bool {
	judge := func(when time.Time) *material {
		m := &material{table: v.o.Algorithms, at: when}
		m.digest(part{what: "the CMS digest"}, digest)
		m.chain("signer", chain)
		return m
	}
	m := judge(at)
	stamp := at.UTC().Format(time.RFC3339)
	if len(m.weak) > 0 {
		sc.fail("algorithms", cryptoSubIndication(poe), fmt.Sprintf("at %s, %s", stamp, m.problem()))
		return false
	}
	if poe {
		now := v.o.CurrentTime
		if later := judge(now); len(later.weak) > 0 {
			sc.fail("algorithms", CryptoConstraintsFailure, fmt.Sprintf(
				"allowed at the timestamp's time %s, but at %s, %s", stamp, now.UTC().Format(time.RFC3339), later.problem()))
			return false
		}
	}
	sc.pass("algorithms", m.allowed()+" allowed at "+stamp)
	return true
}

// revocationAlgorithms returns the judge of the CRLs and OCSP responses:
// they have no proof of existence of their own, so their algorithms must
// be allowed at the current time.
func (v *verification) revocationAlgorithms() func(alg x509.SignatureAlgorithm, signer *x509.Certificate) error {
	return func(alg x509.SignatureAlgorithm, signer *x509.Certificate) error {
		m := &material{table: v.o.Algorithms, at: v.o.CurrentTime}
		m.signatureAlgorithm(part{what: "its signature"}, alg)
		m.key(part{what: "key", role: "its signer", cert: signer}, signer.PublicKey)
		if len(m.weak) > 0 {
			return fmt.Errorf("%s", m.problem())
		}
		return nil
	}
}
