package integration

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lodge/storage/storagetest"
)

// snapshotRestoreOn launches on pool, snapshots, changes files, restores
// (running, so the instance is stopped and started again) and checks the
// tree is back.
func snapshotRestoreOn(t *testing.T, pool, name string) {
	t.Helper()
	args := []string{"launch", "busybox", name}
	if pool != "" {
		args = append(args, "-s", pool)
	}
	lodge(t, args...)
	t.Cleanup(func() { lodgeOut("delete", "-f", name) })
	lodge(t, "exec", name, "--", "sh", "-c", "echo one > /root/state")
	lodge(t, "snapshot", name, "st-before")
	lodge(t, "exec", name, "--", "sh", "-c", "echo two > /root/state; rm /bin/ls /etc/hostname")
	_, pid1 := instanceState(t, name)
	lodge(t, "restore", name, "st-before")
	st, pid2 := instanceState(t, name)
	if st != "Running" || pid2 == pid1 {
		t.Fatalf("after restore: %s, pid %d -> %d (want running again, restarted)", st, pid1, pid2)
	}
	if out := lodge(t, "exec", name, "--", "cat", "/root/state", "/etc/hostname"); out != "one\n"+name+"\n" {
		t.Fatalf("restored files: %q", out)
	}
	if _, err := lodgeOut("exec", name, "--", "test", "-e", "/bin/ls"); err != nil {
		t.Fatalf("deleted image file not restored: %v", err)
	}
	info := lodge(t, "info", name)
	if !strings.Contains(info, "Snapshots:") || !strings.Contains(info, "st-before") {
		t.Fatalf("info lacks the snapshot:\n%s", info)
	}
	if msg := lodgeFail(t, "snapshot", name, "st-stateful", "--stateful"); !strings.Contains(msg, "CRIU") {
		t.Fatalf("--stateful: %q", msg)
	}
	// Files of a stopped instance are reachable (the volume is mounted on demand).
	lodge(t, "stop", "-f", name)
	if out := lodge(t, "file", "pull", name+"/root/state", "-"); out != "one\n" {
		t.Fatalf("file pull from stopped: %q", out)
	}
	lodge(t, "delete", name+"/st-before")
	if strings.Contains(lodge(t, "info", name), "st-before") {
		t.Fatal("snapshot still listed after delete")
	}
}

func TestSnapshotRestoreDefaultPool(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	snapshotRestoreOn(t, "", "st-ov1")
}

func TestBtrfsLoopPool(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "storage", "create", "st-bt", "btrfs", "size=1GiB")
	t.Cleanup(func() { lodgeOut("storage", "delete", "st-bt") })
	loop := filepath.Join(stateDir, "disks", "st-bt.img")
	if _, err := os.Stat(loop); err != nil {
		t.Fatalf("loop file: %v", err)
	}
	if out := lodge(t, "storage", "list"); !strings.Contains(out, "st-bt") || !strings.Contains(out, "btrfs") {
		t.Fatalf("storage list:\n%s", out)
	}
	snapshotRestoreOn(t, "st-bt", "st-bt1")
	if msg := lodgeFail(t, "storage", "delete", "st-bt"); !strings.Contains(msg, "st-bt1") {
		t.Fatalf("delete of a pool in use: %q", msg)
	}
	lodge(t, "delete", "-f", "st-bt1")
	lodge(t, "storage", "delete", "st-bt")
	if _, err := os.Stat(loop); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("loop file left after pool delete: %v", err)
	}
}

func TestDirPoolStillSelectable(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "storage", "create", "st-dir", "dir")
	t.Cleanup(func() { lodgeOut("storage", "delete", "st-dir") })
	lodge(t, "launch", "busybox", "st-dir1", "-s", "st-dir")
	t.Cleanup(func() { lodgeOut("delete", "-f", "st-dir1") })
	if _, err := os.Stat(filepath.Join(stateDir, "storage-pools", "st-dir", "containers", "st-dir1", "rootfs", "bin")); err != nil {
		t.Fatalf("instance not on the dir pool: %v", err)
	}
	if out := lodge(t, "exec", "st-dir1", "--", "echo", "ok"); out != "ok\n" {
		t.Fatalf("exec: %q", out)
	}
}

