package files

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

var keep = WriteOptions{UID: -1, GID: -1}

// hostile builds a root with the symlinks a hostile container would plant.
func hostile(t *testing.T) (*Root, string, string) {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "rootfs")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{root + "/etc", root + "/tmp", outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(outside, "passwd"), []byte("host secret\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("container passwd\n"), 0o644)
	os.Symlink(outside, filepath.Join(root, "tmp", "abs-out"))             // absolute: host path
	os.Symlink("../../outside", filepath.Join(root, "tmp", "rel-out"))     // relative: climbs out
	os.Symlink("/etc", filepath.Join(root, "tmp", "evil"))                 // /etc of the container
	os.Symlink("/proc/self/root/etc", filepath.Join(root, "tmp", "magic")) // magic link
	if err := syscall.Mkfifo(filepath.Join(root, "tmp", "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, root, outside
}

func read(t *testing.T, r *Root, p string) (string, error) {
	f, _, err := r.OpenFile(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return string(b), err
}

func TestWritesStayInside(t *testing.T) {
	r, root, outside := hostile(t)
	tests := []string{"/tmp/evil/passwd", "/tmp/abs-out/passwd", "/tmp/rel-out/passwd", "../../outside/passwd", "/../outside/passwd"}
	for _, p := range tests {
		err := r.WriteFile(p, strings.NewReader("pwned\n"), keep)
		if b, _ := os.ReadFile(filepath.Join(outside, "passwd")); string(b) != "host secret\n" {
			t.Fatalf("write to %s reached the host: %q (err %v)", p, b, err)
		}
	}
	// /tmp/evil -> /etc resolves to the container's /etc.
	if b, _ := os.ReadFile(filepath.Join(root, "etc", "passwd")); string(b) != "pwned\n" {
		t.Fatalf("container /etc/passwd: %q", b)
	}
	// A symlink as the last component is replaced, not followed.
	if err := r.WriteFile("/tmp/abs-out", strings.NewReader("x"), keep); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(filepath.Join(root, "tmp", "abs-out")); fi == nil || !fi.Mode().IsRegular() {
		t.Fatal("symlink target was followed")
	}
	if err := r.WriteFile("/tmp/magic/x", strings.NewReader("x"), keep); err == nil {
		t.Fatal("write through a /proc magic link accepted")
	}
}

func TestReads(t *testing.T) {
	r, _, _ := hostile(t)
	for _, p := range []string{"/tmp/rel-out/passwd", "/tmp/abs-out/passwd", "/../../outside/passwd"} {
		if s, err := read(t, r, p); err == nil && s == "host secret\n" {
			t.Fatalf("read of %s reached the host", p)
		}
	}
	if s, err := read(t, r, "/tmp/evil/passwd"); err != nil || s != "container passwd\n" {
		t.Fatalf("read through in-root symlink: %q %v", s, err)
	}
	if _, err := read(t, r, "/tmp/magic/passwd"); err == nil {
		t.Fatal("read through /proc magic link accepted")
	}
	// A FIFO is refused at once instead of hanging.
	if _, err := read(t, r, "/tmp/fifo"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "FIFO") {
		t.Fatalf("fifo: %v", err)
	}
	if _, err := read(t, r, "/etc"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("directory as file: %v", err)
	}
	if _, err := read(t, r, "/nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	names, in, err := r.ReadDir("/tmp")
	sort.Strings(names)
	if err != nil || in.Type != "directory" || strings.Join(names, ",") != "abs-out,evil,fifo,magic,rel-out" {
		t.Fatalf("readdir: %v %v %v", names, in, err)
	}
	if in, err := r.Lstat("/tmp/evil"); err != nil || in.Type != "symlink" || in.Target != "/etc" {
		t.Fatalf("lstat symlink: %+v %v", in, err)
	}
}

func TestWriteModesAndCleanup(t *testing.T) {
	r, root, _ := hostile(t)
	if err := r.MkdirAll("/srv/www/site", WriteOptions{UID: -1, GID: -1, Mode: 0o750}); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteFile("/srv/www/site/index.html", strings.NewReader("<h1>hi</h1>"), WriteOptions{UID: -1, GID: -1, Mode: 0o640}); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteFile("/srv/www/site/index.html", strings.NewReader("!"), WriteOptions{UID: -1, GID: -1, Append: true}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, "srv/www/site/index.html"))
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode: %v %v", fi, err)
	}
	if s, _ := read(t, r, "/srv/www/site/index.html"); s != "<h1>hi</h1>!" {
		t.Fatalf("content: %q", s)
	}
	// A failed transfer leaves the old file and no temp file.
	err = r.WriteFile("/srv/www/site/index.html", io.MultiReader(strings.NewReader("partial"), errReader{}), keep)
	if err == nil {
		t.Fatal("cut transfer reported success")
	}
	if s, _ := read(t, r, "/srv/www/site/index.html"); s != "<h1>hi</h1>!" {
		t.Fatalf("old file replaced by a partial one: %q", s)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "srv/www/site"))
	if len(ents) != 1 {
		t.Fatalf("temp files left: %v", ents)
	}
	if err := r.WriteFile("/srv", strings.NewReader("x"), keep); !errors.Is(err, ErrInvalid) {
		t.Fatalf("file over directory: %v", err)
	}
	if err := r.Symlink("/srv/link", "www", keep); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove("/srv/www"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("remove non-empty dir: %v", err)
	}
	for _, p := range []string{"/srv/link", "/srv/www/site/index.html", "/srv/www/site"} {
		if err := r.Remove(p); err != nil {
			t.Fatalf("remove %s: %v", p, err)
		}
	}
	if err := r.Remove("/"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("remove root: %v", err)
	}
	if err := r.Remove("/nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove missing: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }
