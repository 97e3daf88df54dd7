package testsign

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

// Plain returns a one-page PDF with the given lines of text and nothing
// else: no form, no metadata. It is the input SignWithPdfsign is meant for.
func Plain(lines ...string) []byte {
	var l objList
	catalog := l.reserve()
	pages := l.reserve()
	page := l.reserve()
	font := l.add(newDict("Type", pdfName("Font"), "Subtype", pdfName("Type1"),
		"BaseFont", pdfName("Helvetica"), "Encoding", pdfName("WinAnsiEncoding")))
	var c bytes.Buffer
	for i, line := range lines {
		fmt.Fprintf(&c, "BT /F1 12 Tf 50 %d Td ", 790-16*i)
		showText(&c, line)
		c.WriteString(" Tj ET\n")
	}
	contents := l.add(&pdfStream{dict: newDict(), data: c.Bytes()})
	l.put(page, newDict(
		"Type", pdfName("Page"),
		"Parent", pages,
		"MediaBox", pdfArray{0, 0, pageWidth, pageHeight},
		"Resources", newDict("Font", newDict("F1", font)),
		"Contents", contents,
	))
	l.put(pages, newDict("Type", pdfName("Pages"), "Kids", pdfArray{page}, "Count", 1))
	l.put(catalog, newDict("Type", pdfName("Catalog"), "Pages", pages))
	return writeFile(l.objs, newDict("Root", catalog), false)
}

// SignWithPdfsign signs pdf with github.com/digitorus/pdfsign/sign, a
// producer independent of Sign, for differential tests of the verifier.
// It uses o.Key, o.Cert, o.Chain and o.SigningTime (zero: now) and ignores
// the rest.
//
// pdfsign/sign replaces the catalog's AcroForm with one holding only its
// own signature field, so the fields of a form are lost: give it a plain
// PDF (see Plain). It only writes adbe.pkcs7.detached signatures, always
// RSA PKCS #1 v1.5 or ECDSA, never PSS. No revocation data is fetched or embedded (no RevocationFunction), and
// no time-stamp requested.
func SignWithPdfsign(in []byte, o SignOptions) ([]byte, error) {
	if o.Key == nil || o.Cert == nil {
		return nil, errors.New("a key and a certificate are required")
	}
	if o.PSS || (o.SubFilter != "" && o.SubFilter != SubFilterPKCS7) {
		return nil, errors.New("pdfsign writes only adbe.pkcs7.detached with PKCS #1 v1.5 or ECDSA")
	}
	when := o.SigningTime
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
				Name:   o.Cert.Subject.CommonName,
				Reason: "Demande de révocation",
				Date:   when,
			},
			CertType:   sign.ApprovalSignature,
			DocMDPPerm: sign.AllowFillingExistingFormFieldsAndSignaturesPerms,
		},
		Signer:            o.Key,
		DigestAlgorithm:   crypto.SHA256,
		Certificate:       o.Cert,
		CertificateChains: [][]*x509.Certificate{append([]*x509.Certificate{o.Cert}, o.Chain...)},
	})
	if err != nil {
		return nil, fmt.Errorf("pdfsign: signing: %w", err)
	}
	return out.Bytes(), nil
}