func TestCopyMove(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	// Cleanups run last-registered first: the instances go before their pool.
	lodge(t, "storage", "create", "st-bt2", "btrfs", "size=1GiB")
	t.Cleanup(func() { lodgeOut("storage", "delete", "st-bt2") })
	for _, n := range []string{"st-cp1", "st-cp2", "st-cp3", "st-cp4", "st-cp5"} {
		n := n
		t.Cleanup(func() { lodgeOut("delete", "-f", n) })
	}
	lodge(t, "launch", "busybox", "st-cp1")
	lodge(t, "exec", "st-cp1", "--", "sh", "-c", "echo one > /root/state")
	lodge(t, "snapshot", "st-cp1", "s1")
	lodge(t, "exec", "st-cp1", "--", "sh", "-c", "echo two > /root/state")
	cat := func(name string) string {
		t.Helper()
		return lodge(t, "file", "pull", name+"/root/state", "-")
	}
	// A running source is copied (frozen for the copy), with its snapshots.
	lodge(t, "copy", "st-cp1", "st-cp2")
	if got := cat("st-cp2"); got != "two\n" {
		t.Fatalf("copy: %q", got)
	}
	if !strings.Contains(lodge(t, "info", "st-cp2"), "s1") {
		t.Fatal("copy lacks the snapshot")
	}
	lodge(t, "start", "st-cp2")
	if out := lodge(t, "exec", "st-cp2", "--", "cat", "/etc/hostname"); out != "st-cp2\n" {
		t.Fatalf("copy hostname: %q", out)
	}
	lodge(t, "copy", "st-cp1/s1", "st-cp3")
	if got := cat("st-cp3"); got != "one\n" {
		t.Fatalf("copy of snapshot: %q", got)
	}
	// Across pools (overlay to btrfs), snapshots included.
	lodge(t, "copy", "st-cp1", "st-cp4", "-s", "st-bt2")
	if got := cat("st-cp4"); got != "two\n" {
		t.Fatalf("copy to btrfs: %q", got)
	}
	lodge(t, "restore", "st-cp4", "s1")
	if got := cat("st-cp4"); got != "one\n" {
		t.Fatalf("snapshot copied to btrfs: %q", got)
	}
	lodge(t, "move", "st-cp3", "st-cp5")
	lodge(t, "move", "st-cp5", "-s", "st-bt2")
	lodge(t, "start", "st-cp5")
	if out := lodge(t, "exec", "st-cp5", "--", "cat", "/root/state"); out != "one\n" {
		t.Fatalf("moved instance: %q", out)
	}
	if code, _ := apiDo(t, "GET", "/1.0/instances/st-cp3", ""); code != 404 {
		t.Fatalf("old name still there: %d", code)
	}
	code, env := apiDo(t, "GET", "/1.0/storage-pools/st-bt2", "")
	if code != 200 || !strings.Contains(string(env.Metadata), "/1.0/instances/st-cp5") || !strings.Contains(string(env.Metadata), "/1.0/instances/st-cp4") {
		t.Fatalf("btrfs pool used_by: %s", env.Metadata)
	}
}

