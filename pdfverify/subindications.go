package pdfverify

// subIndications lists every sub-indication a Report can carry. Whoever
// turns sub-indications into words or codes (authorize's code table,
// notify's templates) tests against this list, so a sub-indication added
// here without its words fails their tests; TestSubIndicationsListed
// fails when a constant is declared without being added here.
var subIndications = []SubIndication{
	FormatFailure,
	HashFailure,
	SigCryptoFailure,
	Revoked,
	SigConstraintsFailure,
	ChainConstraintsFailure,
	CertificateChainGeneralErr,
	NoCertificateChainFound,
	NoSigningCertificate,
	NotYetValid,
	OutOfBoundsNoPOE,
	RevokedNoPOE,
	RevokedCANoPOE,
	TryLater,
	CryptoConstraintsFailed,
	CryptoConstraintsFailure,
	SignedDataNotFound,
	GenericIndeterminate,
	NotSigned,
	ModifiedAfterSigning,
	PartialCoverage,
	SignaturesDisagree,
	ByteRangeInvalid,
	PolicyNotAccepted,
	KeyUsageNotAllowed,
	Encrypted,
	SignerCertificateSwap,
	InternalError,
}

// SubIndications returns every sub-indication a Report can carry.
func SubIndications() []SubIndication { return append([]SubIndication(nil), subIndications...) }
