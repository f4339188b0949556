package daemon

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"testing"
)

// An Expanded is made only by expandProfiles (the expander): a literal
// anywhere else would wrap a stored row as if its profiles were applied,
// the mistake the type exists to stop (specFor used to be handed rows).
func TestExpandedOnlyFromTheExpander(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, fn := range files {
		f, err := parser.ParseFile(fset, fn, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil || fd.Name.Name == "expandProfiles" {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				cl, ok := n.(*ast.CompositeLit)
				if !ok || len(cl.Elts) == 0 {
					return true
				}
				if id, ok := cl.Type.(*ast.Ident); ok && id.Name == "Expanded" {
					t.Errorf("%s: %s makes an Expanded itself; expand the instance (expand, mustExpand, expander) instead",
						fset.Position(cl.Pos()), fd.Name.Name)
				}
				return true
			})
		}
	}
}