func TestPublishThenLaunch(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	for _, n := range []string{"st-pub1", "st-pub2", "st-pub3"} {
		n := n
		t.Cleanup(func() { lodgeOut("delete", "-f", n) })
	}
	for _, a := range []string{"st-pubimg", "st-pubsnap"} {
		a := a
		t.Cleanup(func() { lodgeOut("image", "delete", a) })
	}
	lodge(t, "launch", "busybox", "st-pub1")
	lodge(t, "exec", "st-pub1", "--", "sh", "-c", "echo one > /root/state; touch /root/owned; chown 1000:1001 /root/owned")
	lodge(t, "snapshot", "st-pub1", "s1")
	lodge(t, "exec", "st-pub1", "--", "sh", "-c", "echo two > /root/state")
	if msg := lodgeFail(t, "publish", "st-pub1", "--alias", "st-pubimg"); !strings.Contains(msg, "running") {
		t.Fatalf("publish running: %q", msg)
	}
	lodge(t, "publish", "st-pub1", "--alias", "st-pubimg", "--force", "--compression", "zstd", "description=st test image")
	if st, _ := instanceState(t, "st-pub1"); st != "Running" {
		t.Fatalf("after publish --force: %s (want running, unfrozen)", st)
	}
	lodge(t, "publish", "st-pub1/s1", "--alias", "st-pubsnap", "--compression", "none")
	if out := lodge(t, "image", "info", "st-pubimg"); !strings.Contains(out, "st test image") {
		t.Fatalf("published image properties:\n%s", out)
	}
	lodge(t, "launch", "st-pubimg", "st-pub2")
	if out := lodge(t, "exec", "st-pub2", "--", "cat", "/root/state", "/etc/hostname"); out != "two\nst-pub2\n" {
		t.Fatalf("launched from published image: %q", out)
	}
	// The image carries the ids as the (unprivileged) container saw them,
	// not the shifted host ids, so they come back the same.
	if out := lodge(t, "exec", "st-pub2", "--", "stat", "-c", "%u:%g", "/root/state", "/root/owned"); out != "0:0\n1000:1001\n" {
		t.Fatalf("owners in the instance launched from the published image: %q", out)
	}
	lodge(t, "launch", "st-pubsnap", "st-pub3")
	if out := lodge(t, "exec", "st-pub3", "--", "cat", "/root/state"); out != "one\n" {
		t.Fatalf("launched from published snapshot: %q", out)
	}
	if msg := lodgeFail(t, "publish", "st-pub1/s1", "--compression", "lz9"); !strings.Contains(msg, "compression") {
		t.Fatalf("bad compression: %q", msg)
	}
}

// TestCrashDuringCopy kills lodged while a copy is under way: after the
// restart no half-made instance is listed and no volume is left on disk.
// Whether the kill lands mid-copy or after does not matter to what is
// checked: the copy is either complete and usable or gone entirely.
func TestCrashDuringCopy(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "storage", "create", "st-crash", "dir")
	t.Cleanup(func() { lodgeOut("storage", "delete", "st-crash") })
	for _, n := range []string{"st-cr1", "st-cr2"} {
		n := n
		t.Cleanup(func() { lodgeOut("delete", "-f", n) })
	}
	lodge(t, "launch", "busybox", "st-cr1", "-s", "st-crash")
	// Enough data that the copy (a full cp on a dir pool) takes a while.
	lodge(t, "exec", "st-cr1", "--", "dd", "if=/dev/zero", "of=/root/big", "bs=1M", "count=400")
	lodge(t, "stop", "-f", "st-cr1")
	code, env := apiDo(t, "POST", "/1.0/instances", `{"name":"st-cr2","source":{"type":"copy","source":"st-cr1"}}`)
	if code != 202 {
		t.Fatalf("copy: %d %s", code, env.Error)
	}
	stopDaemon(syscall.SIGKILL)
	if err := startDaemon(); err != nil {
		t.Fatal(err)
	}
	containers := filepath.Join(stateDir, "storage-pools", "st-crash", "containers")
	if _, err := lodgeOut("info", "st-cr2"); err == nil {
		// The copy finished before the kill: it must be whole.
		lodge(t, "start", "st-cr2")
		if out := lodge(t, "exec", "st-cr2", "--", "sh", "-c", "wc -c < /root/big"); strings.TrimSpace(out) != "419430400" {
			t.Fatalf("completed copy is not whole: %q", out)
		}
		return
	}
	if strings.Contains(lodge(t, "list"), "st-cr2") {
		t.Fatal("half-made copy listed")
	}
	ents, _ := os.ReadDir(containers)
	for _, e := range ents {
		if e.Name() != "st-cr1" {
			t.Fatalf("left on disk after recovery: %s", e.Name())
		}
	}
	// The name is free again.
	lodge(t, "copy", "st-cr1", "st-cr2")
}

