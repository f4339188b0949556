package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lodge/builder"
	"lodge/test/lxdtest"
)

// Backups, logs, ephemeral instances, disk hotplug (issue 20) against real
// containers, LXD 5.0.2's tarballs both ways, and imports and re-shifts cut
// short by a SIGKILL of lodged.

func cleanupInstances(t *testing.T, names ...string) {
	t.Cleanup(func() {
		for _, n := range names {
			lodgeOut("delete", "-f", n)
		}
	})
}

// TestBackupExportImport: lodge export, then lodge import under another
// name, boots with the instance's files (owners as inside) and its
// snapshot; an optimized export of a btrfs pool imports into btrfs.
func TestBackupExportImport(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	cleanupInstances(t, "bk1", "bk2", "bk3", "bk4")
	lodge(t, "launch", "busybox", "bk1")
	lodge(t, "exec", "bk1", "--", "sh", "-c", "echo one > /root/f && chown 33:33 /root/f && chmod u+s /bin/busybox")
	lodge(t, "snapshot", "bk1", "s1")
	lodge(t, "exec", "bk1", "--", "sh", "-c", "echo two > /root/f")
	work := t.TempDir()
	tarball := filepath.Join(work, "bk1.tar.zst")
	// A running instance, as a host's nightly backup takes it.
	if out := lodge(t, "export", "bk1", tarball, "--compression", "zstd"); !strings.Contains(out, tarball) {
		t.Errorf("export says %q", out)
	}
	if code, env := apiDo(t, "GET", "/1.0/instances/bk1/backups", ""); code != 200 || string(env.Metadata) != "[]" {
		t.Errorf("lodge export left its backup: %d %s", code, env.Metadata)
	}
	lodge(t, "import", tarball, "bk2")
	lodge(t, "start", "bk2")
	if got := lodge(t, "exec", "bk2", "--", "sh", "-c", "cat /root/f; stat -c '%u:%g %a' /root/f /bin/busybox"); got != "two\n33:33 644\n0:0 4755\n" {
		t.Errorf("imported bk2: %q", got)
	}
	lodge(t, "restore", "bk2", "s1")
	if got := lodge(t, "exec", "bk2", "--", "cat", "/root/f"); got != "one\n" {
		t.Errorf("bk2 restored to s1: %q", got)
	}
	if msg := lodgeFail(t, "import", tarball, "bk2"); !strings.Contains(msg, "already exists") {
		t.Errorf("import over bk2: %q", msg)
	}

	// btrfs, optimized.
	lodge(t, "storage", "create", "bk-bt", "btrfs", "size=1GiB")
	t.Cleanup(func() { lodgeOut("storage", "delete", "bk-bt") })
	lodge(t, "copy", "bk1", "bk3", "-s", "bk-bt")
	opt := filepath.Join(work, "bk3.tar.gz")
	lodge(t, "export", "bk3", opt, "--optimized-storage")
	if drv := lodge(t, "storage", "list", "--format", "csv"); !strings.Contains(drv, "default,btrfs") {
		if msg := lodgeFail(t, "import", opt, "bk4", "--storage", "default"); !strings.Contains(msg, "btrfs pool only") {
			t.Errorf("an optimized backup into a non-btrfs pool: %q", msg)
		}
	}
	lodge(t, "import", opt, "bk4", "--storage", "bk-bt")
	lodge(t, "start", "bk4")
	if got := lodge(t, "exec", "bk4", "--", "sh", "-c", "cat /root/f; stat -c '%u:%g' /root/f"); got != "two\n33:33\n" {
		t.Errorf("optimized import bk4: %q", got)
	}
	lodge(t, "restore", "bk4", "s1")
	if got := lodge(t, "exec", "bk4", "--", "cat", "/root/f"); got != "one\n" {
		t.Errorf("bk4 restored to s1: %q", got)
	}
	for _, n := range []string{"bk3", "bk4"} {
		lodge(t, "delete", "-f", n)
	}
}

