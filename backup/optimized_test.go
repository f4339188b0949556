package backup

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"lodge/idmap"
	"lodge/test/gate"
)

// loopBtrfs mounts a fresh btrfs loop file, undone at cleanup.
func loopBtrfs(t *testing.T) string {
	t.Helper()
	gate.Integration(t, "mounts a btrfs loop file")
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "bk-btrfs.img"), filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	for _, c := range [][]string{{"truncate", "-s", "512M", img}, {"mkfs.btrfs", "-q", img}, {"mount", "-o", "loop", img, mnt}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	return mnt
}

func sh(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v %s", args, err, out)
	}
}

type recvTarget struct {
	dir string
	got map[string]string
}

func (r *recvTarget) ReceiveDir() (string, error) { return r.dir, os.MkdirAll(r.dir, 0o700) }
func (r *recvTarget) Received(snap, subvol string) error {
	r.got[snap] = subvol
	return nil
}

// TestOptimizedRoundTrip: btrfs subvolumes with two snapshots sent as an
// optimized backup and received into another id map, each volume equal to
// its source; a stream holding a block device is refused.
func TestOptimizedRoundTrip(t *testing.T) {
	mnt := loopBtrfs(t)
	src := idmap.Map{UIDBase: 1000000, GIDBase: 1000000}
	dst := idmap.Map{UIDBase: 2000000, GIDBase: 2000000}
	vol := filepath.Join(mnt, "vol")
	sh(t, "btrfs", "-q", "subvolume", "create", vol)
	makeTree(t, filepath.Join(vol, "rootfs"), src, "v1")
	os.Lchown(filepath.Join(vol, "rootfs"), int(src.UIDBase), int(src.GIDBase))
	os.MkdirAll(filepath.Join(mnt, "snaps"), 0o700)
	sh(t, "btrfs", "-q", "subvolume", "snapshot", "-r", vol, filepath.Join(mnt, "snaps/s1"))
	os.WriteFile(filepath.Join(vol, "rootfs/etc/hostname"), []byte("changed\n"), 0o644)
	os.Chown(filepath.Join(vol, "rootfs/etc/hostname"), int(src.UIDBase), int(src.GIDBase))
	sh(t, "btrfs", "-q", "subvolume", "snapshot", "-r", vol, filepath.Join(mnt, "snaps/s2"))
	os.WriteFile(filepath.Join(vol, "rootfs/root-new"), []byte("after s2"), 0o644)
	os.Chown(filepath.Join(vol, "rootfs/root-new"), int(src.UIDBase), int(src.GIDBase))

	var buf bytes.Buffer
	_, err := WriteOptimized(context.Background(), &buf, OptimizedSource{
		Index: testIndex("c1", "s1", "s2"), Volume: vol, Map: src, TempDir: mnt, Compression: "zstd",
		Snapshots: []OptimizedSection{{Name: "s1", Subvolume: filepath.Join(mnt, "snaps/s1")}, {Name: "s2", Subvolume: filepath.Join(mnt, "snaps/s2")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := Open(context.Background(), bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !rd.Index.IsOptimized() || rd.Index.Backend != "btrfs" {
		t.Fatalf("index %+v", rd.Index)
	}
	if _, err := rd.Extract(DirTarget{Root: t.TempDir()}, Options{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Extract of an optimized backup: %v", err)
	}
	rd.Close()
	rd, _ = Open(context.Background(), bytes.NewReader(buf.Bytes()))
	tg := &recvTarget{dir: filepath.Join(mnt, "import"), got: map[string]string{}}
	if _, err := rd.ExtractOptimized(tg, Options{Map: dst}); err != nil {
		t.Fatal(err)
	}
	rd.Close()
	for snap, from := range map[string]string{"s1": filepath.Join(mnt, "snaps/s1"), "s2": filepath.Join(mnt, "snaps/s2"), "": vol} {
		got := tg.got[snap]
		if got == "" {
			t.Fatalf("section %q not received", snap)
		}
		compareTrees(t, "section "+snap, describe(t, filepath.Join(from, "rootfs"), src), describe(t, filepath.Join(got, "rootfs"), dst))
	}
	// The instance's volume is writable, the snapshots read-only.
	if err := os.WriteFile(filepath.Join(tg.got[""], "rootfs/w"), nil, 0o644); err != nil {
		t.Errorf("instance volume: %v", err)
	}
	if err := os.WriteFile(filepath.Join(tg.got["s1"], "rootfs/w"), nil, 0o644); err == nil {
		t.Error("snapshot volume is writable")
	}

	// A block device in the stream.
	bad := filepath.Join(mnt, "bad")
	sh(t, "btrfs", "-q", "subvolume", "create", bad)
	os.MkdirAll(filepath.Join(bad, "rootfs"), 0o755)
	if err := unix.Mknod(filepath.Join(bad, "rootfs/sda"), unix.S_IFBLK|0o666, int(unix.Mkdev(8, 0))); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if _, err := WriteOptimized(context.Background(), &buf, OptimizedSource{Index: testIndex("c2"), Volume: bad, TempDir: mnt, Compression: "none"}); err != nil {
		t.Fatal(err)
	}
	rd, _ = Open(context.Background(), bytes.NewReader(buf.Bytes()))
	defer rd.Close()
	_, err = rd.ExtractOptimized(&recvTarget{dir: filepath.Join(mnt, "import2"), got: map[string]string{}}, Options{Map: dst})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "block device 8:0") {
		t.Fatalf("block device: %v", err)
	}
}
