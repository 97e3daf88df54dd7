package pdfverify

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"time"

	"github.com/revokd/revokd/pdfverify/internal/cades"
	"github.com/revokd/revokd/pdfverify/internal/revocation"
)

var (
	oidExtKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidKPTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
)

// checkTimestamp validates a signature timestamp; ok means its time may
// serve as the validation time (ETSI's proof of existence of the
// signature). A token that does not qualify is reported and ignored: the
// signature is then judged at the current time, as if it had none.
func (v *verification) checkTimestamp(sc *sigCheck, ts *cades.Timestamp, pool *x509.CertPool, ev revocation.Evidence) (time.Time, bool) {
	chain, detail, ok := v.tsaChain(ts, pool)
	if ok {
		detail, ok = v.tsaNotRevoked(chain, ts.GenTime, ev)
	}
	if !ok {
		sc.info("timestamp", "the signature timestamp is ignored: "+detail)
		return time.Time{}, false
	}
	sc.pass("timestamp", fmt.Sprintf("signature timestamp of %s by %s, whose chain was not revoked at that time", ts.GenTime.UTC().Format(time.RFC3339), ts.Signer.Subject.CommonName))
	return ts.GenTime, true
}

// trustTimestamp says whether a verified token's TSA may be believed at
// the token's time (see tsaChain), and if not, why.
func (v *verification) trustTimestamp(ts *cades.Timestamp, pool *x509.CertPool) (string, bool) {
	_, detail, ok := v.tsaChain(ts, pool)
	return detail, ok
}

// tsaChain checks everything about a token but the revocation of its
// TSA: the token verifies, its time is not in the future, its TSA
// certificate is a time-stamping unit's (RFC 3161 section 2.3: the
// extended key usage extension is critical and names timeStamping only)
// and chains to the trust anchors at the token's time, and every
// algorithm of the token and of that chain is allowed now (a token has no
// proof of existence of its own). It returns the TSA's chain, leaf first.
func (v *verification) tsaChain(ts *cades.Timestamp, pool *x509.CertPool) ([]*x509.Certificate, string, bool) {
	if ts.Err != nil {
		return nil, "it is not valid: " + ts.Err.Error(), false
	}
	if ts.GenTime.After(v.o.CurrentTime.Add(5 * time.Minute)) {
		return nil, "its time is in the future", false
	}
	if v.o.Roots == nil {
		return nil, "no trust anchors are configured", false
	}
	if why := timeStampingUsage(ts.Signer); why != "" {
		return nil, why, false
	}
	tsPool := x509.NewCertPool()
	if pool != nil {
		tsPool = pool.Clone()
	}
	for _, c := range ts.Certificates {
		tsPool.AddCert(c)
	}
	chains, err := ts.Signer.Verify(x509.VerifyOptions{
		Roots:         v.o.Roots,
		Intermediates: tsPool,
		CurrentTime:   ts.GenTime,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
	})
	if err != nil {
		return nil, "its authority is not trusted: " + err.Error(), false
	}
	m := &material{table: v.o.Algorithms, at: v.o.CurrentTime}
	m.digest(part{what: "the token's digest"}, ts.Digest)
	m.digest(part{what: "the token's message imprint"}, ts.ImprintHash)
	m.chain("TSA", chains[0])
	if len(m.weak) > 0 {
		return nil, "it breaks the algorithm rules: " + m.problem(), false
	}
	return chains[0], "", true
}

// timeStampingUsage returns why c is not a time-stamping unit's
// certificate, or "".
func timeStampingUsage(c *x509.Certificate) string {
	for _, ext := range c.Extensions {
		if !ext.Id.Equal(oidExtKeyUsage) {
			continue
		}
		var purposes []asn1.ObjectIdentifier
		if rest, err := asn1.Unmarshal(ext.Value, &purposes); err != nil || len(rest) > 0 {
			return "its TSA certificate's extended key usage does not parse"
		}
		if len(purposes) != 1 || !purposes[0].Equal(oidKPTimeStamping) {
			return "its TSA certificate's extended key usage is not timeStamping alone"
		}
		if !ext.Critical {
			return "its TSA certificate's extended key usage is not critical"
		}
		return ""
	}
	return "its TSA certificate has no extended key usage"
}

