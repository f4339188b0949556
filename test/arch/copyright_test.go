package arch

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCopyrightNamesEmbeddedNPMPackages: every npm package the web UI
// ships (ui/web/package.json's dependencies, embedded in lodged through
// ui/dist) is named in the Debian package's copyright file.
func TestCopyrightNamesEmbeddedNPMPackages(t *testing.T) {
	root, _ := filepath.Abs("../..")
	raw, err := os.ReadFile(filepath.Join(root, "ui/web/package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(raw, &pkg); err != nil {
		t.Fatal(err)
	}
	if len(pkg.Dependencies) == 0 {
		t.Fatal("ui/web/package.json lists no dependencies: update this test to where the UI's packages are listed")
	}
	copyright, err := os.ReadFile(filepath.Join(root, "packaging/deb/copyright"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range pkg.Dependencies {
		if !strings.Contains(string(copyright), name+" ") {
			t.Errorf("packaging/deb/copyright does not name %s, which lodged embeds in ui/dist: add it with its license and copyright", name)
		}
	}
}
