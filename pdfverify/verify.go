// Package pdfverify decides whether a PDF carries a genuine PAdES signature
// and reads the form that signature covers.
//
// Verify checks, for every signature dictionary of the document:
//   - the ByteRange: it starts at 0, has two ranges, its gap is exactly the
//     /Contents hex string of that same signature dictionary, nothing
//     overlaps, and it ends on a revision's %%EOF inside the file;
//   - the CMS (adbe.pkcs7.detached or ETSI.CAdES.detached): one SignerInfo,
//     messageDigest equal to the hash of the covered bytes, the signature
//     over the signed attributes, the ESS signing-certificate(-v2) binding
//     (mandatory for CAdES), and that the signer is the certificate whose
//     key made the signature, whatever else the CMS embeds;
//   - a signature timestamp, whose time becomes the validation time when
//     the token is valid and its TSA is trusted: a critical timeStamping
//     extended key usage, a chain to Options.Roots, no revocation at the
//     token's time nor a later one for key compromise, algorithms allowed;
//   - the chain to Options.Roots at the validation time, the key usage
//     (digitalSignature or nonRepudiation) and extended key usage (one
//     that allows document signing, when present), an accepted policy
//     OID, and the revocation status of every certificate of the chain but
//     the anchor (a revoked CA is REVOKED_CA_NO_POE);
//   - that every key and digest relied on (signer, chain, timestamp, TSA,
//     CRLs, OCSP responses) meets Options.Algorithms, a dated table;
//
// and for the document: no encryption, a structure that reads one way only,
// nothing appended after the last signed revision but DSS (LTV) updates,
// document timestamps and what producers harmlessly rewrite with them,
// signatures that agree on the form, text fields whose appearances show
// their values, the AcroForm values read from the revision the last
// signature covers, and the PDF/A claim of its XMP metadata.
//
// Verify does not check: that the document really conforms to PDF/A (only
// the claim is read), text an appearance draws as paths or the page content
// around the fields, DocMDP/FieldMDP permissions, the signature
// policy (SignaturePolicyIdentifier) of CAdES-EPES, nor the revocation
// status of a document timestamp's authority. The claimed signing time (/M, the
// signingTime attribute) is reported but never used as the validation time.
//
// Hostile input (malformed, truncated, oversize, deeply nested, compression
// bombs) yields a FORMAT_FAILURE report within bounded time and memory.
package pdfverify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/revokd/revokd/pdfverify/internal/cades"
	"github.com/revokd/revokd/pdfverify/internal/pdfread"
	"github.com/revokd/revokd/pdfverify/internal/revocation"
)

const (
	subFilterPKCS7 = "adbe.pkcs7.detached"
	subFilterCAdES = "ETSI.CAdES.detached"
	subFilterTS    = "ETSI.RFC3161"
)

// ReadAll reads a whole PDF from r, refusing more than max bytes (zero:
// DefaultMaxFileBytes) with an error that wraps ErrTooLarge. When r can
// tell its size (an *os.File), the buffer is allocated once.
func ReadAll(r io.Reader, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxFileBytes
	}
	var buf bytes.Buffer
	if st, ok := r.(interface{ Stat() (os.FileInfo, error) }); ok {
		if fi, err := st.Stat(); err == nil && fi.Mode().IsRegular() {
			if fi.Size() > max {
				return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, fi.Size(), max)
			}
			buf.Grow(int(fi.Size()) + bytes.MinRead)
		}
	}
	if _, err := buf.ReadFrom(io.LimitReader(r, max+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
	}
	return buf.Bytes(), nil
}

// ErrTooLarge is returned by ReadAll for input over the size cap.
var ErrTooLarge = errors.New("file too large")

// parallelHashBytes is the size from which the whole file is hashed on a
// goroutine of its own: 1 MiB takes about 0.7 ms to hash (SHA-256 at
// 1.4 GB/s), more than starting a thread costs.
const parallelHashBytes = 1 << 20

