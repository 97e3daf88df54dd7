package pdfverify

import "time"

// Indication is the overall outcome of a validation, in the vocabulary of
// ETSI EN 319 102-1 (clause 5.1.3).
type Indication string

// The three indications of ETSI EN 319 102-1.
const (
	TotalPassed   Indication = "TOTAL_PASSED"
	TotalFailed   Indication = "TOTAL_FAILED"
	Indeterminate Indication = "INDETERMINATE"
)

// SubIndication says why a validation did not pass. The names follow ETSI
// EN 319 102-1 table 5 where one fits; the few that ETSI lacks (a PDF-level
// rule that ETSI leaves to the signature format) are marked below.
type SubIndication string

// Sub-indications used in reports. The empty string means none (TOTAL_PASSED).
const (
	// TOTAL_FAILED sub-indications.
	FormatFailure              SubIndication = "FORMAT_FAILURE"
	HashFailure                SubIndication = "HASH_FAILURE"
	SigCryptoFailure           SubIndication = "SIG_CRYPTO_FAILURE"
	Revoked                    SubIndication = "REVOKED"
	SigConstraintsFailure      SubIndication = "SIG_CONSTRAINTS_FAILURE"
	ChainConstraintsFailure    SubIndication = "CHAIN_CONSTRAINTS_FAILURE"
	CertificateChainGeneralErr SubIndication = "CERTIFICATE_CHAIN_GENERAL_FAILURE"

	// INDETERMINATE sub-indications.
	NoCertificateChainFound SubIndication = "NO_CERTIFICATE_CHAIN_FOUND"
	NoSigningCertificate    SubIndication = "NO_SIGNING_CERTIFICATE_FOUND"
	NotYetValid             SubIndication = "NOT_YET_VALID"
	OutOfBoundsNoPOE        SubIndication = "OUT_OF_BOUNDS_NO_POE"
	RevokedNoPOE            SubIndication = "REVOKED_NO_POE"
	// RevokedCANoPOE: a CA certificate of the signer's chain (not the
	// signer's own) was revoked at the validation time.
	RevokedCANoPOE SubIndication = "REVOKED_CA_NO_POE"
	TryLater       SubIndication = "TRY_LATER"
	// CryptoConstraintsFailed (CRYPTO_CONSTRAINTS_FAILURE_NO_POE): a key or
	// digest the signature relies on breaks Options.Algorithms at the
	// validation time and no signature timestamp proves an earlier
	// existence; also a CRL or OCSP response set aside for its algorithm
	// when nothing else gives the status, and a CMS digest the reader
	// refuses outright (MD5, SHA-1, SHA-224).
	CryptoConstraintsFailed SubIndication = "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
	// CryptoConstraintsFailure: a trusted signature timestamp proves when
	// the signature existed, and an algorithm it relies on was not allowed
	// then, or was allowed then but is no longer at the current time.
	CryptoConstraintsFailure SubIndication = "CRYPTO_CONSTRAINTS_FAILURE"
	SignedDataNotFound       SubIndication = "SIGNED_DATA_NOT_FOUND"
	GenericIndeterminate     SubIndication = "GENERIC"

	// Not in ETSI EN 319 102-1: PDF-level outcomes that the PAdES profile
	// leaves to the verifier. Each maps to TOTAL_FAILED.
	NotSigned             SubIndication = "NOT_SIGNED"
	ModifiedAfterSigning  SubIndication = "MODIFIED_AFTER_SIGNING"
	PartialCoverage       SubIndication = "PARTIAL_COVERAGE"
	SignaturesDisagree    SubIndication = "SIGNATURES_DISAGREE"
	ByteRangeInvalid      SubIndication = "BYTE_RANGE_INVALID"
	PolicyNotAccepted     SubIndication = "POLICY_NOT_ACCEPTED"
	KeyUsageNotAllowed    SubIndication = "KEY_USAGE_NOT_ALLOWED"
	Encrypted             SubIndication = "ENCRYPTED"
	SignerCertificateSwap SubIndication = "SIGNING_CERTIFICATE_MISMATCH"

	// InternalError (INDETERMINATE, not in ETSI EN 319 102-1) says that
	// the verifier itself failed on this file: a bug to report, never the
	// file's fault. The file may be genuine; verify it again once fixed.
	InternalError SubIndication = "INTERNAL_ERROR"
)

// Outcome is the result of one check.
type Outcome string

// Outcomes of a Check.
const (
	Passed  Outcome = "passed"
	Failed  Outcome = "failed"
	Unknown Outcome = "unknown" // the check could not conclude (INDETERMINATE)
	Info    Outcome = "info"    // reported, proves nothing (claimed signing time, PDF/A level)
)

