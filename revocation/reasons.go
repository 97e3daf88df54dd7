// Package revocation holds the words every part of revokd uses about a
// revocation: the RFC 5280 reason codes, the French reasons of the CA's
// request form that map to them, and the states a request goes through.
//
// It imports nothing of revokd, so every other package may import it.
package revocation

import (
	"fmt"
	"sort"
	"strings"
)

// Reason is a CRL entry reason code of RFC 5280 section 5.3.1.
type Reason int

// The reason codes of RFC 5280 section 5.3.1. Value 7 is not used.
const (
	Unspecified          Reason = 0
	KeyCompromise        Reason = 1
	CACompromise         Reason = 2
	AffiliationChanged   Reason = 3
	Superseded           Reason = 4
	CessationOfOperation Reason = 5
	CertificateHold      Reason = 6
	RemoveFromCRL        Reason = 8
	PrivilegeWithdrawn   Reason = 9
	AACompromise         Reason = 10
)

// reasonToString spells each code as the ASN.1 enumeration of RFC 5280 does,
// which is also how openssl and the CA's tooling print them.
var reasonToString = map[Reason]string{
	Unspecified:          "unspecified",
	KeyCompromise:        "keyCompromise",
	CACompromise:         "cACompromise",
	AffiliationChanged:   "affiliationChanged",
	Superseded:           "superseded",
	CessationOfOperation: "cessationOfOperation",
	CertificateHold:      "certificateHold",
	RemoveFromCRL:        "removeFromCRL",
	PrivilegeWithdrawn:   "privilegeWithdrawn",
	AACompromise:         "aACompromise",
}

// String returns the RFC 5280 name of r, or "reason(N)" for a value that RFC
// 5280 does not define.
func (r Reason) String() string {
	if s, ok := reasonToString[r]; ok {
		return s
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// Valid reports whether r is one of the codes RFC 5280 defines.
func (r Reason) Valid() bool {
	_, ok := reasonToString[r]
	return ok
}

// ParseReason returns the reason whose RFC 5280 name is s, compared without
// regard to case ("keyCompromise", "keycompromise").
func ParseReason(s string) (Reason, error) {
	for r, name := range reasonToString {
		if strings.EqualFold(name, strings.TrimSpace(s)) {
			return r, nil
		}
	}
	return 0, fmt.Errorf("unknown revocation reason %q", s)
}

// Reasons returns every code RFC 5280 defines, in increasing order.
func Reasons() []Reason {
	rs := make([]Reason, 0, len(reasonToString))
	for r := range reasonToString {
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i] < rs[j] })
	return rs
}
