package storagetest

import (
	"os"
	"path/filepath"
	"testing"
)

// Plant writes a file that is not lodge's, whose survival a test checks
// with Intact after lodge deleted what it made beside it.
func Plant(t testing.TB, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Intact fails the test unless a planted file is still there, unchanged.
func Intact(t testing.TB, p string) {
	t.Helper()
	if b, err := os.ReadFile(p); err != nil || string(b) != "precious" {
		t.Fatalf("%s was removed or changed: %v", p, err)
	}
}
