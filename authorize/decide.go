package authorize

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode"

	"github.com/revokd/revokd/pdfverify"
	"github.com/revokd/revokd/revocation"
)

// FormFields names the AcroForm fields of the CA's request form, by meaning.
// An empty name takes the reference form's (DefaultFormFields). The toml tags
// are the keys of the [form.fields] configuration table.
type FormFields struct {
	Serial                  string `toml:"serial"`
	Reason                  string `toml:"reason"`
	Role                    string `toml:"role"`
	HolderSurname           string `toml:"holder_surname"`
	HolderGivenName         string `toml:"holder_given_name"`
	HolderEmail             string `toml:"holder_email"`
	SIREN                   string `toml:"siren"`
	RepresentativeSurname   string `toml:"representative_surname"`
	RepresentativeGivenName string `toml:"representative_given_name"`
	RepresentativeEmail     string `toml:"representative_email"`
}

// DefaultFormFields returns the field names of the reference form.
func DefaultFormFields() FormFields {
	return FormFields{
		Serial:                  "certificat_numero_serie",
		Reason:                  "raison",
		Role:                    "demandeur_qualite",
		HolderSurname:           "titulaire_nom",
		HolderGivenName:         "titulaire_prenom",
		HolderEmail:             "titulaire_email",
		SIREN:                   "entreprise_siren",
		RepresentativeSurname:   "representant_nom",
		RepresentativeGivenName: "representant_prenom",
		RepresentativeEmail:     "representant_email",
	}
}

// FormFieldsFromMap reads the [form.fields] configuration table, keyed by
// the toml tags of FormFields ("serial", "holder_email", ...). Other keys
// (meanings Decide does not use, such as "date") are ignored; missing ones
// take the reference form's names.
func FormFieldsFromMap(m map[string]string) FormFields {
	f := FormFields{
		Serial:                  m["serial"],
		Reason:                  m["reason"],
		Role:                    m["role"],
		HolderSurname:           m["holder_surname"],
		HolderGivenName:         m["holder_given_name"],
		HolderEmail:             m["holder_email"],
		SIREN:                   m["siren"],
		RepresentativeSurname:   m["representative_surname"],
		RepresentativeGivenName: m["representative_given_name"],
		RepresentativeEmail:     m["representative_email"],
	}
	return f.withDefaults()
}

func (f FormFields) withDefaults() FormFields {
	d := DefaultFormFields()
	for _, p := range []struct{ v, def *string }{
		{&f.Serial, &d.Serial}, {&f.Reason, &d.Reason}, {&f.Role, &d.Role},
		{&f.HolderSurname, &d.HolderSurname}, {&f.HolderGivenName, &d.HolderGivenName},
		{&f.HolderEmail, &d.HolderEmail}, {&f.SIREN, &d.SIREN},
		{&f.RepresentativeSurname, &d.RepresentativeSurname},
		{&f.RepresentativeGivenName, &d.RepresentativeGivenName},
		{&f.RepresentativeEmail, &d.RepresentativeEmail},
	} {
		if *p.v == "" {
			*p.v = *p.def
		}
	}
	return f
}

// name returns the form's name of field.
func (f FormFields) name(field Field) string {
	switch field {
	case FieldSerial:
		return f.Serial
	case FieldReason:
		return f.Reason
	case FieldRole:
		return f.Role
	case FieldHolderSurname:
		return f.HolderSurname
	case FieldHolderGivenName:
		return f.HolderGivenName
	case FieldHolderEmail:
		return f.HolderEmail
	case FieldSIREN:
		return f.SIREN
	case FieldRepresentativeSurname:
		return f.RepresentativeSurname
	case FieldRepresentativeGivenName:
		return f.RepresentativeGivenName
	case FieldRepresentativeEmail:
		return f.RepresentativeEmail
	}
	return ""
}

// Options configures Decide.
type Options struct {
	// Fields maps meanings to the form's field names; empty names take the
	// reference form's.
	Fields FormFields
	// Issuers are the CA certificates that issue the certificates revokd may
	// have revoked. A certificate is the CA's own when one of them signed it
	// (checked on the DER when the registry holds it, else by issuer DN).
	// Required: with none, Decide returns an error, since every request
	// would otherwise be refused as foreign or, worse, every certificate
	// taken for the CA's own.
	Issuers []*x509.Certificate
}

