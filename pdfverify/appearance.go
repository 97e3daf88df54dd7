package pdfverify

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/revokd/revokd/pdfverify/internal/pdfread"
)

// The rule on what a text field shows (what a viewer draws is its
// widget's normal appearance, /AP /N, not its value):
//
//   - a text field with a value has a visible widget: not Hidden nor
//     NoView, with a non-empty /Rect;
//   - when that widget has a normal appearance, the text it draws (the
//     strings of Tj, TJ, ' and ", decoded with their fonts, nested form
//     XObjects included) is the value, white-space aside (a multi-line or
//     comb field breaks the value where it likes);
//   - the appearance draws no text invisibly (rendering mode 3 or 7) and
//     no image, which could show other characters than its text;
//   - a widget without a normal appearance is accepted: viewers then draw
//     the value from /V and /DA, whatever /NeedAppearances says. The
//     check says so, as information.
//
// Text drawn as vector paths is not read: an appearance could still draw
// other digits as lines. The refusal is FORMAT_FAILURE, check
// "appearance": the form reads two ways.

// maxAppearanceDepth bounds nested form XObjects in one appearance.
const maxAppearanceDepth = 4

// checkAppearances applies the rule to every text field of the revision a
// signature covers; the first problem fails the document.
func (v *verification) checkAppearances(view *signedView, fields []pdfread.Field) bool {
	f := view.file
	fonts := map[pdfread.Ref]*fontDecoder{}
	var dr pdfread.Dict
	if cat, err := f.Catalog(); err == nil {
		if af, ok := resolveIn(f, cat["AcroForm"]).(pdfread.Dict); ok {
			dr, _ = resolveIn(f, af["DR"]).(pdfread.Dict)
		}
	}
	checked, missing := 0, 0
	for _, fl := range fields {
		if fl.Type != "Tx" {
			continue
		}
		value := textValue(f, fl.Value)
		for _, w := range widgetsOf(f, fl) {
			problem, drawn := v.widgetShows(f, w, value, dr, fonts)
			if problem != "" {
				v.docFail("appearance", FormatFailure, fmt.Sprintf("field %q (signed by %q): %s", fl.Name, view.field, problem))
				return false
			}
			if drawn {
				checked++
			} else {
				missing++
			}
		}
	}
	detail := fmt.Sprintf("the appearances of %d text field widget(s) signed by %q show their values", checked, view.field)
	if missing > 0 {
		detail += fmt.Sprintf("; %d widget(s) have no appearance, which viewers draw from the value", missing)
	}
	v.docPass("appearance", detail)
	return true
}

func resolveIn(f *pdfread.File, o pdfread.Object) pdfread.Object {
	r, err := f.Resolve(o)
	if err != nil {
		return nil
	}
	return r
}

// widgetsOf returns the widget annotations of a terminal field: the field
// itself when it is merged with its widget, else its kids.
func widgetsOf(f *pdfread.File, fl pdfread.Field) []pdfread.Dict {
	if fl.Dict["Subtype"] == pdfread.Name("Widget") {
		return []pdfread.Dict{fl.Dict}
	}
	kids, _ := resolveIn(f, fl.Dict["Kids"]).(pdfread.Array)
	var out []pdfread.Dict
	for _, k := range kids {
		if d, ok := resolveIn(f, k).(pdfread.Dict); ok {
			out = append(out, d)
		}
	}
	return out
}

// widgetShows says what is wrong with what widget w draws for value, or
// "", and whether it has an appearance at all.
func (v *verification) widgetShows(f *pdfread.File, w pdfread.Dict, value string, dr pdfread.Dict, fonts map[pdfread.Ref]*fontDecoder) (string, bool) {
	const hidden, noView = 1 << 1, 1 << 5
	flags, _ := w["F"].(int64)
	visible := flags&(hidden|noView) == 0 && !zeroArea(w["Rect"])
	if !visible {
		if strings.TrimSpace(value) == "" {
			return "", false
		}
		return "its widget is hidden or has no area, so the signer did not see the value", false
	}
	ap, _ := resolveIn(f, w["AP"]).(pdfread.Dict)
	n := resolveIn(f, ap["N"])
	if n == nil {
		return "", false
	}
	if states, ok := n.(pdfread.Dict); ok {
		as, _ := w["AS"].(pdfread.Name)
		n = resolveIn(f, states[as])
		if n == nil {
			return "its normal appearance is a dictionary of states and /AS names none of them", true
		}
	}
	s, ok := n.(*pdfread.Stream)
	if !ok {
		return "its normal appearance is not a stream", true
	}
	t := &textCollector{v: v, f: f, dr: dr, fonts: fonts}
	if err := t.run(s, 0); err != "" {
		return "its appearance cannot be read: " + err, true
	}
	if t.refused != "" {
		return t.refused, true
	}
	drawn := t.b.String()
	if stripSpace(drawn) != stripSpace(value) {
		return fmt.Sprintf("its value is %q but its appearance shows %q", value, drawn), true
	}
	return "", true
}

