//go:build linux && cgo

package lxc

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lodge/instances"
)

// TestLogs: LXD's names for the files liblxc keeps, read-only, and
// nothing else of the container's directory reachable by name.
func TestLogs(t *testing.T) {
	ctx := context.Background()
	lxcpath := t.TempDir()
	d := testDriver(t, lxcpath)
	dir := filepath.Join(lxcpath, "c1")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "config"), []byte("lxc.rootfs.path = dir:/x\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "console.log"), []byte("boot\n"), 0o600)
	if _, err := d.Logs(ctx, "nope"); !errors.Is(err, instances.ErrNotFound) {
		t.Fatalf("logs of an unknown container: %v", err)
	}
	got, err := d.Logs(ctx, "c1")
	if err != nil || strings.Join(got, ",") != "lxc.conf" {
		t.Fatalf("logs before a start: %v %v", got, err)
	}
	os.WriteFile(filepath.Join(dir, "lxc.log"), []byte("lxc 20261204 ERROR start - failed\n"), 0o600)
	got, _ = d.Logs(ctx, "c1")
	if strings.Join(got, ",") != "lxc.conf,lxc.log" {
		t.Fatalf("logs: %v", got)
	}
	f, err := d.OpenLog(ctx, "c1", "lxc.log")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if !strings.Contains(string(b), "failed") {
		t.Fatalf("lxc.log: %q", b)
	}
	if f, err := d.OpenLog(ctx, "c1", "lxc.conf"); err != nil {
		t.Fatal(err)
	} else {
		f.Close()
	}
	for _, bad := range []string{"config", "console.log", "../c1/config", "/etc/passwd", "", "lxc.log/.."} {
		if _, err := d.OpenLog(ctx, "c1", bad); !errors.Is(err, instances.ErrNotFound) {
			t.Errorf("OpenLog(%q): %v", bad, err)
		}
	}
	if _, err := d.OpenLog(ctx, "../etc", "lxc.log"); !errors.Is(err, instances.ErrInvalid) {
		t.Errorf("OpenLog of ../etc: %v", err)
	}
	// A symlink planted for the log is not followed.
	os.Remove(filepath.Join(dir, "lxc.log"))
	os.Symlink("/etc/shadow", filepath.Join(dir, "lxc.log"))
	if _, err := d.OpenLog(ctx, "c1", "lxc.log"); err == nil {
		t.Error("OpenLog followed a symlink")
	}
	for _, f := range []string{"lxc.log", "lxc.conf"} {
		if err := d.DeleteLog(ctx, "c1", f); !errors.Is(err, instances.ErrInvalid) {
			t.Errorf("DeleteLog(%s): %v", f, err)
		}
	}
	if err := d.DeleteLog(ctx, "c1", "exec_1.stdout"); !errors.Is(err, instances.ErrNotFound) {
		t.Errorf("DeleteLog of a missing file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "config")); err != nil {
		t.Fatal("config gone")
	}
}
