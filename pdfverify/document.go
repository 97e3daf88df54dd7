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
	v.collectRefs(root, v.dss.refs)
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

// collectRefs adds every object number reachable from o to seen.
func (v *verification) collectRefs(o pdfread.Object, seen map[int]bool) {
	stack := []pdfread.Object{o}
	for len(stack) > 0 && len(seen) < maxDSSObjects {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch x := cur.(type) {
		case pdfread.Ref:
			if seen[x.Num] {
				continue
			}
			seen[x.Num] = true
			if obj, err := v.file.Object(x); err == nil {
				stack = append(stack, obj)
			}
		case pdfread.Array:
			stack = append(stack, x...)
		case pdfread.Dict:
			for _, val := range x {
				stack = append(stack, val)
			}
		case *pdfread.Stream:
			for _, val := range x.Dict {
				stack = append(stack, val)
			}
		}
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
	if !v.documentTimestamps(last.end, lc) {
		return
	}
	for i := len(later) - 1; i >= 0; i-- {
		sec := later[i]
		for _, num := range slices.Sorted(maps.Keys(sec.Entries)) {
			e := sec.Entries[num]
			if sec.Stream && num == sec.XRefStreamNum {
				continue
			}
			if problem := v.laterChange(lc, num, e); problem != "" {
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
	// signature dictionary); tsFields may be appended to /Fields and
	// /Annots arrays.
	tsObjects map[int]bool
	tsFields  map[pdfread.Ref]bool
}

// documentTimestamps verifies every document timestamp (ETSI.RFC3161)
// that follows the last signature and notes the objects it may add. A
// document timestamp proves when the bytes it covers existed; it vouches
// for no content, so what it covers must itself be allowed.
func (v *verification) documentTimestamps(after int64, lc *laterChanges) bool {
	lc.tsObjects, lc.tsFields = map[int]bool{}, map[pdfread.Ref]bool{}
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
		ts, err := cades.VerifyTimestampToken(trimCMS(contents), covered)
		if err != nil {
			return fail(err.Error())
		}
		if why, ok := v.trustTimestamp(ts, nil); !ok {
			return fail(why)
		}
		v.docPass("document-timestamp", fmt.Sprintf("document timestamp %q of %s covers the first %d bytes", fl.Name, ts.GenTime.UTC().Format(time.RFC3339), view.end))
		lc.tsObjects[ref.Num] = true
		lc.tsObjects[fl.Ref.Num] = true
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
func (v *verification) laterChange(lc *laterChanges, num int, e pdfread.Entry) string {
	if e.Free {
		return fmt.Sprintf("deletes object %d", num)
	}
	if num == lc.catRef.Num {
		before, err1 := lc.last.file.Catalog()
		after, err2 := v.file.Catalog()
		if err1 != nil || err2 != nil {
			return "rewrites the catalog unreadably"
		}
		for _, k := range slices.Sorted(maps.Keys(mergeKeys(before, after))) {
			if k == "DSS" || (k == "AcroForm" && lc.onlyAppendsTimestamps(before[k], after[k])) {
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
		return fmt.Sprintf("changes object %d, which the signed revision defines or reserves", num)
	}
	if lc.tsObjects[num] || lc.dss.refs[num] {
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
		form, err := formValues(view.file)
		if err != nil {
			v.docFail("form", FormatFailure, fmt.Sprintf("the form signed by %q cannot be read: %v", view.field, err))
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
func formValues(f *pdfread.File) (map[string]string, error) {
	fields, err := f.Fields()
	if err != nil {
		return nil, err
	}
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
