package integration

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"lodge/builder"
	"lodge/remotes/remotestest"
)

// TestLaunchFromSimplestreams serves the busybox image as a simplestreams
// tree (split squashfs, root.tar.xz and unified items; two architectures;
// two versions) on loopback and launches from it through the CLI.
func TestLaunchFromSimplestreams(t *testing.T) {
	needIntegration(t)
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fx := remotestest.Build(t, t.TempDir(), tarball)
	srv := remotestest.Serve(t, fx)
	t.Setenv("LODGE_CONF", t.TempDir())

	lodge(t, "remote", "add", "rmstreams", srv.URL, "--protocol", "simplestreams")
	if out := lodge(t, "remote", "list"); !strings.Contains(out, "rmstreams") || !strings.Contains(out, "unauthenticated") {
		t.Fatalf("remote list:\n%s", out)
	}
	if out := lodge(t, "image", "list", "rmstreams:"); !strings.Contains(out, fx.NewestSquashfs[:12]) {
		t.Fatalf("image list:\n%s", out)
	}
	lodge(t, "launch", "rmstreams:busybox", "rm-ss1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "rm-ss1") })
	if st, _ := instanceState(t, "rm-ss1"); st != "Running" {
		t.Fatalf("state %s", st)
	}
	if out := lodge(t, "exec", "rm-ss1", "--", "cat", "/etc/lodge-build"); !strings.HasPrefix(out, "20240102_00:00") {
		t.Fatalf("newest build expected: %q", out)
	}
	// A split image exports as two files and imports back from them.
	exp := filepath.Join(t.TempDir(), "bb")
	if out := lodge(t, "image", "export", fx.NewestSquashfs, exp); !strings.Contains(out, exp+".squashfs") {
		t.Fatalf("export: %s", out)
	}
	if out := lodge(t, "image", "import", exp, exp+".squashfs", "--alias", "rm-reimported"); !strings.Contains(out, fx.NewestSquashfs) {
		t.Fatalf("re-import: %s", out)
	}
	lodge(t, "image", "alias", "delete", "rm-reimported")
	// The launch cached the image; the unified item copies with an alias.
	if out := lodge(t, "image", "info", fx.NewestSquashfs[:12]); !strings.Contains(out, "Fingerprint: "+fx.NewestSquashfs) {
		t.Fatalf("cached image:\n%s", out)
	}
	lodge(t, "image", "copy", "rmstreams:"+fx.NewestUnified[:16], "local:", "--alias", "rm-unified", "--auto-update")
	if out := lodge(t, "image", "info", "rm-unified"); !strings.Contains(out, fx.NewestUnified) {
		t.Fatalf("copied image:\n%s", out)
	}
	if out := lodge(t, "image", "refresh", "rm-unified"); !strings.Contains(out, "up to date") {
		t.Fatalf("refresh: %s", out)
	}
	lodge(t, "launch", "rm-unified", "rm-ss2")
	t.Cleanup(func() { lodgeOut("delete", "-f", "rm-ss2") })
	// A tampered image fails naming both hashes, and leaves no instance.
	msg := lodgeFail(t, "launch", "rmstreams:tampered", "rm-ss3")
	if !strings.Contains(msg, "fingerprint mismatch") || !strings.Contains(msg, fx.Tampered) {
		t.Fatalf("tampered: %s", msg)
	}
	if code, _ := apiDo(t, "GET", "/1.0/instances/rm-ss3", ""); code != 404 {
		t.Fatalf("instance left after a failed download: %d", code)
	}
	// Server config keys of the image cache.
	lodge(t, "config", "set", "images.remote_cache_expiry", "5")
	if out := lodge(t, "config", "get", "images.remote_cache_expiry"); strings.TrimSpace(out) != "5" {
		t.Fatalf("config get: %q", out)
	}
	lodge(t, "config", "unset", "images.remote_cache_expiry")
	if msg := lodgeFail(t, "config", "set", "images.remote_cache_expiry", "soon"); !strings.Contains(msg, "whole number") {
		t.Fatalf("bad value: %s", msg)
	}
}
