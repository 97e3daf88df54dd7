package revocation

import (
	"strings"
	"sync"
	"unicode"
)

// FrenchReason is one line of the CA's list of revocation reasons, as the
// request form spells it, with the RFC 5280 code the CA puts on the CRL.
type FrenchReason struct {
	// Label is the reason as the CA's form and documentation write it.
	Label string
	// Reason is the CRL reason code.
	Reason Reason
	// NoReasonCode says that the CRL entry carries no reasonCode extension:
	// RFC 5280 section 5.3.1 asks CAs not to write "unspecified", but to
	// leave the extension out.
	NoReasonCode bool
}

// frenchReasons is the CA's list. The mapping is the CA's policy, also
// printed in the README ("Who may revoke what"): keep them in step.
var frenchReasons = []FrenchReason{
	{Label: "Clé privée compromise", Reason: KeyCompromise},
	{Label: "Mise à jour des informations du titulaire", Reason: AffiliationChanged},
	{Label: "Départ ou mutation du titulaire", Reason: AffiliationChanged},
	{Label: "Remplacement du certificat", Reason: Superseded},
	{Label: "Nom incorrect", Reason: Superseded},
	{Label: "Mauvaise taille des clés", Reason: Superseded},
	{Label: "Certificat défectueux", Reason: Superseded},
	{Label: "Ecrasement des anciennes clés", Reason: Superseded},
	{Label: "Oubli ou perte du mot de passe", Reason: CessationOfOperation},
	{Label: "Non paiement", Reason: PrivilegeWithdrawn},
	{Label: "Demande du titulaire", Reason: Unspecified, NoReasonCode: true},
}

// maxReasonLength bounds the text looked up: the longest label is 41 bytes,
// and a form field can hold megabytes that are not worth normalising.
const maxReasonLength = 256

// frenchReasonIndex maps the comparison key of each label to its entry. It
// is built on first use: normalising the labels at start-up would cost
// every run of the binary, `revokd verify` included.
var frenchReasonIndex = sync.OnceValue(func() map[string]FrenchReason {
	m := make(map[string]FrenchReason, len(frenchReasons))
	for _, fr := range frenchReasons {
		m[reasonKey(fr.Label)] = fr
	}
	return m
})

// FrenchReasons returns the CA's list of reasons, in the form's order.
func FrenchReasons() []FrenchReason {
	return append([]FrenchReason(nil), frenchReasons...)
}

// LookupFrenchReason returns the entry of the CA's list that s names. The
// comparison ignores case, accents, punctuation and spacing, and reads "clef"
// as "clé" (both spellings are French), so "cle privee compromise",
// "CLÉ PRIVÉE COMPROMISE" and " Clef  privée compromise. " all name the
// first entry. Anything else is not a reason.
func LookupFrenchReason(s string) (FrenchReason, bool) {
	if len(s) > maxReasonLength {
		return FrenchReason{}, false
	}
	fr, ok := frenchReasonIndex()[reasonKey(s)]
	return fr, ok
}

// ParseFrenchReason returns the RFC 5280 code for the French reason s (see
// LookupFrenchReason for what is accepted), and false when s is not on the
// CA's list.
func ParseFrenchReason(s string) (Reason, bool) {
	fr, ok := LookupFrenchReason(s)
	return fr.Reason, ok
}

// reasonKey normalises s as Normalize does, with any punctuation read as a
// space and "clef(s)" read as "cle(s)".
func reasonKey(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPunct(r) || unicode.IsSymbol(r) {
			return ' '
		}
		return r
	}, s)
	words := strings.Fields(Normalize(s))
	for i, w := range words {
		switch w {
		case "clef":
			words[i] = "cle"
		case "clefs":
			words[i] = "cles"
		}
	}
	return strings.Join(words, " ")
}
