package dir

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"lodge/storage"
)

func TestImageCloneDelete(t *testing.T) {
	ctx := context.Background()
	d, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	img := storage.Volume{Kind: storage.KindImage, Name: "abc"}
	// A failing fill leaves nothing behind.
	if err := d.CreateImage(ctx, img, func(dir string) error { return errors.New("unpack failed") }); err == nil || d.Exists(img) {
		t.Fatalf("failed fill: err=%v exists=%v", err, d.Exists(img))
	}
	if left, _ := filepath.Glob(filepath.Join(d.root, "images", ".tmp-*")); len(left) != 0 {
		t.Fatalf("staging left: %v", left)
	}
	err = d.CreateImage(ctx, img, func(dir string) error {
		if err := os.MkdirAll(filepath.Join(dir, "rootfs", "etc"), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("../etc", filepath.Join(dir, "rootfs", "link")); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "rootfs", "etc", "hostname"), []byte("x\n"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CreateImage(ctx, img, func(string) error { return nil }); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	c := storage.Volume{Kind: storage.KindContainer, Name: "c1"}
	if err := d.Clone(ctx, img, c); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(d.Path(c), "rootfs", "etc", "hostname")); err != nil || string(b) != "x\n" {
		t.Fatalf("clone content: %q %v", b, err)
	}
	if l, err := os.Readlink(filepath.Join(d.Path(c), "rootfs", "link")); err != nil || l != "../etc" {
		t.Fatalf("symlink: %q %v", l, err)
	}
	if err := d.Clone(ctx, img, c); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("clone onto existing: %v", err)
	}
	if err := d.Clone(ctx, storage.Volume{Kind: storage.KindImage, Name: "nope"}, storage.Volume{Kind: storage.KindContainer, Name: "c2"}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("clone missing: %v", err)
	}
	if err := d.Delete(ctx, c); err != nil || d.Exists(c) {
		t.Fatalf("delete: %v", err)
	}
	if err := d.Delete(ctx, storage.Volume{Kind: storage.KindContainer, Name: ".."}); err == nil {
		t.Fatal("delete of .. accepted")
	}
}
