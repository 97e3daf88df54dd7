package pdfread

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/form"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// maxDifferentialFile keeps the differential test quick: pdfcpu reads
// every object of a file eagerly.
const maxDifferentialFile = 1 << 20

var pdfcpuConfigOnce sync.Once

func pdfcpuConfig() *model.Configuration {
	pdfcpuConfigOnce.Do(api.DisableConfigDir)
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationRelaxed
	return conf
}

// pdfcpuTestdata returns the PDF files that ship with the pdfcpu module,
// real files from many producers.
func pdfcpuTestdata(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/pdfcpu/pdfcpu").Output()
	if err != nil {
		t.Fatalf("locating the pdfcpu module: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	paths, err := filepath.Glob(filepath.Join(dir, "pkg", "testdata", "*.pdf"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no PDF files under %s (err %v)", dir, err)
	}
	return paths
}

// fromPDFCPU converts a pdfcpu object to ours.
func fromPDFCPU(o types.Object) (Object, error) {
	switch v := o.(type) {
	case nil:
		return nil, nil
	case types.Boolean:
		return bool(v), nil
	case types.Integer:
		return int64(v), nil
	case types.Float:
		return float64(v), nil
	case types.Name:
		return Name(v), nil
	case types.StringLiteral:
		b, err := types.Unescape(string(v))
		return String(b), err
	case types.HexLiteral:
		b, err := v.Bytes()
		return String(b), err
	case types.IndirectRef:
		return Ref{Num: v.ObjectNumber.Value(), Gen: v.GenerationNumber.Value()}, nil
	case types.Array:
		a := Array{}
		for _, e := range v {
			c, err := fromPDFCPU(e)
			if err != nil {
				return nil, err
			}
			a = append(a, c)
		}
		return a, nil
	case types.Dict:
		return fromPDFCPUDict(v)
	case types.StreamDict:
		d, err := fromPDFCPUDict(v.Dict)
		return &Stream{Dict: d, Raw: v.Raw}, err
	}
	return nil, fmt.Errorf("unexpected pdfcpu type %T", o)
}

func fromPDFCPUDict(v types.Dict) (Dict, error) {
	d := Dict{}
	for k, e := range v {
		c, err := fromPDFCPU(e)
		if err != nil {
			return nil, err
		}
		d[Name(k)] = c
	}
	return d, nil
}

