// Package revocation finds the revocation status of one certificate at one
// point in time, from OCSP responses and CRLs: those embedded in the signed
// file, a folder of CRLs, and (when allowed) the certificate's own OCSP and
// CRL distribution point URLs.
//
// Security caveats. Check trusts its caller for the pair (cert, issuer):
// call it only with certificates of a chain ALREADY built to a trust
// anchor, so that the URLs it may fetch come from certificates a CA signed,
// never from a forged file. Every CRL and OCSP response, embedded or
// fetched, is authenticated against issuer before it counts. An answer that
// cannot be established is Unknown, which callers must treat as
// INDETERMINATE, never as Good.
//
// Decision rules, in order of strength:
//
//   - Revoked: an authentic CRL or OCSP response from any source says the
//     certificate was revoked at or before the validation time, whatever
//     the response's own thisUpdate (a CRL issued later that lists an
//     earlier revocation proves it as well). The first such answer ends the
//     search and wins over any Good.
//   - Good: an authentic response whose validity window covers the
//     validation time (thisUpdate <= at <= nextUpdate, allowing 5 minutes of
//     clock skew on thisUpdate; without a nextUpdate only the 5 minutes after
//     thisUpdate are covered) and that does not list the certificate, or
//     lists a revocation after the validation time (reported in Detail). A
//     Good answer does not end the search: the remaining sources are still
//     consulted for a revocation, so a stale but still-valid response that
//     the signer chose to embed cannot hide a revocation that the CRL
//     folder or the CA's servers know about.
//   - Unknown: anything else, with Detail saying why each source failed.
//
// CheckWith also judges each CRL and OCSP response by the caller's
// algorithm rules (its signature algorithm, its signer's key, and a
// delegated responder's own certificate): an item that breaks them proves
// nothing, and a result that no other item decides says so
// (Result.AlgorithmRefused). crypto/x509 still verifies SHA-1 signatures
// on CRLs and OCSP responses, so without rules they count.
//
// Sources are consulted in this order: embedded OCSP responses, embedded
// CRLs, the CRL folder, then, when Online is set, OCSP and CRL fetched from
// the URLs of cert. Result.Source is the source of the deciding answer.
package revocation

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxClockSkew is how far after the validation time a response's
// thisUpdate may lie and still cover it: responder and CA clocks drift, and
// a response fetched right after the validation time is stamped a little
// later. Five minutes is the usual allowance of OCSP clients.
const maxClockSkew = 5 * time.Minute

// Defaults for the zero fields of Checker.
const (
	// DefaultTimeout bounds one fetch: a CA's responder answers within a
	// second when it works, and a mail worker must not wait much longer.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxCRLBytes caps one CRL, fetched or read from the folder.
	// Large public CAs publish CRLs of a few MiB; 10 MiB leaves room.
	DefaultMaxCRLBytes = 10 << 20
	// DefaultMaxOCSPBytes caps one OCSP response: a response with its
	// responder certificate is 2-4 KiB.
	DefaultMaxOCSPBytes = 64 << 10
)

// Status is a revocation status. The zero value is Unknown, so that a
// forgotten assignment never reads as Good.
type Status int

// Statuses.
const (
	Unknown Status = iota
	Good
	Revoked
)

var statusNames = [...]string{Unknown: "unknown", Good: "good", Revoked: "revoked"}

// String returns "unknown", "good" or "revoked".
func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Sources, as Result.Source names them.
const (
	SourceEmbeddedOCSP = "embedded-ocsp"
	SourceEmbeddedCRL  = "embedded-crl"
	SourceCRLDir       = "crl-dir"
	SourceOCSP         = "ocsp"
	SourceCRL          = "crl"
)

// Result is the status of one certificate at one time.
type Result struct {
	Status Status
	// RevokedAt is the revocation time when Status is Revoked.
	RevokedAt time.Time
	// Reason is the RFC 5280 CRLReason code when Status is Revoked
	// (0, unspecified, when the source gives none).
	Reason int
	// Source is where the deciding answer came from (Source* constants),
	// empty when Status is Unknown.
	Source string
	// Detail is one English sentence: what was consulted and what it said;
	// for Unknown, why each source failed.
	Detail string
	// LaterRevokedAt and LaterReason are, when Status is Good, a revocation
	// after the validation time that a source showed (the first one
	// seen): a time-stamping authority revoked for key compromise after
	// its token was made can no longer vouch for that token. Zero when
	// none was seen.
	LaterRevokedAt time.Time
	LaterReason    int
	// AlgorithmRefused is set when Status is Unknown and at least one CRL
	// or OCSP response was set aside only because its signature algorithm
	// or its signer's key breaks the algorithm rules (see AlgorithmCheck).
	AlgorithmRefused bool
}