// benignReasons are the RFC 5280 CRL reasons that say nothing against
// what a key signed before its revocation: affiliationChanged,
// superseded, cessationOfOperation. Any other reason given after a token
// was made (keyCompromise, cACompromise, unspecified, ...) may mean the
// key was in other hands already, and a token proves a time only as long
// as its key was the TSA's alone.
var benignReasons = map[int]bool{3: true, 4: true, 5: true}

// tsaNotRevoked checks every certificate of the TSA's chain but the
// anchor at the token's time (ETSI EN 319 102-1, 5.4): it must not be
// revoked then, its status must be known, and a later revocation for a
// reason that may mean compromise also disqualifies the token.
func (v *verification) tsaNotRevoked(chain []*x509.Certificate, genTime time.Time, ev revocation.Evidence) (string, bool) {
	accept := v.revocationAlgorithms()
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		res := v.o.Revocation.checker.CheckWith(v.ctx, cert, issuer, genTime, ev, accept)
		who := fmt.Sprintf("TSA certificate %q", cert.Subject.CommonName)
		if i > 0 {
			who = fmt.Sprintf("the TSA's CA certificate %q", cert.Subject.CommonName)
		}
		switch res.Status {
		case revocation.Revoked:
			return fmt.Sprintf("%s was revoked on %s (reason %d), before the token's time", who, res.RevokedAt.UTC().Format(time.RFC3339), res.Reason), false
		case revocation.Good:
			if !res.LaterRevokedAt.IsZero() && !benignReasons[res.LaterReason] {
				return fmt.Sprintf("%s was revoked on %s for reason %d, which may mean its key signed tokens it did not make", who, res.LaterRevokedAt.UTC().Format(time.RFC3339), res.LaterReason), false
			}
		default:
			return fmt.Sprintf("the revocation status of %s at the token's time is unknown: %s", who, res.Detail), false
		}
	}
	return "", true
}

// Document-signing extended key usages a signer certificate may carry
// besides anyExtendedKeyUsage and emailProtection.
var documentSigningPurposes = []asn1.ObjectIdentifier{
	{1, 3, 6, 1, 5, 5, 7, 3, 36},       // id-kp-documentSigning (RFC 9336)
	{1, 3, 6, 1, 4, 1, 311, 10, 3, 12}, // Microsoft document signing
	{1, 2, 840, 113583, 1, 1, 5},       // Adobe Authentic Documents Trust
}

// checkExtKeyUsage requires a signer certificate that carries an extended
// key usage extension to allow signing documents with it (RFC 5280,
// 4.2.1.12: the key may be used only for the purposes listed).
func checkExtKeyUsage(sc *sigCheck, c *x509.Certificate) {
	present := false
	for _, ext := range c.Extensions {
		present = present || ext.Id.Equal(oidExtKeyUsage)
	}
	if !present {
		sc.pass("extended-key-usage", "the signer certificate restricts no purpose")
		return
	}
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageAny || u == x509.ExtKeyUsageEmailProtection {
			sc.pass("extended-key-usage", "the extended key usage allows signing documents")
			return
		}
	}
	for _, u := range c.UnknownExtKeyUsage {
		for _, p := range documentSigningPurposes {
			if u.Equal(p) {
				sc.pass("extended-key-usage", "the extended key usage allows signing documents ("+u.String()+")")
				return
			}
		}
	}
	sc.fail("extended-key-usage", KeyUsageNotAllowed, "the signer certificate's extended key usage allows no document signing (want anyExtendedKeyUsage, emailProtection or a document-signing purpose)")
}
