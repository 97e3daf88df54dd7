package testsign

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sub-filters of the signatures this package writes.
const (
	SubFilterPKCS7   = "adbe.pkcs7.detached"
	SubFilterCAdES   = "ETSI.CAdES.detached"
	SubFilterRFC3161 = "ETSI.RFC3161"
)

// defaultContentsSize is the room reserved for the CMS when nothing large
// is embedded: a 3072-bit chain of three certificates and a time-stamp
// token fit with margin.
const defaultContentsSize = 16384

// timestampReserve is the room kept for a time-stamp token when the size
// is estimated: a token with its TSA certificate chain is 3 to 7 KB.
const timestampReserve = 8192

// byteRangeWidth is the room, in characters, for the /ByteRange array
// "[a b c d]": four numbers of up to twelve characters (a terabyte, or a
// negative number a forgery asks for) and their separators.
const byteRangeWidth = 2 + 4*12 + 3

// ErrAlreadySigned is returned when the signature field to fill already
// has a value.
var ErrAlreadySigned = errors.New("signature field already signed")

// SignOptions configure Sign. Key and Cert are required; every other zero
// value is a sensible default.
type SignOptions struct {
	// Key signs; it need not match Cert (see SwapSigner).
	Key crypto.Signer
	// Cert is the signer's certificate, named by the SignerInfo, bound by
	// the ESS signing-certificate-v2 attribute and embedded first.
	Cert *x509.Certificate
	// Chain is embedded after Cert, in this order (intermediates, and the
	// root if wanted).
	Chain []*x509.Certificate
	// SubFilter is SubFilterPKCS7 (the default) or SubFilterCAdES.
	SubFilter string
	// Digest is the hash of the CMS (digestAlgorithm, messageDigest and
	// the signature over the signed attributes); zero means SHA-256.
	// crypto.SHA1 makes a signature below the algorithm rules.
	Digest crypto.Hash
	// PSS signs with RSASSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt)
	// instead of PKCS #1 v1.5; RSA keys only.
	PSS bool
	// SigningTime is the claimed signing time: /M, and for
	// adbe.pkcs7.detached only the signingTime signed attribute (CAdES
	// baseline signatures must not carry it). Zero: now.
	SigningTime time.Time
	// Timestamper, when set, time-stamps the signature value: its token
	// becomes the signature-time-stamp unsigned attribute.
	Timestamper func(digest []byte, h crypto.Hash) ([]byte, error)
	// CRLs and OCSPs (DER CRLs and DER OCSPResponses) are embedded in the
	// adbe-revocationInfoArchival signed attribute. None: no attribute.
	CRLs, OCSPs [][]byte
	// FieldName is the signature field to fill; empty means "Signature1".
	// A field of that name that does not exist is created, with an
	// invisible widget on the first page.
	FieldName string
	// ContentsSize is the number of bytes reserved for the CMS in
	// /Contents (written in hex, so twice as many digits). Zero: 16384, or
	// more when the certificates and revocation data need it.
	ContentsSize int

	// The hooks below make forgeries: each breaks one rule and leaves the
	// rest genuine.

	// ByteRange, when set, replaces the byte range written into the
	// signature dictionary and hashed. br is the correct one, and
	// [contentsStart, contentsEnd) is where the /Contents hex string,
	// brackets included, lies. Sign hashes the ranges it returns, clipped
	// to the file; ranges that cover /Contents therefore cannot match the
	// digest.
	ByteRange func(br [4]int64, contentsStart, contentsEnd int64) [4]int64
	// OmitByteRange leaves /ByteRange out of the signature dictionary; the
	// correct ranges are still hashed.
	OmitByteRange bool
	// CMS, when set, replaces the CMS written; signedContent is what the
	// byte range covers.
	CMS func(signedContent []byte, cms []byte) []byte
	// ExtraCerts are embedded after Chain.
	ExtraCerts []*x509.Certificate
	// OmitESS leaves out the signing-certificate-v2 attribute.
	OmitESS bool
}

