package pdfverify

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/revokd/revokd/pdfverify/internal/cades"
	"github.com/revokd/revokd/pdfverify/internal/pdfread"
)

// maxDSSObjects bounds the walk of the DSS dictionary: an LTV update holds a
// few certificates and revocation values per signature, never thousands.
const maxDSSObjects = 4096

type dssContent struct {
	certs       []*x509.Certificate
	crls, ocsps [][]byte
	refs        map[int]bool // every object reachable from /DSS
}

// dssEvidence reads the document security store of the latest revision
// once. What it holds is evidence to build chains and check revocation; it
// proves nothing by itself (every item is verified where used).
func (v *verification) dssEvidence() *dssContent {
	if v.dss != nil {
		return v.dss
	}
	v.dss = &dssContent{refs: map[int]bool{}}
	cat, err := v.file.Catalog()
	if err != nil {
		return v.dss
	}
	root, ok := cat["DSS"]
	if !ok {
		return v.dss
	}
	v.collectDSSRefs(root, v.dss.refs)
	d, _ := v.resolve(root).(pdfread.Dict)
	if d == nil {
		return v.dss
	}
	streams := func(key pdfread.Name) [][]byte {
		arr, _ := v.resolve(d[key]).(pdfread.Array)
		var out [][]byte
		for _, item := range arr {
			s, ok := v.resolve(item).(*pdfread.Stream)
			if !ok {
				continue
			}
			if b, err := v.file.Decode(s); err == nil {
				out = append(out, b)
			}
		}
		return out
	}
	for _, der := range streams("Certs") {
		if c, err := x509.ParseCertificate(der); err == nil {
			v.dss.certs = append(v.dss.certs, c)
		}
	}
	v.dss.crls = streams("CRLs")
	v.dss.ocsps = streams("OCSPs")
	return v.dss
}

func (v *verification) resolve(o pdfread.Object) pdfread.Object {
	r, err := v.file.Resolve(o)
	if err != nil {
		return nil
	}
	return r
}

// collectDSSRefs adds to seen the object numbers of a document security
// store, walked along its shape only (ETSI EN 319 142-1, 5.4.2): the DSS
// and VRI dictionaries, their /Certs, /CRLs, /OCSPs (/Cert, /CRL, /OCSP)
// arrays and the streams they list, and a VRI's /TS stream. Anything else
// a DSS points at is not validation data.
func (v *verification) collectDSSRefs(root pdfread.Object, seen map[int]bool) {
	note := func(o pdfread.Object) pdfread.Object {
		if r, ok := o.(pdfread.Ref); ok && len(seen) < maxDSSObjects {
			seen[r.Num] = true
		}
		return v.resolve(o)
	}
	streams := func(o pdfread.Object) {
		arr, _ := note(o).(pdfread.Array)
		for _, item := range arr {
			if len(seen) >= maxDSSObjects {
				return
			}
			note(item)
		}
	}
	dss, _ := note(root).(pdfread.Dict)
	for _, k := range []pdfread.Name{"Certs", "CRLs", "OCSPs"} {
		streams(dss[k])
	}
	vri, _ := note(dss["VRI"]).(pdfread.Dict)
	for _, entry := range vri {
		e, _ := note(entry).(pdfread.Dict)
		for _, k := range []pdfread.Name{"Cert", "CRL", "OCSP"} {
			streams(e[k])
		}
		note(e["TS"])
	}
}

