package pdfverify

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestSubIndicationsListed reads the package's source and checks that
// every constant of type SubIndication is in SubIndications: a new
// sub-indication must be listed, so that the tests of its consumers see it.
func TestSubIndicationsListed(t *testing.T) {
	listed := map[SubIndication]bool{}
	for _, s := range SubIndications() {
		if listed[s] {
			t.Errorf("SubIndications lists %s twice", s)
		}
		listed[s] = true
	}
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	declared := 0
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "SubIndication" {
					continue
				}
				for i, name := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok {
						t.Errorf("sub-indication %s is not a string literal", name.Name)
						continue
					}
					declared++
					v := SubIndication(strings.Trim(lit.Value, "`\""))
					if !listed[v] {
						t.Errorf("sub-indication %s (%s) is declared but missing from SubIndications", name.Name, v)
					}
				}
			}
		}
	}
	if declared != len(listed) {
		t.Errorf("%d sub-indications declared, %d listed", declared, len(listed))
	}
}
