package testsign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"strings"
)

// The attacks below each break one rule of DESIGN's verification rules and
// leave everything else genuine, so a verifier test can check that the
// file is rejected for that reason and no other.

// ChangeFieldAfterSigning appends an incremental update that redefines the
// object of form field field with value as its /V (and a matching
// appearance): the "incremental saving attack". The signature still
// verifies over the revision it covers; the latest revision says something
// else.
func ChangeFieldAfterSigning(signed []byte, field, value string) ([]byte, error) {
	e, err := editField(signed, field)
	if err != nil {
		return nil, err
	}
	u, f := e.u, e.f
	d := f.dict.clone()
	d.set("V", textString(value))
	if rect, ok := d.get("Rect").(pdfArray); ok && len(rect) == 4 {
		// A new appearance, so that a viewer shows the new value too.
		w, h := number(rect[2])-number(rect[0]), number(rect[3])-number(rect[1])
		d.set("AP", newDict("N", u.add(textAppearance(w, h, value, e.fontRes))))
	}
	u.set(f.ref.num, d)
	out, _ := u.write()
	return out, nil
}

func number(o object) float64 {
	switch v := o.(type) {
	case int64:
		return float64(v)
	case int:
		return float64(v)
	case float64:
		return v
	}
	return 0
}

// tamperText is what the page and annotation attacks add to the page.
const tamperText = "Modifié après signature"

// ChangePageAfterSigning appends an incremental update that redefines the
// first page's content stream (the same object number) with the original
// content plus a line of text. The page dictionary itself is unchanged.
func ChangePageAfterSigning(signed []byte) ([]byte, error) {
	doc, err := parseDocument(signed)
	if err != nil {
		return nil, fmt.Errorf("reading the document: %w", err)
	}
	_, page, err := firstPage(doc)
	if err != nil {
		return nil, err
	}
	ref, ok := page.get("Contents").(pdfRef)
	if !ok {
		arr, err := arrayOf(doc, page.get("Contents"))
		if err != nil || len(arr) == 0 {
			return nil, errors.New("page has no content stream")
		}
		if ref, ok = arr[0].(pdfRef); !ok {
			return nil, errors.New("page content is not a reference")
		}
	}
	o, err := doc.get(ref.num)
	if err != nil {
		return nil, err
	}
	s, ok := o.(*pdfStream)
	if !ok {
		return nil, errors.New("page content is not a stream")
	}
	content, err := decodeStream(s)
	if err != nil {
		return nil, fmt.Errorf("decoding the page content: %w", err)
	}
	var c bytes.Buffer
	c.Write(content)
	c.WriteString("\nq BT /F1 14 Tf 1 0 0 rg 50 40 Td ")
	showText(&c, tamperText)
	c.WriteString(" Tj ET Q\n")
	d := s.dict.clone()
	d.set("Filter", pdfName("FlateDecode"))
	d.del("DecodeParms")
	u := newUpdate(doc)
	u.set(ref.num, &pdfStream{dict: d, data: deflate(c.Bytes())})
	out, _ := u.write()
	return out, nil
}

// AddAnnotationAfterSigning appends an incremental update that adds a
// FreeText annotation to the first page's /Annots.
func AddAnnotationAfterSigning(signed []byte) ([]byte, error) {
	doc, err := parseDocument(signed)
	if err != nil {
		return nil, fmt.Errorf("reading the document: %w", err)
	}
	pageRef, page, err := firstPage(doc)
	if err != nil {
		return nil, err
	}
	u := newUpdate(doc)
	font := u.add(newDict("Type", pdfName("Font"), "Subtype", pdfName("Type1"),
		"BaseFont", pdfName("Helvetica"), "Encoding", pdfName("WinAnsiEncoding")))
	var c bytes.Buffer
	c.WriteString("q BT /Helv 12 Tf 1 0 0 rg 2 8 Td ")
	showText(&c, tamperText)
	c.WriteString(" Tj ET Q\n")
	ap := u.add(&pdfStream{
		dict: newDict("Type", pdfName("XObject"), "Subtype", pdfName("Form"),
			"BBox", pdfArray{0, 0, 300, 24}, "Resources", newDict("Font", newDict("Helv", font))),
		data: c.Bytes(),
	})
	annot := u.add(newDict(
		"Type", pdfName("Annot"),
		"Subtype", pdfName("FreeText"),
		"Rect", pdfArray{50, 30, 350, 54},
		"Contents", textString(tamperText),
		"DA", pdfString{b: []byte("/Helv 12 Tf 1 0 0 rg")},
		"F", 4,
		"P", pageRef,
		"AP", newDict("N", ap),
	))
	if err := addAnnot(doc, u, pageRef, page, annot); err != nil {
		return nil, err
	}
	out, _ := u.write()
	return out, nil
}