// checkCoverage applies the rule on what may follow the last signed
// revision: nothing, or incremental updates that only add a DSS.
func (v *verification) checkCoverage(last *signedView) {
	size := int64(len(v.data))
	if last.end == size {
		v.docPass("coverage", "the last signature covers the whole file")
		return
	}
	tail := v.data[last.end:]
	if len(bytes.TrimLeft(tail, "\x00\t\n\f\r ")) == 0 {
		v.docPass("coverage", "the last signature covers the whole file but trailing white space")
		return
	}
	full := v.file.Sections()
	signed := last.file.Sections()
	var later []pdfread.Section
	for _, s := range full {
		if s.Offset >= last.end {
			later = append(later, s)
		}
	}
	older := full[len(later):]
	if len(later) == 0 || !sameSections(older, signed) {
		v.docFail("coverage", PartialCoverage, fmt.Sprintf("%d bytes after the signed revision are not an incremental update of it", size-last.end))
		return
	}

	signedCatRef, _ := last.file.Trailer()["Root"].(pdfread.Ref)
	fullCatRef, _ := v.file.Trailer()["Root"].(pdfread.Ref)
	if signedCatRef != fullCatRef {
		v.docFail("coverage", ModifiedAfterSigning, "a revision appended after signing replaces the document catalog")
		return
	}
	signedSize, _ := last.file.Trailer()["Size"].(int64)
	lc := &laterChanges{last: last, catRef: signedCatRef, signedSize: signedSize, dss: v.dssEvidence()}
	if cat, err := last.file.Catalog(); err == nil {
		if r, ok := cat["Metadata"].(pdfread.Ref); ok {
			lc.metadataNum = r.Num
		}
	}
	if r, ok := last.file.Trailer()["Info"].(pdfread.Ref); ok {
		lc.infoNum = r.Num
	}
	var err error
	if lc.signedRefs, err = danglingRefs(last.file, signedSize); err != nil {
		v.docFail("coverage", FormatFailure, "the signed revision cannot be read whole: "+err.Error())
		return
	}
	if !v.documentTimestamps(last.end, lc) {
		return
	}
	for i := len(later) - 1; i >= 0; i-- {
		sec := later[i]
		for _, num := range slices.Sorted(maps.Keys(sec.Entries)) {
			e := sec.Entries[num]
			// A cross-reference stream is an object of its own revision;
			// under a number the signed revision used, it would replace
			// that object.
			if sec.Stream && num == sec.XRefStreamNum && int64(num) >= lc.signedSize && !lc.signedRefs[num] {
				continue
			}
			if problem := v.laterChange(lc, sec, num, e); problem != "" {
				v.docFail("coverage", ModifiedAfterSigning, fmt.Sprintf("the revision appended at byte %d %s after signing", sec.Offset, problem))
				return
			}
		}
	}
	v.docPass("coverage", fmt.Sprintf("%d revision(s) appended after signing only add validation data (DSS, document timestamps)", len(later)))
}

// laterChanges is what may change after the last signature.
type laterChanges struct {
	last       *signedView
	catRef     pdfread.Ref
	signedSize int64
	dss        *dssContent
	// tsObjects are the objects document timestamps add (field, widget,
	// signature dictionary), each with the end of the bytes its timestamp
	// covers: they may not be redefined after it. tsFields may be appended
	// to /Fields and /Annots arrays.
	tsObjects map[int]int64
	tsFields  map[pdfread.Ref]bool
	// signedRefs are the object numbers the signed revision refers to.
	signedRefs map[int]bool
	// metadataNum and infoNum are the signed revision's /Metadata stream
	// and /Info dictionary (0: none), which may be rewritten in place.
	metadataNum, infoNum int
	// reach holds the object numbers reachable from the latest trailer,
	// once walked; reachAll when the walk was cut short.
	reach    map[int]bool
	reachAll bool
}