// Verify validates the PDF in data. The error is non-nil only for invalid
// options or a cancelled context; everything wrong with the file itself is
// in the Report, which is then not TOTAL_PASSED.
func Verify(ctx context.Context, data []byte, opts *Options) (*Report, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.TimeBudget)
	defer cancel()

	// The file's own hash is evidence, not part of any check. A large
	// file's is computed beside the verification, on another core when
	// there is one; for a small one a second thread costs more than it
	// saves.
	fileHash := make(chan string, 1)
	hashFile := func() {
		sum := sha256.Sum256(data)
		fileHash <- hex.EncodeToString(sum[:])
	}
	if len(data) >= parallelHashBytes {
		go hashFile()
	} else {
		hashFile()
	}
	v := &verification{ctx: ctx, o: &o, data: data, report: &Report{
		Size:       int64(len(data)),
		Signatures: []SignatureReport{},
	}}
	func() {
		defer func() {
			// One file must never take the worker down; a panic is a bug
			// of the verifier, not the file's fault (see internalError).
			if p := recover(); p != nil {
				v.internalError(p)
			}
		}()
		v.run()
	}()
	if err := ctx.Err(); err != nil && v.report.Indication != TotalFailed && v.report.SubIndication != InternalError {
		if parent := context.Cause(ctx); errors.Is(parent, context.Canceled) {
			return nil, err
		}
		v.docFail("time-budget", FormatFailure, fmt.Sprintf("verification took longer than %v", o.TimeBudget))
	}
	v.finish()
	v.report.SHA256 = <-fileHash
	return v.report, nil
}

type verification struct {
	ctx    context.Context
	o      *Options
	data   []byte
	file   *pdfread.File
	report *Report
	failed bool
	dss    *dssContent
	fields []pdfread.Field // of the latest revision
}

type sigField struct {
	name string
	ref  pdfread.Ref
	dict pdfread.Dict
}

func (v *verification) check(c Check) { v.report.Checks = append(v.report.Checks, c) }

func (v *verification) docPass(name, detail string) {
	v.check(Check{Name: name, Outcome: Passed, Detail: detail})
}

// docFail records a failed document-level check; the first one decides the
// report's indication.
func (v *verification) docFail(name string, sub SubIndication, detail string) {
	outcome := Failed
	if indicationOf(sub) == Indeterminate {
		outcome = Unknown
	}
	v.check(Check{Name: name, Outcome: outcome, SubIndication: sub, Detail: detail})
	if !v.failed {
		v.failed = true
		v.report.Indication = indicationOf(sub)
		v.report.SubIndication = sub
		v.report.Reason = detail
	}
}

func (v *verification) run() {
	data := v.data
	if int64(len(data)) > v.o.MaxFileBytes {
		v.docFail("size", FormatFailure, fmt.Sprintf("the file is %d bytes, over the %d-byte limit", len(data), v.o.MaxFileBytes))
		return
	}
	// QUIRK: readers tolerate up to 1024 bytes before %PDF-; a signed form
	// has none, and bytes no revision accounts for are refused.
	if !bytes.HasPrefix(data, []byte("%PDF-")) {
		v.docFail("structure", FormatFailure, "the file is not a PDF (it does not start with %PDF-)")
		return
	}
	f, err := pdfread.Open(data, pdfread.Limits{})
	if err != nil {
		v.docFail("structure", FormatFailure, "the PDF structure is invalid: "+err.Error())
		return
	}
	v.file = f
	if f.Encrypted() {
		v.docFail("encryption", Encrypted, "the PDF is encrypted; a revocation request must not be")
		return
	}
	if !v.checkStructure() {
		return
	}
	v.docPass("structure", "the cross-reference chain and catalog were read")

	fields, err := f.Fields()
	if err != nil {
		v.docFail("structure", FormatFailure, "the form fields cannot be read: "+err.Error())
		return
	}
	v.fields = fields
	sigs, err := v.signatureFields(fields)
	if err != nil {
		v.docFail("signatures", FormatFailure, err.Error())
		return
	}
	if len(sigs) == 0 {
		v.docFail("signatures", NotSigned, "the document has no signature")
		return
	}

	views := make([]*signedView, 0, len(sigs))
	for _, s := range sigs {
		if v.ctx.Err() != nil {
			return
		}
		sr, view := v.verifySignature(s)
		v.report.Signatures = append(v.report.Signatures, sr)
		if view != nil {
			views = append(views, view)
		}
	}
	slices.SortStableFunc(v.report.Signatures, func(a, b SignatureReport) int {
		return int(a.SignedRevisionLength - b.SignedRevisionLength)
	})
	if len(views) != len(sigs) {
		return // a signature without a readable signed revision already failed
	}
	slices.SortFunc(views, func(a, b *signedView) int { return int(a.end - b.end) })
	for i := 1; i < len(views); i++ {
		if views[i].end == views[i-1].end {
			v.docFail("signatures", FormatFailure, "two signatures cover the same bytes")
			return
		}
	}
	last := views[len(views)-1]
	v.checkCoverage(last)
	v.readForm(views)
}

