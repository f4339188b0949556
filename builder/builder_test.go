package builder

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"lodge/images"
)

func TestMirrorFromList(t *testing.T) {
	tests := []struct{ text, want string }{
		{"deb http://deb.debian.org/debian bookworm main\n", "http://deb.debian.org/debian/"},
		{"# deb http://old/ x main\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian/ bookworm main contrib\n", "http://m.example/debian/"},
		{"deb http://security.debian.org/debian-security bookworm-security main\ndeb http://m2/debian bookworm main\n", "http://m2/debian/"},
		{"deb-src http://src/ bookworm main\n", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := mirrorFromList(tc.text); got != tc.want {
			t.Errorf("mirrorFromList(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestMirrorFromDeb822(t *testing.T) {
	tests := []struct{ text, want string }{
		{"Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n", "http://deb.debian.org/debian/"},
		{"Types: deb\n# comment\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n\nTypes: deb\nURIs: http://m/debian\nSuites: bookworm\n", "http://m/debian/"},
		{"Types: deb-src\nURIs: http://src/\nSuites: bookworm\n", ""},
		{"Enabled: no\nTypes: deb\nURIs: http://off/\nSuites: bookworm\n", ""},
	}
	for _, tc := range tests {
		if got := mirrorFromDeb822(tc.text); got != tc.want {
			t.Errorf("mirrorFromDeb822(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestRecipeKey(t *testing.T) {
	a := debianRecipe(Options{Release: "bookworm", Mirror: "http://a/", Arch: "x86_64"})
	b := debianRecipe(Options{Release: "bookworm", Mirror: "http://b/", Arch: "x86_64"})
	c := debianRecipe(Options{Release: "trixie", Mirror: "http://a/", Arch: "x86_64"})
	if a.key() == b.key() || a.key() == c.key() || a.key() != debianRecipe(Options{Release: "bookworm", Mirror: "http://a/", Arch: "x86_64"}).key() {
		t.Fatal("recipe key must change with mirror and release and only with them")
	}
}

// Builds the busybox image for real (seconds) and imports it into a store.
func TestBuildBusybox(t *testing.T) {
	if os.Getenv("LODGE_INTEGRATION") != "1" || os.Geteuid() != 0 {
		t.Skip("set LODGE_INTEGRATION=1 and run as root")
	}
	cache := t.TempDir()
	var log bytes.Buffer
	path, err := Build(context.Background(), "busybox", Options{CacheDir: cache, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	again, err := Build(context.Background(), "busybox", Options{CacheDir: cache, Log: &log})
	if err != nil || again != path || !strings.Contains(log.String(), "Using cached") {
		t.Fatalf("second build not cached: %v %s", err, log.String())
	}
	store, _ := images.NewStore(t.TempDir())
	f, _ := os.Open(path)
	defer f.Close()
	info, err := store.Import(context.Background(), f, "")
	if err != nil {
		t.Fatal(err)
	}
	if info.Metadata.Properties["os"] != "busybox" || info.Metadata.Properties["lodge.init"] != "busybox" {
		t.Fatalf("metadata: %+v", info.Metadata)
	}
	if ents, _ := os.ReadDir(cache); len(ents) != 1 {
		t.Fatalf("cache has leftovers: %v", ents)
	}
}