// lastSignature returns the object number of the signature dictionary
// written last in the file (the highest offset) among the AcroForm's
// signed signature fields.
func lastSignature(doc *document) (int, error) {
	acro, err := acroForm(doc)
	if err != nil {
		return 0, err
	}
	if acro == nil {
		return 0, errors.New("document has no AcroForm")
	}
	best, bestOff := 0, int64(-1)
	err = walkFields(doc, acro, func(_ string, f formField) error {
		r, ok := f.dict.get("V").(pdfRef)
		if !ok || f.inherited(doc, "FT") != pdfName("Sig") {
			return nil
		}
		off, err := doc.objectOffset(r.num)
		if err == nil && off > bestOff {
			best, bestOff = r.num, off
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if bestOff < 0 {
		return 0, errors.New("no signature found")
	}
	return best, nil
}

// ZeroContents sets every hex digit of the last signature's /Contents to 0,
// keeping its length: the byte range still matches, the CMS is gone.
func ZeroContents(signed []byte) ([]byte, error) {
	doc, err := parseDocument(signed)
	if err != nil {
		return nil, fmt.Errorf("reading the document: %w", err)
	}
	num, err := lastSignature(doc)
	if err != nil {
		return nil, err
	}
	start, end, err := doc.valueSpan(num, "Contents")
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(signed)
	if out[start] != '<' || out[end-1] != '>' {
		return nil, errors.New("/Contents is not a hex string")
	}
	for i := start + 1; i < end-1; i++ {
		if !isWhite(out[i]) {
			out[i] = '0'
		}
	}
	return out, nil
}

// EmptyContents replaces the last signature's /Contents with the empty
// string <> and rewrites its /ByteRange so the gap is exactly those two
// bytes: the byte range is consistent, there is no CMS. The removed digits
// become spaces inside the dictionary, so no offset moves.
func EmptyContents(signed []byte) ([]byte, error) {
	doc, err := parseDocument(signed)
	if err != nil {
		return nil, fmt.Errorf("reading the document: %w", err)
	}
	num, err := lastSignature(doc)
	if err != nil {
		return nil, err
	}
	cs, ce, err := doc.valueSpan(num, "Contents")
	if err != nil {
		return nil, err
	}
	bs, be, err := doc.valueSpan(num, "ByteRange")
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(signed)
	copy(out[cs:ce], "<>"+strings.Repeat(" ", ce-cs-2))
	// The new array may be a digit longer: use the spaces after it too.
	for be < len(out) && out[be] == ' ' && be != cs {
		be++
	}
	newCE := int64(cs + 2)
	text := fmt.Sprintf("[0 %d %d %d]", cs, newCE, int64(len(out))-newCE)
	if len(text) > be-bs {
		return nil, fmt.Errorf("new byte range %s does not fit in %d bytes", text, be-bs)
	}
	copy(out[bs:be], text+strings.Repeat(" ", be-bs-len(text)))
	return out, nil
}

// Byte range forgeries, for SignOptions.ByteRange. Each takes the correct
// byte range and where /Contents lies, and returns a wrong one; Sign hashes
// whatever the range designates, so the digest matches unless the range
// covers /Contents (see ByteRangeOverlapping).

// ByteRangeOverlapping makes the second range start 16 bytes before the end
// of the first. Two ranges cannot overlap without one of them covering the
// /Contents hex string, whose value the signature cannot know in advance:
// the digest fails too, and a verifier must report the byte range first.
func ByteRangeOverlapping(br [4]int64, contentsStart, contentsEnd int64) [4]int64 {
	end := br[2] + br[3]
	start := br[1] - 16
	return [4]int64{0, br[1], start, end - start}
}

// ByteRangeNotFromZero leaves the first byte of the file (the "%" of
// "%PDF-") out of the first range.
func ByteRangeNotFromZero(br [4]int64, contentsStart, contentsEnd int64) [4]int64 {
	return [4]int64{1, br[1] - 1, br[2], br[3]}
}

// ByteRangeShort stops the second range 16 bytes before the end of the
// revision, leaving its startxref and %%EOF uncovered.
func ByteRangeShort(br [4]int64, contentsStart, contentsEnd int64) [4]int64 {
	return [4]int64{br[0], br[1], br[2], br[3] - 16}
}

// ByteRangePastEnd makes the second range run 100 bytes past the end of
// the file.
func ByteRangePastEnd(br [4]int64, contentsStart, contentsEnd int64) [4]int64 {
	return [4]int64{br[0], br[1], br[2], br[3] + 100}
}

// ByteRangeWideGap widens the gap to take in the "/Contents " key before
// the hex string: bytes outside the signature value go unsigned.
func ByteRangeWideGap(br [4]int64, contentsStart, contentsEnd int64) [4]int64 {
	k := int64(len("/Contents "))
	return [4]int64{0, br[1] - k, br[2], br[3]}
}

// ByteRangeIntoContents starts the second range 8 bytes before the end of
// the /Contents string, inside its zero padding: the gap is smaller than
// the string. The covered padding is known in advance, so the digest
// matches.
func ByteRangeIntoContents(br [4]int64, contentsStart, contentsEnd int64) [4]int64 {
	return [4]int64{0, br[1], br[2] - 8, br[3] + 8}
}

// Impersonate returns a fresh key of the same kind as cert's and a
// self-signed certificate copying cert's subject, serial number, e-mail
// addresses, validity, key usage and policies: what an attacker makes to
// pass for the holder.
func Impersonate(cert *x509.Certificate) (crypto.Signer, *x509.Certificate, error) {
	var key crypto.Signer
	var err error
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		key, err = rsa.GenerateKey(rand.Reader, pub.N.BitLen())
	case *ecdsa.PublicKey:
		key, err = ecdsa.GenerateKey(pub.Curve, rand.Reader)
	default:
		return nil, nil, fmt.Errorf("unsupported key type %T", cert.PublicKey)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("generating the attacker's key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).Set(cert.SerialNumber),
		RawSubject:            cert.RawSubject,
		NotBefore:             cert.NotBefore,
		NotAfter:              cert.NotAfter,
		KeyUsage:              cert.KeyUsage,
		ExtKeyUsage:           cert.ExtKeyUsage,
		EmailAddresses:        cert.EmailAddresses,
		Policies:              cert.Policies,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signing the attacker's certificate: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return key, c, nil
}

// SwapSigner signs form as genuine would, except that the signature is
// made with attackerKey: the SignerInfo names the genuine holder
// certificate (embedded, with its chain) and attackerCert is embedded
// beside it. Only the signature value is wrong.
func SwapSigner(form []byte, genuine SignOptions, attackerKey crypto.Signer, attackerCert *x509.Certificate) ([]byte, error) {
	o := genuine
	o.Key = attackerKey
	o.ExtraCerts = append(append([]*x509.Certificate(nil), o.ExtraCerts...), attackerCert)
	return Sign(form, o)
}

// SelfSignedWithGenuineChain signs form with a self-signed attacker
// certificate as the signer, and embeds the genuine holder certificate and
// its chain beside it: everything verifies except that the signer does not
// chain to a trust anchor. (pdfsign/verify reports such a file as valid
// and trusted.)
func SelfSignedWithGenuineChain(form []byte, genuine SignOptions, attackerKey crypto.Signer, attackerCert *x509.Certificate) ([]byte, error) {
	o := genuine
	o.Key, o.Cert, o.Chain = attackerKey, attackerCert, nil
	o.ExtraCerts = append(append([]*x509.Certificate{genuine.Cert}, genuine.Chain...), genuine.ExtraCerts...)
	return Sign(form, o)
}

// Truncate returns the first n bytes of signed (all of it when n is larger).
func Truncate(signed []byte, n int) []byte {
	return bytes.Clone(signed[:max(0, min(n, len(signed)))])
}

// Garbage returns size bytes that start with a PDF header and continue with
// pseudo-random bytes drawn from seed.
func Garbage(size int, seed uint64) []byte {
	out := []byte("%PDF-1.7\n")
	r := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for len(out) < size {
		out = append(out, byte(r.Uint32()))
	}
	return out[:max(size, 0)]
}

// AppendToCMS returns a SignOptions.CMS hook that writes extra after the
// genuine CMS in /Contents, where zero padding belongs: data a lenient
// verifier ignores.
func AppendToCMS(extra []byte) func(covered, cms []byte) []byte {
	return func(_, cms []byte) []byte { return append(append([]byte{}, cms...), extra...) }
}

// SecondCMS returns a SignOptions.CMS hook that writes the genuine CMS
// twice in /Contents, one after the other.
func SecondCMS() func(covered, cms []byte) []byte {
	return func(_, cms []byte) []byte { return append(append([]byte{}, cms...), cms...) }
}
