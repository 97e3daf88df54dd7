package authorize

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // the register's dates are French calendar days, whatever the host's zone files
)

var (
	oidSurname        = asn1.ObjectIdentifier{2, 5, 4, 4}
	oidGivenName      = asn1.ObjectIdentifier{2, 5, 4, 42}
	oidOrgIdentifier  = asn1.ObjectIdentifier{2, 5, 4, 97}
	oidEmailAttribute = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
)

// dateLayout is how the register's dates are written (CSV and store).
const dateLayout = "2006-01-02"

// registerLocation is the zone the register's calendar days are in, loaded
// on first use rather than by every run of the binary.
var registerLocation = sync.OnceValue(func() *time.Location {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic("authorize: loading Europe/Paris: " + err.Error())
	}
	return loc
})

// ParseDate reads a register date (YYYY-MM-DD) as midnight in France.
func ParseDate(s string) (time.Time, error) {
	return time.ParseInLocation(dateLayout, s, registerLocation())
}

// FormatDate writes t as the register's date (YYYY-MM-DD, in France).
func FormatDate(t time.Time) string {
	return t.In(registerLocation()).Format(dateLayout)
}

// CertificateFromX509 extracts what the registry keeps of c. Decide applies
// it to the signer's certificate too, so that both sides of every comparison
// are read by the same code.
func CertificateFromX509(c *x509.Certificate) Certificate {
	sum := sha256.Sum256(c.Raw)
	out := Certificate{
		Serial:         new(big.Int).Set(c.SerialNumber),
		IssuerDN:       c.Issuer.String(),
		SubjectDN:      c.Subject.String(),
		Surname:        attribute(c.Subject, oidSurname),
		GivenName:      attribute(c.Subject, oidGivenName),
		CommonName:     strings.TrimSpace(c.Subject.CommonName),
		IdentitySerial: strings.TrimSpace(c.Subject.SerialNumber),
		SIREN:          SIRENFromName(c.Subject),
		NotBefore:      c.NotBefore.UTC(),
		NotAfter:       c.NotAfter.UTC(),
		SHA256:         hex.EncodeToString(sum[:]),
		DER:            append([]byte(nil), c.Raw...),
	}
	if len(c.Subject.Organization) > 0 {
		out.Organization = strings.TrimSpace(c.Subject.Organization[0])
	}
	if len(c.EmailAddresses) > 0 {
		out.Email = strings.TrimSpace(c.EmailAddresses[0])
	} else {
		out.Email = attribute(c.Subject, oidEmailAttribute)
	}
	return out
}

// attribute returns the first string value of the attribute oid in n.
func attribute(n pkix.Name, oid asn1.ObjectIdentifier) string {
	for _, atv := range n.Names {
		if atv.Type.Equal(oid) {
			if s, ok := atv.Value.(string); ok {
				return strings.TrimSpace(s)
			}
		}
	}
	return ""
}

// SIRENFromName returns the SIREN that the subject n carries, the way French
// CAs write it: an OU "0002 <SIREN or SIRET>" (ISO 6523 code 0002 is the
// SIRENE register) or an organizationIdentifier "NTRFR-<SIREN or SIRET>"
// (ETSI EN 319 412-1). A SIRET gives its first 9 digits, which are the
// SIREN. It returns "" when n carries neither.
func SIRENFromName(n pkix.Name) string {
	for _, ou := range n.OrganizationalUnit {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(ou), "0002 "); ok {
			if s := sirenOf(rest); s != "" {
				return s
			}
		}
	}
	if id := attribute(n, oidOrgIdentifier); id != "" {
		if rest, ok := strings.CutPrefix(id, "NTRFR-"); ok {
			return sirenOf(rest)
		}
	}
	return ""
}

// sirenOf returns the SIREN of a SIREN or SIRET written with or without
// spaces, or "" when s is neither.
func sirenOf(s string) string {
	d := strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	if (len(d) != 9 && len(d) != 14) || !allDigits(d) {
		return ""
	}
	return d[:9]
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// ValidSIREN reports whether s is 9 digits that pass the Luhn check, as
// every SIREN does.
func ValidSIREN(s string) bool {
	if len(s) != 9 || !allDigits(s) {
		return false
	}
	sum := 0
	for i := 0; i < 9; i++ {
		d := int(s[8-i] - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}
