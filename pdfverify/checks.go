package pdfverify

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/revokd/revokd/pdfverify/internal/revocation"
)

var (
	oidSurname                = asn1.ObjectIdentifier{2, 5, 4, 4}
	oidGivenName              = asn1.ObjectIdentifier{2, 5, 4, 42}
	oidOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}
	oidEmailAddress           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
)

// checkChain builds the signer's chain to the trust anchors at time at and
// returns the first chain found, leaf first.
func (v *verification) checkChain(sc *sigCheck, signer *x509.Certificate, pool *x509.CertPool, at time.Time, poe bool) ([]*x509.Certificate, bool) {
	if v.o.Roots == nil {
		sc.fail("chain", NoCertificateChainFound, "no trust anchors are configured")
		return nil, false
	}
	chains, err := signer.Verify(x509.VerifyOptions{
		Roots:         v.o.Roots,
		Intermediates: pool,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		name, sub, detail := chainFailure(err, signer, at, poe)
		sc.fail(name, sub, detail)
		return nil, false
	}
	chain := chains[0]
	names := make([]string, len(chain))
	for i, c := range chain {
		names[i] = c.Subject.CommonName
	}
	sc.pass("chain", fmt.Sprintf("chain %s valid at %s", strings.Join(names, " → "), at.UTC().Format(time.RFC3339)))
	return chain, true
}

// chainFailure names the failed check, its sub-indication and why.
func chainFailure(err error, signer *x509.Certificate, at time.Time, poe bool) (string, SubIndication, string) {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		who := "a certificate of the chain"
		if inv.Cert != nil && inv.Cert.Equal(signer) {
			who = "the signer certificate"
		}
		stamp := at.UTC().Format(time.RFC3339)
		if inv.Cert != nil && at.Before(inv.Cert.NotBefore) {
			return "chain", NotYetValid, fmt.Sprintf("%s is not yet valid at %s (valid from %s)", who, stamp, inv.Cert.NotBefore.UTC().Format(time.RFC3339))
		}
		return "chain", OutOfBoundsNoPOE, fmt.Sprintf("%s is expired at %s and no timestamp proves an earlier signing time", who, stamp)
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		// QUIRK: crypto/x509 refuses MD5 and SHA-1 certificate signatures
		// whatever the algorithm rules say, and tells so only in the text
		// of its hint; a chain that breaks only there is reported as the
		// algorithm failure it is.
		if strings.Contains(err.Error(), "insecure algorithm") {
			return "algorithms", cryptoSubIndication(poe), "a certificate of the chain is signed with an algorithm the rules do not allow: " + err.Error()
		}
		return "chain", NoCertificateChainFound, "the signer certificate does not chain to a trust anchor: " + err.Error()
	}
	if errors.As(err, &inv) {
		return "chain", ChainConstraintsFailure, "the certificate chain breaks a constraint: " + err.Error()
	}
	return "chain", CertificateChainGeneralErr, "the certificate chain is not valid: " + err.Error()
}

// checkKeyUsage requires a key usage that allows signing documents.
func checkKeyUsage(sc *sigCheck, c *x509.Certificate) {
	if c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		sc.fail("key-usage", KeyUsageNotAllowed, "the signer certificate's key usage allows neither digitalSignature nor nonRepudiation")
		return
	}
	sc.pass("key-usage", "the key usage allows signing")
}

// anyPolicy (RFC 5280, 4.2.1.4) in a CA certificate allows every policy.
var anyPolicy = mustOID("2.5.29.32.0")

func mustOID(s string) x509.OID {
	oid, err := x509.ParseOID(s)
	if err != nil {
		panic(err)
	}
	return oid
}

