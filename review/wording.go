package review

import (
	"strings"

	"github.com/revokd/revokd/authorize"
)

// codeDescriptions explains each reason code to an operator: what failed,
// and what usually lies behind it.
var codeDescriptions = map[authorize.Code]string{
	// Verification (pdfverify sub-indications, lower case).
	"format_failure":                    "The file is not a PDF revokd can read (damaged, truncated, too large or hostile).",
	"hash_failure":                      "The signed bytes do not match the signature's digest: the file was changed after signing.",
	"sig_crypto_failure":                "The signature value does not verify with the signer's key.",
	"revoked":                           "The signer's certificate was revoked at the validation time.",
	"sig_constraints_failure":           "The signature does not meet the signature constraints (algorithm, attributes).",
	"chain_constraints_failure":         "The signer's chain breaks a constraint (validity, basic constraints, name constraints).",
	"certificate_chain_general_failure": "The signer's chain could not be validated.",
	"no_certificate_chain_found":        "The signer's certificate does not chain to a configured trust anchor.",
	"no_signing_certificate_found":      "The signature carries no usable signer certificate.",
	"not_yet_valid":                     "The signer's certificate was not yet valid at the validation time.",
	"out_of_bounds_no_poe":              "The signer's certificate had expired at the validation time.",
	"revoked_no_poe":                    "The signer's certificate is revoked and nothing proves the signature came before.",
	"try_later":                         "The signer's revocation status could not be learnt (CRL or OCSP unreachable).",
	"crypto_constraints_failure_no_poe": "The signature uses an algorithm or key size no longer accepted.",
	"signed_data_not_found":             "The signed data could not be found in the file.",
	"generic":                           "The signature could not be validated for a reason the report details.",
	"not_signed":                        "The PDF carries no signature.",
	"modified_after_signing":            "The PDF was changed after it was signed (a revision appended after the signature changes the form or the pages). The form shown is the one that was signed.",
	"partial_coverage":                  "The signature does not cover the whole file: bytes were added that are not an incremental update.",
	"signatures_disagree":               "The PDF carries several signatures that do not cover the same form values.",
	"byte_range_invalid":                "The signature's ByteRange does not cover the file as the rules require.",
	"policy_not_accepted":               "The signer's certificate is not of an accepted level (RGS ** or eIDAS advanced/qualified policy).",
	"key_usage_not_allowed":             "The signer's certificate does not allow signing.",
	"encrypted":                         "The PDF is encrypted.",
	"signing_certificate_mismatch":      "The certificate the signature binds is not the one that signed (a substituted signer).",
	// Authorisation (authorize codes).
	"not_verified":       "The signature was not verified, so nobody's right to revoke was examined.",
	"missing_field":      "A required field of the form is empty.",
	"invalid_field":      "The serial or the requester's role in the form cannot be read.",
	"unknown_reason":     "The form's revocation reason is not on the CA's list.",
	"unknown_serial":     "No certificate of the registry has the serial the form names (often a typo in the serial).",
	"foreign_ca":         "The serial belongs only to certificates of other CAs.",
	"ambiguous_serial":   "Several of the CA's certificates have this serial; the form does not say which.",
	"holder_mismatch":    "The form says the holder signed, but the signer is not the certificate's holder.",
	"not_representative": "The form says a legal representative signed, but the signer is not registered as one for this organisation.",
	"mandate_expired":    "The signer is registered as a legal representative, but not at the validation time.",
	"role_mismatch":      "The signer has the other role than the one the form claims.",
	"form_mismatch":      "The form's holder data (names, e-mail, SIREN) differ from the registry's (often a typo).",
	"unspecified":        "Refused without a reason code.",
	"internal_error":     "revokd failed on this file (an internal error was recovered): re-verify it, and report it.",
}

// Describe explains a reason code to an operator in one sentence: what
// failed, and what usually lies behind it. The sender's words are
// notify's; these are the desk's.
func Describe(code authorize.Code) string {
	if d, ok := codeDescriptions[authorize.Code(strings.ToLower(string(code)))]; ok {
		return d
	}
	if code == "" {
		return ""
	}
	return "Refused with code " + string(code) + "."
}