// signatureFields lists the signature fields that hold a signature value,
// in field order.
func (v *verification) signatureFields(fields []pdfread.Field) ([]sigField, error) {
	var out []sigField
	for _, fl := range fields {
		if fl.Type != "Sig" || fl.Value == nil {
			continue
		}
		// Field.Value is resolved; the signature dictionary's own reference
		// is needed to locate its /Contents in the file.
		ref, ok := fl.Dict["V"].(pdfread.Ref)
		if !ok {
			return nil, fmt.Errorf("signature field %q holds a direct dictionary; a signature value must be an indirect object", fl.Name)
		}
		obj, err := v.file.Resolve(ref)
		if err != nil {
			return nil, fmt.Errorf("signature field %q: %v", fl.Name, err)
		}
		d, ok := obj.(pdfread.Dict)
		if !ok {
			return nil, fmt.Errorf("signature field %q: its value is not a dictionary", fl.Name)
		}
		if t, _ := d["Type"].(pdfread.Name); t == "DocTimeStamp" {
			continue // checked with the revisions appended after signing
		}
		out = append(out, sigField{name: fl.Name, ref: ref, dict: d})
	}
	return out, nil
}

func (v *verification) finish() {
	r := v.report
	if !v.failed {
		r.Indication = TotalPassed
		for i := range r.Signatures {
			s := &r.Signatures[i]
			if rank(s.Indication) > rank(r.Indication) {
				r.Indication, r.SubIndication = s.Indication, s.SubIndication
				r.Reason = firstProblem(s.Checks)
				if r.Reason == "" {
					r.Reason = "signature " + s.FieldName + " was not accepted"
				}
				r.Reason = fmt.Sprintf("signature %q: %s", s.FieldName, r.Reason)
			}
		}
		if r.Indication == TotalPassed {
			signer := "an unknown signer"
			if d := r.DecisiveSignature(); d != nil && d.Signer != nil {
				signer = d.Signer.CommonName
				if d.Signer.Email != "" {
					signer += " <" + d.Signer.Email + ">"
				}
			}
			r.Reason = fmt.Sprintf("%d signature(s) valid; the form was signed by %s", len(r.Signatures), signer)
		}
	}
	if r.Checks == nil {
		r.Checks = []Check{}
	}
}

func rank(i Indication) int {
	switch i {
	case TotalFailed:
		return 2
	case Indeterminate:
		return 1
	}
	return 0
}

func firstProblem(cs []Check) string {
	for _, c := range cs {
		if c.Outcome == Failed || c.Outcome == Unknown {
			return c.Detail
		}
	}
	return ""
}

// indicationOf maps a sub-indication to the indication it belongs to.
func indicationOf(s SubIndication) Indication {
	switch s {
	case "":
		return TotalPassed
	case NoCertificateChainFound, NoSigningCertificate, OutOfBoundsNoPOE, RevokedNoPOE,
		TryLater, CryptoConstraintsFailed, SignedDataNotFound, GenericIndeterminate, NotYetValid,
		RevokedCANoPOE, CryptoConstraintsFailure:
		return Indeterminate
	}
	return TotalFailed
}

