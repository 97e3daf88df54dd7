package authorize

import (
	"time"

	"github.com/revokd/revokd/pdfverify"
)

// Code is the outcome of a request as a machine reads it: the outcome of
// Decide, or of the verification that came before it (VerificationCode).
// Codes carry no words: notify turns them into the sender's sentences and
// the operators' review into its own, both keyed by code. The string
// values are the store's reason codes and part of `revokd queue list
// --json`; they never change once released.
type Code string

// The codes of Decide. CodeAccepted and CodeAlreadyRevoked are
// acceptances; every other code is a refusal.
const (
	CodeAccepted          Code = "accepted"           // the revocation may be queued
	CodeAlreadyRevoked    Code = "already_revoked"    // accepted: nothing left to do
	CodeNotVerified       Code = "not_verified"       // the report is not TOTAL_PASSED, or names no signer
	CodeMissingField      Code = "missing_field"      // a required form field is empty
	CodeInvalidField      Code = "invalid_field"      // the serial or the role cannot be read
	CodeUnknownReason     Code = "unknown_reason"     // the reason is not on the CA's list
	CodeUnknownSerial     Code = "unknown_serial"     // no registered certificate has that serial
	CodeForeignCA         Code = "foreign_ca"         // only other CAs' certificates have it
	CodeAmbiguousSerial   Code = "ambiguous_serial"   // several of the CA's certificates have it
	CodeHolderMismatch    Code = "holder_mismatch"    // claims to be the holder, is not
	CodeNotRepresentative Code = "not_representative" // claims to represent the organisation, is not registered
	CodeMandateExpired    Code = "mandate_expired"    // registered, but not at the validation time
	CodeRoleMismatch      Code = "role_mismatch"      // is the other role than the one claimed
	CodeFormMismatch      Code = "form_mismatch"      // the form's holder data differ from the registry's
)

// decisionCodes lists the codes of Decide, in the order of its rules.
var decisionCodes = []Code{
	CodeAccepted, CodeAlreadyRevoked, CodeNotVerified, CodeMissingField, CodeInvalidField, CodeUnknownReason,
	CodeUnknownSerial, CodeForeignCA, CodeAmbiguousSerial, CodeHolderMismatch, CodeNotRepresentative,
	CodeMandateExpired, CodeRoleMismatch, CodeFormMismatch,
}

// DecisionCodes returns every code Decide can return, acceptances
// included. Whoever renders codes (notify's templates, the review desk)
// tests that it covers them all.
func DecisionCodes() []Code { return append([]Code(nil), decisionCodes...) }

// Accepted reports whether c lets the request through: CodeAccepted or
// CodeAlreadyRevoked.
func (c Code) Accepted() bool { return c == CodeAccepted || c == CodeAlreadyRevoked }

// ReasonCode is c as the store's reason code of a request: "" for a plain
// acceptance (a contract of `revokd queue list --json`), else c itself.
func (c Code) ReasonCode() Code {
	if c == CodeAccepted {
		return ""
	}
	return c
}

// ParseReasonCode reads a stored reason code back: "" is CodeAccepted.
// It does not check that the code is known (KnownCode does).
func ParseReasonCode(s string) Code {
	if s == "" {
		return CodeAccepted
	}
	return Code(s)
}

// The codes of a verification that did not pass, one per pdfverify
// sub-indication: the sub-indication in lower case.
const (
	CodeFormatFailure              Code = "format_failure"
	CodeHashFailure                Code = "hash_failure"
	CodeSigCryptoFailure           Code = "sig_crypto_failure"
	CodeRevoked                    Code = "revoked"
	CodeSigConstraintsFailure      Code = "sig_constraints_failure"
	CodeChainConstraintsFailure    Code = "chain_constraints_failure"
	CodeCertificateChainGeneral    Code = "certificate_chain_general_failure"
	CodeNoCertificateChainFound    Code = "no_certificate_chain_found"
	CodeNoSigningCertificate       Code = "no_signing_certificate_found"
	CodeNotYetValid                Code = "not_yet_valid"
	CodeOutOfBoundsNoPOE           Code = "out_of_bounds_no_poe"
	CodeRevokedNoPOE               Code = "revoked_no_poe"
	CodeRevokedCANoPOE             Code = "revoked_ca_no_poe"
	CodeTryLater                   Code = "try_later"
	CodeCryptoConstraintsFailedPOE Code = "crypto_constraints_failure_no_poe"
	CodeCryptoConstraintsFailure   Code = "crypto_constraints_failure"
	CodeSignedDataNotFound         Code = "signed_data_not_found"
	CodeGenericIndeterminate       Code = "generic"
	CodeNotSigned                  Code = "not_signed"
	CodeModifiedAfterSigning       Code = "modified_after_signing"
	CodePartialCoverage            Code = "partial_coverage"
	CodeSignaturesDisagree         Code = "signatures_disagree"
	CodeByteRangeInvalid           Code = "byte_range_invalid"
	CodePolicyNotAccepted          Code = "policy_not_accepted"
	CodeKeyUsageNotAllowed         Code = "key_usage_not_allowed"
	CodeEncrypted                  Code = "encrypted"
	CodeSigningCertificateMismatch Code = "signing_certificate_mismatch"
	CodeInternalError              Code = "internal_error"
)

