package arch

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// announcedExtensions reads the API extensions lodged announces from the
// server's source: the list called list (apiExtensions: LXD's,
// lodgeExtensions: lodge's own) and every append to it, wherever they
// live under server/ (so the file layout may change).
func announcedExtensions(t *testing.T, root, list string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	addLits := func(exprs []ast.Expr) {
		for _, e := range exprs {
			if bl, ok := e.(*ast.BasicLit); ok && bl.Kind == token.STRING {
				s, _ := strconv.Unquote(bl.Value)
				out[s] = true
			}
		}
	}
	isExt := func(e ast.Expr) bool {
		id, ok := e.(*ast.Ident)
		return ok && id.Name == list
	}
	err := filepath.WalkDir(filepath.Join(root, "server"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, name := range n.Names {
					if name.Name == list && i < len(n.Values) {
						if cl, ok := n.Values[i].(*ast.CompositeLit); ok {
							addLits(cl.Elts)
						}
					}
				}
			case *ast.CallExpr:
				if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "append" && len(n.Args) > 1 && isExt(n.Args[0]) {
					addLits(n.Args[1:])
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("found no %s list under server/: update announcedExtensions to where the server keeps it", list)
	}
	return out
}

// TestCompatTable: docs/compat.md lists each of LXD 5.0.2's 318 API
// extensions once, with one mark, and marks implemented exactly those
// lodged announces.
func TestCompatTable(t *testing.T) {
	root, _ := filepath.Abs("../..")
	raw, err := os.ReadFile("testdata/lxd-5.0.2-api-extensions.txt")
	if err != nil {
		t.Fatal(err)
	}
	lxd := strings.Fields(string(raw))
	if len(lxd) != 318 {
		t.Fatalf("LXD 5.0.2 announces 318 extensions; the testdata has %d", len(lxd))
	}
	known := map[string]bool{}
	for _, e := range lxd {
		known[e] = true
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs/compat.md"))
	if err != nil {
		t.Fatal(err)
	}
	marks := map[string]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 5 {
			t.Errorf("row with %d cells, want 5: %s", len(cells), line)
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[0]), "`")
		var set []string
		for i, col := range []string{"implemented", "not applicable", "not yet"} {
			switch v := strings.TrimSpace(cells[i+1]); v {
			case "yes":
				set = append(set, col)
			case "":
			default:
				t.Errorf("%s: column %q holds %q; use yes or leave it empty", name, col, v)
			}
		}
		if len(set) != 1 {
			t.Errorf("%s: %d marks (%v), want exactly one", name, len(set), set)
			continue
		}
		if set[0] != "implemented" && strings.TrimSpace(cells[4]) == "" {
			t.Errorf("%s: %s without a note saying why or which issue", name, set[0])
		}
		if _, dup := marks[name]; dup {
			t.Errorf("%s: listed twice", name)
		}
		if !known[name] {
			t.Errorf("%s: not one of LXD 5.0.2's extensions", name)
		}
		marks[name] = set[0]
	}
	for _, e := range lxd {
		if _, ok := marks[e]; !ok {
			t.Errorf("%s: missing from docs/compat.md", e)
		}
	}
	announced := announcedExtensions(t, root, "apiExtensions")
	var names []string
	for e := range announced {
		names = append(names, e)
	}
	sort.Strings(names)
	for _, e := range names {
		if !known[e] {
			t.Errorf("lodged announces %q, which LXD 5.0.2 does not have", e)
		} else if marks[e] != "implemented" {
			t.Errorf("lodged announces %q, but docs/compat.md marks it %q", e, marks[e])
		}
	}
	for e, m := range marks {
		if m == "implemented" && !announced[e] {
			t.Errorf("docs/compat.md marks %q implemented, but lodged does not announce it", e)
		}
	}
	// lodge's own: each listed in its section, none of them LXD's.
	_, own, ok := strings.Cut(string(doc), "## lodge's own extensions")
	if !ok {
		t.Fatal(`docs/compat.md has no "## lodge's own extensions" section`)
	}
	own, _, _ = strings.Cut(own, "\n## ")
	for e := range announcedExtensions(t, root, "lodgeExtensions") {
		if known[e] {
			t.Errorf("lodgeExtensions holds %q, one of LXD's: it belongs in apiExtensions", e)
		}
		if !strings.Contains(own, "- `"+e+"`") {
			t.Errorf("lodged announces its own %q, but docs/compat.md's section on lodge's own extensions does not list it", e)
		}
	}
}