// AlgorithmCheck judges the signature algorithm of a CRL or an OCSP
// response and the certificate whose key signed it (the issuer, or a
// delegated responder). A non-nil error sets the item aside: it then
// proves nothing, either way.
type AlgorithmCheck func(alg x509.SignatureAlgorithm, signer *x509.Certificate) error

// algorithmError is an item set aside by an AlgorithmCheck.
type algorithmError struct{ err error }

func (e *algorithmError) Error() string { return "breaks the algorithm rules: " + e.err.Error() }

func (e *algorithmError) Unwrap() error { return e.err }

func judgeAlgorithm(accept AlgorithmCheck, alg x509.SignatureAlgorithm, signer *x509.Certificate) error {
	if accept == nil {
		return nil
	}
	if err := accept(alg, signer); err != nil {
		return &algorithmError{err}
	}
	return nil
}

// Evidence is the revocation material a signed file carries: the CMS crls
// field, Adobe's revocationInfoArchival attribute, the PDF DSS. DER.
type Evidence struct {
	CRLs, OCSPs [][]byte
}

// Checker looks up revocation status. The zero value checks only the
// embedded evidence. A Checker caches what it reads and fetches; it is
// safe for concurrent use and must not be copied after first use.
type Checker struct {
	// CRLDir is a folder of CRL files (DER or PEM, any name, not
	// recursive). Files are read once and read again when their size or
	// modification time changes. Empty: no folder.
	CRLDir string
	// Online allows fetching OCSP responses from the certificate's
	// authority information access URLs and CRLs from its distribution
	// points. Only http:// URLs are fetched: the responses are signed, and
	// https would add a second, unrelated trust decision. False: nothing is
	// ever fetched.
	Online bool
	// HTTPClient makes the fetches. Nil: a client with Timeout that does
	// not follow redirects (a redirect could lead a trusted URL anywhere).
	// A caller-supplied client is used as is.
	HTTPClient *http.Client
	// Timeout bounds each fetch, on top of the context given to Check.
	// Zero: DefaultTimeout.
	Timeout time.Duration
	// MaxCRLBytes caps a CRL fetched or read from CRLDir. Zero:
	// DefaultMaxCRLBytes.
	MaxCRLBytes int64
	// MaxOCSPBytes caps a fetched OCSP response. Zero: DefaultMaxOCSPBytes.
	MaxOCSPBytes int64

	// now is the clock that expires cache entries; nil means time.Now.
	now func() time.Time

	mu         sync.Mutex
	client     *http.Client
	fetchCache map[string]cacheEntry // by URL (CRL) or URL+issuer+serial (OCSP)
	dirCache   map[string]dirFile    // by file name in CRLDir
}

func (c *Checker) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c *Checker) maxCRLBytes() int64 {
	if c.MaxCRLBytes > 0 {
		return c.MaxCRLBytes
	}
	return DefaultMaxCRLBytes
}

func (c *Checker) maxOCSPBytes() int64 {
	if c.MaxOCSPBytes > 0 {
		return c.MaxOCSPBytes
	}
	return DefaultMaxOCSPBytes
}

func (c *Checker) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// answer is what one CRL or OCSP response says about the certificate.
type answer struct {
	status    Status    // Unknown: this item proves nothing
	revokedAt time.Time // when Revoked; otherwise a revocation after the validation time, if any
	reason    int
	note      string // why it proves nothing, or what it says
	weak      bool   // set aside by the algorithm rules
}

// search accumulates answers across sources.
type search struct {
	good       *Result
	revoked    *Result
	later      []string  // revocations after the validation time
	laterAt    time.Time // the first of them
	laterWhy   int
	refused    bool                // an item was set aside by the algorithm rules
	failures   map[string][]string // by source, in order, deduplicated
	sourceSeen []string
}

// consider records a's verdict. It returns true when the search is over
// (a revocation at or before the validation time).
func (s *search) consider(source, what string, a answer) bool {
	switch a.status {
	case Revoked:
		s.revoked = &Result{
			Status:    Revoked,
			RevokedAt: a.revokedAt,
			Reason:    a.reason,
			Source:    source,
			Detail:    fmt.Sprintf("%s says the certificate was revoked on %s (reason %d)", what, stamp(a.revokedAt), a.reason),
		}
		return true
	case Good:
		if s.good == nil {
			s.good = &Result{Status: Good, Source: source, Detail: what + " " + a.note}
		}
	default:
		s.fail(source, what+": "+a.note)
	}
	if a.weak {
		s.refused = true
	}
	if !a.revokedAt.IsZero() {
		if s.laterAt.IsZero() {
			s.laterAt, s.laterWhy = a.revokedAt, a.reason
		}
		s.later = append(s.later, fmt.Sprintf("%s shows a later revocation on %s", what, stamp(a.revokedAt)))
	}
	return false
}