// Validate reports a configuration error in o, to be shown at start-up.
func (o Options) Validate() error {
	if len(o.Issuers) == 0 {
		return errors.New("no issuing CA certificate configured")
	}
	for i, ca := range o.Issuers {
		if ca == nil {
			return fmt.Errorf("issuing CA certificate %d is missing", i)
		}
		if !ca.BasicConstraintsValid || !ca.IsCA {
			return fmt.Errorf("issuing CA certificate %q is not a CA certificate", ca.Subject.String())
		}
	}
	return nil
}

// Roles a signer can have towards the certificate to revoke.
const (
	RoleHolder              = "holder"
	RoleLegalRepresentative = "legal_representative"
)

// Decision is the outcome of Decide: a code and the facts behind it,
// without a word of prose. notify renders it for the sender, the review
// desk for the operator.
type Decision struct {
	// Code is CodeAccepted, CodeAlreadyRevoked or the refusal's code.
	Code Code `json:"code"`
	// Role is RoleHolder or RoleLegalRepresentative once established.
	Role string `json:"role,omitempty"`
	// Serial and IssuerDN name the certificate to revoke, once known.
	Serial   *big.Int `json:"serial,omitempty"`
	IssuerDN string   `json:"issuerDN,omitempty"`
	// Certificate is the registry's record of it, once found.
	Certificate *Certificate `json:"certificate,omitempty"`
	// Reason is the CRL reason code; NoReasonCode says the CRL entry must
	// carry no reasonCode extension.
	Reason       revocation.Reason `json:"reason"`
	NoReasonCode bool              `json:"noReasonCode"`
	// Facts are the form fields at fault, with the registry's values
	// where they were compared.
	Facts []Fact `json:"facts,omitempty"`
	// Signer is the signing certificate, once the report named one.
	Signer *SignerFacts `json:"signer,omitempty"`
	// SIREN is the organisation of the certificate to revoke, when the
	// representatives were looked up (not_representative, mandate_expired).
	SIREN string `json:"siren,omitempty"`
	// Representative is the signer's registered mandate that did not
	// cover the validation time (mandate_expired), or the one acted on.
	Representative *Representative `json:"representative,omitempty"`
	// ValidationTime is the time the signature was validated at: the
	// time mandates are checked against.
	ValidationTime time.Time `json:"validationTime,omitzero"`
	// Candidates counts the CA's certificates with the serial
	// (ambiguous_serial).
	Candidates int `json:"candidates,omitempty"`
	// Cause says why the code is CodeNotVerified (one of the Cause
	// constants), with CauseError the signer certificate's parse error
	// for CauseSignerUnreadable.
	Cause      Cause  `json:"cause,omitempty"`
	CauseError string `json:"causeError,omitempty"`
}

// Cause says why a verified report could not be decided on.
type Cause string

// The causes of CodeNotVerified.
const (
	CauseReportNotPassed  Cause = "report_not_passed" // the report is not TOTAL_PASSED
	CauseNoSignerOrTime   Cause = "no_signer_or_time" // it names no signer or no validation time
	CauseSignerUnreadable Cause = "signer_unreadable" // the signer certificate it carries does not parse
)

// Accepted reports whether d lets the request through.
func (d Decision) Accepted() bool { return d.Code.Accepted() }

// AlreadyRevoked reports whether d accepts a certificate that the
// registry already has revoked.
func (d Decision) AlreadyRevoked() bool { return d.Code == CodeAlreadyRevoked }

// FormFields returns the form's names of the fields at fault.
func (d Decision) FormFields() []string {
	var out []string
	for _, f := range d.Facts {
		out = append(out, f.FormField)
	}
	return out
}

