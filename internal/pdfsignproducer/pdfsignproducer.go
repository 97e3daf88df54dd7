// Package pdfsignproducer signs PDFs with github.com/digitorus/pdfsign/sign,
// a producer independent of internal/testsign, for differential tests of
// the verifier. It is imported by tests only: the revokd binary must not
// link pdfsign, a library kept out of every decision.
package pdfsignproducer

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/digitorus/pdf"
	"github.com/digitorus/pdfsign/sign"
)

// Sign signs pdf with github.com/digitorus/pdfsign/sign with key, the
// signer's certificate cert and its chain, at when (zero: now).
//
// pdfsign/sign replaces the catalog's AcroForm with one holding only its
// own signature field, so the fields of a form are lost: give it a plain
// PDF (testsign.Plain). It only writes adbe.pkcs7.detached signatures,
// always RSA PKCS #1 v1.5 or ECDSA, never PSS. No revocation data is
// fetched or embedded (no RevocationFunction), and no time-stamp
// requested.
func Sign(in []byte, key crypto.Signer, cert *x509.Certificate, chain []*x509.Certificate, when time.Time) ([]byte, error) {
	if key == nil || cert == nil {
		return nil, errors.New("a key and a certificate are required")
	}
	if when.IsZero() {
		when = time.Now()
	}
	rdr, err := pdf.NewReader(bytes.NewReader(in), int64(len(in)))
	if err != nil {
		return nil, fmt.Errorf("pdfsign: reading the document: %w", err)
	}
	var out bytes.Buffer
	err = sign.Sign(bytes.NewReader(in), &out, rdr, int64(len(in)), sign.SignData{
		Signature: sign.SignDataSignature{
			Info: sign.SignDataSignatureInfo{
				Name:   cert.Subject.CommonName,
				Reason: "Demande de révocation",
				Date:   when,
			},
			CertType:   sign.ApprovalSignature,
			DocMDPPerm: sign.AllowFillingExistingFormFieldsAndSignaturesPerms,
		},
		Signer:            key,
		DigestAlgorithm:   crypto.SHA256,
		Certificate:       cert,
		CertificateChains: [][]*x509.Certificate{append([]*x509.Certificate{cert}, chain...)},
	})
	if err != nil {
		return nil, fmt.Errorf("pdfsign: signing: %w", err)
	}
	return out.Bytes(), nil
}