// checkPolicy requires the signer certificate to carry an accepted policy
// OID, and every CA of the chain below the trust anchor that states
// policies to allow it (the OID itself or anyPolicy). A CA without a
// policies extension restricts nothing here.
// QUIRK: this is not RFC 5280's full policy processing (Go's
// VerifyOptions.CertificatePolicies), which refuses chains whose CAs carry
// no policies extension at all, as some do.
func (v *verification) checkPolicy(sc *sigCheck, chain []*x509.Certificate) {
	c := chain[0]
	var accepted *x509.OID
	for i, p := range c.Policies {
		if slices.Contains(v.o.Policies, p.String()) {
			accepted = &c.Policies[i]
			break
		}
	}
	if accepted == nil {
		have := "none"
		if len(sc.r.PolicyOIDs) > 0 {
			have = strings.Join(sc.r.PolicyOIDs, ", ")
		}
		sc.fail("policy", PolicyNotAccepted, "the signer certificate carries no accepted policy OID (it has "+have+")")
		return
	}
	for _, ca := range chain[1:max(1, len(chain)-1)] { // the CAs below the anchor; none when the signer is one
		if len(ca.Policies) == 0 {
			continue
		}
		if !slices.ContainsFunc(ca.Policies, func(p x509.OID) bool { return p.Equal(*accepted) || p.Equal(anyPolicy) }) {
			sc.fail("policy", PolicyNotAccepted, fmt.Sprintf("CA %q does not allow policy %s", ca.Subject.CommonName, accepted))
			return
		}
	}
	sc.pass("policy", "certificate policy "+accepted.String()+" is accepted")
}

// checkRevocation asks the status of every certificate of the chain but the
// trust anchor, and returns the source that decided the signer's status.
// A revoked CA certificate is REVOKED_CA_NO_POE (INDETERMINATE, ETSI EN
// 319 102-1): the signer's own certificate may have been used rightly
// before its CA was revoked, which only a proof of existence could tell.
func (v *verification) checkRevocation(sc *sigCheck, chain []*x509.Certificate, at time.Time, ev revocation.Evidence) string {
	var signerSource string
	if len(chain) == 1 {
		sc.info("revocation", "the signer certificate is itself a trust anchor: an anchor is trusted as configured, and no revocation status is asked")
	}
	accept := v.revocationAlgorithms()
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		res := v.o.Revocation.checker.CheckWith(v.ctx, cert, issuer, at, ev, accept)
		who, revoked := "the signer certificate", Revoked
		if i > 0 {
			who, revoked = "CA certificate "+cert.Subject.CommonName, RevokedCANoPOE
		}
		switch res.Status {
		case revocation.Good:
			if i == 0 {
				signerSource = res.Source
			}
			sc.pass("revocation", fmt.Sprintf("%s is not revoked (%s): %s", who, res.Source, res.Detail))
		case revocation.Revoked:
			sc.fail("revocation", revoked, fmt.Sprintf("%s was revoked on %s (%s)", who, res.RevokedAt.UTC().Format(time.RFC3339), res.Detail))
			return res.Source
		default:
			sub := TryLater
			if res.AlgorithmRefused {
				sub = CryptoConstraintsFailed
			}
			sc.fail("revocation", sub, fmt.Sprintf("the revocation status of %s is unknown: %s", who, res.Detail))
			return ""
		}
	}
	return signerSource
}

// parsePDFDate reads a PDF date string such as D:20261125101500+01'00'.
func parsePDFDate(s string) (time.Time, error) {
	s = strings.TrimPrefix(s, "D:")
	if len(s) < 4 {
		return time.Time{}, errors.New("short date")
	}
	digits := func(from, n, def int) (int, error) {
		if len(s) < from+n {
			return def, nil
		}
		return strconv.Atoi(s[from : from+n])
	}
	var f [6]int
	defs := [6]int{0, 1, 1, 0, 0, 0}
	widths := [6]int{4, 2, 2, 2, 2, 2}
	pos := 0
	for i := range f {
		n, err := digits(pos, widths[i], defs[i])
		if err != nil {
			return time.Time{}, err
		}
		f[i] = n
		pos += widths[i]
	}
	loc := time.UTC
	if len(s) > 14 {
		switch tz := s[14:]; tz[0] {
		case '+', '-':
			tz = strings.ReplaceAll(tz[1:], "'", "")
			h, _ := strconv.Atoi(tz[:min(2, len(tz))])
			m := 0
			if len(tz) >= 4 {
				m, _ = strconv.Atoi(tz[2:4])
			}
			off := h*3600 + m*60
			if s[14] == '-' {
				off = -off
			}
			loc = time.FixedZone("", off)
		}
	}
	return time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], 0, loc), nil
}