// signedView is the document as one signature saw it.
type signedView struct {
	field string
	end   int64
	file  *pdfread.File
}

// sigCheck accumulates the checks of one signature.
type sigCheck struct {
	r *SignatureReport
}

func (s *sigCheck) pass(name, detail string) {
	s.r.Checks = append(s.r.Checks, Check{Name: name, Outcome: Passed, Detail: detail})
}

func (s *sigCheck) info(name, detail string) {
	s.r.Checks = append(s.r.Checks, Check{Name: name, Outcome: Info, Detail: detail})
}

func (s *sigCheck) fail(name string, sub SubIndication, detail string) {
	ind := indicationOf(sub)
	outcome := Failed
	if ind == Indeterminate {
		outcome = Unknown
	}
	s.r.Checks = append(s.r.Checks, Check{Name: name, Outcome: outcome, SubIndication: sub, Detail: detail})
	if rank(ind) > rank(s.r.Indication) {
		s.r.Indication, s.r.SubIndication = ind, sub
	}
}

func (v *verification) verifySignature(sf sigField) (SignatureReport, *signedView) {
	sr := SignatureReport{FieldName: sf.name, Indication: TotalPassed, PolicyOIDs: []string{}}
	sc := &sigCheck{r: &sr}
	sub, _ := sf.dict["SubFilter"].(pdfread.Name)
	sr.SubFilter = string(sub)
	if m, ok := sf.dict["M"].(pdfread.String); ok {
		if t, err := parsePDFDate(string(m)); err == nil {
			sr.SigningTime = &t
		}
	}

	br, view := v.checkByteRange(sc, sf)
	if view == nil {
		return sr, nil
	}
	sr.ByteRange = br[:]
	sr.SignedRevisionLength = view.end
	sr.CoversWholeDocument = view.end == int64(len(v.data))

	if sub != subFilterPKCS7 && sub != subFilterCAdES {
		sc.fail("subfilter", FormatFailure, fmt.Sprintf("sub-filter %q is not adbe.pkcs7.detached nor ETSI.CAdES.detached", sub))
		return sr, view
	}
	sc.pass("subfilter", "sub-filter "+string(sub))

	contents, _ := sf.dict["Contents"].(pdfread.String)
	if len(bytes.Trim(contents, "\x00")) == 0 {
		sc.fail("cms.missing", FormatFailure, "the signature's /Contents is empty or zeroed: there is no CMS to verify")
		return sr, view
	}
	cms, problem := splitContents(contents)
	if problem != "" {
		sc.fail("cms.padding", FormatFailure, problem)
		return sr, view
	}
	content := [][]byte{v.data[br[0] : br[0]+br[1]], v.data[br[2] : br[2]+br[3]]}
	res, err := cades.VerifyParts(cms, content, cades.Options{RequireSigningCertificate: sub == subFilterCAdES})
	if err != nil {
		var ce *cades.Error
		reason := cades.Malformed
		if errors.As(err, &ce) {
			reason = ce.Reason
		}
		sc.fail("cms", cmsSubIndication(reason), "the CMS signature is not valid: "+err.Error())
		return sr, view
	}
	sc.pass("cms", fmt.Sprintf("%s signature over %d bytes verifies; messageDigest matches", res.SignatureAlgorithm, br[1]+br[3]))
	if res.SigningCertificateAttr != "" {
		sc.pass("cms.signing-certificate", "ESS signing-certificate-"+res.SigningCertificateAttr+" binds the signer certificate")
	}
	sr.Signer = signerOf(res.Signer)
	if !res.SigningTime.IsZero() {
		t := res.SigningTime
		sr.SigningTime = &t
	}
	if sr.SigningTime != nil {
		sc.info("signing-time", "claimed signing time "+sr.SigningTime.UTC().Format(time.RFC3339)+" (not proof)")
	}
	for _, p := range res.Signer.Policies {
		sr.PolicyOIDs = append(sr.PolicyOIDs, p.String())
	}

	dss := v.dssEvidence()
	pool := x509.NewCertPool()
	for _, c := range res.Certificates {
		pool.AddCert(c)
	}
	for _, c := range dss.certs {
		pool.AddCert(c)
	}
	for _, c := range v.o.Intermediates {
		pool.AddCert(c)
	}

	ev := revocation.Evidence{CRLs: append(slices.Clone(res.CRLs), dss.crls...), OCSPs: append(slices.Clone(res.OCSPs), dss.ocsps...)}
	at := v.o.CurrentTime
	if ts := res.Timestamp; ts != nil {
		if t, ok := v.checkTimestamp(sc, ts, pool, ev); ok {
			at = t
			sr.TimestampTime = &t
		}
	}
	sr.ValidationTime = at.UTC()
	poe := sr.TimestampTime != nil

	chain, ok := v.checkChain(sc, res.Signer, pool, at, poe)
	if !ok {
		return sr, view
	}
	v.checkSignatureAlgorithms(sc, res.Digest, chain, at, poe)
	checkKeyUsage(sc, res.Signer)
	checkExtKeyUsage(sc, res.Signer)
	v.checkPolicy(sc, chain)
	sr.RevocationSource = v.checkRevocation(sc, chain, at, ev)
	return sr, view
}