// TestScheduledSnapshot waits for the daemon's scheduler to take a snapshot
// of an instance with a one-minute schedule (up to a minute and a bit).
func TestScheduledSnapshot(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "launch", "busybox", "st-sched", "-c", "snapshots.schedule=* * * * *", "-c", "snapshots.expiry=1H")
	t.Cleanup(func() { lodgeOut("delete", "-f", "st-sched") })
	waitFor(t, "a scheduled snapshot", 75*time.Second, func() bool {
		out, _ := lodgeOut("info", "st-sched")
		return strings.Contains(out, "snap0")
	})
	code, env := apiDo(t, "GET", "/1.0/instances/st-sched/snapshots/snap0", "")
	if code != 200 || strings.Contains(string(env.Metadata), `"expires_at":"0001-01-01T00:00:00Z"`) {
		t.Fatalf("scheduled snapshot: %d %s (want an expiry)", code, env.Metadata)
	}
}

// TestDiskDevices mounts a custom volume and a read-only host path.
func TestDiskDevices(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	share := t.TempDir()
	// The container is unprivileged: its root (a high uid on the host)
	// must be able to walk to the source, which t.TempDir's 0700 forbids.
	os.Chmod(filepath.Dir(share), 0o711)
	os.Chmod(share, 0o755)
	os.WriteFile(filepath.Join(share, "f"), []byte("shared\n"), 0o644)
	lodge(t, "storage", "volume", "create", "default", "st-data")
	t.Cleanup(func() { lodgeOut("storage", "volume", "delete", "default", "st-data") })
	lodge(t, "init", "busybox", "st-disk")
	t.Cleanup(func() { lodgeOut("delete", "-f", "st-disk") })
	code, env := apiDo(t, "PATCH", "/1.0/instances/st-disk", `{"devices":{"data":{"type":"disk","pool":"default","source":"st-data","path":"/srv/data"},"share":{"type":"disk","source":"`+share+`","path":"/mnt/share","readonly":"true"}}}`)
	if code != 202 {
		t.Fatalf("add devices: %d %s", code, env.Error)
	}
	waitFor(t, "devices recorded", 10*time.Second, func() bool {
		out, _ := lodgeOut("config", "show", "st-disk")
		return strings.Contains(out, "st-data")
	})
	lodge(t, "start", "st-disk")
	if out := lodge(t, "exec", "st-disk", "--", "sh", "-c", "cat /mnt/share/f; echo kept > /srv/data/x"); out != "shared\n" {
		t.Fatalf("host path mount: %q", out)
	}
	if _, err := lodgeOut("exec", "st-disk", "--", "sh", "-c", "echo no > /mnt/share/g"); err == nil {
		t.Fatal("write to a readonly disk succeeded")
	}
	// The volume's data outlives the instance.
	lodge(t, "delete", "-f", "st-disk")
	if b, err := os.ReadFile(filepath.Join(stateDir, "storage-pools", "default", "custom", "st-data", "x")); err != nil || string(b) != "kept\n" {
		t.Fatalf("volume content: %q %v", b, err)
	}
}

// TestBtrfsRootQuota: a root size on a btrfs pool makes writes past it fail
// inside the container, and lodge keeps working.
func TestBtrfsRootQuota(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "storage", "create", "st-q", "btrfs", "size=1GiB")
	t.Cleanup(func() { lodgeOut("storage", "delete", "st-q") })
	lodge(t, "launch", "busybox", "st-q1", "-s", "st-q")
	t.Cleanup(func() { lodgeOut("delete", "-f", "st-q1") })
	setRoot := func(body string) {
		t.Helper()
		code, env := apiDo(t, "PATCH", "/1.0/instances/st-q1", body)
		if code != 202 {
			t.Fatalf("patch %s: %d %s", body, code, env.Error)
		}
	}
	setRoot(`{"devices":{"root":{"type":"disk","path":"/","pool":"st-q","size":"20MiB"}}}`)
	out, err := lodgeOut("exec", "st-q1", "--", "sh", "-c", "dd if=/dev/zero of=/root/big bs=1M count=60 && sync")
	if err == nil {
		t.Fatalf("writing 60 MiB under a 20 MiB root succeeded: %q", out)
	}
	if !strings.Contains(err.Error(), "quota") && !strings.Contains(err.Error(), "space") {
		t.Fatalf("write past the quota failed oddly: %v", err)
	}
	if out := lodge(t, "exec", "st-q1", "--", "echo", "alive"); out != "alive\n" {
		t.Fatalf("exec after quota hit: %q", out)
	}
	lodge(t, "list")
	// On a pool that cannot limit sizes the request is refused.
	lodge(t, "launch", "busybox", "st-q2")
	t.Cleanup(func() { lodgeOut("delete", "-f", "st-q2") })
	if code, env := apiDo(t, "PATCH", "/1.0/instances/st-q2", `{"devices":{"root":{"type":"disk","path":"/","size":"20MiB"}}}`); code != 400 || !strings.Contains(env.Error, "btrfs") {
		t.Fatalf("size on overlay: %d %s", code, env.Error)
	}
	// Lifting the limit lets the write through.
	setRoot(`{"devices":{"root":{"type":"disk","path":"/","pool":"st-q"}}}`)
	lodge(t, "exec", "st-q1", "--", "sh", "-c", "rm -f /root/big; dd if=/dev/zero of=/root/big bs=1M count=60 && sync")
}