func (o SignOptions) withDefaults() SignOptions {
	if o.SubFilter == "" {
		o.SubFilter = SubFilterPKCS7
	}
	if o.FieldName == "" {
		o.FieldName = SignatureFieldName
	}
	if o.SigningTime.IsZero() {
		o.SigningTime = time.Now()
	}
	o.SigningTime = o.SigningTime.Truncate(time.Second)
	if o.ContentsSize == 0 {
		need := 4096
		for _, c := range o.certs() {
			need += len(c.Raw)
		}
		for _, b := range append(o.CRLs, o.OCSPs...) {
			need += len(b)
		}
		if o.Timestamper != nil {
			need += timestampReserve
		}
		o.ContentsSize = max(defaultContentsSize, need)
	}
	return o
}

func (o SignOptions) validate() error {
	switch {
	case o.Key == nil:
		return errors.New("no signing key")
	case o.Cert == nil:
		return errors.New("no signer certificate")
	case o.SubFilter != SubFilterPKCS7 && o.SubFilter != SubFilterCAdES:
		return fmt.Errorf("unsupported sub-filter %q", o.SubFilter)
	case o.Digest != 0 && o.Digest != crypto.SHA256 && o.Digest != crypto.SHA1:
		return fmt.Errorf("unsupported digest %v", o.Digest)
	case o.ContentsSize < 0:
		return fmt.Errorf("negative ContentsSize %d", o.ContentsSize)
	}
	return nil
}

func (o SignOptions) certs() []*x509.Certificate {
	var cs []*x509.Certificate
	if o.Cert != nil {
		cs = append(cs, o.Cert)
	}
	cs = append(cs, o.Chain...)
	return append(cs, o.ExtraCerts...)
}

// Sign appends an incremental update that signs pdf in the signature field
// o.FieldName. The update holds a /Type /Sig dictionary (/Filter
// /Adobe.PPKLite, /SubFilter, /ByteRange [0 a b c] covering the whole file
// but the /Contents hex string, /M, /Contents with the CMS zero-padded),
// the field with /V pointing at it, the AcroForm with /SigFlags 3, and a
// cross-reference section of the same kind as the file's last one, with
// /Prev.
//
// The CMS is a detached SignedData with one SignerInfo over SHA-256,
// identified by issuer and serial number, with the signed attributes
// contentType, messageDigest, signing-certificate-v2 (unless OmitESS),
// signingTime (adbe.pkcs7.detached only) and adbe-revocationInfoArchival
// (when CRLs or OCSPs are given); the signature is RSA PKCS #1 v1.5, ECDSA
// with SHA-256, or RSASSA-PSS with explicit parameters.
func Sign(pdf []byte, o SignOptions) ([]byte, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	produce := func(covered []byte) ([]byte, error) {
		h := crypto.SHA256
		if o.Digest == crypto.SHA1 {
			h = crypto.SHA1
		}
		dh := h.New()
		dh.Write(covered)
		p := cmsParams{
			key:         o.Key,
			cert:        o.Cert,
			certs:       o.certs(),
			pss:         o.PSS,
			digest:      dh.Sum(nil),
			hash:        h,
			omitESS:     o.OmitESS,
			crls:        o.CRLs,
			ocsps:       o.OCSPs,
			timestamper: o.Timestamper,
		}
		if o.SubFilter == SubFilterPKCS7 {
			p.signingTime = o.SigningTime
		}
		cms, err := buildCMS(p)
		if err != nil {
			return nil, err
		}
		if o.CMS != nil {
			cms = o.CMS(covered, cms)
		}
		return cms, nil
	}
	s := sigSpec{
		dictType:  "Sig",
		subFilter: o.SubFilter,
		when:      o.SigningTime,
		field:     o.FieldName,
		size:      o.ContentsSize,
		omitBR:    o.OmitByteRange,
		brHook:    o.ByteRange,
	}
	out, err := addSignature(pdf, s, produce)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return out, nil
}

