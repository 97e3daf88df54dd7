package pdfverify

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"github.com/revokd/revokd/pdfverify/internal/pdfread"
)

// What real producers write in the revisions that follow a signature,
// besides a DSS and document timestamps, and which revokd tolerates
// because none of it changes what a viewer shows of the signed form:
//
//   - a cross-reference section that restates free entries: object 0
//     (0000000000 65535 f) or any object that was already null in the
//     signed revision stays null;
//   - the catalog's /Metadata: the XMP stream rewritten (the same object
//     redefined, or a new one), as long as it is a /Type /Metadata
//     /Subtype /XML stream of well-formed XML whose root is x:xmpmeta
//     (revokd reads the PDF/A claim from the signed revision only);
//   - the trailer's /Info dictionary rewritten with direct values only
//     (producer, modification date);
//   - the catalog's /Extensions (the ESIC or ADBE extension levels that
//     announce a DSS) and /Version;
//   - objects with numbers the signed revision never used that nothing
//     reachable from the latest catalog or trailer refers to (orphans:
//     object streams, replaced drafts); no reader shows them.
//
// Everything else still fails as MODIFIED_AFTER_SIGNING: a signed object
// changed, a page, an annotation, a field, an action.

// maxXMPBytes bounds the metadata stream decoded to check its XML: a form's
// XMP packet is a few KB.
const maxXMPBytes = 1 << 20

// wasNull reports whether object num was null (free or never defined) in
// the signed revision, so that a later free entry for it changes nothing.
func (lc *laterChanges) wasNull(num int) bool {
	if num == 0 {
		return true
	}
	for _, sec := range lc.last.file.Sections() {
		if e, ok := sec.Entries[num]; ok {
			return e.Free
		}
	}
	return true
}

// toleratedCatalogKey reports whether the catalog may change key k from
// before to after in a revision appended after signing.
func (v *verification) toleratedCatalogKey(k pdfread.Name, after pdfread.Object) bool {
	switch k {
	case "Metadata":
		return after == nil || v.isXMPStream(after) == nil
	case "Extensions":
		return v.isExtensions(after)
	case "Version":
		_, ok := after.(pdfread.Name)
		return ok || after == nil
	}
	return false
}

// toleratedObject says whether object num, written after signing, is one
// of the tolerated rewrites: the latest /Metadata stream, the latest /Info
// dictionary, a dictionary of the latest /Extensions, or (new numbers
// only) an orphan.
func (v *verification) toleratedObject(lc *laterChanges, num int) bool {
	cat, err := v.file.Catalog()
	if err != nil {
		return false
	}
	if r, ok := cat["Metadata"].(pdfread.Ref); ok && r.Num == num {
		return v.isXMPStream(r) == nil
	}
	if r, ok := v.file.Trailer()["Info"].(pdfread.Ref); ok && r.Num == num {
		return v.isInfo(r)
	}
	if ext, ok := v.resolve(cat["Extensions"]).(pdfread.Dict); ok && v.isExtensions(cat["Extensions"]) {
		if r, ok := cat["Extensions"].(pdfread.Ref); ok && r.Num == num {
			return true
		}
		for _, e := range ext {
			if r, ok := e.(pdfread.Ref); ok && r.Num == num {
				return true
			}
		}
	}
	return int64(num) >= lc.signedSize && !lc.signedRefs[num] && !v.reachable(lc, num)
}

// isXMPStream says why o is not an XMP metadata stream, or nil.
func (v *verification) isXMPStream(o pdfread.Object) error {
	s, ok := v.resolve(o).(*pdfread.Stream)
	if !ok {
		return errors.New("not a stream")
	}
	if s.Dict["Type"] != pdfread.Name("Metadata") || s.Dict["Subtype"] != pdfread.Name("XML") {
		return errors.New("not /Type /Metadata /Subtype /XML")
	}
	if len(s.Raw) > maxXMPBytes {
		return errors.New("too large")
	}
	data, err := v.file.Decode(s)
	if err != nil {
		return err
	}
	if len(data) > maxXMPBytes {
		return errors.New("too large")
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("not well-formed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = t.Name.Space + " " + t.Name.Local
			}
		case xml.Directive:
			return errors.New("XML directive (DTD, entity) in the metadata")
		}
	}
	if root != "adobe:ns:meta/ xmpmeta" {
		return fmt.Errorf("root element %q is not x:xmpmeta", root)
	}
	return nil
}

// isInfo reports whether o is a document information dictionary holding
// direct values only.
func (v *verification) isInfo(o pdfread.Object) bool {
	d, ok := v.resolve(o).(pdfread.Dict)
	if !ok {
		return false
	}
	for _, val := range d {
		switch val.(type) {
		case pdfread.String, pdfread.Name, nil:
		default:
			return false
		}
	}
	return true
}

// isExtensions reports whether o is a developer extensions dictionary
// (PDF 32000-1 7.12): prefixes mapping to dictionaries of /BaseVersion
// and /ExtensionLevel (and /URL), or arrays of them.
func (v *verification) isExtensions(o pdfread.Object) bool {
	if o == nil {
		return true
	}
	d, ok := v.resolve(o).(pdfread.Dict)
	if !ok {
		return false
	}
	ext := func(o pdfread.Object) bool {
		e, ok := v.resolve(o).(pdfread.Dict)
		if !ok {
			return false
		}
		for k, val := range e {
			switch k {
			case "Type", "BaseVersion":
				if _, ok := val.(pdfread.Name); !ok {
					return false
				}
			case "ExtensionLevel", "ExtensionRevision", "URL":
				switch val.(type) {
				case int64, pdfread.String:
				default:
					return false
				}
			default:
				return false
			}
		}
		return true
	}
	for k, val := range d {
		if k == "Type" {
			continue
		}
		if arr, ok := val.(pdfread.Array); ok {
			for _, item := range arr {
				if !ext(item) {
					return false
				}
			}
			continue
		}
		if !ext(val) {
			return false
		}
	}
	return true
}

// maxReachable bounds the walk of the latest revision's object graph; a
// form has tens of objects, a scanned attachment a few thousand.
const maxReachable = 1 << 16

// reachable reports whether object num is reachable from the latest
// trailer; the walk is made once. A walk cut short by maxReachable counts
// every number as reachable, so nothing is tolerated as an orphan on a
// guess.
func (v *verification) reachable(lc *laterChanges, num int) bool {
	if lc.reach == nil {
		lc.reach = map[int]bool{}
		var queue []pdfread.Ref
		push := func(o pdfread.Object) {
			eachRef(o, func(r pdfread.Ref) {
				if !lc.reach[r.Num] {
					lc.reach[r.Num] = true
					queue = append(queue, r)
				}
			})
		}
		push(v.file.Trailer())
		for len(queue) > 0 && !lc.reachAll {
			if len(lc.reach) > maxReachable || v.ctx.Err() != nil {
				lc.reachAll = true
				break
			}
			r := queue[0]
			queue = queue[1:]
			if o, err := v.file.Object(r); err == nil {
				push(o)
			}
		}
	}
	return lc.reachAll || lc.reach[num]
}
