package migration

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestPunchHoles: zero blocks of the listed files become holes, the
// content and the modification time stay; a partial block, a file not
// listed, and a listed name leading out of the directory are untouched.
func TestPunchHoles(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "vol")
	os.Mkdir(dir, 0o755)
	outside := filepath.Join(base, "outside")
	mtime := time.Unix(1700000000, 123456789)
	// 1 MiB: data, 600 KiB of zeros, data, a zero tail shorter than a block.
	content := bytes.Repeat([]byte{'a'}, 1<<20)
	for i := 8192; i < 8192+600<<10; i++ {
		content[i] = 0
	}
	content = append(content, make([]byte, 1000)...)
	for _, p := range []string{filepath.Join(dir, "f"), filepath.Join(dir, "notlisted"), outside} {
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, mtime, mtime)
	}
	os.Symlink(outside, filepath.Join(dir, "link"))
	if err := punchHoles(dir, []string{"f", "link", "../outside", "/etc/passwd", "missing"}); err != nil {
		t.Fatal(err)
	}
	blocks := func(p string) int64 {
		var st syscall.Stat_t
		syscall.Stat(p, &st)
		return st.Blocks * 512
	}
	f := filepath.Join(dir, "f")
	if got, _ := os.ReadFile(f); !bytes.Equal(got, content) {
		t.Fatal("the content changed")
	}
	if got := blocks(f); got > int64(len(content))-600<<10+8192 {
		t.Errorf("f holds %d bytes on disk, want about %d", got, len(content)-600<<10)
	}
	if fi, _ := os.Stat(f); !fi.ModTime().Equal(mtime) {
		t.Errorf("f's mtime %v, want %v", fi.ModTime(), mtime)
	}
	for _, p := range []string{filepath.Join(dir, "notlisted"), outside} {
		if got := blocks(p); got < int64(len(content)) {
			t.Errorf("%s was punched (%d bytes on disk)", p, got)
		}
	}
}