// AddDocTimestamp appends an incremental update with a document time-stamp
// (ISO 32000-2, 12.8.5): a /Type /DocTimeStamp dictionary with /SubFilter
// /ETSI.RFC3161 whose /Contents is the token ts returns for the SHA-256
// digest of the bytes its byte range covers, in a new invisible signature
// field.
func AddDocTimestamp(pdf []byte, ts func(digest []byte, h crypto.Hash) ([]byte, error)) ([]byte, error) {
	return addDocTimestamp(pdf, ts, nil)
}

func addDocTimestamp(pdf []byte, ts func(digest []byte, h crypto.Hash) ([]byte, error), widget func(*update, *pdfDict)) ([]byte, error) {
	if ts == nil {
		return nil, errors.New("no time-stamper")
	}
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, fmt.Errorf("reading the document: %w", err)
	}
	names, err := fieldNames(doc)
	if err != nil {
		return nil, err
	}
	field := ""
	for i := 1; ; i++ {
		field = fmt.Sprintf("DocTimeStamp%d", i)
		if !names[field] {
			break
		}
	}
	s := sigSpec{
		dictType:  "DocTimeStamp",
		subFilter: SubFilterRFC3161,
		field:     field,
		size:      defaultContentsSize,
		widget:    widget,
	}
	out, err := addSignature(pdf, s, func(covered []byte) ([]byte, error) {
		digest := sha256.Sum256(covered)
		return ts(digest[:], crypto.SHA256)
	})
	if err != nil {
		return nil, fmt.Errorf("adding a document time-stamp: %w", err)
	}
	return out, nil
}

// AddDSS appends an incremental update that gives the catalog a document
// security store (ISO 32000-2, 12.8.4.3): /DSS with /Certs, /CRLs and
// /OCSPs arrays of streams holding the given DER objects, kept beside
// those of an existing /DSS. Nothing else changes.
func AddDSS(pdf []byte, certs, crls, ocsps [][]byte) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, fmt.Errorf("reading the document: %w", err)
	}
	root, catalog, err := catalogCopy(doc)
	if err != nil {
		return nil, err
	}
	u := newUpdate(doc)
	dss := newDict("Type", pdfName("DSS"))
	if old := catalog.get("DSS"); old != nil {
		if dss, err = doc.dict(old); err != nil {
			return nil, fmt.Errorf("reading the existing /DSS: %w", err)
		}
		dss = dss.clone()
	}
	for _, part := range []struct {
		key  pdfName
		objs [][]byte
	}{{"Certs", certs}, {"CRLs", crls}, {"OCSPs", ocsps}} {
		if len(part.objs) == 0 {
			continue
		}
		var arr pdfArray
		if old := dss.get(part.key); old != nil {
			o, err := doc.resolve(old)
			if err != nil {
				return nil, fmt.Errorf("reading /DSS /%s: %w", part.key, err)
			}
			a, ok := o.(pdfArray)
			if !ok {
				return nil, fmt.Errorf("/DSS /%s is not an array", part.key)
			}
			arr = append(arr, a...)
		}
		for _, b := range part.objs {
			arr = append(arr, u.add(&pdfStream{dict: newDict(), data: b}))
		}
		dss.set(part.key, arr)
	}
	catalog.set("DSS", u.add(dss))
	u.set(root.num, catalog)
	out, _ := u.write()
	return out, nil
}

// sigSpec describes the signature dictionary addSignature writes.
type sigSpec struct {
	dictType  string // "Sig" or "DocTimeStamp"
	subFilter string
	when      time.Time // /M; zero: none
	field     string
	size      int // bytes reserved for /Contents
	omitBR    bool
	brHook    func(br [4]int64, contentsStart, contentsEnd int64) [4]int64
	// widget, when set, edits a field that addSignature creates.
	widget func(u *update, d *pdfDict)
}

