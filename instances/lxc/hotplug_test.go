//go:build linux && cgo

package lxc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"lodge/instances"
)

// reachable opens dir's parents to others' traverse (t.TempDir's are
// 0700), so that an unprivileged container's root can reach it.
func reachable(t *testing.T, dir string) {
	t.Helper()
	for p := dir; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		os.Chmod(p, 0o711)
	}
}

// unprivilegedBusybox starts a busybox container whose root is host uid
// and gid 1000000 (its rootfs shifted there).
func unprivilegedBusybox(t *testing.T, name string) *Driver {
	t.Helper()
	needRoot(t)
	lxcpath := t.TempDir()
	reachable(t, lxcpath)
	d := testDriver(t, lxcpath)
	cleanupContainer(t, lxcpath, name)
	root := busyboxRootfs(t)
	reachable(t, filepath.Dir(root))
	if out, err := exec.Command("chown", "-R", "-h", "1000000:1000000", root).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	spec := instances.Spec{Name: name, Rootfs: root, Init: "busybox", IDMap: []instances.IDMapEntry{
		{IsUID: true, NSID: 0, HostID: 1000000, Range: 65536}, {IsGID: true, NSID: 0, HostID: 1000000, Range: 65536}}}
	ctx := context.Background()
	if err := d.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestHotplugMount: host directories and files mounted into a running
// container and unmounted again, read-only honoured, mount points made
// inside the container's root.
func TestHotplugMount(t *testing.T) {
	d := runningBusybox(t, "t-lxc-hotplug")
	ctx := context.Background()
	name := "t-lxc-hotplug"
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("from-host\n"), 0o644)
	file := filepath.Join(t.TempDir(), "single")
	os.WriteFile(file, []byte("one-file\n"), 0o644)

	if err := d.AttachMount(ctx, name, instances.Mount{Source: src, Path: "/mnt/share/deep", ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	if r := run(t, d, name, "cat", "/mnt/share/deep/f"); r.stdout != "from-host\n" {
		t.Fatalf("cat through the hotplugged mount: %+v", r)
	}
	if r := run(t, d, name, "touch", "/mnt/share/deep/new"); r.code == 0 {
		t.Fatal("a read-only mount was writable")
	}
	if err := d.AttachMount(ctx, name, instances.Mount{Source: file, Path: "/etc/single", IsFile: true}); err != nil {
		t.Fatal(err)
	}
	if r := run(t, d, name, "cat", "/etc/single"); r.stdout != "one-file\n" {
		t.Fatalf("file mount: %+v", r)
	}
	// A symlink inside the container resolves inside its root: the mount
	// lands in the container's /tmp/inside, never on the host's.
	run(t, d, name, "sh", "-c", "mkdir -p /tmp/inside && ln -s /tmp/inside /linkdir")
	if err := d.AttachMount(ctx, name, instances.Mount{Source: src, Path: "/linkdir"}); err != nil {
		t.Fatal(err)
	}
	if r := run(t, d, name, "cat", "/tmp/inside/f"); r.stdout != "from-host\n" {
		t.Fatalf("mount through the container's symlink: %+v", r)
	}
	if err := d.DetachMount(ctx, name, "/tmp/inside"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/mnt/share/deep", "/etc/single"} {
		if err := d.DetachMount(ctx, name, p); err != nil {
			t.Fatal(err)
		}
	}
	if r := run(t, d, name, "sh", "-c", "ls /mnt/share/deep; cat /etc/single; grep -c /mnt/share /proc/mounts"); strings.Contains(r.stdout, "f\n") || strings.Contains(r.stdout, "one-file") || !strings.HasSuffix(r.stdout, "0\n") {
		t.Fatalf("after unplug: %+v", r)
	}
	// Unplugging what is not mounted is fine; a source that is missing is a clear refusal.
	if err := d.DetachMount(ctx, name, "/mnt/share/deep"); err != nil {
		t.Fatal(err)
	}
	if err := d.AttachMount(ctx, name, instances.Mount{Source: "/nonexistent/x", Path: "/mnt/x"}); !errors.Is(err, instances.ErrInvalid) {
		t.Fatalf("missing source: %v", err)
	}
	if err := d.AttachMount(ctx, name, instances.Mount{Source: src, Path: "relative"}); !errors.Is(err, instances.ErrInvalid) {
		t.Fatalf("relative path: %v", err)
	}
	// The host's /mnt got nothing.
	if _, err := os.Stat("/mnt/share/deep"); err == nil {
		t.Fatal("the mount point was made on the host")
	}
}

// TestHotplugMountShift: in an unprivileged container a plain bind shows
// host-root files as nobody; an idmapped one (Shift) shows them as root,
// and files created through it land as host root on the source.
func TestHotplugMountShift(t *testing.T) {
	name := "t-lxc-hotshift"
	d := unprivilegedBusybox(t, name)
	ctx := context.Background()
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644)
	if err := d.AttachMount(ctx, name, instances.Mount{Source: src, Path: "/made/plain"}); err != nil {
		t.Fatal(err)
	}
	if r := run(t, d, name, "stat", "-c", "%u", "/made/plain/f"); r.stdout != "65534\n" {
		t.Fatalf("plain bind: owner %+v", r)
	}
	if err := d.AttachMount(ctx, name, instances.Mount{Source: src, Path: "/shifted", Shift: true}); err != nil {
		t.Fatal(err)
	}
	if r := run(t, d, name, "stat", "-c", "%u", "/shifted/f"); r.stdout != "0\n" {
		t.Fatalf("idmapped mount: owner %+v", r)
	}
	if r := run(t, d, name, "sh", "-c", "echo y > /shifted/new"); r.code != 0 {
		t.Fatalf("write through the idmapped mount: %+v", r)
	}
	var st = mustStat(t, filepath.Join(src, "new"))
	if st.Uid != 0 {
		t.Fatalf("file written through the idmapped mount is host uid %d, want 0", st.Uid)
	}
	// The mount point made inside is the container root's.
	if r := run(t, d, name, "stat", "-c", "%u", "/made"); r.stdout != "0\n" {
		t.Fatalf("mount point owner %+v", r)
	}
	for _, p := range []string{"/made/plain", "/shifted"} {
		if err := d.DetachMount(ctx, name, p); err != nil {
			t.Fatal(err)
		}
	}
}

func mustStat(t *testing.T, p string) *syscallStat {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscallStat)
}

type syscallStat = syscall.Stat_t