func cmsSubIndication(r cades.Reason) SubIndication {
	switch r {
	case cades.DigestMismatch:
		return HashFailure
	case cades.BadSignature:
		return SigCryptoFailure
	case cades.NoSignerCertificate:
		return NoSigningCertificate
	case cades.SigningCertMismatch:
		return SignerCertificateSwap
	case cades.UnsupportedAlgorithm:
		return CryptoConstraintsFailed
	}
	return FormatFailure
}

// checkByteRange applies the ByteRange rules and opens the revision the
// signature covers.
func (v *verification) checkByteRange(sc *sigCheck, sf sigField) ([4]int64, *signedView) {
	var br [4]int64
	arr, ok := sf.dict["ByteRange"].(pdfread.Array)
	if !ok {
		sc.fail("byterange.missing", ByteRangeInvalid, "the signature has no /ByteRange array")
		return br, nil
	}
	if len(arr) != 4 {
		sc.fail("byterange.shape", ByteRangeInvalid, fmt.Sprintf("the /ByteRange has %d numbers, want 4 (two ranges)", len(arr)))
		return br, nil
	}
	for i, x := range arr {
		n, ok := x.(int64)
		if !ok || n < 0 {
			sc.fail("byterange.shape", ByteRangeInvalid, "the /ByteRange holds something other than non-negative integers")
			return br, nil
		}
		br[i] = n
	}
	size := int64(len(v.data))
	switch {
	case br[0] != 0:
		sc.fail("byterange.start", ByteRangeInvalid, fmt.Sprintf("the /ByteRange starts at %d, not at 0", br[0]))
		return br, nil
	case br[1] == 0 || br[2] < br[1]:
		sc.fail("byterange.overlap", ByteRangeInvalid, "the two ranges of /ByteRange overlap or are out of order")
		return br, nil
	case br[2] > size || br[3] > size-br[2]:
		sc.fail("byterange.bounds", ByteRangeInvalid, "the /ByteRange reaches past the end of the file")
		return br, nil
	}
	start, end, err := v.file.ValueSpan(sf.ref, "Contents")
	if err != nil {
		sc.fail("byterange.gap", ByteRangeInvalid, "the /Contents of the signature cannot be located: "+err.Error())
		return br, nil
	}
	if start != br[1] || end != br[2] {
		sc.fail("byterange.gap", ByteRangeInvalid, fmt.Sprintf("the unsigned gap [%d, %d) is not exactly the /Contents string [%d, %d)", br[1], br[2], start, end))
		return br, nil
	}
	signedEnd := br[2] + br[3]
	if !endsRevision(v.data[:signedEnd]) {
		sc.fail("byterange.end", ByteRangeInvalid, fmt.Sprintf("the signed bytes end at %d, which is not the end of a revision (%%%%EOF)", signedEnd))
		return br, nil
	}
	signed, err := pdfread.Open(v.data[:signedEnd], pdfread.Limits{})
	if err != nil {
		sc.fail("byterange.revision", FormatFailure, "the signed revision cannot be read: "+err.Error())
		return br, nil
	}
	off, ok := signed.ObjectOffset(sf.ref)
	if full, ok2 := v.file.ObjectOffset(sf.ref); !ok || !ok2 || off != full {
		sc.fail("byterange.revision", ByteRangeInvalid, "the signature dictionary is not part of the revision it signs")
		return br, nil
	}
	sc.pass("byterange", fmt.Sprintf("ranges [0, %d) and [%d, %d) cover the revision except its /Contents", br[1], br[2], signedEnd))
	return br, &signedView{field: sf.name, end: signedEnd, file: signed}
}