// addSignature writes the update that fills field s.field with a new
// signature dictionary, then fills /ByteRange and /Contents with what
// produce returns for the covered bytes.
func addSignature(pdf []byte, s sigSpec, produce func(covered []byte) ([]byte, error)) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, fmt.Errorf("reading the document: %w", err)
	}
	u := newUpdate(doc)
	sigRef := u.add(nil) // defined below, once the layout is known

	var d bytes.Buffer
	fmt.Fprintf(&d, "<</Type /%s /Filter /Adobe.PPKLite /SubFilter /%s", s.dictType, s.subFilter)
	if !s.when.IsZero() {
		d.WriteString(" /M ")
		writeString(&d, pdfString{b: []byte(pdfDate(s.when))})
	}
	brPos := -1
	if !s.omitBR {
		d.WriteString(" /ByteRange ")
		brPos = d.Len()
		d.WriteString(strings.Repeat(" ", byteRangeWidth))
	}
	d.WriteString(" /Contents ")
	contentsPos := d.Len()
	d.WriteString("<" + strings.Repeat("0", 2*s.size) + ">")
	d.WriteString(">>")
	u.set(sigRef.num, rawObject(d.Bytes()))

	if err := fillSignatureField(doc, u, s.field, sigRef, s.widget); err != nil {
		return nil, err
	}
	out, offsets := u.write()

	objStart := offsets[sigRef.num] + int64(len(fmt.Sprintf("%d 0 obj\n", sigRef.num)))
	cs := objStart + int64(contentsPos)
	ce := cs + int64(2+2*s.size)
	br := [4]int64{0, cs, ce, int64(len(out)) - ce}
	if s.brHook != nil {
		br = s.brHook(br, cs, ce)
	}
	if brPos >= 0 {
		text := fmt.Sprintf("[%d %d %d %d]", br[0], br[1], br[2], br[3])
		if len(text) > byteRangeWidth {
			return nil, fmt.Errorf("byte range %s does not fit in %d characters", text, byteRangeWidth)
		}
		copy(out[objStart+int64(brPos):], text)
	}
	var covered []byte
	for _, r := range [][2]int64{{br[0], br[1]}, {br[2], br[3]}} {
		start, end := max(r[0], 0), min(r[0]+r[1], int64(len(out)))
		if start < end {
			covered = append(covered, out[start:end]...)
		}
	}
	cms, err := produce(covered)
	if err != nil {
		return nil, err
	}
	if len(cms) > s.size {
		return nil, fmt.Errorf("CMS of %d bytes does not fit in the %d reserved for /Contents", len(cms), s.size)
	}
	hex.Encode(out[cs+1:], cms)
	return out, nil
}

// fillSignatureField points the signature field named name at sig, creating
// the field (an invisible widget on the first page) when it does not exist,
// and sets the AcroForm's /SigFlags to 3 (signatures exist, append only).
func fillSignatureField(doc *document, u *update, name string, sig pdfRef, edit func(*update, *pdfDict)) error {
	root, catalog, err := catalogCopy(doc)
	if err != nil {
		return err
	}
	catalogChanged := false

	acro := newDict()
	acroNum := 0 // 0: not an indirect object of its own
	switch v := catalog.get("AcroForm").(type) {
	case nil:
		catalogChanged = true
	case pdfRef:
		if acro, err = doc.dict(v); err != nil {
			return fmt.Errorf("reading the AcroForm: %w", err)
		}
		acro, acroNum = acro.clone(), v.num
	case *pdfDict:
		acro, catalogChanged = v.clone(), true
	default:
		return fmt.Errorf("/AcroForm is a %T", v)
	}
	acroChanged := false
	if f, _ := acro.get("SigFlags").(int64); f != 3 {
		acro.set("SigFlags", 3)
		acroChanged = true
	}

	field, err := findField(doc, acro, name)
	switch {
	case errors.Is(err, errNotFound):
		pageRef, page, err := firstPage(doc)
		if err != nil {
			return err
		}
		widget := newDict(
			"Type", pdfName("Annot"),
			"Subtype", pdfName("Widget"),
			"FT", pdfName("Sig"),
			"T", pdfString{b: []byte(name)},
			"Rect", pdfArray{0, 0, 0, 0},
			"F", 132, // Print and Locked
			"P", pageRef,
			"V", sig,
		)
		if edit != nil {
			edit(u, widget)
		}
		ref := u.add(widget)
		fields, err := arrayOf(doc, acro.get("Fields"))
		if err != nil {
			return fmt.Errorf("reading /Fields: %w", err)
		}
		acro.set("Fields", append(fields, ref))
		acroChanged = true
		if err := addAnnot(doc, u, pageRef, page, ref); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if ft := field.inherited(doc, "FT"); ft != pdfName("Sig") {
			return fmt.Errorf("field %q is not a signature field (/FT %v)", name, ft)
		}
		if field.dict.get("V") != nil {
			return fmt.Errorf("field %q: %w", name, ErrAlreadySigned)
		}
		d := field.dict.clone()
		d.set("V", sig)
		u.set(field.ref.num, d)
	}

	if acroChanged {
		if acroNum != 0 {
			u.set(acroNum, acro)
		} else {
			catalog.set("AcroForm", acro)
			catalogChanged = true
		}
	}
	if catalogChanged {
		u.set(root.num, catalog)
	}
	return nil
}