// documentTimestamps verifies every document timestamp (ETSI.RFC3161)
// that follows the last signature and notes the objects it may add. A
// document timestamp proves when the bytes it covers existed; it vouches
// for no content, so what it covers must itself be allowed.
func (v *verification) documentTimestamps(after int64, lc *laterChanges) bool {
	lc.tsObjects, lc.tsFields = map[int]int64{}, map[pdfread.Ref]bool{}
	for _, fl := range v.fields {
		if fl.Type != "Sig" {
			continue
		}
		ref, ok := fl.Dict["V"].(pdfread.Ref)
		d, _ := fl.Value.(pdfread.Dict)
		if !ok || d == nil {
			continue
		}
		if t, _ := d["Type"].(pdfread.Name); t != "DocTimeStamp" {
			continue
		}
		sr := SignatureReport{FieldName: fl.Name, Indication: TotalPassed}
		sc := &sigCheck{r: &sr}
		br, view := v.checkByteRange(sc, sigField{name: fl.Name, ref: ref, dict: d})
		fail := func(why string) bool {
			v.docFail("document-timestamp", ModifiedAfterSigning, fmt.Sprintf("document timestamp %q is not valid: %s", fl.Name, why))
			return false
		}
		if view == nil {
			return fail(firstProblem(sr.Checks))
		}
		if view.end <= after {
			return fail("it does not follow the last signature")
		}
		if sub, _ := d["SubFilter"].(pdfread.Name); sub != subFilterTS {
			return fail(fmt.Sprintf("sub-filter %q is not ETSI.RFC3161", sub))
		}
		contents, _ := d["Contents"].(pdfread.String)
		covered := make([]byte, 0, br[1]+br[3])
		covered = append(covered, v.data[:br[1]]...)
		covered = append(covered, v.data[br[2]:br[2]+br[3]]...)
		token, problem := splitContents(contents)
		if problem != "" {
			v.docFail("cms.padding", FormatFailure, fmt.Sprintf("document timestamp %q: %s", fl.Name, problem))
			return false
		}
		ts, err := cades.VerifyTimestampToken(token, covered)
		if err != nil {
			return fail(err.Error())
		}
		if why, ok := v.trustTimestamp(ts, nil); !ok {
			return fail(why)
		}
		ap, why := v.timestampWidget(fl.Dict, ref, lc.signedSize)
		if why != "" {
			return fail(why)
		}
		v.docPass("document-timestamp", fmt.Sprintf("document timestamp %q of %s covers the first %d bytes", fl.Name, ts.GenTime.UTC().Format(time.RFC3339), view.end))
		lc.tsObjects[ref.Num] = view.end
		lc.tsObjects[fl.Ref.Num] = view.end
		if ap.Num != 0 {
			lc.tsObjects[ap.Num] = view.end
		}
		lc.tsFields[fl.Ref] = true
	}
	return true
}

func sameSections(a, b []pdfread.Section) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Offset != b[i].Offset {
			return false
		}
	}
	return true
}

// laterChange says what is wrong with one object written after signing,
// or "" when the change is a DSS update or a document timestamp.
func (v *verification) laterChange(lc *laterChanges, sec pdfread.Section, num int, e pdfread.Entry) string {
	if e.Free {
		if lc.wasNull(num) {
			return ""
		}
		return fmt.Sprintf("deletes object %d", num)
	}
	if num == lc.catRef.Num {
		before, err1 := lc.last.file.Catalog()
		after, err2 := v.file.Catalog()
		if err1 != nil || err2 != nil {
			return "rewrites the catalog unreadably"
		}
		for _, k := range slices.Sorted(maps.Keys(mergeKeys(before, after))) {
			if k == "DSS" || (k == "AcroForm" && lc.onlyAppendsTimestamps(before[k], after[k])) || v.toleratedCatalogKey(k, after[k]) {
				continue
			}
			if !equalObjects(before[k], after[k]) {
				return fmt.Sprintf("changes /%s in the document catalog", k)
			}
		}
		return ""
	}
	if int64(num) < lc.signedSize {
		ref := pdfread.Ref{Num: num, Gen: e.Gen}
		before, err1 := lc.last.file.Object(ref)
		after, err2 := v.file.Object(ref)
		if err1 == nil && err2 == nil && lc.onlyAppendsTimestamps(before, after) {
			return ""
		}
		if lc.wasNull(num) && v.toleratedObject(lc, num) {
			return "" // a number the signed revision reserved but left free
		}
		if num == lc.metadataNum || num == lc.infoNum {
			if v.toleratedObject(lc, num) {
				return ""
			}
		}
		return fmt.Sprintf("changes object %d, which the signed revision defines or reserves", num)
	}
	if lc.signedRefs[num] {
		return fmt.Sprintf("defines object %d, which the signed revision refers to without defining", num)
	}
	if end, ok := lc.tsObjects[num]; ok {
		if sec.Offset >= end {
			return fmt.Sprintf("redefines object %d of a document timestamp after that timestamp", num)
		}
		return ""
	}
	if lc.dss.refs[num] || v.toleratedObject(lc, num) {
		return ""
	}
	return fmt.Sprintf("adds object %d, which is neither validation data (DSS) nor a document timestamp", num)
}