// endsRevision reports whether b ends with %%EOF and at most an end of line.
func endsRevision(b []byte) bool {
	b = bytes.TrimRight(b, "\r\n")
	return bytes.HasSuffix(b, []byte("%%EOF"))
}

func signerOf(c *x509.Certificate) *Signer {
	s := &Signer{
		Subject:        formatName(c.Subject),
		CommonName:     c.Subject.CommonName,
		SerialNumber:   strings.ToLower(c.SerialNumber.Text(16)),
		IdentitySerial: c.Subject.SerialNumber,
		Issuer:         formatName(c.Issuer),
		NotBefore:      c.NotBefore.UTC(),
		NotAfter:       c.NotAfter.UTC(),
		CertificateDER: c.Raw,
	}
	if len(c.Subject.Organization) > 0 {
		s.Organization = c.Subject.Organization[0]
	}
	if len(c.EmailAddresses) > 0 {
		s.Email = c.EmailAddresses[0]
	}
	for _, atv := range c.Subject.Names {
		val, _ := atv.Value.(string)
		switch {
		case atv.Type.Equal(oidSurname):
			s.Surname = val
		case atv.Type.Equal(oidGivenName):
			s.GivenName = val
		case atv.Type.Equal(oidEmailAddress) && s.Email == "":
			s.Email = val
		case atv.Type.Equal(oidOrganizationIdentifier):
			if siren, ok := strings.CutPrefix(val, "NTRFR-"); ok && s.SIREN == "" {
				s.SIREN = siren
			}
		}
	}
	for _, ou := range c.Subject.OrganizationalUnit {
		if siren, ok := strings.CutPrefix(ou, "0002 "); ok && s.SIREN == "" {
			s.SIREN = strings.TrimSpace(siren)
		}
	}
	return s
}

// shortNames are the attribute types of French and eIDAS certificate
// subjects that pkix.Name.String prints as bare OIDs.
var shortNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "SERIALNUMBER", "2.5.4.6": "C",
	"2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
	"2.5.4.12": "T", "2.5.4.42": "GN", "2.5.4.97": "organizationIdentifier",
	"1.2.840.113549.1.9.1": "emailAddress",
}

// FormatName renders a distinguished name as RFC 4514 does (last
// attribute first), with the attribute names revokd writes everywhere
// (organizationIdentifier, SERIALNUMBER, GN, ...) rather than bare OIDs.
// The reports' Subject and Issuer, and the executor's issuerDN, are
// written by it.
func FormatName(n pkix.Name) string { return formatName(n) }

func formatName(n pkix.Name) string {
	if len(n.Names) == 0 {
		return n.String()
	}
	parts := make([]string, 0, len(n.Names))
	for i := len(n.Names) - 1; i >= 0; i-- {
		atv := n.Names[i]
		typ, ok := shortNames[atv.Type.String()]
		if !ok {
			typ = atv.Type.String()
		}
		parts = append(parts, typ+"="+escapeDNValue(fmt.Sprint(atv.Value)))
	}
	return strings.Join(parts, ",")
}

func escapeDNValue(v string) string {
	var b strings.Builder
	for i, r := range v {
		switch {
		case strings.ContainsRune(",+\"<>;\\", r), r == '#' && i == 0, r == ' ' && (i == 0 || i == len(v)-1):
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