// TestInstanceLogs: after a start, lxc.log and lxc.conf are listed and read.
func TestInstanceLogs(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	cleanupInstances(t, "lg1")
	lodge(t, "launch", "busybox", "lg1")
	code, env := apiDo(t, "GET", "/1.0/instances/lg1/logs", "")
	if code != 200 || !strings.Contains(string(env.Metadata), "/1.0/instances/lg1/logs/lxc.log") || !strings.Contains(string(env.Metadata), "lxc.conf") {
		t.Fatalf("logs: %d %s", code, env.Metadata)
	}
	resp, err := apiClient().Get("http://unix.socket/1.0/instances/lg1/logs/lxc.conf")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "lxc.rootfs.path") {
		t.Fatalf("lxc.conf: %d %.200s", resp.StatusCode, b)
	}
	if code, _ := apiDo(t, "DELETE", "/1.0/instances/lg1/logs/lxc.log", ""); code != 400 {
		t.Fatalf("delete lxc.log: %d", code)
	}
}

// TestEphemeralGone: an ephemeral instance goes when it is stopped and
// when it powers itself off; a restart keeps it.
func TestEphemeralGone(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	cleanupInstances(t, "eph1", "eph2")
	gone := func(n string) bool {
		code, _ := apiDo(t, "GET", "/1.0/instances/"+n, "")
		return code == 404
	}
	lodge(t, "launch", "busybox", "eph1", "--ephemeral")
	lodge(t, "restart", "eph1", "--force")
	if gone("eph1") {
		t.Fatal("a restart deleted an ephemeral instance")
	}
	lodge(t, "stop", "eph1", "--force")
	if !gone("eph1") {
		t.Fatal("eph1 is still there after its stop")
	}
	if _, err := os.Stat(filepath.Join(stateDir, "storage-pools", "default", "containers", "eph1")); !os.IsNotExist(err) {
		t.Errorf("eph1's volume: %v", err)
	}
	lodge(t, "launch", "busybox", "eph2", "--ephemeral")
	lodge(t, "exec", "eph2", "--", "poweroff")
	waitFor(t, "eph2 to go after powering off", 30*time.Second, func() bool { return gone("eph2") })
}