func (s *search) fail(source, msg string) {
	if s.failures == nil {
		s.failures = map[string][]string{}
	}
	for _, m := range s.failures[source] {
		if m == msg {
			return
		}
	}
	if len(s.failures[source]) == 0 {
		s.sourceSeen = append(s.sourceSeen, source)
	}
	s.failures[source] = append(s.failures[source], msg)
}

func (s *search) result() Result {
	if s.revoked != nil {
		s.revoked.Detail += "."
		return *s.revoked
	}
	if s.good != nil {
		r := *s.good
		r.LaterRevokedAt, r.LaterReason = s.laterAt, s.laterWhy
		if len(s.later) > 0 {
			r.Detail += "; " + strings.Join(s.later, "; ")
		}
		r.Detail += "."
		return r
	}
	var parts []string
	for _, src := range s.sourceSeen {
		parts = append(parts, strings.Join(s.failures[src], "; "))
	}
	parts = append(parts, s.later...)
	if len(parts) == 0 {
		return Result{Status: Unknown, Detail: "No revocation information was available."}
	}
	return Result{Status: Unknown, AlgorithmRefused: s.refused, Detail: "No source establishes the status: " + strings.Join(parts, "; ") + "."}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Check returns the revocation status of cert, issued by issuer, at time
// at. cert and issuer must come from a chain already built to a trust
// anchor (see the package documentation). ev is the evidence embedded in
// the signed file; it is authenticated here, never trusted as is.
func (c *Checker) Check(ctx context.Context, cert, issuer *x509.Certificate, at time.Time, ev Evidence) Result {
	return c.CheckWith(ctx, cert, issuer, at, ev, nil)
}

// CheckWith is Check with the CRLs and OCSP responses also judged by
// accept (nil accepts every algorithm crypto/x509 verifies).
func (c *Checker) CheckWith(ctx context.Context, cert, issuer *x509.Certificate, at time.Time, ev Evidence, accept AlgorithmCheck) Result {
	s := &search{}
	if cert == nil || issuer == nil {
		return Result{Status: Unknown, Detail: "No certificate or issuer was given."}
	}

	for i, der := range ev.OCSPs {
		what := fmt.Sprintf("embedded OCSP response %d", i+1)
		if s.consider(SourceEmbeddedOCSP, what, evalOCSP(der, cert, issuer, at, accept)) {
			return s.result()
		}
	}
	for i, der := range ev.CRLs {
		what := fmt.Sprintf("embedded CRL %d", i+1)
		rl, err := x509.ParseRevocationList(der)
		if err != nil {
			s.fail(SourceEmbeddedCRL, fmt.Sprintf("%s does not parse: %v", what, err))
			continue
		}
		if s.consider(SourceEmbeddedCRL, what, evalCRL(rl, cert, issuer, at, accept)) {
			return s.result()
		}
	}
	if c.CRLDir != "" {
		crls, errs := c.dirCRLs(issuer)
		for _, e := range errs {
			s.fail(SourceCRLDir, e)
		}
		if len(crls) == 0 {
			s.fail(SourceCRLDir, fmt.Sprintf("CRL folder %s holds no CRL from %q", c.CRLDir, issuer.Subject.String()))
		}
		for _, f := range crls {
			if s.consider(SourceCRLDir, "CRL file "+f.name, evalCRL(f.crl, cert, issuer, at, accept)) {
				return s.result()
			}
		}
	}
	if c.Online {
		if len(cert.OCSPServer) == 0 && len(cert.CRLDistributionPoints) == 0 {
			s.fail(SourceOCSP, "the certificate names no OCSP responder nor CRL distribution point")
		}
		for _, u := range cert.OCSPServer {
			a, err := c.onlineOCSP(ctx, u, cert, issuer, at, accept)
			var weak *algorithmError
			if errors.As(err, &weak) {
				a, err = answer{note: err.Error(), weak: true}, nil
			}
			if err != nil {
				s.fail(SourceOCSP, fmt.Sprintf("OCSP responder %s: %v", u, err))
				continue
			}
			if s.consider(SourceOCSP, "OCSP responder "+u, a) {
				return s.result()
			}
		}
		for _, u := range cert.CRLDistributionPoints {
			rl, err := c.onlineCRL(ctx, u, issuer)
			if err != nil {
				s.fail(SourceCRL, fmt.Sprintf("CRL %s: %v", u, err))
				continue
			}
			if s.consider(SourceCRL, "CRL "+u, evalCRL(rl, cert, issuer, at, accept)) {
				return s.result()
			}
		}
	} else if s.good == nil && (len(cert.OCSPServer) > 0 || len(cert.CRLDistributionPoints) > 0) {
		s.fail(SourceOCSP, "online checking is off, so the certificate's OCSP and CRL URLs were not fetched")
	}
	return s.result()
}
