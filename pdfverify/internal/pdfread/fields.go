package pdfread

import (
	"fmt"
	"strings"
)

// Field is a terminal form field: one that has no child fields, only
// widget annotations or none.
type Field struct {
	Name  string // fully qualified name: the partial names (/T) from the root, joined with "."
	Type  Name   // /FT, inherited from the nearest ancestor that has it
	Value Object // /V, inherited likewise, with references resolved; nil when absent
	Ref   Ref    // the terminal field's dictionary
	Dict  Dict
}

// Fields returns the terminal fields of the document's interactive form
// (the catalog's /AcroForm /Fields and their /Kids), in tree order, or none
// when there is no form.
//
// A kid without /T is a widget annotation of its parent field, not a field
// of its own. To leave no room for two readers to name or value a field
// differently, the field tree must be exactly what PDF 32000-1 12.7.3
// describes, or Fields returns a *FormatError: every field and widget is an
// indirect object reached once (so the walk is also safe from cycles), a
// kid's /Parent is the field that lists it and a root field has none, a
// partial name holds no period, a widget has no /Kids, a field does not
// have both child fields and widgets, and no two fields share a fully
// qualified name. Depth is bounded by Limits.MaxDepth.
func (f *File) Fields() ([]Field, error) {
	cat, err := f.Catalog()
	if err != nil {
		return nil, err
	}
	afo, err := f.Resolve(cat["AcroForm"])
	if err != nil {
		return nil, fmt.Errorf("reading /AcroForm: %w", err)
	}
	if afo == nil {
		return nil, nil
	}
	af, ok := afo.(Dict)
	if !ok {
		return nil, formatErr(0, "/AcroForm is not a dictionary")
	}
	roots, err := f.array(af["Fields"], "/AcroForm /Fields")
	if err != nil {
		return nil, err
	}
	w := &fieldWalk{f: f, seen: make(map[Ref]bool), names: make(map[string]bool)}
	for _, o := range roots {
		r, d, err := w.node(o)
		if err != nil {
			return nil, err
		}
		if err := w.field(r, d, nil, 0); err != nil {
			return nil, err
		}
	}
	return w.out, nil
}

// array resolves o to an array; null is an empty array.
func (f *File) array(o Object, what string) (Array, error) {
	o, err := f.Resolve(o)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if o == nil {
		return nil, nil
	}
	a, ok := o.(Array)
	if !ok {
		return nil, formatErr(0, "%s is not an array", what)
	}
	return a, nil
}

type fieldWalk struct {
	f     *File
	seen  map[Ref]bool
	names map[string]bool
	out   []Field
}

// fieldNode is an ancestor of the field being walked.
type fieldNode struct {
	ref   Ref
	name  string
	typ   Name
	value Object
}

// node reads the field or widget that o refers to, once.
func (w *fieldWalk) node(o Object) (Ref, Dict, error) {
	r, ok := o.(Ref)
	if !ok {
		return Ref{}, nil, formatErr(0, "form field tree holds a direct object, not a reference")
	}
	if w.seen[r] {
		return Ref{}, nil, formatErr(0, "form field tree reaches object %d %d twice", r.Num, r.Gen)
	}
	w.seen[r] = true
	o, err := w.f.Object(r)
	if err != nil {
		return Ref{}, nil, fmt.Errorf("reading form field %d %d: %w", r.Num, r.Gen, err)
	}
	d, ok := o.(Dict)
	if !ok {
		return Ref{}, nil, formatErr(0, "form field %d %d is not a dictionary", r.Num, r.Gen)
	}
	return r, d, nil
}

// checkParent checks d's /Parent against the node that lists it.
func checkParent(r Ref, d Dict, parent *fieldNode) error {
	p, has := d["Parent"]
	switch {
	case parent == nil && has:
		return formatErr(0, "root form field %d %d has a /Parent", r.Num, r.Gen)
	case parent != nil && p != parent.ref:
		return formatErr(0, "form field %d %d: /Parent is not %d %d, the field that lists it", r.Num, r.Gen, parent.ref.Num, parent.ref.Gen)
	}
	return nil
}

// field walks the field r, whose dictionary is d.
func (w *fieldWalk) field(r Ref, d Dict, parent *fieldNode, depth int) error {
	if depth >= w.f.lim.MaxDepth {
		return limitErr(0, "form field tree deeper than %d", w.f.lim.MaxDepth)
	}
	if err := checkParent(r, d, parent); err != nil {
		return err
	}
	to, err := w.f.Resolve(d["T"])
	if err != nil {
		return fmt.Errorf("reading /T of form field %d %d: %w", r.Num, r.Gen, err)
	}
	ts, ok := to.(String)
	if !ok {
		return formatErr(0, "/T of form field %d %d is missing or not a string", r.Num, r.Gen)
	}
	partial := TextString(ts)
	if strings.Contains(partial, ".") {
		return formatErr(0, "partial name %q of form field %d %d contains a period", partial, r.Num, r.Gen)
	}
	n := &fieldNode{ref: r, name: partial}
	if parent != nil {
		n.name = parent.name + "." + partial
		n.typ, n.value = parent.typ, parent.value
	}
	if w.names[n.name] {
		return formatErr(0, "two form fields are named %q", n.name)
	}
	w.names[n.name] = true
	if ft, ok := d["FT"]; ok {
		if n.typ, ok = ft.(Name); !ok {
			return formatErr(0, "/FT of form field %d %d is not a name", r.Num, r.Gen)
		}
	}
	if v, ok := d["V"]; ok {
		if n.value, err = w.f.Resolve(v); err != nil {
			return fmt.Errorf("reading /V of form field %d %d: %w", r.Num, r.Gen, err)
		}
	}
	kids, err := w.f.array(d["Kids"], fmt.Sprintf("/Kids of form field %d %d", r.Num, r.Gen))
	if err != nil {
		return err
	}
	var fields, widgets int
	for _, ko := range kids {
		kr, kd, err := w.node(ko)
		if err != nil {
			return err
		}
		if _, ok := kd["T"]; ok {
			fields++
			if err := w.field(kr, kd, n, depth+1); err != nil {
				return err
			}
			continue
		}
		widgets++
		if err := checkParent(kr, kd, n); err != nil {
			return err
		}
		if _, ok := kd["Kids"]; ok {
			return formatErr(0, "widget %d %d (a kid without /T) has /Kids", kr.Num, kr.Gen)
		}
	}
	if fields > 0 && widgets > 0 {
		return formatErr(0, "form field %d %d has both child fields and widgets", r.Num, r.Gen)
	}
	if fields == 0 {
		w.out = append(w.out, Field{Name: n.name, Type: n.typ, Value: n.value, Ref: r, Dict: d})
	}
	return nil
}