func TestRebuild(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "launch", "busybox", "st-rb", "-c", "user.keep=yes")
	t.Cleanup(func() { lodgeOut("delete", "-f", "st-rb") })
	lodge(t, "exec", "st-rb", "--", "sh", "-c", "echo old > /root/state")
	lodge(t, "snapshot", "st-rb", "s1")
	if msg := lodgeFail(t, "rebuild", "busybox", "st-rb"); !strings.Contains(msg, "stop it first") {
		t.Fatalf("rebuild running: %q", msg)
	}
	lodge(t, "stop", "-f", "st-rb")
	lodge(t, "rebuild", "busybox", "st-rb")
	lodge(t, "start", "st-rb")
	if _, err := lodgeOut("exec", "st-rb", "--", "test", "-e", "/root/state"); err == nil {
		t.Fatal("rebuild kept the old tree")
	}
	if out := lodge(t, "exec", "st-rb", "--", "cat", "/etc/hostname"); out != "st-rb\n" {
		t.Fatalf("hostname after rebuild: %q", out)
	}
	if out := lodge(t, "config", "get", "st-rb", "user.keep"); strings.TrimSpace(out) != "yes" {
		t.Fatalf("config after rebuild: %q", out)
	}
	// The snapshot survived and still restores the old tree.
	lodge(t, "restore", "st-rb", "s1")
	if out := lodge(t, "exec", "st-rb", "--", "cat", "/root/state"); out != "old\n" {
		t.Fatalf("restore after rebuild: %q", out)
	}
}

// TestPoolSourceRefused: a directory holding another tool's data, or a
// link to /etc, is no pool source (issue 22).
func TestPoolSourceRefused(t *testing.T) {
	needIntegration(t)
	old := filepath.Join(t.TempDir(), "old")
	storagetest.Plant(t, filepath.Join(old, "containers", "web01", "data"))
	msg := lodgeFail(t, "storage", "create", "st-p2", "dir", "source="+old)
	if !strings.Contains(msg, "not empty (containers/)") || !strings.Contains(msg, "pick an empty directory") {
		t.Fatalf("non-empty source: %q", msg)
	}
	link := filepath.Join(t.TempDir(), "etc")
	os.Symlink("/etc", link)
	if msg := lodgeFail(t, "storage", "create", "st-p2", "overlay", "source="+link); !strings.Contains(msg, "resolves to /etc") {
		t.Fatalf("link to /etc: %q", msg)
	}
	if msg := lodgeFail(t, "storage", "create", "st-p2", "dir", "source="+stateDir); !strings.Contains(msg, "state directory") {
		t.Fatalf("state dir: %q", msg)
	}
	if strings.Contains(lodge(t, "storage", "list"), "st-p2") {
		t.Fatal("a refused pool is listed")
	}
	storagetest.Intact(t, filepath.Join(old, "containers", "web01", "data"))
	if _, err := os.Stat(filepath.Join(old, "images")); !os.IsNotExist(err) {
		t.Fatalf("lodge wrote into a refused source: %v", err)
	}
}