// Check is one verification step as an operator reads it.
type Check struct {
	// Name is a stable identifier, e.g. "byterange", "cms.digest", "chain".
	Name    string  `json:"name"`
	Outcome Outcome `json:"outcome"`
	// SubIndication is set when Outcome is Failed or Unknown.
	SubIndication SubIndication `json:"subIndication,omitempty"`
	// Detail is one English sentence saying what was found.
	Detail string `json:"detail"`
}

// Signer identifies the certificate that made a signature.
type Signer struct {
	Subject      string `json:"subject"`
	CommonName   string `json:"commonName,omitempty"`
	Surname      string `json:"surname,omitempty"`
	GivenName    string `json:"givenName,omitempty"`
	Email        string `json:"email"`
	SerialNumber string `json:"serialNumber"` // certificate serial, lower-case hex
	// IdentitySerial is the subject's SERIALNUMBER attribute (2.5.4.5), the
	// person's identifier in RGS certificates; empty when absent.
	IdentitySerial string `json:"identitySerial,omitempty"`
	Organization   string `json:"organization,omitempty"`
	// SIREN of the organisation, from OU "0002 <SIREN>" or
	// organizationIdentifier "NTRFR-<SIREN>"; empty when absent.
	SIREN     string    `json:"siren,omitempty"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	// CertificateDER is the signer certificate, DER, base64 in JSON.
	CertificateDER []byte `json:"certificate,omitempty"`
}

// SignatureReport is the validation of one signature dictionary.
type SignatureReport struct {
	FieldName     string        `json:"fieldName"`
	Indication    Indication    `json:"indication"`
	SubIndication SubIndication `json:"subIndication,omitempty"`
	SubFilter     string        `json:"subFilter"`
	Signer        *Signer       `json:"signer,omitempty"`
	// SigningTime is the claimed signing time (signingTime attribute, else
	// /M). It is reported but proves nothing.
	SigningTime *time.Time `json:"signingTime,omitempty"`
	// TimestampTime is the genTime of a valid signature timestamp.
	TimestampTime *time.Time `json:"timestampTime,omitempty"`
	// ValidationTime is the time the chain and revocation were checked at.
	ValidationTime      time.Time `json:"validationTime"`
	PolicyOIDs          []string  `json:"policyOIDs"`
	CoversWholeDocument bool      `json:"coversWholeDocument"`
	ByteRange           []int64   `json:"byteRange,omitempty"`
	// SignedRevisionLength is the length of the bytes this signature covers
	// (the end of its ByteRange).
	SignedRevisionLength int64 `json:"signedRevisionLength"`
	// RevocationSource says where the signer's status came from: "crl",
	// "ocsp", "embedded-crl", "embedded-ocsp", or empty.
	RevocationSource string  `json:"revocationSource,omitempty"`
	Checks           []Check `json:"checks"`
}

// Report is the validation of one PDF file.
type Report struct {
	Indication    Indication    `json:"indication"`
	SubIndication SubIndication `json:"subIndication,omitempty"`
	// Reason is one English sentence an operator reads first.
	Reason     string            `json:"reason"`
	Signatures []SignatureReport `json:"signatures"`
	// Form holds the AcroForm text values of the signed revision, by fully
	// qualified field name, decoded to UTF-8. Nil when no signed revision
	// could be read.
	Form map[string]string `json:"form"`
	// PDFA is the PDF/A identification from the XMP metadata ("2B", "3A",
	// ...), empty when the file does not claim PDF/A.
	PDFA string `json:"pdfa,omitempty"`
	// SHA256 is the hash of the whole file, lower-case hex.
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Checks are the document-level checks (structure, coverage, ...).
	Checks []Check `json:"checks"`
}

// Accepted reports whether the file passed every check.
func (r *Report) Accepted() bool { return r != nil && r.Indication == TotalPassed }

// DecisiveSignature returns the signature whose signed revision the form was
// read from (the last approval signature), or nil when there is none.
func (r *Report) DecisiveSignature() *SignatureReport {
	if r == nil || len(r.Signatures) == 0 {
		return nil
	}
	return &r.Signatures[len(r.Signatures)-1]
}

// FormatFailureReport returns the report of input that could not even be
// read as a PDF (too large, not a file), for callers that reject it before
// calling Verify.
func FormatFailureReport(reason string, size int64) *Report {
	return &Report{
		Indication:    TotalFailed,
		SubIndication: FormatFailure,
		Reason:        reason,
		Signatures:    []SignatureReport{},
		Size:          size,
		Checks:        []Check{{Name: "structure", Outcome: Failed, SubIndication: FormatFailure, Detail: reason}},
	}
}