// onlyAppendsTimestamps reports whether after differs from before only by
// document-timestamp fields appended to a /Fields or /Annots array (and
// /SigFlags), the whole change a document timestamp makes to an AcroForm,
// a page, or an array of either.
func (lc *laterChanges) onlyAppendsTimestamps(before, after pdfread.Object) bool {
	if len(lc.tsFields) == 0 {
		return false
	}
	switch a := after.(type) {
	case pdfread.Array:
		b, ok := before.(pdfread.Array)
		return ok && lc.appendsTimestamps(b, a)
	case pdfread.Dict:
		b, ok := before.(pdfread.Dict)
		if !ok {
			return false
		}
		for k := range mergeKeys(a, b) {
			if equalObjects(a[k], b[k]) || k == "SigFlags" {
				continue
			}
			if k != "Fields" && k != "Annots" {
				return false
			}
			ba, ok1 := b[k].(pdfread.Array)
			aa, ok2 := a[k].(pdfread.Array)
			if b[k] == nil {
				ba, ok1 = pdfread.Array{}, true
			}
			if !ok1 || !ok2 || !lc.appendsTimestamps(ba, aa) {
				return false
			}
		}
		return true
	}
	return false
}

func (lc *laterChanges) appendsTimestamps(before, after pdfread.Array) bool {
	if len(after) <= len(before) || !equalObjects(before, after[:len(before)]) {
		return false
	}
	for _, o := range after[len(before):] {
		if r, ok := o.(pdfread.Ref); !ok || !lc.tsFields[r] {
			return false
		}
	}
	return true
}

func mergeKeys(a, b pdfread.Dict) map[pdfread.Name]bool {
	m := make(map[pdfread.Name]bool, len(a)+len(b))
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

// equalObjects compares two direct objects; references compare by number.
func equalObjects(a, b pdfread.Object) bool {
	switch x := a.(type) {
	case pdfread.Dict:
		y, ok := b.(pdfread.Dict)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equalObjects(xv, yv) {
				return false
			}
		}
		return true
	case pdfread.Array:
		y, ok := b.(pdfread.Array)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalObjects(x[i], y[i]) {
				return false
			}
		}
		return true
	case pdfread.String:
		y, ok := b.(pdfread.String)
		return ok && bytes.Equal(x, y)
	case *pdfread.Stream:
		y, ok := b.(*pdfread.Stream)
		return ok && equalObjects(x.Dict, y.Dict) && bytes.Equal(x.Raw, y.Raw)
	}
	return a == b
}