func zeroArea(o pdfread.Object) bool {
	r, ok := o.(pdfread.Array)
	if !ok || len(r) != 4 {
		return true
	}
	n := func(o pdfread.Object) float64 {
		switch x := o.(type) {
		case int64:
			return float64(x)
		case float64:
			return x
		}
		return 0
	}
	return n(r[0]) == n(r[2]) || n(r[1]) == n(r[3])
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

// textCollector gathers the text an appearance stream shows.
type textCollector struct {
	v       *verification
	f       *pdfread.File
	dr      pdfread.Dict
	fonts   map[pdfread.Ref]*fontDecoder // by font dictionary, for this revision
	b       strings.Builder
	refused string
}

// run reads the content of form XObject s (an appearance or a form it
// draws).
func (t *textCollector) run(s *pdfread.Stream, depth int) string {
	if depth > maxAppearanceDepth {
		return "form XObjects nested too deep"
	}
	data, err := t.f.Decode(s)
	if err != nil {
		return err.Error()
	}
	ops, err := t.f.ContentOps(data)
	if err != nil {
		return err.Error()
	}
	res, _ := resolveIn(t.f, s.Dict["Resources"]).(pdfread.Dict)
	fonts, _ := resolveIn(t.f, res["Font"]).(pdfread.Dict)
	drFonts, _ := resolveIn(t.f, t.dr["Font"]).(pdfread.Dict)
	xobjects, _ := resolveIn(t.f, res["XObject"]).(pdfread.Dict)
	var font *fontDecoder
	mode := int64(0)
	show := func(o pdfread.Object) {
		str, ok := o.(pdfread.String)
		if !ok {
			return
		}
		if mode == 3 || mode == 7 {
			t.refused = "its appearance draws text invisibly (text rendering mode 3 or 7)"
		}
		if font == nil {
			t.refused = "its appearance shows text without selecting a font"
			return
		}
		t.b.WriteString(font.decode(str))
	}
	for _, op := range ops {
		args := op.Operands
		switch op.Operator {
		case "Tf":
			if len(args) != 2 {
				continue
			}
			name, _ := args[0].(pdfread.Name)
			entry, ok := fonts[name]
			if !ok {
				entry = drFonts[name]
			}
			fd, ok := resolveIn(t.f, entry).(pdfread.Dict)
			if !ok {
				return fmt.Sprintf("font /%s is not in its resources", name)
			}
			ref, isRef := entry.(pdfread.Ref)
			if font = t.fonts[ref]; !isRef || font == nil {
				font = t.v.newFontDecoder(t.f, fd)
				if isRef {
					t.fonts[ref] = font
				}
			}
		case "Tr":
			if len(args) == 1 {
				mode, _ = args[0].(int64)
			}
		case "Tj", "'":
			if len(args) == 1 {
				show(args[0])
			}
		case "\"":
			if len(args) == 3 {
				show(args[2])
			}
		case "TJ":
			if len(args) == 1 {
				arr, _ := args[0].(pdfread.Array)
				for _, item := range arr {
					show(item)
				}
			}
		case "BI":
			t.refused = "its appearance draws an image"
		case "Do":
			if len(args) != 1 {
				continue
			}
			name, _ := args[0].(pdfread.Name)
			x, ok := resolveIn(t.f, xobjects[name]).(*pdfread.Stream)
			if !ok {
				return fmt.Sprintf("XObject /%s is not in its resources", name)
			}
			if x.Dict["Subtype"] != pdfread.Name("Form") {
				t.refused = "its appearance draws an image"
				continue
			}
			if err := t.run(x, depth+1); err != "" {
				return err
			}
		}
		if t.refused != "" {
			return ""
		}
	}
	return ""
}
