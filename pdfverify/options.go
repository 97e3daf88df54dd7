package pdfverify

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/revokd/revokd/pdfverify/internal/revocation"
)

// DefaultMaxFileBytes caps the size of one PDF: a revocation form is a few
// hundred KB; 20 MiB leaves room for scanned attachments while keeping one
// worker's memory bounded.
const DefaultMaxFileBytes = 20 << 20

// DefaultTimeBudget bounds the verification of one file, revocation fetches
// included, so that one hostile file cannot stall the worker.
const DefaultTimeBudget = 10 * time.Second

// DefaultPolicies are the certificate policy OIDs accepted when
// Options.Policies is empty: the RGS ** / eIDAS advanced and qualified levels
// of the French trusted list and ETSI EN 319 411.
var DefaultPolicies = []string{
	"1.2.250.1.96.1.7.2.4.1", // ChamberSign AC 2 étoiles
	"1.2.250.1.96.1.7.1.1.3", // ChamberSign AC 3 étoiles
	"1.2.250.1.96.1.8.2.1",   // ChamberSign CA3 Qualified eID
	"1.2.250.1.96.1.8.2.2",
	"1.2.250.1.96.1.8.2.3",
	"1.2.250.1.96.1.8.2.4",
	"1.2.250.1.96.1.8.2.5",
	"1.2.250.1.96.1.8.2.6",
	"1.2.250.1.96.1.8.2.7",
	"1.2.250.1.96.1.8.2.8",
	"0.4.0.2042.1.2",   // ETSI NCP+
	"0.4.0.194112.1.0", // ETSI QCP-n
	"0.4.0.194112.1.2", // ETSI QCP-n-qscd
}

// Options configures Verify. A nil *Options is the same as the zero value,
// which trusts nothing: every signature then ends INDETERMINATE with
// NO_CERTIFICATE_CHAIN_FOUND.
type Options struct {
	// Roots are the trust anchors. Nil trusts no certificate.
	Roots *x509.CertPool
	// Intermediates are extra CA certificates to build chains with, besides
	// those embedded in the signature and the document's DSS. Nil: none.
	Intermediates []*x509.Certificate
	// CurrentTime is the validation time used when a signature has no valid
	// signature timestamp: the time the mail was received. Zero: time.Now().
	CurrentTime time.Time
	// Policies are the accepted certificate policy OIDs in dotted form; the
	// signer certificate must carry one of them. Empty: DefaultPolicies.
	Policies []string
	// Revocation finds the revocation status of chain certificates. Nil:
	// only the CRLs and OCSP responses embedded in the file are used, and a
	// certificate without such evidence is INDETERMINATE (TRY_LATER).
	Revocation *RevocationSource
	// MaxFileBytes caps the input size. Zero: DefaultMaxFileBytes.
	MaxFileBytes int64
	// TimeBudget bounds one verification. Zero: DefaultTimeBudget.
	TimeBudget time.Duration
	// Logger receives the verifier's own failures (an internal error
	// recovered while reading a file), at ERROR. Nil: slog.Default().
	Logger *slog.Logger
	// Algorithms are the algorithm rules every key and digest the
	// verification relies on must meet: the signer's, its chain's, the
	// signature timestamp's and its TSA's, the CRLs' and the OCSP
	// responses'. Empty: DefaultAlgorithms.
	Algorithms AlgorithmTable
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.CurrentTime.IsZero() {
		c.CurrentTime = time.Now()
	}
	if len(c.Policies) == 0 {
		c.Policies = DefaultPolicies
	}
	if c.MaxFileBytes == 0 {
		c.MaxFileBytes = DefaultMaxFileBytes
	}
	if c.TimeBudget == 0 {
		c.TimeBudget = DefaultTimeBudget
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = DefaultAlgorithms
	}
	if c.Revocation == nil {
		c.Revocation = &RevocationSource{checker: &revocation.Checker{}}
	}
	return c
}

func (o *Options) validate() error {
	if o.MaxFileBytes < 0 {
		return fmt.Errorf("pdfverify: MaxFileBytes %d is negative", o.MaxFileBytes)
	}
	if o.TimeBudget < 0 {
		return fmt.Errorf("pdfverify: TimeBudget %v is negative", o.TimeBudget)
	}
	for _, p := range o.Policies {
		if _, err := ParseOID(p); err != nil {
			return fmt.Errorf("pdfverify: policy %q: %w", p, err)
		}
	}
	if err := o.Algorithms.Validate(); err != nil {
		return fmt.Errorf("pdfverify: %w", err)
	}
	return nil
}

// ParseOID parses a dotted object identifier such as "1.2.250.1.96.1.7.2.4.1".
func ParseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, errors.New("not a dotted object identifier")
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || (len(p) > 1 && p[0] == '0') {
			return nil, fmt.Errorf("arc %q is not a number", p)
		}
		oid[i] = n
	}
	if oid[0] > 2 || (oid[0] < 2 && oid[1] > 39) {
		return nil, errors.New("first arcs out of range")
	}
	return oid, nil
}

// RevocationOptions configures a RevocationSource.
type RevocationOptions struct {
	// CRLDir is a folder of CRL files (DER or PEM) consulted after the
	// evidence embedded in the file. Empty: none.
	CRLDir string
	// Online allows fetching CRLs and OCSP responses from the URLs of
	// certificates already chained to a trust anchor. False: never fetch.
	Online bool
	// Timeout bounds one fetch. Zero: 5 s.
	Timeout time.Duration
	// HTTPClient makes the fetches. Nil: a client with Timeout that follows
	// no redirects.
	HTTPClient *http.Client
}

// RevocationSource looks up revocation status and caches what it fetched.
// One source is meant to live as long as the process, shared by every
// Verify call; it is safe for concurrent use.
type RevocationSource struct {
	checker *revocation.Checker
}

// NewRevocationSource returns a source configured by o.
func NewRevocationSource(o RevocationOptions) *RevocationSource {
	return &RevocationSource{checker: &revocation.Checker{
		CRLDir:     o.CRLDir,
		Online:     o.Online,
		Timeout:    o.Timeout,
		HTTPClient: o.HTTPClient,
	}}
}