// TestDiskHotplugRunning: a host path and a custom volume added to a
// running unprivileged container appear at once (the host path idmapped
// with shift=true, read-only when asked) and go when removed.
func TestDiskHotplugRunning(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	cleanupInstances(t, "hp1")
	lodge(t, "launch", "busybox", "hp1")
	// Below searchable directories, as shift=true needs.
	src, err := os.MkdirTemp("", "lodge-hotplug-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(src) })
	os.Chmod(src, 0o755)
	os.WriteFile(filepath.Join(src, "f"), []byte("from the host\n"), 0o644)
	lodge(t, "config", "device", "add", "hp1", "d1", "disk", "source="+src, "path=/mnt/share")
	if got := lodge(t, "exec", "hp1", "--", "sh", "-c", "cat /mnt/share/f; stat -c %u /mnt/share/f"); got != "from the host\n65534\n" {
		t.Errorf("hot-plugged host path: %q", got)
	}
	lodge(t, "config", "device", "set", "hp1", "d1", "shift=true", "readonly=true")
	if got := lodge(t, "exec", "hp1", "--", "stat", "-c", "%u", "/mnt/share/f"); got != "0\n" {
		t.Errorf("with shift=true, the host's root file shows as uid %q inside", got)
	}
	if _, err := lodgeOut("exec", "hp1", "--", "touch", "/mnt/share/g"); err == nil {
		t.Error("wrote through a read-only disk")
	}
	lodge(t, "storage", "volume", "create", "default", "hpv")
	t.Cleanup(func() { lodgeOut("storage", "volume", "delete", "default", "hpv") })
	lodge(t, "config", "device", "add", "hp1", "v", "disk", "pool=default", "source=hpv", "path=/srv/v")
	lodge(t, "exec", "hp1", "--", "sh", "-c", "echo mine > /srv/v/x")
	lodge(t, "config", "device", "remove", "hp1", "d1")
	lodge(t, "config", "device", "remove", "hp1", "v")
	if got := lodge(t, "exec", "hp1", "--", "sh", "-c", "ls /mnt/share /srv/v 2>&1; grep -c ' /mnt/share \\| /srv/v ' /proc/mounts || true"); strings.Contains(got, "f") || strings.Contains(got, "x") || !strings.HasSuffix(got, "0\n") {
		t.Errorf("after remove: %q", got)
	}
	// A shift=true source below a directory only root may search is
	// refused: liblxc mounts it from inside the user namespace.
	if msg := lodgeFail(t, "config", "device", "add", "hp1", "d9", "disk", "source="+t.TempDir(), "path=/mnt/s9", "shift=true"); !strings.Contains(msg, "not searchable") {
		t.Errorf("shift=true below a private directory: %q", msg)
	}
	// Across a restart, the devices it has are mounted by liblxc again.
	lodge(t, "config", "device", "add", "hp1", "d2", "disk", "source="+src, "path=/mnt/s2", "shift=true")
	lodge(t, "restart", "hp1", "--force")
	if got := lodge(t, "exec", "hp1", "--", "stat", "-c", "%u", "/mnt/s2/f"); got != "0\n" {
		t.Errorf("shift=true at start: %q", got)
	}
}

// TestLXDBackupInterop: a backup made by Debian's LXD 5.0.2 imports into
// lodged and boots; one made by lodge imports into LXD and boots.
func TestLXDBackupInterop(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	cleanupInstances(t, "fromlxd")
	lxd := lxdtest.Start(t)
	img, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lxd.Lxc("image", "import", img, "--alias", "bb")
	lxd.Lxc("launch", "bb", "l1")
	lxd.Lxc("exec", "l1", "--", "sh", "-c", "echo made-in-lxd > /root/f && chown 1000:1000 /root/f")
	lxd.Lxc("snapshot", "l1", "s1")
	lxd.Lxc("stop", "l1", "--force")
	work := t.TempDir()
	fromLXD := filepath.Join(work, "l1.tar.gz")
	lxd.Lxc("export", "l1", fromLXD)
	lodge(t, "import", fromLXD, "fromlxd")
	lodge(t, "start", "fromlxd")
	if got := lodge(t, "exec", "fromlxd", "--", "sh", "-c", "cat /root/f; stat -c %u:%g /root/f"); got != "made-in-lxd\n1000:1000\n" {
		t.Errorf("LXD's backup in lodge: %q", got)
	}
	if out := lodge(t, "info", "fromlxd"); !strings.Contains(out, "s1") {
		t.Errorf("LXD's snapshot s1 not imported:\n%s", out)
	}
	lodge(t, "exec", "fromlxd", "--", "sh", "-c", "echo made-in-lodge > /root/g")
	toLXD := filepath.Join(work, "fromlxd.tar.gz")
	lodge(t, "export", "fromlxd", toLXD)
	lxd.Lxc("import", toLXD, "back")
	lxd.Lxc("start", "back")
	if got := lxd.Lxc("exec", "back", "--", "sh", "-c", "cat /root/f /root/g; stat -c %u:%g /root/f"); got != "made-in-lxd\nmade-in-lodge\n1000:1000\n" {
		t.Errorf("lodge's backup in LXD: %q", got)
	}
	lxd.Lxc("delete", "-f", "back")
	lxd.Lxc("delete", "-f", "l1")
	lxd.Lxc("image", "delete", "bb")
}

// TestImportKilled: lodged killed while an import streams in leaves, after
// its restart, no instance, volume or runtime config of it.
func TestImportKilled(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	cleanupInstances(t, "ik1", "ik2")
	lodge(t, "launch", "busybox", "ik1")
	lodge(t, "exec", "ik1", "--", "sh", "-c", "head -c 30000000 /dev/urandom > /root/big")
	tarball := filepath.Join(t.TempDir(), "ik1.tar")
	lodge(t, "export", "ik1", tarball, "--compression", "none")
	data, err := os.ReadFile(tarball)
	if err != nil {
		t.Fatal(err)
	}
	// The request, by hand: headers and 60% of the body, then the rest
	// never comes.
	conn, err := net.Dial("unix", filepath.Join(stateDir, "unix.socket"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /1.0/instances HTTP/1.1\r\nHost: lodged\r\nContent-Type: application/octet-stream\r\nX-LXD-name: ik2\r\nContent-Length: %d\r\n\r\n", len(data))
	if _, err := conn.Write(data[:len(data)*6/10]); err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(stateDir, "storage-pools", "default", "containers", "ik2")
	waitFor(t, "the import to be under way", 20*time.Second, func() bool {
		code, _ := apiDo(t, "GET", "/1.0/instances/ik2", "")
		_, err := os.Stat(vol)
		return code == 200 && err == nil
	})
	stopDaemon(syscall.SIGKILL)
	if err := startDaemon(); err != nil {
		t.Fatal(err)
	}
	if code, env := apiDo(t, "GET", "/1.0/instances/ik2", ""); code != 404 {
		t.Fatalf("the cut-short import after restart: %d %s", code, env.Metadata)
	}
	if _, err := os.Stat(vol); !os.IsNotExist(err) {
		t.Fatalf("its volume: %v", err)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "containers", "ik2")); !os.IsNotExist(err) {
		t.Fatalf("its runtime config: %v", err)
	}
	// The same import, whole, works after.
	lodge(t, "import", tarball, "ik2")
	lodge(t, "start", "ik2")
	if got := lodge(t, "exec", "ik2", "--", "sh", "-c", "wc -c < /root/big"); strings.TrimSpace(got) != "30000000" {
		t.Fatalf("ik2: %q", got)
	}
}

// TestReshiftKilled: lodged killed while a start re-shifts a rootfs (the
// instance made privileged while stopped) leaves it half shifted; the next
// start finishes the shift: every file owned in the new map, setuid bits
// and files made inside kept.
func TestReshiftKilled(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	base := rootRange(t)
	cleanupInstances(t, "rs1")
	lodge(t, "launch", "busybox", "rs1")
	// Enough files that the shift takes a while.
	lodge(t, "exec", "rs1", "--", "sh", "-c", "mkdir /data && cd /data && seq 1 60000 | xargs touch && chown 33:33 /data/1 && chmod 4755 /data/2")
	lodge(t, "stop", "rs1", "--force")
	lodge(t, "config", "set", "rs1", "security.privileged", "true")
	dir := filepath.Join(stateDir, "storage-pools", "default", "containers", "rs1")
	rootfs := filepath.Join(dir, "rootfs")
	start := lodgeCmd("start", "rs1")
	if err := start.Start(); err != nil {
		t.Fatal(err)
	}
	defer start.Wait()
	waitFor(t, "the shift to begin", 30*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(dir, ".lodge-shift"))
		return err == nil
	})
	stopDaemon(syscall.SIGKILL)
	shifted, total := countOwned(t, rootfs, 0)
	t.Logf("killed with %d of %d entries shifted", shifted, total)
	if shifted == total {
		t.Log("the shift ended before the kill: the resume is not exercised")
	}
	if err := startDaemon(); err != nil {
		t.Fatal(err)
	}
	lodge(t, "start", "rs1")
	if n, total := countOwned(t, rootfs, 0); n != total {
		t.Fatalf("after the resumed shift, %d of %d entries are in the privileged map", n, total)
	}
	if _, err := os.Stat(filepath.Join(dir, ".lodge-shift")); !os.IsNotExist(err) {
		t.Fatalf("shift marker left: %v", err)
	}
	if got := lodge(t, "exec", "rs1", "--", "stat", "-c", "%u:%g %a", "/data/1", "/data/2", "/bin/busybox"); got != "33:33 644\n0:0 4755\n0:0 755\n" {
		t.Fatalf("inside after the resumed shift: %q", got)
	}
	if got := strings.Fields(lodge(t, "exec", "rs1", "--", "cat", "/proc/self/uid_map")); len(got) != 3 || got[1] != "0" {
		t.Fatalf("uid_map: %q (shared base %d)", got, base)
	}
}

// countOwned counts the entries of a tree whose owner is in the Size-wide
// map starting at base, and all entries (not crossing mounts).
func countOwned(t *testing.T, root string, base uint32) (int, int) {
	t.Helper()
	var in, total int
	var dev uint64
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		if p == root {
			dev = st.Dev
		} else if st.Dev != dev {
			return filepath.SkipDir
		}
		total++
		if st.Uid >= base && st.Uid < base+65536 {
			in++
		}
		return nil
	})
	return in, total
}
