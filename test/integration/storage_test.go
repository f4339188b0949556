package integration

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
