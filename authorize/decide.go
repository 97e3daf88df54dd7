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

// Decision codes. The empty code is a plain acceptance.
const (
	CodeNotVerified       = "not_verified"       // the report is not TOTAL_PASSED
	CodeMissingField      = "missing_field"      // a required form field is empty
	CodeInvalidField      = "invalid_field"      // the serial or the role cannot be read
	CodeUnknownReason     = "unknown_reason"     // the reason is not on the CA's list
	CodeUnknownSerial     = "unknown_serial"     // no registered certificate has that serial
	CodeForeignCA         = "foreign_ca"         // only other CAs' certificates have it
	CodeAmbiguousSerial   = "ambiguous_serial"   // several of the CA's certificates have it
	CodeHolderMismatch    = "holder_mismatch"    // claims to be the holder, is not
	CodeNotRepresentative = "not_representative" // claims to represent the organisation, is not registered
	CodeMandateExpired    = "mandate_expired"    // registered, but not at the validation time
	CodeRoleMismatch      = "role_mismatch"      // is the other role than the one claimed
	CodeFormMismatch      = "form_mismatch"      // the form's holder data differ from the registry's
	CodeAlreadyRevoked    = "already_revoked"    // accepted: nothing left to do
)

// Decision is the outcome of Decide.
type Decision struct {
	// Accepted says the certificate may be revoked (or already is).
	Accepted bool
	// AlreadyRevoked is set with Accepted when the registry says the
	// certificate is revoked already: an idempotent success.
	AlreadyRevoked bool
	// Code is "" for a plain acceptance, else one of the Code constants.
	Code string
	// Role is RoleHolder or RoleLegalRepresentative once established.
	Role string
	// Serial and IssuerDN name the certificate to revoke, once known.
	Serial   *big.Int
	IssuerDN string
	// Certificate is the registry's record of it, once found.
	Certificate *Certificate
	// Reason is the CRL reason code; NoReasonCode says the CRL entry must
	// carry no reasonCode extension.
	Reason       revocation.Reason
	NoReasonCode bool
	// Fields are the names of the form fields at fault.
	Fields []string
	// Message is one French sentence for the sender.
	Message string
	// Detail is one English sentence for the operator.
	Detail string
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
//   - the certificate is not already revoked (if it is, the decision is an
//     acceptance with AlreadyRevoked set).
func Decide(ctx context.Context, report *pdfverify.Report, reg Registry, o Options) (Decision, error) {
	if err := o.Validate(); err != nil {
		return Decision{}, fmt.Errorf("authorisation options: %w", err)
	}
	f := o.Fields.withDefaults()

	if !report.Accepted() {
		return reject(CodeNotVerified, nil,
			"La signature du formulaire n’a pas pu être validée ; la demande ne peut pas être traitée.",
			"the verification report is not TOTAL_PASSED"), nil
	}
	sig := report.DecisiveSignature()
	if sig == nil || sig.Signer == nil || sig.ValidationTime.IsZero() {
		return reject(CodeNotVerified, nil,
			"La signature du formulaire n’a pas pu être validée ; la demande ne peut pas être traitée.",
			"the verification report names no signer or no validation time"), nil
	}
	signer, err := signerCertificate(sig.Signer)
	if err != nil {
		return reject(CodeNotVerified, nil,
			"La signature du formulaire n’a pas pu être validée ; la demande ne peut pas être traitée.",
			fmt.Sprintf("the signer certificate in the report cannot be read: %v", err)), nil
	}

	form := func(name string) string { return strings.TrimSpace(report.Form[name]) }
	var missing []string
	for _, name := range []string{f.Serial, f.Reason, f.Role, f.HolderSurname, f.HolderGivenName, f.HolderEmail} {
		if form(name) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return reject(CodeMissingField, missing,
			fmt.Sprintf("Le formulaire est incomplet : %s.", frenchFieldList(f, missing, "vide", "vides")),
			fmt.Sprintf("required form fields are empty: %s", strings.Join(missing, ", "))), nil
	}
	serial, err := ParseSerial(form(f.Serial))
	if err != nil {
		return reject(CodeInvalidField, []string{f.Serial},
			"Le numéro de série indiqué dans le formulaire n’est pas un nombre hexadécimal valide.",
			fmt.Sprintf("form field %s: %v", f.Serial, err)), nil
	}
	claimed, ok := parseRole(form(f.Role))
	if !ok {
		return reject(CodeInvalidField, []string{f.Role},
			"La qualité du demandeur doit être « Titulaire » ou « Représentant légal ».",
			fmt.Sprintf("form field %s: %q is neither Titulaire nor Représentant légal", f.Role, form(f.Role))), nil
	}
	fr, ok := revocation.LookupFrenchReason(form(f.Reason))
	if !ok {
		return reject(CodeUnknownReason, []string{f.Reason},
			"Le motif de révocation indiqué n’est pas dans la liste des motifs du formulaire.",
			fmt.Sprintf("form field %s: %q is not on the CA's list of reasons", f.Reason, form(f.Reason))), nil
	}

	d := Decision{Serial: serial, Reason: fr.Reason, NoReasonCode: fr.NoReasonCode}
	hexSerial := FormatSerial(serial)

	all, err := reg.CertificatesBySerial(ctx, serial)
	if err != nil {
		return Decision{}, fmt.Errorf("looking up serial %s: %w", hexSerial, err)
	}
	if len(all) == 0 {
		return d.reject(CodeUnknownSerial, []string{f.Serial},
			fmt.Sprintf("Aucun certificat émis par notre autorité ne porte le numéro de série %s.", hexSerial),
			fmt.Sprintf("no registered certificate has serial %s", hexSerial)), nil
	}
	var ours []Certificate
	for _, c := range all {
		if issuedBy(c, o.Issuers) {
			ours = append(ours, c)
		}
	}
	if len(ours) == 0 {
		d.IssuerDN = all[0].IssuerDN
		return d.reject(CodeForeignCA, []string{f.Serial},
			fmt.Sprintf("Le certificat de numéro de série %s n’a pas été émis par notre autorité ; adressez votre demande à l’autorité qui l’a émis.", hexSerial),
			fmt.Sprintf("serial %s is registered only for issuers that are not configured CAs (%s)", hexSerial, all[0].IssuerDN)), nil
	}
	target, ok := pick(ours, signer, form(f.HolderEmail), form(f.SIREN))
	if !ok {
		return d.reject(CodeAmbiguousSerial, []string{f.Serial},
			fmt.Sprintf("Plusieurs certificats portent le numéro de série %s ; un opérateur va examiner votre demande.", hexSerial),
			fmt.Sprintf("%d certificates of the configured CAs have serial %s and the form does not tell which", len(ours), hexSerial)), nil
	}
	d.IssuerDN = target.IssuerDN
	d.Certificate = &target

	holder := isHolder(signer, target, o.Issuers)
	var rep *Representative
	repExpired := false
	if target.SIREN != "" {
		reps, err := reg.RepresentativesBySIREN(ctx, target.SIREN)
		if err != nil {
			return Decision{}, fmt.Errorf("looking up representatives of %s: %w", target.SIREN, err)
		}
		rep, repExpired = findRepresentative(signer, reps, sig.ValidationTime)
	}

	signerName := signer.CommonName
	if signer.Email != "" {
		signerName += " <" + signer.Email + ">"
	}
	signerDesc := fmt.Sprintf("signer %q (serial %s)", signerName, FormatSerial(signer.Serial))
	switch claimed {
	case RoleHolder:
		if !holder {
			if rep != nil {
				return d.reject(CodeRoleMismatch, []string{f.Role},
					"Le formulaire indique que le demandeur est le titulaire, mais le signataire est enregistré comme représentant légal : cochez « Représentant légal ».",
					fmt.Sprintf("the form claims the holder, but %s is a legal representative of %s", signerDesc, target.SIREN)), nil
			}
			return d.reject(CodeHolderMismatch, nil,
				"Le certificat qui a signé la demande n’appartient pas au titulaire du certificat à révoquer.",
				fmt.Sprintf("%s is neither the certificate to revoke nor another certificate of its holder (same SERIALNUMBER, SIREN and e-mail)", signerDesc)), nil
		}
		d.Role = RoleHolder
	case RoleLegalRepresentative:
		if rep == nil {
			switch {
			case holder:
				return d.reject(CodeRoleMismatch, []string{f.Role},
					"Le formulaire indique un représentant légal, mais le signataire est le titulaire du certificat : cochez « Titulaire ».",
					fmt.Sprintf("the form claims a legal representative, but %s is the holder", signerDesc)), nil
			case repExpired:
				return d.reject(CodeMandateExpired, nil,
					"Le mandat de représentant légal du signataire ne couvrait pas la date de la signature.",
					fmt.Sprintf("%s is a registered representative of %s, but no mandate covers %s", signerDesc, target.SIREN, sig.ValidationTime.UTC().Format("2006-01-02T15:04:05Z"))), nil
			}
			return d.reject(CodeNotRepresentative, nil,
				"Le signataire n’est pas enregistré comme représentant légal de l’entreprise titulaire du certificat.",
				fmt.Sprintf("%s matches no registered representative of SIREN %q by e-mail and names", signerDesc, target.SIREN)), nil
		}
		d.Role = RoleLegalRepresentative
	}

	// The representative's fields are checked only when the signer acts as
	// one: a holder who is also a representative signs as holder.
	var actingRep *Representative
	if d.Role == RoleLegalRepresentative {
		actingRep = rep
	}
	mismatched := formMismatches(f, form, target, actingRep)
	if len(mismatched) > 0 {
		return d.reject(CodeFormMismatch, mismatched,
			fmt.Sprintf("Les informations du formulaire ne correspondent pas à celles du certificat à révoquer : %s.", frenchFieldList(f, mismatched, "à vérifier", "à vérifier")),
			fmt.Sprintf("form fields differ from the registry's record of serial %s: %s", hexSerial, strings.Join(mismatched, ", "))), nil
	}

	d.Accepted = true
	if target.Revoked {
		d.AlreadyRevoked = true
		d.Code = CodeAlreadyRevoked
		d.Message = fmt.Sprintf("Le certificat de numéro de série %s est déjà révoqué.", hexSerial)
		d.Detail = fmt.Sprintf("serial %s of %s is already revoked; nothing to do", hexSerial, target.IssuerDN)
		return d, nil
	}
	d.Message = fmt.Sprintf("Votre demande de révocation du certificat de numéro de série %s est acceptée.", hexSerial)
	d.Detail = fmt.Sprintf("%s, as %s, may revoke serial %s of %s (%s)", signerDesc, d.Role, hexSerial, target.IssuerDN, fr.Reason)
	return d, nil
}

func reject(code string, fields []string, msg, detail string) Decision {
	return Decision{Code: code, Fields: fields, Message: msg, Detail: detail}
}

func (d Decision) reject(code string, fields []string, msg, detail string) Decision {
	d.Accepted = false
	d.Code, d.Fields, d.Message, d.Detail = code, fields, msg, detail
	return d
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
// is, with a mandate covering t; or nil, and whether some representative
// matched but with no mandate covering t.
func findRepresentative(signer Certificate, reps []Representative, t time.Time) (*Representative, bool) {
	email := NormalizeEmail(signer.Email)
	if email == "" {
		return nil, false
	}
	expired := false
	for i := range reps {
		r := reps[i]
		if NormalizeEmail(r.Email) != email || !namesMatch(signer, r.Surname, r.GivenName) {
			continue
		}
		if r.Covers(t) {
			return &r, false
		}
		expired = true
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
// one signs).
func formMismatches(f FormFields, form func(string) string, c Certificate, rep *Representative) []string {
	var bad []string
	if c.Surname != "" && c.GivenName != "" {
		if revocation.Normalize(form(f.HolderSurname)) != revocation.Normalize(c.Surname) {
			bad = append(bad, f.HolderSurname)
		}
		if revocation.Normalize(form(f.HolderGivenName)) != revocation.Normalize(c.GivenName) {
			bad = append(bad, f.HolderGivenName)
		}
	} else if !namesMatch(c, form(f.HolderSurname), form(f.HolderGivenName)) {
		bad = append(bad, f.HolderSurname, f.HolderGivenName)
	}
	if NormalizeEmail(form(f.HolderEmail)) != NormalizeEmail(c.Email) {
		bad = append(bad, f.HolderEmail)
	}
	if digitsOnly(form(f.SIREN)) != c.SIREN {
		bad = append(bad, f.SIREN)
	}
	if rep != nil {
		if revocation.Normalize(form(f.RepresentativeSurname)) != revocation.Normalize(rep.Surname) {
			bad = append(bad, f.RepresentativeSurname)
		}
		if revocation.Normalize(form(f.RepresentativeGivenName)) != revocation.Normalize(rep.GivenName) {
			bad = append(bad, f.RepresentativeGivenName)
		}
		if NormalizeEmail(form(f.RepresentativeEmail)) != NormalizeEmail(rep.Email) {
			bad = append(bad, f.RepresentativeEmail)
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

// frenchFieldList names fields for the sender, in French.
func frenchFieldList(f FormFields, fields []string, one, many string) string {
	labels := map[string]string{
		f.Serial:                  "numéro de série du certificat",
		f.Reason:                  "motif de la révocation",
		f.Role:                    "qualité du demandeur",
		f.HolderSurname:           "nom du titulaire",
		f.HolderGivenName:         "prénom du titulaire",
		f.HolderEmail:             "adresse électronique du titulaire",
		f.SIREN:                   "SIREN de l’entreprise",
		f.RepresentativeSurname:   "nom du représentant légal",
		f.RepresentativeGivenName: "prénom du représentant légal",
		f.RepresentativeEmail:     "adresse électronique du représentant légal",
	}
	names := make([]string, len(fields))
	for i, name := range fields {
		names[i] = labels[name]
		if names[i] == "" {
			names[i] = name
		}
	}
	state := one
	if len(fields) > 1 {
		state = many
	}
	return strings.Join(names, ", ") + " (" + state + ")"
}