// Decide says whether the signer of the verified form in report may revoke
// the certificate the form names. It returns an error only when the
// registry cannot be read or o is invalid: a retryable failure, not a
// refusal.
//
// The rules, in the order they are checked:
//   - the report is TOTAL_PASSED and names a signer and a validation time;
//   - the serial, reason, role and holder fields are filled in, the serial
//     reads as hexadecimal, the role is "Titulaire" or "Représentant légal",
//     and the reason is on the CA's list;
//   - the serial belongs to a registered certificate signed by one of
//     o.Issuers;
//   - the signer is the holder: either the signing certificate is the one
//     to revoke, or it is another certificate signed by one of o.Issuers
//     with the same non-empty subject SERIALNUMBER, the same SIREN (or none
//     on both) and the same non-empty e-mail (case-insensitive). Names alone
//     never make two certificates the same person's;
//   - or the signer is a legal representative: the signing certificate's
//     e-mail and names (normalised, see revocation.Normalize) are those of a
//     representative registered for the certificate's SIREN, whose mandate
//     covers the signature's validation time;
//   - the role claimed in the form is the role found;
//   - the form's holder names, e-mail and SIREN (and, for a representative,
//     the representative's names and e-mail) are the registry's;
//   - the certificate is not already revoked (if it is, the code is
//     CodeAlreadyRevoked, an acceptance).
func Decide(ctx context.Context, report *pdfverify.Report, reg Registry, o Options) (Decision, error) {
	if err := o.Validate(); err != nil {
		return Decision{}, fmt.Errorf("authorisation options: %w", err)
	}
	f := o.Fields.withDefaults()

	if !report.Accepted() {
		return Decision{Code: CodeNotVerified, Cause: CauseReportNotPassed}, nil
	}
	sig := report.DecisiveSignature()
	if sig == nil || sig.Signer == nil || sig.ValidationTime.IsZero() {
		return Decision{Code: CodeNotVerified, Cause: CauseNoSignerOrTime}, nil
	}
	signer, err := signerCertificate(sig.Signer)
	if err != nil {
		return Decision{Code: CodeNotVerified, Cause: CauseSignerUnreadable, CauseError: err.Error()}, nil
	}
	d := Decision{Signer: signerFacts(signer, o.Issuers), ValidationTime: sig.ValidationTime}

	form := func(name string) string { return strings.TrimSpace(report.Form[name]) }
	fact := func(field Field) Fact {
		return Fact{Field: field, FormField: f.name(field), Value: form(f.name(field))}
	}
	var missing []Fact
	for _, field := range []Field{FieldSerial, FieldReason, FieldRole, FieldHolderSurname, FieldHolderGivenName, FieldHolderEmail} {
		if form(f.name(field)) == "" {
			missing = append(missing, fact(field))
		}
	}
	if len(missing) > 0 {
		return d.refuse(CodeMissingField, missing...), nil
	}
	serial, err := ParseSerial(form(f.Serial))
	if err != nil {
		return d.refuse(CodeInvalidField, fact(FieldSerial)), nil
	}
	claimed, ok := parseRole(form(f.Role))
	if !ok {
		return d.refuse(CodeInvalidField, fact(FieldRole)), nil
	}
	fr, ok := revocation.LookupFrenchReason(form(f.Reason))
	if !ok {
		return d.refuse(CodeUnknownReason, fact(FieldReason)), nil
	}
	d.Serial, d.Reason, d.NoReasonCode = serial, fr.Reason, fr.NoReasonCode

	all, err := reg.CertificatesBySerial(ctx, serial)
	if err != nil {
		return Decision{}, fmt.Errorf("looking up serial %s: %w", FormatSerial(serial), err)
	}
	if len(all) == 0 {
		return d.refuse(CodeUnknownSerial, fact(FieldSerial)), nil
	}
	var ours []Certificate
	for _, c := range all {
		if issuedBy(c, o.Issuers) {
			ours = append(ours, c)
		}
	}
	if len(ours) == 0 {
		d.IssuerDN = all[0].IssuerDN
		return d.refuse(CodeForeignCA, fact(FieldSerial)), nil
	}
	target, ok := pick(ours, signer, form(f.HolderEmail), form(f.SIREN))
	if !ok {
		d.Candidates = len(ours)
		return d.refuse(CodeAmbiguousSerial, fact(FieldSerial)), nil
	}
	d.IssuerDN = target.IssuerDN
	d.Certificate = &target

	holder := isHolder(signer, target, o.Issuers)
	var rep, expired *Representative
	if target.SIREN != "" {
		reps, err := reg.RepresentativesBySIREN(ctx, target.SIREN)
		if err != nil {
			return Decision{}, fmt.Errorf("looking up representatives of %s: %w", target.SIREN, err)
		}
		rep, expired = findRepresentative(signer, reps, sig.ValidationTime)
	}

	switch claimed {
	case RoleHolder:
		if !holder {
			if rep != nil {
				d.SIREN, d.Representative = target.SIREN, rep
				return d.refuse(CodeRoleMismatch, fact(FieldRole)), nil
			}
			return d.refuse(CodeHolderMismatch), nil
		}
		d.Role = RoleHolder
	case RoleLegalRepresentative:
		if rep == nil {
			d.SIREN = target.SIREN
			switch {
			case holder:
				return d.refuse(CodeRoleMismatch, fact(FieldRole)), nil
			case expired != nil:
				d.Representative = expired
				return d.refuse(CodeMandateExpired), nil
			}
			return d.refuse(CodeNotRepresentative), nil
		}
		d.Role = RoleLegalRepresentative
		d.Representative = rep
	}

	// The representative's fields are checked only when the signer acts as
	// one: a holder who is also a representative signs as holder.
	var actingRep *Representative
	if d.Role == RoleLegalRepresentative {
		actingRep = rep
	}
	if mismatched := formMismatches(f, form, target, actingRep); len(mismatched) > 0 {
		return d.refuse(CodeFormMismatch, mismatched...), nil
	}

	d.Code = CodeAccepted
	if target.Revoked {
		d.Code = CodeAlreadyRevoked
	}
	return d, nil
}

