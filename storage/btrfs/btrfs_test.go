package btrfs

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"lodge/storage"
	"lodge/storage/storagetest"
	"lodge/test/gate"

	"golang.org/x/sys/unix"
)

// loopPool makes a btrfs loop file (named with the storage tests' "st"
// prefix) mounted in a temporary directory, undone at cleanup.
func loopPool(t *testing.T) (file, mnt string) {
	gate.Integration(t, "makes a btrfs loop pool")
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

func TestContainment(t *testing.T) {
	file, mnt := loopPool(t)
	d, err := New(filepath.Join(mnt, "pool"), file)
	if err != nil {
		t.Fatal(err)
	}
	storagetest.RunContainment(t, d, true)
}

// TestDeleteNested deletes a container holding a subvolume made inside it
// (as systemd-nspawn or docker in a container do) and a read-only
// snapshot, all by ioctl below the pool.
func TestDeleteNested(t *testing.T) {
	file, mnt := loopPool(t)
	ctx := context.Background()
	d, err := New(filepath.Join(mnt, "pool"), file)
	if err != nil {
		t.Fatal(err)
	}
	img := storage.Volume{Kind: storage.KindImage, Name: "img"}
	if err := d.CreateImage(ctx, img, func(dir string) error { return os.MkdirAll(filepath.Join(dir, "rootfs", "var", "lib"), 0o755) }); err != nil {
		t.Fatal(err)
	}
	c := storage.Volume{Kind: storage.KindContainer, Name: "c"}
	if err := d.Clone(ctx, img, c); err != nil {
		t.Fatal(err)
	}
	nested := filepath.Join(d.Path(c), "rootfs", "var", "lib", "machines")
	if err := run(ctx, "btrfs", "-q", "subvolume", "create", nested); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, "btrfs", "-q", "subvolume", "create", filepath.Join(nested, "inner")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(nested, "inner", "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Snapshot(ctx, c, "ro"); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, c); err != nil {
		t.Fatal(err)
	}
	if d.Exists(c) || d.Exists(c.Snapshot("ro")) {
		t.Fatal("volume or snapshot left")
	}
	if err := d.Delete(ctx, img); err != nil || d.Exists(img) {
		t.Fatalf("read-only image volume: %v", err)
	}
}

// TestAdopt: a subvolume made below the pool (as btrfs receive makes one)
// becomes a container volume and a read-only one its snapshot; a path
// outside the pool or a name taken is refused.
func TestAdopt(t *testing.T) {
	file, mnt := loopPool(t)
	ctx := context.Background()
	d, err := New(filepath.Join(mnt, "pool"), file)
	if err != nil {
		t.Fatal(err)
	}
	c1 := storage.Volume{Kind: storage.KindContainer, Name: "c1"}
	recv := filepath.Join(mnt, "pool", "containers", ".tmp-recv")
	if err := os.MkdirAll(recv, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		if err := run(ctx, "btrfs", "-q", "subvolume", "create", filepath.Join(recv, n)); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(recv, n, "rootfs"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(recv, n, "rootfs", "f"), []byte(n), 0o644)
	}
	if err := run(ctx, "btrfs", "property", "set", "-ts", filepath.Join(recv, "a"), "ro", "true"); err != nil {
		t.Fatal(err)
	}
	if err := d.Adopt(ctx, c1.Snapshot("s1"), filepath.Join(recv, "a")); err != nil {
		t.Fatal(err)
	}
	if err := d.Adopt(ctx, c1, filepath.Join(recv, "b")); err != nil {
		t.Fatal(err)
	}
	if err := d.Adopt(ctx, c1, filepath.Join(recv, "b")); err == nil {
		t.Fatal("adopted onto an existing volume")
	}
	if err := d.Adopt(ctx, storage.Volume{Kind: storage.KindContainer, Name: "c2"}, t.TempDir()); err == nil {
		t.Fatal("adopted a directory outside the pool")
	}
	if b, err := os.ReadFile(filepath.Join(d.Path(c1.Snapshot("s1")), "rootfs", "f")); err != nil || string(b) != "a" {
		t.Fatalf("snapshot: %q %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(d.Path(c1.Snapshot("s1")), "rootfs", "g"), nil, 0o644); err == nil {
		t.Fatal("the adopted snapshot is writable")
	}
	c2 := storage.Volume{Kind: storage.KindContainer, Name: "c2"}
	if err := d.Clone(ctx, c1.Snapshot("s1"), c2); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, c1); err != nil || d.Exists(c1) || d.Exists(c1.Snapshot("s1")) {
		t.Fatalf("delete: %v", err)
	}
	d.Delete(ctx, c2)
}

// The ioctls (ioctl.go) make what btrfs-progs made: each volume is a
// subvolume of its own; a snapshot is read-only, a clone writable, and
// both hold the source's files.
func TestSubvolumesByIoctl(t *testing.T) {
	file, mnt := loopPool(t)
	d, err := New(filepath.Join(mnt, "pool"), file)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	img := storage.Volume{Kind: storage.KindImage, Name: "img"}
	if err := d.CreateImage(ctx, img, func(dir string) error {
		return os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	c := storage.Volume{Kind: storage.KindContainer, Name: "c"}
	if err := d.Clone(ctx, img, c); err != nil {
		t.Fatal(err)
	}
	if err := d.Snapshot(ctx, c, "s"); err != nil {
		t.Fatal(err)
	}
	for _, v := range []storage.Volume{img, c, c.Snapshot("s")} {
		var st unix.Stat_t
		if err := unix.Stat(d.Path(v), &st); err != nil || st.Ino != 256 {
			t.Fatalf("%s is not a subvolume: inode %d, %v", v, st.Ino, err)
		}
		if b, err := os.ReadFile(filepath.Join(d.Path(v), "f")); err != nil || string(b) != "x" {
			t.Fatalf("%s lacks the image's file: %q %v", v, b, err)
		}
	}
	if err := os.WriteFile(filepath.Join(d.Path(c), "g"), nil, 0o644); err != nil {
		t.Fatalf("the clone is not writable: %v", err)
	}
	for _, v := range []storage.Volume{img, c.Snapshot("s")} {
		if err := os.WriteFile(filepath.Join(d.Path(v), "g"), nil, 0o644); !errors.Is(err, unix.EROFS) {
			t.Fatalf("%s is writable: %v", v, err)
		}
	}
	if err := makeSubvolume(filepath.Join(mnt, "missing"), filepath.Join(mnt, "x"), false); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("snapshot of a missing source: %v", err)
	}
}

// SetQuota by ioctl: no limit on a pool without quotas is no error; a
// limit enables them and shows in btrfs's own qgroup table; no limit
// clears it.
func TestSetQuota(t *testing.T) {
	file, mnt := loopPool(t)
	d, err := New(filepath.Join(mnt, "pool"), file)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := storage.Volume{Kind: storage.KindContainer, Name: "c"}
	if err := d.CreateEmptyContainer(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := d.SetQuota(ctx, c, 0); err != nil {
		t.Fatalf("no limit, quotas off: %v", err)
	}
	maxRfer := func() string {
		t.Helper()
		out, err := exec.Command("btrfs", "qgroup", "show", "-re", "--raw", d.Path(c)).CombinedOutput()
		if err != nil {
			t.Fatalf("btrfs qgroup show: %v: %s", err, out)
		}
		// The subvolume's own qgroup, 0/ID, where ID is its root id.
		sid, err := exec.Command("btrfs", "inspect-internal", "rootid", d.Path(c)).Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) >= 4 && f[0] == "0/"+strings.TrimSpace(string(sid)) {
				return f[3]
			}
		}
		t.Fatalf("no qgroup for %s in\n%s", d.Path(c), out)
		return ""
	}
	if err := d.SetQuota(ctx, c, 64<<20); err != nil {
		t.Fatal(err)
	}
	if got := maxRfer(); got != "67108864" {
		t.Fatalf("max referenced %s, want 67108864", got)
	}
	if err := d.SetQuota(ctx, c, 0); err != nil {
		t.Fatal(err)
	}
	if got := maxRfer(); got != "none" {
		t.Fatalf("max referenced after removing the limit: %s", got)
	}
}
