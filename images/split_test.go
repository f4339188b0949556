package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// splitParts returns a metadata tarball and a squashfs (or, without
// mksquashfs, a tarball) of a tiny root.
func splitParts(t *testing.T, squash bool) (meta, root []byte) {
	t.Helper()
	meta = makeTar(t, []entry{{name: "metadata.yaml", body: goodMeta}, {name: "templates/", typ: tar.TypeDir, mode: 0o755}})
	if !squash {
		return meta, makeTar(t, []entry{{name: "./", typ: tar.TypeDir, mode: 0o755}, {name: "./etc/", typ: tar.TypeDir, mode: 0o755},
			{name: "./etc/hostname", body: "split\n"}})
	}
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		t.Skip("mksquashfs not installed (squashfs-tools)")
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "root", "etc"), 0o755)
	os.WriteFile(filepath.Join(dir, "root", "etc", "hostname"), []byte("split\n"), 0o644)
	out := filepath.Join(dir, "root.squashfs")
	if b, err := exec.Command("mksquashfs", filepath.Join(dir, "root"), out, "-noappend", "-quiet", "-no-progress").CombinedOutput(); err != nil {
		t.Fatalf("mksquashfs: %v %s", err, b)
	}
	root, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return meta, root
}

func TestImportSplit(t *testing.T) {
	for _, squash := range []bool{true, false} {
		name := "tarball"
		if squash {
			name = "squashfs"
		}
		t.Run(name, func(t *testing.T) {
			s, err := NewStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			meta, root := splitParts(t, squash)
			want := hashOf(append(append([]byte{}, meta...), root...))
			ctx := context.Background()

			// A wrong expected fingerprint: error names both, nothing stored.
			wrong := strings.Repeat("0", 64)
			_, err = s.ImportSplit(ctx, bytes.NewReader(meta), bytes.NewReader(root), wrong)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), want) {
				t.Fatalf("mismatch: %v", err)
			}
			if left, _ := os.ReadDir(s.dir); len(left) != 0 {
				t.Fatalf("left behind: %v", left)
			}

			info, err := s.ImportSplit(ctx, bytes.NewReader(meta), bytes.NewReader(root), want)
			if err != nil {
				t.Fatal(err)
			}
			if info.Fingerprint != want || info.Size != int64(len(meta)+len(root)) || info.Metadata.Architecture != "x86_64" {
				t.Fatalf("info: %+v", info)
			}
			if !s.Has(want) || !s.IsSplit(want) {
				t.Fatal("not stored as split")
			}
			if _, err := s.ImportSplit(ctx, bytes.NewReader(meta), bytes.NewReader(root), ""); !errors.Is(err, ErrExists) {
				t.Fatalf("second import: %v", err)
			}
			dst := filepath.Join(t.TempDir(), "rootfs")
			if err := Unpack(ctx, s.Path(want), dst); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(filepath.Join(dst, "etc", "hostname")); err != nil || string(b) != "split\n" {
				t.Fatalf("unpacked: %q %v", b, err)
			}
			if err := s.Delete(want); err != nil {
				t.Fatal(err)
			}
			if left, _ := os.ReadDir(s.dir); len(left) != 0 {
				t.Fatalf("delete left: %v", left)
			}
		})
	}
}

func TestImportSplitBad(t *testing.T) {
	s, _ := NewStore(t.TempDir())
	meta, root := splitParts(t, false)
	ctx := context.Background()
	// Metadata without metadata.yaml.
	noMeta := makeTar(t, []entry{{name: "templates/x", body: "x"}})
	if _, err := s.ImportSplit(ctx, bytes.NewReader(noMeta), bytes.NewReader(root), ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("no metadata.yaml: %v", err)
	}
	// A truncated rootfs tarball with no fingerprint to check is caught by the walk.
	if _, err := s.ImportSplit(ctx, bytes.NewReader(meta), bytes.NewReader(root[:700]), ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("truncated rootfs: %v", err)
	}
	// Neither squashfs nor tar.
	if _, err := s.ImportSplit(ctx, bytes.NewReader(meta), strings.NewReader("not an image"), ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("junk rootfs: %v", err)
	}
	if left, _ := os.ReadDir(s.dir); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

func hashOf(b []byte) string {
	f, _ := os.CreateTemp("", "h")
	defer os.Remove(f.Name())
	f.Write(b)
	f.Close()
	fp, _ := combined(f.Name())
	return fp
}
