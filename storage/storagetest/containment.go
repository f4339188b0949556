package storagetest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"lodge/storage"
)

// RunContainment checks that every delete a driver does stays on what it
// made: foreign entries planted beside its volumes in each of the pool's
// directories survive create failures, restores, resets, deletes and
// Cleanup, and a symlink or a mount point planted in the pool never takes
// a host directory's files with it. mounts says whether the test may bind
// mount (root and LODGE_INTEGRATION=1).
func RunContainment(t *testing.T, d storage.Driver, mounts bool) {
	ctx := context.Background()
	root := d.Info().Root
	host := t.TempDir() // a host directory outside the pool
	// keep plants a file whose survival the test checks at the end.
	var kept []string
	keep := func(p string) {
		t.Helper()
		Plant(t, p)
		kept = append(kept, p)
	}
	for _, dir := range storage.Dirs {
		keep(filepath.Join(root, dir, "foreign", "data"))
	}
	keep(filepath.Join(root, "notes"))

	img := storage.Volume{Kind: storage.KindImage, Name: "cimg"}
	if err := d.CreateImage(ctx, img, func(dir string) error {
		os.MkdirAll(filepath.Join(dir, "rootfs", "etc"), 0o755)
		return errors.New("unpack failed")
	}); err == nil {
		t.Fatal("a failed fill succeeded")
	}
	if err := d.CreateImage(ctx, img, func(dir string) error { return os.MkdirAll(filepath.Join(dir, "rootfs", "etc"), 0o755) }); err != nil {
		t.Fatal(err)
	}
	vol := func(n string) storage.Volume { return storage.Volume{Kind: storage.KindContainer, Name: n} }
	clone := func(v storage.Volume) {
		t.Helper()
		if err := d.Clone(ctx, img, v); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("SnapshotRestoreResetDelete", func(t *testing.T) {
		c1 := vol("c1")
		clone(c1)
		if err := d.Snapshot(ctx, c1, "s1"); err != nil {
			t.Fatal(err)
		}
		if err := d.Restore(ctx, c1, "s1"); err != nil {
			t.Fatal(err)
		}
		if err := d.Reset(ctx, c1, img); err != nil {
			t.Fatal(err)
		}
		if err := d.Delete(ctx, c1.Snapshot("s1")); err != nil {
			t.Fatal(err)
		}
		if err := d.Snapshot(ctx, c1, "s2"); err != nil {
			t.Fatal(err)
		}
		if err := d.Delete(ctx, c1); err != nil || d.Exists(c1) || d.Exists(c1.Snapshot("s2")) {
			t.Fatalf("delete: %v", err)
		}
		cv := storage.Volume{Kind: storage.KindCustom, Name: "cdata"}
		if err := d.CreateVolume(ctx, cv); err != nil {
			t.Fatal(err)
		}
		if err := d.Delete(ctx, cv); err != nil || d.Exists(cv) {
			t.Fatalf("delete custom: %v", err)
		}
	})

	t.Run("VolumeDirIsSymlink", func(t *testing.T) {
		// The volume directory replaced by a link to a host directory:
		// the link goes, the host directory's files stay.
		c2 := vol("c2")
		clone(c2)
		if err := os.Rename(d.Path(c2), filepath.Join(root, "stash-c2")); err != nil {
			t.Fatal(err)
		}
		keep(filepath.Join(host, "c2", "rootfs", "etc", "passwd"))
		keep(filepath.Join(host, "c2", "upper", "etc", "passwd"))
		if err := os.Symlink(filepath.Join(host, "c2"), d.Path(c2)); err != nil {
			t.Fatal(err)
		}
		if err := d.Delete(ctx, c2); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(d.Path(c2)); !os.IsNotExist(err) {
			t.Fatalf("the link stayed: %v", err)
		}
	})

	t.Run("SnapshotsDirIsSymlink", func(t *testing.T) {
		// containers-snapshots/c3 replaced by a link to a host directory
		// that has an entry named like the snapshot.
		c3 := vol("c3")
		clone(c3)
		if err := d.Snapshot(ctx, c3, "s1"); err != nil {
			t.Fatal(err)
		}
		snaps := filepath.Dir(d.Path(c3.Snapshot("s1")))
		if err := os.Rename(snaps, filepath.Join(root, "stash-c3")); err != nil {
			t.Fatal(err)
		}
		keep(filepath.Join(host, "snaps", "s1", "data"))
		if err := os.Symlink(filepath.Join(host, "snaps"), snaps); err != nil {
			t.Fatal(err)
		}
		if err := d.Delete(ctx, c3.Snapshot("s1")); err == nil {
			t.Error("deleting a snapshot through a symlinked snapshots directory succeeded")
		}
		if err := d.Delete(ctx, c3); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("TopDirIsSymlink", func(t *testing.T) {
		// custom/ itself replaced by a link to a host directory.
		cust := filepath.Join(root, "custom")
		if err := os.Rename(cust, filepath.Join(root, "stash-custom")); err != nil {
			t.Fatal(err)
		}
		defer func() {
			os.Remove(cust)
			os.Rename(filepath.Join(root, "stash-custom"), cust)
		}()
		keep(filepath.Join(host, "custom", "vol1", "data"))
		if err := os.Symlink(filepath.Join(host, "custom"), cust); err != nil {
			t.Fatal(err)
		}
		if err := d.Delete(ctx, storage.Volume{Kind: storage.KindCustom, Name: "vol1"}); err == nil {
			t.Error("deleting a volume through a symlinked pool directory succeeded")
		}
	})

	t.Run("Cleanup", func(t *testing.T) {
		c, ok := d.(interface{ Cleanup() })
		if !ok {
			t.Skip("no Cleanup")
		}
		// A staging leftover (lodge's) goes; what is beside it stays, and a
		// link to a host directory holding staging-like names is not
		// followed.
		left := filepath.Join(root, "images", ".tmp-cimg-123")
		if err := os.MkdirAll(filepath.Join(left, "rootfs"), 0o755); err != nil {
			t.Fatal(err)
		}
		keep(filepath.Join(host, "evil", ".tmp-x", "data"))
		if err := os.Symlink(filepath.Join(host, "evil"), filepath.Join(root, "containers", "evil")); err != nil {
			t.Fatal(err)
		}
		c.Cleanup()
		if _, err := os.Stat(left); !os.IsNotExist(err) {
			t.Fatalf("staging leftover stayed: %v", err)
		}
	})

	t.Run("MountInVolume", func(t *testing.T) {
		if !mounts {
			t.Skip("bind mounts need root and LODGE_INTEGRATION=1")
		}
		// A host directory bind mounted inside a volume: the delete stops
		// at the mount instead of emptying the host directory.
		c4 := vol("c4")
		clone(c4)
		mnt := filepath.Join(d.Path(c4), "extra")
		if err := os.Mkdir(mnt, 0o755); err != nil {
			t.Fatal(err)
		}
		keep(filepath.Join(host, "bound", "data"))
		if err := unix.Mount(filepath.Join(host, "bound"), mnt, "", unix.MS_BIND, ""); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
		if err := d.Delete(ctx, c4); err == nil {
			t.Error("deleting a volume with a mount inside succeeded")
		}
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			t.Fatal(err)
		}
		if err := d.Delete(ctx, c4); err != nil || d.Exists(c4) {
			t.Fatalf("delete once unmounted: %v", err)
		}
	})

	if err := d.Delete(ctx, img); err != nil {
		t.Fatal(err)
	}
	for _, p := range kept {
		if b, err := os.ReadFile(p); err != nil || string(b) != "precious" {
			t.Errorf("%s was removed or changed by the driver: %v", p, err)
		}
	}
}