// sameObject compares ours and pdfcpu's reading of one object. Literal
// strings are compared after pdfcpu's unescaping, except that pdfcpu keeps
// an unescaped CR of a literal string where PDF (and this package) reads a
// LF; integers pdfcpu could not hold are compared as floats.
func sameObject(ours, theirs Object) bool {
	switch o := ours.(type) {
	case String:
		t, ok := theirs.(String)
		if !ok {
			return false
		}
		return bytes.Equal(o, t) || bytes.Equal(o, bytes.ReplaceAll(bytes.ReplaceAll(t, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n")))
	case int64:
		if f, ok := theirs.(float64); ok {
			return float64(o) == f
		}
		return theirs == ours
	case float64:
		t, ok := theirs.(float64)
		return ok && (o == t || math.Abs(o-t) < 1e-9*math.Max(1, math.Abs(o)))
	case Array:
		t, ok := theirs.(Array)
		if !ok || len(o) != len(t) {
			return false
		}
		for i := range o {
			if !sameObject(o[i], t[i]) {
				return false
			}
		}
		return true
	case Dict:
		t, ok := theirs.(Dict)
		return ok && sameDict(o, t)
	case *Stream:
		t, ok := theirs.(*Stream)
		return ok && sameDict(o.Dict, t.Dict) && bytes.Equal(o.Raw, t.Raw)
	}
	return reflect.DeepEqual(ours, theirs)
}

func sameDict(o, t Dict) bool {
	for k, v := range o {
		if v == nil {
			continue // null values are absent entries; pdfcpu drops them
		}
		if !sameObject(v, t[k]) {
			return false
		}
	}
	for k, v := range t {
		if _, ok := o[k]; !ok && v != nil {
			return false
		}
	}
	return true
}

// TestObjectsAgainstPDFCPU reads every object of real files and of the
// generated layouts with both readers and compares them.
func TestObjectsAgainstPDFCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("reads every object of many files with pdfcpu")
	}
	files := map[string][]byte{}
	for _, l := range formLayouts {
		files["layout/"+l.name] = l.build()
	}
	for _, p := range pdfcpuTestdata(t) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) <= maxDifferentialFile {
			files["pdfcpu/"+filepath.Base(p)] = data
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		data := files[name]
		t.Run("ok/"+name, func(t *testing.T) {
			ctx, err := pdfcpu.Read(bytes.NewReader(data), pdfcpuConfig())
			if err != nil {
				t.Fatalf("pdfcpu.Read: %v", err)
			}
			f, err := Open(data, Limits{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			compared := 0
			for num, e := range ctx.XRefTable.Table {
				if e.Free || e.Object == nil || num == 0 {
					continue
				}
				switch e.Object.(type) {
				case types.ObjectStreamDict, types.XRefStreamDict:
					continue // pdfcpu keeps these decoded; compared through their objects
				}
				gen := 0
				if e.Generation != nil {
					gen = *e.Generation
				}
				o, err := ctx.XRefTable.Dereference(*types.NewIndirectRef(num, gen))
				if err != nil {
					t.Fatalf("object %d: pdfcpu: %v", num, err)
				}
				if lazy, ok := o.(types.LazyObjectStreamObject); ok {
					if o, err = lazy.DecodedObject(context.Background()); err != nil {
						t.Fatalf("object %d: pdfcpu: %v", num, err)
					}
				}
				theirs, err := fromPDFCPU(o)
				if err != nil {
					t.Fatalf("object %d: converting pdfcpu's object: %v", num, err)
				}
				ours, err := f.Object(Ref{num, gen})
				if err != nil {
					t.Errorf("Object(%d %d) error: %v", num, gen, err)
					continue
				}
				if !sameObject(ours, theirs) {
					t.Errorf("object %d %d:\nours   %.300v\npdfcpu %.300v", num, gen, ours, theirs)
				}
				compared++
			}
			if compared == 0 {
				t.Errorf("no object compared")
			}
		})
	}
}

// TestFieldsAgainstPDFCPU compares Fields with pdfcpu's list of form
// fields (which names each field by walking /Parent up from its widget,
// where Fields walks /Kids down) on the reference form in every layout.
func TestFieldsAgainstPDFCPU(t *testing.T) {
	for _, l := range formLayouts {
		t.Run("ok/"+l.name, func(t *testing.T) {
			data := l.build()
			theirs, err := api.FormFields(bytes.NewReader(data), pdfcpuConfig())
			if err != nil {
				t.Fatalf("pdfcpu FormFields: %v", err)
			}
			want := map[string]string{}
			for _, fl := range theirs {
				want[fl.Name] = fl.V
			}
			f, err := Open(data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, fl := range gotForm(t, f) {
				got[fl.name] = fl.value
			}
			// pdfcpu treats every kid of a field whose own /FT is Tx or
			// Btn as a widget, even a kid with /T, so it reports the
			// "entreprise" hierarchy (kids with /T that inherit /FT) as one
			// field named "entreprise". PDF 32000-1 12.7.3.1 makes a kid
			// with /T a field of its own, as Fields does.
			if v, ok := want["entreprise"]; !ok || v != "" {
				t.Errorf("pdfcpu gives entreprise = %q, %v; want \"\", true (its reading of a /Tx parent)", v, ok)
			}
			delete(want, "entreprise")
			delete(got, "entreprise.siren")
			delete(got, "entreprise.raison_sociale")
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Fields() = %v\npdfcpu gives %v", got, want)
			}
		})
	}
}

// pdfcpuForm is a form that pdfcpu writes itself (with its own choice of
// object and cross-reference streams).
const pdfcpuForm = `{
	"paper": "A4P",
	"origin": "LowerLeft",
	"fonts": {"input": {"name": "Helvetica", "size": 12}},
	"pages": {
		"1": {
			"content": {
				"textfield": [
					{"id": "titulaire_nom", "value": "Dupont", "pos": [100, 700], "width": 200, "font": {"name": "$input"}},
					{"id": "titulaire_prenom", "value": "Jérôme", "pos": [100, 670], "width": 200, "font": {"name": "$input"}},
					{"id": "raison", "value": "Cessation d'activité", "pos": [100, 640], "width": 200, "font": {"name": "$input"}}
				]
			}
		}
	}
}`

func TestFieldsOfPDFCPUForm(t *testing.T) {
	var buf bytes.Buffer
	if err := api.Create(nil, strings.NewReader(pdfcpuForm), &buf, pdfcpuConfig()); err != nil {
		t.Fatalf("pdfcpu Create: %v", err)
	}
	data := buf.Bytes()
	theirs, err := api.FormFields(bytes.NewReader(data), pdfcpuConfig())
	if err != nil {
		t.Fatalf("pdfcpu FormFields: %v", err)
	}
	want := map[string]string{}
	for _, fl := range theirs {
		want[fl.Name] = fl.V
	}
	f, err := Open(data, Limits{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	got := map[string]string{}
	for _, fl := range gotForm(t, f) {
		got[fl.name] = fl.value
	}
	if len(want) != 3 || !reflect.DeepEqual(got, want) {
		t.Errorf("Fields() = %v\npdfcpu gives %v (want 3 fields)", got, want)
	}
	var _ form.Field // the type pdfcpu returns
}
