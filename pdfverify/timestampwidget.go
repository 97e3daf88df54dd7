package pdfverify

import (
	"fmt"
	"maps"
	"slices"

	"github.com/revokd/revokd/pdfverify/internal/pdfread"
)

// timestampWidgetKeys are the keys a document timestamp's merged field and
// widget may have: what naming, placing and flagging a signature field
// takes. An action (/A, /AA), child fields, optional content or anything
// else would ride along with the timestamp into the document.
var timestampWidgetKeys = map[pdfread.Name]bool{
	"Type": true, "Subtype": true, "FT": true, "T": true, "TU": true, "TM": true,
	"V": true, "F": true, "Ff": true, "Rect": true, "P": true, "AP": true,
	"DA": true, "MK": true, "Border": true, "BS": true, "NM": true, "M": true, "Q": true,
}

// blankOperators are the only operators a document timestamp's
// appearance may use: they save and restore state, transform, and build or
// discard a path without painting it.
var blankOperators = map[string]bool{"q": true, "Q": true, "cm": true, "re": true, "n": true, "W": true, "W*": true}

// timestampWidget says why a document timestamp's field cannot be
// accepted, or "", and returns the appearance stream it may add. The
// field and widget must be one dictionary with only timestampWidgetKeys;
// the widget must draw nothing: a zero-area /Rect or the Hidden or NoView
// flag, and a normal appearance (the only one allowed) that paints
// nothing; it may refer to no object the signed revision lacks but its
// signature dictionary and that appearance.
func (v *verification) timestampWidget(field pdfread.Dict, sig pdfread.Ref, signedSize int64) (pdfread.Ref, string) {
	for _, k := range slices.Sorted(maps.Keys(field)) {
		if !timestampWidgetKeys[k] {
			return pdfread.Ref{}, fmt.Sprintf("its field carries /%s, which a document timestamp has no use for", k)
		}
	}
	const hidden, noView = 1 << 1, 1 << 5
	flags, _ := field["F"].(int64)
	if !zeroArea(field["Rect"]) && flags&(hidden|noView) == 0 {
		return pdfread.Ref{}, "its widget is visible on the page"
	}
	var apRef pdfread.Ref
	if o, ok := field["AP"]; ok {
		ap, ok := v.resolve(o).(pdfread.Dict)
		if !ok {
			return pdfread.Ref{}, "its /AP is not a dictionary"
		}
		for k := range ap {
			if k != "N" {
				return pdfread.Ref{}, fmt.Sprintf("its appearance dictionary has /%s; a document timestamp's widget has a normal appearance only", k)
			}
		}
		apRef, _ = ap["N"].(pdfread.Ref)
		s, ok := v.resolve(ap["N"]).(*pdfread.Stream)
		if !ok {
			return pdfread.Ref{}, "its normal appearance is not a stream"
		}
		data, err := v.file.Decode(s)
		if err != nil {
			return pdfread.Ref{}, "its appearance cannot be decoded: " + err.Error()
		}
		ops, err := v.file.ContentOps(data)
		if err != nil {
			return pdfread.Ref{}, "its appearance cannot be read: " + err.Error()
		}
		for _, op := range ops {
			if !blankOperators[op.Operator] {
				return pdfread.Ref{}, fmt.Sprintf("its appearance draws (operator %s)", op.Operator)
			}
		}
		bad := 0
		eachRef(s.Dict, func(r pdfread.Ref) {
			if int64(r.Num) >= signedSize {
				bad = r.Num
			}
		})
		if bad != 0 {
			return pdfread.Ref{}, fmt.Sprintf("its appearance refers to object %d, which it adds", bad)
		}
	}
	bad := 0
	eachRef(field, func(r pdfread.Ref) {
		if r != sig && r != apRef && int64(r.Num) >= signedSize {
			bad = r.Num
		}
	})
	if bad != 0 {
		return pdfread.Ref{}, fmt.Sprintf("its field refers to object %d, which it adds beside its signature", bad)
	}
	return apRef, ""
}
