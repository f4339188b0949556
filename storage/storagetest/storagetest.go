// Package storagetest is the conformance suite every storage driver passes.
package storagetest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"lodge/storage"
)

// Run runs the suite against pools from open: each check gets a fresh
// pool of its own and makes what it needs there, so one failure does not
// cascade and the checks do not depend on their order.
func Run(t *testing.T, open func(t *testing.T) storage.Driver) {
	ctx := context.Background()
	img := storage.Volume{Kind: storage.KindImage, Name: "img1"}
	c1 := storage.Volume{Kind: storage.KindContainer, Name: "c1"}
	// d is the pool of the check running, t that check (each check has its own).
	var d storage.Driver
	tt := t
	rootfs := func(v storage.Volume) string { return filepath.Join(d.Path(v), "rootfs") }
	read := func(v storage.Volume, p string) string {
		tt.Helper()
		b, err := os.ReadFile(filepath.Join(rootfs(v), p))
		if err != nil {
			if os.IsNotExist(err) {
				return "<missing>"
			}
			tt.Fatalf("read %s:%s: %v", v, p, err)
		}
		return string(b)
	}
	write := func(v storage.Volume, p, s string) {
		tt.Helper()
		if err := os.WriteFile(filepath.Join(rootfs(v), p), []byte(s), 0o644); err != nil {
			tt.Fatalf("write %s:%s: %v", v, p, err)
		}
	}
	mount := func(v storage.Volume) {
		tt.Helper()
		if err := d.Mount(ctx, v); err != nil {
			tt.Fatalf("mount %s: %v", v, err)
		}
		// Idempotent.
		if err := d.Mount(ctx, v); err != nil {
			tt.Fatalf("second mount %s: %v", v, err)
		}
	}
	// fillImage is the image every check that needs one starts from.
	fillImage := func(dir string) error {
		r := filepath.Join(dir, "rootfs")
		if err := os.MkdirAll(filepath.Join(r, "etc"), 0o755); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(r, "var", "lib"), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("../etc", filepath.Join(r, "link")); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(r, "var", "lib", "data"), []byte("data"), 0o600); err != nil {
			return err
		}
		if err := os.Chown(filepath.Join(r, "var", "lib", "data"), 1000, 1000); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(r, "etc", "hostname"), []byte("x\n"), 0o644)
	}
	// The steps a check's fixture is made of, each as the check before it
	// in the old chained suite left the pool.
	withImage := func(t *testing.T) {
		t.Helper()
		if err := d.CreateImage(ctx, img, fillImage); err != nil {
			t.Fatalf("fixture: image: %v", err)
		}
	}
	withClone := func(t *testing.T, v storage.Volume) {
		t.Helper()
		if err := d.Clone(ctx, img, v); err != nil {
			t.Fatalf("fixture: clone %s: %v", v, err)
		}
		mount(v)
	}
	// withC1 is c1 cloned from the image, its hostname changed and a
	// snapshot s1 taken while its state file said "one".
	withC1 := func(t *testing.T, snapshot bool) {
		t.Helper()
		withImage(t)
		withClone(t, c1)
		write(c1, "etc/hostname", "c1\n")
		if snapshot {
			write(c1, "state", "one")
			if err := d.Snapshot(ctx, c1, "s1"); err != nil {
				t.Fatalf("fixture: snapshot: %v", err)
			}
		}
	}
	// run runs one check on a fresh pool of its own.
	run := func(name string, check func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			d, tt = open(t), t
			pool := d
			t.Cleanup(func() {
				for _, n := range []string{"c1", "c2", "c3", "c4", "c5"} {
					pool.Delete(ctx, storage.Volume{Kind: storage.KindContainer, Name: n})
				}
			})
			check(t)
		})
	}

	run("CreateImage", func(t *testing.T) {
		if err := d.CreateImage(ctx, img, func(string) error { return errors.New("unpack failed") }); err == nil || d.Exists(img) {
			t.Fatalf("failed fill: err=%v exists=%v", err, d.Exists(img))
		}
		err := d.CreateImage(ctx, img, fillImage)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.CreateImage(ctx, img, func(string) error { return nil }); !errors.Is(err, storage.ErrExists) {
			t.Fatalf("second create: %v", err)
		}
		if err := d.CreateImage(ctx, storage.Volume{Kind: storage.KindImage, Name: ".."}, func(string) error { return nil }); err == nil {
			t.Fatal("image named .. accepted")
		}
	})

	run("Clone", func(t *testing.T) {
		withImage(t)
		if err := d.Clone(ctx, img, c1); err != nil {
			t.Fatal(err)
		}
		mount(c1)
		if got := read(c1, "etc/hostname"); got != "x\n" {
			t.Fatalf("clone content: %q", got)
		}
		if l, err := os.Readlink(filepath.Join(rootfs(c1), "link")); err != nil || l != "../etc" {
			t.Fatalf("symlink: %q %v", l, err)
		}
		fi, err := os.Stat(filepath.Join(rootfs(c1), "var", "lib", "data"))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || fi.Mode().Perm() != 0o600 {
			t.Fatalf("owner/mode not kept: uid %d mode %v", st.Uid, fi.Mode())
		}
		write(c1, "etc/hostname", "c1\n")
		if err := d.Mount(ctx, img); err != nil {
			t.Fatal(err)
		}
		if got := read(img, "etc/hostname"); got != "x\n" {
			t.Fatalf("writing the clone changed the image: %q", got)
		}
		if err := d.Clone(ctx, img, c1); !errors.Is(err, storage.ErrExists) {
			t.Fatalf("clone onto existing: %v", err)
		}
		if err := d.Clone(ctx, storage.Volume{Kind: storage.KindImage, Name: "nope"}, storage.Volume{Kind: storage.KindContainer, Name: "c9"}); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("clone missing: %v", err)
		}
		if u, err := d.Usage(ctx, c1); err != nil || u < -1 {
			t.Fatalf("usage: %d %v", u, err)
		}
	})

	run("SnapshotRestore", func(t *testing.T) {
		withC1(t, false)
		write(c1, "state", "one")
		if err := d.Snapshot(ctx, c1, "s1"); err != nil {
			t.Fatal(err)
		}
		if err := d.Snapshot(ctx, c1, "s1"); !errors.Is(err, storage.ErrExists) {
			t.Fatalf("second snapshot: %v", err)
		}
		write(c1, "state", "two")
		if err := os.Remove(filepath.Join(rootfs(c1), "etc", "hostname")); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(rootfs(c1), "var")); err != nil {
			t.Fatal(err)
		}
		s1 := c1.Snapshot("s1")
		vols, err := d.Volumes(storage.KindContainer)
		if err != nil || len(vols) != 2 || vols[0] != c1 || vols[1] != s1 {
			t.Fatalf("volumes: %v %v", vols, err)
		}
		mount(s1)
		if got := read(s1, "state"); got != "one" {
			t.Fatalf("snapshot content: %q", got)
		}
		if got := read(s1, "var/lib/data"); got != "data" {
			t.Fatalf("snapshot content from image: %q", got)
		}
		if u, err := d.Usage(ctx, s1); err != nil || u < -1 {
			t.Fatalf("snapshot usage: %d %v", u, err)
		}
		if err := d.Unmount(ctx, c1); err != nil {
			t.Fatal(err)
		}
		if err := d.Restore(ctx, c1, "s1"); err != nil {
			t.Fatal(err)
		}
		mount(c1)
		if got := read(c1, "state"); got != "one" {
			t.Fatalf("restored state: %q", got)
		}
		if got := read(c1, "etc/hostname"); got != "c1\n" {
			t.Fatalf("restored hostname: %q", got)
		}
		if got := read(c1, "var/lib/data"); got != "data" {
			t.Fatalf("restored deleted tree: %q", got)
		}
		if err := d.Restore(ctx, c1, "nope"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("restore of a missing snapshot: %v", err)
		}
		// Restoring twice works (the snapshot is not consumed).
		write(c1, "state", "three")
		d.Unmount(ctx, c1)
		if err := d.Restore(ctx, c1, "s1"); err != nil {
			t.Fatal(err)
		}
		mount(c1)
		if got := read(c1, "state"); got != "one" {
			t.Fatalf("second restore: %q", got)
		}
	})

	run("CloneFromSnapshotAndContainer", func(t *testing.T) {
		withC1(t, true)
		write(c1, "state", "four")
		c2 := storage.Volume{Kind: storage.KindContainer, Name: "c2"}
		if err := d.Clone(ctx, c1.Snapshot("s1"), c2); err != nil {
			t.Fatal(err)
		}
		mount(c2)
		if got := read(c2, "state"); got != "one" {
			t.Fatalf("clone of snapshot: %q", got)
		}
		write(c2, "state", "c2")
		c3 := storage.Volume{Kind: storage.KindContainer, Name: "c3"}
		if err := d.Clone(ctx, c1, c3); err != nil {
			t.Fatal(err)
		}
		mount(c3)
		if got := read(c3, "state"); got != "four" {
			t.Fatalf("clone of container: %q", got)
		}
		if d.Exists(c3.Snapshot("s1")) {
			t.Fatal("clone copied snapshots")
		}
		if got := read(c1, "state"); got != "four" {
			t.Fatalf("source changed: %q", got)
		}
	})

	run("CreateEmptyContainer", func(t *testing.T) {
		if err := d.CreateEmptyContainer(ctx, c1); err != nil {
			t.Fatal(err)
		}
		if err := d.CreateEmptyContainer(ctx, c1); !errors.Is(err, storage.ErrExists) {
			t.Fatalf("second create: %v", err)
		}
		if err := d.CreateEmptyContainer(ctx, storage.Volume{Kind: storage.KindContainer, Name: ".."}); err == nil {
			t.Fatal("volume named .. accepted")
		}
		fi, err := os.Stat(d.Path(c1))
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("volume directory: %v %v (want 0700: its files carry foreign owners until shifted)", fi, err)
		}
		mount(c1)
		ents, err := os.ReadDir(rootfs(c1))
		if err != nil || len(ents) != 0 {
			t.Fatalf("rootfs of an empty volume: %v %v", ents, err)
		}
		fi, err = os.Stat(rootfs(c1))
		if st := fi.Sys().(*syscall.Stat_t); err != nil || st.Uid != 0 || fi.Mode().Perm() != 0o755 {
			t.Fatalf("empty rootfs: %v %v", fi.Mode(), err)
		}
		// A tree arrives, as a migration writes it, and lives like any other.
		if err := os.MkdirAll(filepath.Join(rootfs(c1), "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		write(c1, "etc/hostname", "arrived\n")
		if err := os.Chown(filepath.Join(rootfs(c1), "etc", "hostname"), 1000, 1000); err != nil {
			t.Fatal(err)
		}
		if err := d.Snapshot(ctx, c1, "s1"); err != nil {
			t.Fatal(err)
		}
		write(c1, "etc/hostname", "changed\n")
		mount(c1.Snapshot("s1"))
		if got := read(c1.Snapshot("s1"), "etc/hostname"); got != "arrived\n" {
			t.Fatalf("snapshot of an empty-made volume: %q", got)
		}
		c2 := storage.Volume{Kind: storage.KindContainer, Name: "c2"}
		if err := d.Clone(ctx, c1, c2); err != nil {
			t.Fatal(err)
		}
		mount(c2)
		if got := read(c2, "etc/hostname"); got != "changed\n" {
			t.Fatalf("clone of an empty-made volume: %q", got)
		}
		if err := d.Unmount(ctx, c1); err != nil {
			t.Fatal(err)
		}
		if err := d.Restore(ctx, c1, "s1"); err != nil {
			t.Fatal(err)
		}
		mount(c1)
		fi, err = os.Stat(filepath.Join(rootfs(c1), "etc", "hostname"))
		if got := read(c1, "etc/hostname"); got != "arrived\n" || err != nil || fi.Sys().(*syscall.Stat_t).Uid != 1000 {
			t.Fatalf("restore of an empty-made volume: %q %v", got, err)
		}
		if err := d.Delete(ctx, c1); err != nil || d.Exists(c1) || d.Exists(c1.Snapshot("s1")) {
			t.Fatalf("delete: %v", err)
		}
	})

	run("Rename", func(t *testing.T) {
		withC1(t, true)
		write(c1, "state", "four")
		withClone(t, storage.Volume{Kind: storage.KindContainer, Name: "c2"})
		c4 := storage.Volume{Kind: storage.KindContainer, Name: "c4"}
		d.Unmount(ctx, c1)
		d.Unmount(ctx, c1.Snapshot("s1"))
		if err := d.Rename(ctx, c1, "c4"); err != nil {
			t.Fatal(err)
		}
		if d.Exists(c1) || !d.Exists(c4) || !d.Exists(c4.Snapshot("s1")) {
			t.Fatal("rename did not move the volume and its snapshots")
		}
		if err := d.Rename(ctx, c4.Snapshot("s1"), "c4/s2"); err != nil {
			t.Fatal(err)
		}
		if err := d.Rename(ctx, c4.Snapshot("s2"), "c2/s2"); err == nil {
			t.Fatal("snapshot moved to another instance")
		}
		mount(c4)
		if got := read(c4, "state"); got != "four" {
			t.Fatalf("renamed content: %q", got)
		}
		d.Unmount(ctx, c4)
		if err := d.Restore(ctx, c4, "s2"); err != nil {
			t.Fatal(err)
		}
		mount(c4)
		if got := read(c4, "state"); got != "one" {
			t.Fatalf("restore after renames: %q", got)
		}
		if err := d.Rename(ctx, c4, "c2"); !errors.Is(err, storage.ErrExists) {
			t.Fatalf("rename onto existing: %v", err)
		}
	})

	run("Reset", func(t *testing.T) {
		withImage(t)
		c5 := storage.Volume{Kind: storage.KindContainer, Name: "c5"}
		if err := d.Clone(ctx, img, c5); err != nil {
			t.Fatal(err)
		}
		mount(c5)
		write(c5, "state", "mine")
		if err := d.Snapshot(ctx, c5, "keep"); err != nil {
			t.Fatal(err)
		}
		if err := d.Unmount(ctx, c5); err != nil {
			t.Fatal(err)
		}
		if err := d.Reset(ctx, c5, img); err != nil {
			t.Fatal(err)
		}
		mount(c5)
		if got := read(c5, "state"); got != "<missing>" {
			t.Fatalf("after reset: %q", got)
		}
		if got := read(c5, "etc/hostname"); got != "x\n" {
			t.Fatalf("after reset, image content: %q", got)
		}
		if !d.Exists(c5.Snapshot("keep")) {
			t.Fatal("reset dropped the snapshots")
		}
		d.Unmount(ctx, c5)
		if err := d.Delete(ctx, c5); err != nil {
			t.Fatal(err)
		}
	})

	run("DeleteImageKeepsClones", func(t *testing.T) {
		c4 := storage.Volume{Kind: storage.KindContainer, Name: "c4"}
		withImage(t)
		withClone(t, c4)
		if err := d.Delete(ctx, img); err != nil {
			t.Fatal(err)
		}
		d.Unmount(ctx, c4)
		mount(c4)
		if got := read(c4, "var/lib/data"); got != "data" {
			t.Fatalf("clone lost image content after image delete: %q", got)
		}
	})

	run("CustomVolume", func(t *testing.T) {
		v := storage.Volume{Kind: storage.KindCustom, Name: "data"}
		if err := d.CreateVolume(ctx, v); err != nil {
			t.Fatal(err)
		}
		if err := d.CreateVolume(ctx, v); !errors.Is(err, storage.ErrExists) {
			t.Fatalf("second create: %v", err)
		}
		if err := os.WriteFile(filepath.Join(d.Path(v), "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if vols, err := d.Volumes(storage.KindCustom); err != nil || len(vols) != 1 || vols[0] != v {
			t.Fatalf("custom volumes: %v %v", vols, err)
		}
		if err := d.Delete(ctx, v); err != nil || d.Exists(v) {
			t.Fatalf("delete custom: %v", err)
		}
	})

	run("Delete", func(t *testing.T) {
		c4 := storage.Volume{Kind: storage.KindContainer, Name: "c4"}
		withImage(t)
		withClone(t, c4)
		if err := d.Snapshot(ctx, c4, "s2"); err != nil {
			t.Fatal(err)
		}
		if err := d.Snapshot(ctx, c4, "s3"); err != nil {
			t.Fatal(err)
		}
		mount(c4.Snapshot("s3"))
		if err := d.Delete(ctx, c4.Snapshot("s3")); err != nil || d.Exists(c4.Snapshot("s3")) {
			t.Fatalf("delete snapshot: %v", err)
		}
		if err := d.Delete(ctx, c4); err != nil {
			t.Fatal(err)
		}
		if d.Exists(c4) || d.Exists(c4.Snapshot("s2")) {
			t.Fatal("delete left the volume or its snapshots")
		}
		if err := d.Delete(ctx, c4); err != nil {
			t.Fatalf("delete of a missing volume: %v", err)
		}
		if err := d.Delete(ctx, storage.Volume{Kind: storage.KindContainer, Name: ".."}); err == nil {
			t.Fatal("delete of .. accepted")
		}
	})
}
