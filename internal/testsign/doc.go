// Package testsign produces the PDF files revokd is tested and demonstrated
// with: the reference revocation request form, genuine PAdES signatures
// over it, and forgeries that each break exactly one verification rule.
//
// Typical use, with a key and certificate from internal/testpki:
//
//	form, err := testsign.Form(map[string]string{"titulaire_nom": "Dupont", ...}, testsign.FormOptions{})
//	signed, err := testsign.Sign(form, testsign.SignOptions{
//		Key: holder.Key, Cert: holder.Cert, Chain: holder.Chain,
//		SubFilter: testsign.SubFilterCAdES,
//	})
//	forged, err := testsign.ChangeFieldAfterSigning(signed, "certificat_numero_serie", "01")
//
// Every byte is written here, by hand: objects, classic cross-reference
// tables or cross-reference streams with object streams, and incremental
// updates. Sign, AddDSS, AddDocTimestamp and the attacks read the file they
// amend with a small reader of their own, meant for files this package (or
// another producer following the specification) wrote. It is bounded
// against loops but is not a verifier's parser: never use it to decide
// anything about an untrusted file. internal/pdfsignproducer is a second,
// independent producer (github.com/digitorus/pdfsign/sign), for tests only.
//
// The package does not import testing: the demo command uses it too. It
// makes signatures with whatever key it is given; nothing here is fit to
// sign a real document.
package testsign