// verificationCodes maps every sub-indication pdfverify can give to the
// code stored and rendered for it. A sub-indication missing here is a
// test failure (TestEverySubIndicationHasACode), not a silent default.
var verificationCodes = map[pdfverify.SubIndication]Code{
	pdfverify.FormatFailure:              CodeFormatFailure,
	pdfverify.HashFailure:                CodeHashFailure,
	pdfverify.SigCryptoFailure:           CodeSigCryptoFailure,
	pdfverify.Revoked:                    CodeRevoked,
	pdfverify.SigConstraintsFailure:      CodeSigConstraintsFailure,
	pdfverify.ChainConstraintsFailure:    CodeChainConstraintsFailure,
	pdfverify.CertificateChainGeneralErr: CodeCertificateChainGeneral,
	pdfverify.NoCertificateChainFound:    CodeNoCertificateChainFound,
	pdfverify.NoSigningCertificate:       CodeNoSigningCertificate,
	pdfverify.NotYetValid:                CodeNotYetValid,
	pdfverify.OutOfBoundsNoPOE:           CodeOutOfBoundsNoPOE,
	pdfverify.RevokedNoPOE:               CodeRevokedNoPOE,
	pdfverify.RevokedCANoPOE:             CodeRevokedCANoPOE,
	pdfverify.TryLater:                   CodeTryLater,
	pdfverify.CryptoConstraintsFailed:    CodeCryptoConstraintsFailedPOE,
	pdfverify.CryptoConstraintsFailure:   CodeCryptoConstraintsFailure,
	pdfverify.SignedDataNotFound:         CodeSignedDataNotFound,
	pdfverify.GenericIndeterminate:       CodeGenericIndeterminate,
	pdfverify.NotSigned:                  CodeNotSigned,
	pdfverify.ModifiedAfterSigning:       CodeModifiedAfterSigning,
	pdfverify.PartialCoverage:            CodePartialCoverage,
	pdfverify.SignaturesDisagree:         CodeSignaturesDisagree,
	pdfverify.ByteRangeInvalid:           CodeByteRangeInvalid,
	pdfverify.PolicyNotAccepted:          CodePolicyNotAccepted,
	pdfverify.KeyUsageNotAllowed:         CodeKeyUsageNotAllowed,
	pdfverify.Encrypted:                  CodeEncrypted,
	pdfverify.SignerCertificateSwap:      CodeSigningCertificateMismatch,
	pdfverify.InternalError:              CodeInternalError,
}

// VerificationCode returns the code of a report that did not pass, from
// its sub-indication. A sub-indication outside the table (a report from a
// newer pdfverify, or none at all) is CodeNotVerified: still a refusal.
func VerificationCode(s pdfverify.SubIndication) Code {
	if c, ok := verificationCodes[s]; ok {
		return c
	}
	return CodeNotVerified
}

// VerificationCodes returns the codes of every sub-indication that
// pdfverify lists (pdfverify.SubIndications), in that order.
func VerificationCodes() []Code {
	var out []Code
	for _, s := range pdfverify.SubIndications() {
		out = append(out, VerificationCode(s))
	}
	return out
}

// AllCodes returns every code a request can end with: the verification's
// and Decide's, each once.
func AllCodes() []Code {
	seen := map[Code]bool{}
	var out []Code
	for _, c := range append(VerificationCodes(), decisionCodes...) {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// KnownCode reports whether c is one of AllCodes.
func KnownCode(c Code) bool {
	for _, k := range AllCodes() {
		if k == c {
			return true
		}
	}
	return false
}

// Field names a piece of the request form by its meaning: the keys of the
// [form.fields] configuration table, whatever the CA's form calls them.
type Field string

// The fields Decide reads.
const (
	FieldSerial                  Field = "serial"
	FieldReason                  Field = "reason"
	FieldRole                    Field = "role"
	FieldHolderSurname           Field = "holder_surname"
	FieldHolderGivenName         Field = "holder_given_name"
	FieldHolderEmail             Field = "holder_email"
	FieldSIREN                   Field = "siren"
	FieldRepresentativeSurname   Field = "representative_surname"
	FieldRepresentativeGivenName Field = "representative_given_name"
	FieldRepresentativeEmail     Field = "representative_email"
)

// Fields returns every Field, in the form's order.
func Fields() []Field {
	return []Field{FieldSerial, FieldReason, FieldRole, FieldHolderSurname, FieldHolderGivenName, FieldHolderEmail,
		FieldSIREN, FieldRepresentativeSurname, FieldRepresentativeGivenName, FieldRepresentativeEmail}
}

// Fact is one form field at fault in a refusal.
type Fact struct {
	// Field is the field's meaning; FormField its name on the CA's form.
	Field     Field  `json:"field"`
	FormField string `json:"formField"`
	// Value is what the signed form holds ("" when empty): the sender
	// wrote it, so it may be shown to the sender.
	Value string `json:"value"`
	// Registry is what the registry holds for that field when the two
	// were compared ("" otherwise). It is for the operators only: the
	// sender must never learn registry data from an answer.
	Registry string `json:"registry,omitempty"`
}

// SignerFacts identifies the certificate that signed the form, for the
// operator's view of a refusal.
type SignerFacts struct {
	Subject   string    `json:"subject"`
	Serial    string    `json:"serial"` // lower-case hex
	IssuerDN  string    `json:"issuerDN"`
	Email     string    `json:"email,omitempty"`
	SIREN     string    `json:"siren,omitempty"`
	OurCA     bool      `json:"ourCA"` // signed by one of Options.Issuers
	Identity  string    `json:"identitySerial,omitempty"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
}