func (d Decision) refuse(code Code, facts ...Fact) Decision {
	d.Code, d.Facts = code, facts
	return d
}

// signerFacts summarises the signing certificate for the operator.
func signerFacts(c Certificate, issuers []*x509.Certificate) *SignerFacts {
	s := &SignerFacts{Subject: c.SubjectDN, IssuerDN: c.IssuerDN, Email: c.Email, SIREN: c.SIREN,
		Identity: c.IdentitySerial, NotBefore: c.NotBefore, NotAfter: c.NotAfter, OurCA: issuedBy(c, issuers)}
	if c.Serial != nil {
		s.Serial = FormatSerial(c.Serial)
	}
	return s
}

// signerCertificate reads the signer as the registry would: from the
// certificate itself when the report carries it, so that both sides of each
// comparison come from CertificateFromX509.
func signerCertificate(s *pdfverify.Signer) (Certificate, error) {
	if len(s.CertificateDER) > 0 {
		c, err := x509.ParseCertificate(s.CertificateDER)
		if err != nil {
			return Certificate{}, err
		}
		return CertificateFromX509(c), nil
	}
	serial, err := ParseSerial(s.SerialNumber)
	if err != nil {
		return Certificate{}, fmt.Errorf("signer serial: %w", err)
	}
	return Certificate{
		Serial:         serial,
		IssuerDN:       s.Issuer,
		SubjectDN:      s.Subject,
		Email:          strings.TrimSpace(s.Email),
		Surname:        strings.TrimSpace(s.Surname),
		GivenName:      strings.TrimSpace(s.GivenName),
		CommonName:     strings.TrimSpace(s.CommonName),
		IdentitySerial: strings.TrimSpace(s.IdentitySerial),
		Organization:   strings.TrimSpace(s.Organization),
		SIREN:          s.SIREN,
		NotBefore:      s.NotBefore,
		NotAfter:       s.NotAfter,
	}, nil
}

// issuedBy reports whether one of issuers signed c: by signature when c
// carries its DER, else by issuer DN.
func issuedBy(c Certificate, issuers []*x509.Certificate) bool {
	if len(c.DER) > 0 {
		x, err := x509.ParseCertificate(c.DER)
		if err != nil {
			return false
		}
		for _, ca := range issuers {
			if string(x.RawIssuer) == string(ca.RawSubject) && x.CheckSignatureFrom(ca) == nil {
				return true
			}
		}
		return false
	}
	for _, ca := range issuers {
		if c.IssuerDN != "" && c.IssuerDN == ca.Subject.String() {
			return true
		}
	}
	return false
}

// sameCertificate reports whether a and b are one certificate: by
// fingerprint when both have one, else by issuer DN and serial.
func sameCertificate(a, b Certificate) bool {
	if a.SHA256 != "" && b.SHA256 != "" {
		return a.SHA256 == b.SHA256
	}
	return a.Serial != nil && cmpSerial(a.Serial, b.Serial) == 0 && a.IssuerDN == b.IssuerDN
}

// isHolder applies the holder rule of Decide.
func isHolder(signer, target Certificate, issuers []*x509.Certificate) bool {
	// A subject SERIALNUMBER is only unique within the CA that assigned it,
	// so the signing certificate must be the CA's own for it to mean
	// anything; the same holds for the plain issuer-and-serial comparison.
	if !issuedBy(signer, issuers) {
		return false
	}
	if sameCertificate(signer, target) {
		return true
	}
	return signer.IdentitySerial != "" && signer.IdentitySerial == target.IdentitySerial &&
		signer.SIREN == target.SIREN &&
		NormalizeEmail(signer.Email) != "" && NormalizeEmail(signer.Email) == NormalizeEmail(target.Email)
}