// TestPoolOfAnotherDaemonForgotten: a pool whose marker names another
// state directory is forgotten at delete; none of its files go.
func TestPoolOfAnotherDaemonForgotten(t *testing.T) {
	needIntegration(t)
	src := filepath.Join(t.TempDir(), "pool")
	lodge(t, "storage", "create", "st-fm", "dir", "source="+src)
	t.Cleanup(func() { lodgeOut("storage", "delete", "st-fm") })
	marker := filepath.Join(src, ".lodge-pool")
	b, err := os.ReadFile(marker)
	if err != nil {
		t.Fatalf("no marker written: %v", err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	if m["pool"] != "st-fm" || m["state_dir"] == "" {
		t.Fatalf("marker: %s", b)
	}
	m["state_dir"] = "/var/lib/another-lodge"
	b, _ = json.Marshal(m)
	os.WriteFile(marker, b, 0o600)
	storagetest.Plant(t, filepath.Join(src, "containers", "web01", "data"))
	storagetest.Plant(t, filepath.Join(src, "images", "abc", "data"))
	out := lodge(t, "storage", "delete", "st-fm")
	if !strings.Contains(out, "forgotten") || !strings.Contains(out, "/var/lib/another-lodge") {
		t.Fatalf("delete: %q", out)
	}
	if strings.Contains(lodge(t, "storage", "list"), "st-fm") {
		t.Fatal("forgotten pool still listed")
	}
	storagetest.Intact(t, filepath.Join(src, "containers", "web01", "data"))
	storagetest.Intact(t, filepath.Join(src, "images", "abc", "data"))
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the other daemon's marker was removed: %v", err)
	}
}

// TestDeleteThroughSymlinks: volume directories replaced by links to host
// directories before a delete take nothing outside the pool with them.
func TestDeleteThroughSymlinks(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "storage", "create", "st-sym", "dir")
	t.Cleanup(func() { lodgeOut("storage", "delete", "st-sym") })
	lodge(t, "launch", "busybox", "st-sym1", "-s", "st-sym")
	t.Cleanup(func() { lodgeOut("delete", "-f", "st-sym1") })
	lodge(t, "snapshot", "st-sym1", "st-s1")
	lodge(t, "stop", "-f", "st-sym1")
	root := filepath.Join(stateDir, "storage-pools", "st-sym")
	host, stash := t.TempDir(), t.TempDir()

	// The instance's snapshots directory a link to a host directory with
	// an entry named like the snapshot: the snapshot delete is refused.
	snaps := filepath.Join(root, "containers-snapshots", "st-sym1")
	if err := os.Rename(snaps, filepath.Join(stash, "snaps")); err != nil {
		t.Fatal(err)
	}
	storagetest.Plant(t, filepath.Join(host, "snaps", "st-s1", "data"))
	os.Symlink(filepath.Join(host, "snaps"), snaps)
	if msg := lodgeFail(t, "delete", "st-sym1/st-s1"); !strings.Contains(msg, "symlink") {
		t.Fatalf("snapshot delete through a link: %q", msg)
	}
	storagetest.Intact(t, filepath.Join(host, "snaps", "st-s1", "data"))
	os.Remove(snaps)
	if err := os.Rename(filepath.Join(stash, "snaps"), snaps); err != nil {
		t.Fatal(err)
	}

	// The instance's volume directory a link to a host directory: the
	// delete removes the link, not the host's files.
	vol := filepath.Join(root, "containers", "st-sym1")
	if err := os.Rename(vol, filepath.Join(stash, "vol")); err != nil {
		t.Fatal(err)
	}
	storagetest.Plant(t, filepath.Join(host, "vol", "rootfs", "etc", "passwd"))
	storagetest.Plant(t, filepath.Join(host, "vol", "data"))
	os.Symlink(filepath.Join(host, "vol"), vol)
	lodge(t, "delete", "st-sym1")
	storagetest.Intact(t, filepath.Join(host, "vol", "rootfs", "etc", "passwd"))
	storagetest.Intact(t, filepath.Join(host, "vol", "data"))
	if _, err := os.Lstat(vol); !os.IsNotExist(err) {
		t.Fatalf("link left: %v", err)
	}
	if out := lodge(t, "storage", "delete", "st-sym"); !strings.Contains(out, "deleted") || strings.Contains(out, "Left") {
		t.Fatalf("pool delete: %q", out)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Fatalf("pool directory left: %v", err)
	}
}