// readForm reads the form of every signed revision, requires them to
// agree, and reports the last one with its PDF/A claim.
func (v *verification) readForm(views []*signedView) {
	var forms []map[string]string
	for _, view := range views {
		fields, err := view.file.Fields()
		var form map[string]string
		if err == nil {
			form, err = formValues(view.file, fields)
		}
		if err != nil {
			v.docFail("form", FormatFailure, fmt.Sprintf("the form signed by %q cannot be read: %v", view.field, err))
			return
		}
		if !v.checkAppearances(view, fields) {
			return
		}
		forms = append(forms, form)
	}
	last := forms[len(forms)-1]
	for i, f := range forms[:len(forms)-1] {
		if !maps.Equal(f, last) {
			v.docFail("signatures", SignaturesDisagree, fmt.Sprintf("signatures %q and %q cover different form values", views[i].field, views[len(views)-1].field))
			return
		}
	}
	v.report.Form = last
	v.docPass("form", fmt.Sprintf("%d form field(s) read from the revision signed by %q", len(last), views[len(views)-1].field))

	part, conformance, err := views[len(views)-1].file.PDFAIdentification()
	switch {
	case err != nil:
		v.check(Check{Name: "pdfa", Outcome: Info, Detail: "the XMP metadata cannot be read: " + err.Error()})
	case part == "":
		v.check(Check{Name: "pdfa", Outcome: Info, Detail: "the document does not claim PDF/A"})
	default:
		v.report.PDFA = part + strings.ToUpper(conformance)
		v.check(Check{Name: "pdfa", Outcome: Info, Detail: "the document claims PDF/A-" + v.report.PDFA + " (claim read, conformance not checked)"})
	}
}

// formValues returns the values of the non-signature fields of f.
func formValues(f *pdfread.File, fields []pdfread.Field) (map[string]string, error) {
	out := make(map[string]string, len(fields))
	for _, fl := range fields {
		if fl.Type == "Sig" {
			continue
		}
		val, err := f.Resolve(fl.Value)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", fl.Name, err)
		}
		out[fl.Name] = textValue(f, val)
	}
	return out, nil
}

func textValue(f *pdfread.File, o pdfread.Object) string {
	switch x := o.(type) {
	case pdfread.String:
		return pdfread.TextString(x)
	case pdfread.Name:
		return string(x)
	case pdfread.Array:
		parts := make([]string, 0, len(x))
		for _, item := range x {
			if r, err := f.Resolve(item); err == nil {
				parts = append(parts, textValue(f, r))
			}
		}
		return strings.Join(parts, ", ")
	case *pdfread.Stream:
		if b, err := f.Decode(x); err == nil {
			return pdfread.TextString(pdfread.String(b))
		}
	}
	return ""
}

// danglingRefs returns the object numbers at or above size that objects of
// f refer to: references the signed revision leaves undefined (null) and
// that a later revision must not fill in.
func danglingRefs(f *pdfread.File, size int64) (map[int]bool, error) {
	out := map[int]bool{}
	defined := map[pdfread.Ref]bool{}
	for _, sec := range f.Sections() {
		for num, e := range sec.Entries {
			if !e.Free {
				defined[pdfread.Ref{Num: num, Gen: e.Gen}] = true
			}
		}
	}
	walk := func(o pdfread.Object) {
		eachRef(o, func(r pdfread.Ref) {
			if int64(r.Num) >= size {
				out[r.Num] = true
			}
		})
	}
	walk(f.Trailer())
	for r := range defined {
		o, err := f.Object(r)
		if err != nil {
			return nil, err
		}
		walk(o)
	}
	return out, nil
}

// maxWalkDepth bounds the walk of one object; the reader already refuses
// nesting deeper than its own limit.
const maxWalkDepth = 128

// eachRef calls fn for every reference inside the direct object o (a
// stream's dictionary included), without following any.
func eachRef(o pdfread.Object, fn func(pdfread.Ref)) {
	var walk func(o pdfread.Object, depth int)
	walk = func(o pdfread.Object, depth int) {
		if depth > maxWalkDepth {
			return
		}
		switch x := o.(type) {
		case pdfread.Ref:
			fn(x)
		case pdfread.Array:
			for _, item := range x {
				walk(item, depth+1)
			}
		case pdfread.Dict:
			for _, val := range x {
				walk(val, depth+1)
			}
		case *pdfread.Stream:
			walk(x.Dict, depth+1)
		}
	}
	walk(o, 0)
}
