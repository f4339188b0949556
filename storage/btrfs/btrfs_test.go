package btrfs

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"lodge/storage"
	"lodge/storage/storagetest"
)

// loopPool makes a btrfs loop file (named with the storage tests' "st"
// prefix) mounted in a temporary directory, undone at cleanup.
func loopPool(t *testing.T) (file, mnt string) {
	if os.Geteuid() != 0 || os.Getenv("LODGE_INTEGRATION") == "" {
		t.Skip("a btrfs loop pool needs root and LODGE_INTEGRATION=1")
	}
	tmp := t.TempDir()
	file = filepath.Join(tmp, "st-btrfs.img")
	mnt = filepath.Join(tmp, "st-mnt")
	ctx := context.Background()
	if err := CreateLoop(ctx, file, 256<<20); err != nil {
		t.Fatal(err)
	}
	if err := MountSource(ctx, file, mnt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { UnmountSource(mnt) })
	return file, mnt
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Driver {
		file, mnt := loopPool(t)
		d, err := New(filepath.Join(mnt, "pool"), file)
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func TestLoopRemount(t *testing.T) {
	file, mnt := loopPool(t)
	ctx := context.Background()
	d, err := New(mnt, file)
	if err != nil {
		t.Fatal(err)
	}
	img := storage.Volume{Kind: storage.KindImage, Name: "img"}
	if err := d.CreateImage(ctx, img, func(dir string) error { return os.MkdirAll(filepath.Join(dir, "rootfs", "etc"), 0o755) }); err != nil {
		t.Fatal(err)
	}
	if err := UnmountSource(mnt); err != nil {
		t.Fatal(err)
	}
	if _, err := New(mnt, file); err == nil {
		t.Fatal("New accepted a directory not on btrfs")
	}
	// What lodged does at start: mount the loop file again.
	if err := MountSource(ctx, file, mnt); err != nil {
		t.Fatal(err)
	}
	if err := MountSource(ctx, file, mnt); err != nil {
		t.Fatalf("mounting twice: %v", err)
	}
	d, err = New(mnt, file)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Exists(img) {
		t.Fatal("image volume gone after remount")
	}
}