// formField is a terminal field found in the AcroForm.
type formField struct {
	ref     pdfRef
	dict    *pdfDict
	parents []*pdfDict // outermost first
}

// inherited returns an inheritable attribute of the field (ISO 32000-1,
// 12.7.3.1), looking through its parents.
func (f formField) inherited(doc *document, key pdfName) object {
	if v := f.dict.get(key); v != nil {
		return v
	}
	for i := len(f.parents) - 1; i >= 0; i-- {
		if v := f.parents[i].get(key); v != nil {
			return v
		}
	}
	return nil
}

// maxFieldDepth bounds the field tree: a form nests fields a few levels
// deep at most.
const maxFieldDepth = 16

// walkFields calls fn for every terminal field of the AcroForm with its
// fully qualified name.
func walkFields(doc *document, acro *pdfDict, fn func(name string, f formField) error) error {
	fields, err := arrayOf(doc, acro.get("Fields"))
	if err != nil {
		return fmt.Errorf("reading /Fields: %w", err)
	}
	// A field tree with a cycle, or a node listed twice, is walked once.
	seen := map[int]bool{}
	var walk func(refs pdfArray, prefix string, parents []*pdfDict) error
	walk = func(refs pdfArray, prefix string, parents []*pdfDict) error {
		if len(parents) > maxFieldDepth {
			return errors.New("form fields nested too deep")
		}
		for _, o := range refs {
			ref, ok := o.(pdfRef)
			if !ok || seen[ref.num] {
				continue
			}
			seen[ref.num] = true
			d, err := doc.dict(ref)
			if err != nil {
				return fmt.Errorf("reading field %d: %w", ref.num, err)
			}
			name := prefix
			if t, ok := d.get("T").(pdfString); ok {
				if name != "" {
					name += "."
				}
				name += DecodeTextString(t.b)
			}
			kids, _ := arrayOf(doc, d.get("Kids"))
			// Kids with a /T are fields; kids without are widgets.
			hasFieldKids := false
			for _, k := range kids {
				if kd, err := doc.dict(k); err == nil && kd.has("T") {
					hasFieldKids = true
				}
			}
			if hasFieldKids {
				if err := walk(kids, name, append(parents, d)); err != nil {
					return err
				}
				continue
			}
			if err := fn(name, formField{ref: ref, dict: d, parents: parents}); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(fields, "", nil)
}

var errStop = errors.New("stop")

func findField(doc *document, acro *pdfDict, name string) (formField, error) {
	var found formField
	err := walkFields(doc, acro, func(n string, f formField) error {
		if n == name {
			found = f
			return errStop
		}
		return nil
	})
	switch {
	case errors.Is(err, errStop):
		return found, nil
	case err != nil:
		return formField{}, err
	}
	return formField{}, fmt.Errorf("field %q: %w", name, errNotFound)
}

// fieldNames returns the fully qualified names of the document's fields.
func fieldNames(doc *document) (map[string]bool, error) {
	names := map[string]bool{}
	acro, err := acroForm(doc)
	if err != nil || acro == nil {
		return names, err
	}
	err = walkFields(doc, acro, func(n string, _ formField) error {
		names[n] = true
		return nil
	})
	return names, err
}

// catalogCopy returns the catalog's reference and a copy of it that an
// update may change and write back under that reference.
func catalogCopy(doc *document) (pdfRef, *pdfDict, error) {
	root, ok := doc.trailer.get("Root").(pdfRef)
	if !ok {
		return pdfRef{}, nil, errors.New("trailer has no /Root reference")
	}
	catalog, err := doc.dict(root)
	if err != nil {
		return pdfRef{}, nil, fmt.Errorf("reading the catalog: %w", err)
	}
	return root, catalog.clone(), nil
}

// acroForm returns the document's AcroForm dictionary, or nil.
func acroForm(doc *document) (*pdfDict, error) {
	catalog, err := doc.dict(doc.trailer.get("Root"))
	if err != nil {
		return nil, fmt.Errorf("reading the catalog: %w", err)
	}
	if catalog.get("AcroForm") == nil {
		return nil, nil
	}
	acro, err := doc.dict(catalog.get("AcroForm"))
	if err != nil {
		return nil, fmt.Errorf("reading the AcroForm: %w", err)
	}
	return acro, nil
}

// arrayOf resolves o to an array; null is an empty array.
func arrayOf(doc *document, o object) (pdfArray, error) {
	o, err := doc.resolve(o)
	if err != nil {
		return nil, err
	}
	switch v := o.(type) {
	case nil:
		return nil, nil
	case pdfArray:
		return append(pdfArray(nil), v...), nil
	}
	return nil, fmt.Errorf("%T is not an array", o)
}

// maxPageTreeDepth bounds the descent to the first page.
const maxPageTreeDepth = 32

// firstPage returns the first leaf of the page tree.
func firstPage(doc *document) (pdfRef, *pdfDict, error) {
	catalog, err := doc.dict(doc.trailer.get("Root"))
	if err != nil {
		return pdfRef{}, nil, fmt.Errorf("reading the catalog: %w", err)
	}
	node := catalog.get("Pages")
	for range maxPageTreeDepth {
		ref, ok := node.(pdfRef)
		if !ok {
			return pdfRef{}, nil, errors.New("page tree node is not a reference")
		}
		d, err := doc.dict(ref)
		if err != nil {
			return pdfRef{}, nil, fmt.Errorf("reading the page tree: %w", err)
		}
		if d.get("Type") == pdfName("Page") {
			return ref, d, nil
		}
		kids, err := arrayOf(doc, d.get("Kids"))
		if err != nil || len(kids) == 0 {
			return pdfRef{}, nil, errors.New("page tree without pages")
		}
		node = kids[0]
	}
	return pdfRef{}, nil, errors.New("page tree too deep")
}

// addAnnot appends annot to the page's /Annots, rewriting the array object
// when the page refers to one, else the page.
func addAnnot(doc *document, u *update, pageRef pdfRef, page *pdfDict, annot pdfRef) error {
	if r, ok := page.get("Annots").(pdfRef); ok {
		arr, err := arrayOf(doc, r)
		if err != nil {
			return fmt.Errorf("reading /Annots: %w", err)
		}
		u.set(r.num, append(arr, annot))
		return nil
	}
	arr, err := arrayOf(doc, page.get("Annots"))
	if err != nil {
		return fmt.Errorf("reading /Annots: %w", err)
	}
	p := page.clone()
	p.set("Annots", append(arr, annot))
	u.set(pageRef.num, p)
	return nil
}

// pdfDate formats t as a PDF date string (ISO 32000-1, 7.9.4).
func pdfDate(t time.Time) string {
	s := t.Format("D:20060102150405")
	_, off := t.Zone()
	if off == 0 {
		return s + "Z"
	}
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("%s%c%02d'%02d'", s, sign, off/3600, off%3600/60)
}