// findRepresentative returns the representative in reps that the signer
// is, with a mandate covering t; or nil, and a registered mandate of the
// signer that does not cover t, if any.
func findRepresentative(signer Certificate, reps []Representative, t time.Time) (rep, expired *Representative) {
	email := NormalizeEmail(signer.Email)
	if email == "" {
		return nil, nil
	}
	for i := range reps {
		r := reps[i]
		if NormalizeEmail(r.Email) != email || !namesMatch(signer, r.Surname, r.GivenName) {
			continue
		}
		if r.Covers(t) {
			return &r, nil
		}
		expired = &r
	}
	return nil, expired
}

// namesMatch reports whether c's names are surname and given. When c has no
// surname or given-name attribute, its common name must be both, in either
// order.
func namesMatch(c Certificate, surname, given string) bool {
	ns, ng := revocation.Normalize(surname), revocation.Normalize(given)
	if ns == "" || ng == "" {
		return false
	}
	if c.Surname != "" && c.GivenName != "" {
		return revocation.Normalize(c.Surname) == ns && revocation.Normalize(c.GivenName) == ng
	}
	cn := revocation.Normalize(c.CommonName)
	return cn != "" && (cn == ng+" "+ns || cn == ns+" "+ng)
}

// pick returns the one certificate among candidates (all the CA's own, all
// with the requested serial) that the request is about: the signing
// certificate itself, else the only one whose e-mail and SIREN are the
// form's.
func pick(candidates []Certificate, signer Certificate, formEmail, formSIREN string) (Certificate, bool) {
	if len(candidates) == 1 {
		return candidates[0], true
	}
	for _, c := range candidates {
		if sameCertificate(c, signer) {
			return c, true
		}
	}
	var found []Certificate
	for _, c := range candidates {
		if NormalizeEmail(c.Email) == NormalizeEmail(formEmail) && c.SIREN == digitsOnly(formSIREN) {
			found = append(found, c)
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	return Certificate{}, false
}

// formMismatches returns the form fields whose values differ from the
// registry's record of the certificate (and of the representative, when
// one signs), with both values.
func formMismatches(f FormFields, form func(string) string, c Certificate, rep *Representative) []Fact {
	var bad []Fact
	add := func(field Field, registry string) {
		bad = append(bad, Fact{Field: field, FormField: f.name(field), Value: form(f.name(field)), Registry: registry})
	}
	if c.Surname != "" && c.GivenName != "" {
		if revocation.Normalize(form(f.HolderSurname)) != revocation.Normalize(c.Surname) {
			add(FieldHolderSurname, c.Surname)
		}
		if revocation.Normalize(form(f.HolderGivenName)) != revocation.Normalize(c.GivenName) {
			add(FieldHolderGivenName, c.GivenName)
		}
	} else if !namesMatch(c, form(f.HolderSurname), form(f.HolderGivenName)) {
		add(FieldHolderSurname, c.CommonName)
		add(FieldHolderGivenName, c.CommonName)
	}
	if NormalizeEmail(form(f.HolderEmail)) != NormalizeEmail(c.Email) {
		add(FieldHolderEmail, c.Email)
	}
	if digitsOnly(form(f.SIREN)) != c.SIREN {
		add(FieldSIREN, c.SIREN)
	}
	if rep != nil {
		if revocation.Normalize(form(f.RepresentativeSurname)) != revocation.Normalize(rep.Surname) {
			add(FieldRepresentativeSurname, rep.Surname)
		}
		if revocation.Normalize(form(f.RepresentativeGivenName)) != revocation.Normalize(rep.GivenName) {
			add(FieldRepresentativeGivenName, rep.GivenName)
		}
		if NormalizeEmail(form(f.RepresentativeEmail)) != NormalizeEmail(rep.Email) {
			add(FieldRepresentativeEmail, rep.Email)
		}
	}
	return bad
}

// digitsOnly drops the spaces, dots and the like that people put in a SIREN
// ("552 081 317"); anything else stays, so that it cannot match.
func digitsOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '.' || r == '-' {
			return -1
		}
		return r
	}, s)
}

// parseRole reads the form's role field.
func parseRole(s string) (string, bool) {
	k := strings.Join(strings.Fields(revocation.Normalize(strings.Map(func(r rune) rune {
		if unicode.IsPunct(r) {
			return ' '
		}
		return r
	}, s))), " ")
	switch k {
	case "titulaire":
		return RoleHolder, true
	case "representant legal", "representante legale", "representant e legal e":
		return RoleLegalRepresentative, true
	}
	return "", false
}
