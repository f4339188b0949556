package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

func TestRemoveBeneath(t *testing.T) {
	root, host := t.TempDir(), t.TempDir()
	write(t, filepath.Join(host, "v", "keep"))
	write(t, filepath.Join(host, "keep"))

	// A tree with links inside: the links go, their targets stay.
	write(t, filepath.Join(root, "a", "vol", "f"))
	os.Symlink(host, filepath.Join(root, "a", "vol", "link"))
	os.Symlink(filepath.Join(host, "keep"), filepath.Join(root, "a", "vol", "filelink"))
	write(t, filepath.Join(root, "a", "other", "f"))
	if err := RemoveBeneath(root, "a/vol"); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(root, "a", "vol")) || !exists(filepath.Join(root, "a", "other", "f")) {
		t.Fatal("removed the wrong things")
	}

	// The last component a link: the link goes, not the target's files.
	os.Symlink(host, filepath.Join(root, "a", "vol"))
	if err := RemoveBeneath(root, "a/vol"); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(root, "a", "vol")) {
		t.Fatal("link stayed")
	}

	// A link on the way: refused, nothing followed.
	os.Symlink(host, filepath.Join(root, "b"))
	err := RemoveBeneath(root, "b/v")
	if err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("through a link: %v", err)
	}
	// Also when the link climbs out with ..
	os.MkdirAll(filepath.Join(root, "c"), 0o755)
	os.Symlink("../../"+filepath.Base(filepath.Dir(host))+"/"+filepath.Base(host), filepath.Join(root, "c", "up"))
	if err := RemoveBeneath(root, "c/up/v"); err == nil {
		t.Fatal("through a relative link accepted")
	}
	for _, bad := range []string{"", ".", "..", "../x", "/etc", "a/../../x"} {
		if err := RemoveBeneath(root, bad); err == nil {
			t.Errorf("RemoveBeneath(%q) accepted", bad)
		}
	}
	if err := RemoveBeneath(root, "missing/x"); err != nil {
		t.Fatalf("missing: %v", err)
	}
	if err := RemoveBeneath(filepath.Join(root, "nope"), "x"); err != nil {
		t.Fatalf("missing root: %v", err)
	}
	if !exists(filepath.Join(host, "v", "keep")) || !exists(filepath.Join(host, "keep")) {
		t.Fatal("a host file was removed")
	}

	l := Layout{Root: root}
	if err := l.Remove(host); err == nil {
		t.Fatal("Layout.Remove outside the pool accepted")
	}
	if err := l.Remove(root); err == nil {
		t.Fatal("Layout.Remove of the pool root accepted")
	}
}

func TestMarker(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	if err := CheckMarker(root, state, "p"); err == nil || !strings.Contains(err.Error(), "no lodge pool marker") {
		t.Fatalf("missing marker: %v", err)
	}
	if err := WriteMarker(root, Marker{Pool: "p", StateDir: state, Driver: "dir"}); err != nil {
		t.Fatal(err)
	}
	if err := CheckMarker(root, state, "p"); err != nil {
		t.Fatal(err)
	}
	// The state directory reached through a link is the same one.
	link := filepath.Join(t.TempDir(), "state")
	os.Symlink(state, link)
	if err := CheckMarker(root, link, "p"); err != nil {
		t.Fatalf("through a link: %v", err)
	}
	if err := CheckMarker(root, t.TempDir(), "p"); err == nil || !strings.Contains(err.Error(), state) {
		t.Fatalf("another state dir: %v", err)
	}
	if err := CheckMarker(root, state, "q"); err == nil {
		t.Fatal("another pool name accepted")
	}
	// A marker that is a link to another pool's is not read.
	other := t.TempDir()
	WriteMarker(other, Marker{Pool: "p", StateDir: state})
	root2 := t.TempDir()
	os.Symlink(filepath.Join(other, MarkerFile), filepath.Join(root2, MarkerFile))
	if err := CheckMarker(root2, state, "p"); err == nil {
		t.Fatal("a symlinked marker accepted")
	}
}

func TestResolveUnder(t *testing.T) {
	tmp := t.TempDir()
	os.Symlink("/etc", filepath.Join(tmp, "etc-link"))
	if got := Resolve(filepath.Join(tmp, "etc-link", "new", "dir")); got != "/etc/new/dir" {
		t.Fatalf("Resolve: %q", got)
	}
	for _, c := range []struct {
		p, dir string
		want   bool
	}{{"/a/b", "/a", true}, {"/a", "/a", false}, {"/ab", "/a", false}, {"/a/..b", "/a", true}, {"/", "/a", false}, {"/a", "/", true}} {
		if got := Under(c.p, c.dir); got != c.want {
			t.Errorf("Under(%q, %q) = %v", c.p, c.dir, got)
		}
	}
}
