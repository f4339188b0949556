package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lodge/builder"
)

// realLXD starts Debian's LXD 5.0 on its own state directory, serving
// HTTPS on loopback; it is installed first if missing, skipped if it
// cannot be. The client it returns fails the test on an error.
func realLXD(t *testing.T, addr string) func(args ...string) string {
	t.Helper()
	env := startLXD(t, addr)
	return func(args ...string) string {
		t.Helper()
		out, err := lxcWith(env, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// lxcWith runs Debian's lxc client in env (startLXD's).
func lxcWith(env []string, args ...string) (string, error) {
	cmd := exec.Command("lxc", args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("lxc %s: %v %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// startLXD is realLXD's daemon; it returns the environment its client
// needs.
func startLXD(t *testing.T, addr string) []string {
	t.Helper()
	if _, err := exec.LookPath("lxd"); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "lxd")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("Debian's lxd package cannot be installed here: %v %s", err, out)
		}
	}
	dir := t.TempDir()
	// Unprivileged containers' roots walk down to their rootfs.
	os.Chmod(filepath.Dir(dir), 0o711)
	os.Chmod(dir, 0o711)
	env := append(os.Environ(), "LXD_DIR="+dir, "HOME="+dir, "LXD_CONF="+filepath.Join(dir, "client"))
	d := exec.Command("lxd", "--logfile", filepath.Join(dir, "lxd.log"))
	d.Env = env
	d.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sd := exec.Command("lxd", "shutdown", "--timeout", "30")
		sd.Env = env
		if sd.Run() != nil {
			d.Process.Kill()
		}
		d.Wait()
	})
	wr := exec.Command("lxd", "waitready", "--timeout", "60")
	wr.Env = env
	if out, err := wr.CombinedOutput(); err != nil {
		t.Fatalf("lxd waitready: %v %s", err, out)
	}
	pre := exec.Command("lxd", "init", "--preseed")
	pre.Env = env
	pre.Stdin = strings.NewReader(fmt.Sprintf("config:\n  core.https_address: %q\n  images.auto_update_interval: \"0\"\nstorage_pools:\n- name: default\n  driver: dir\n", addr))
	if out, err := pre.CombinedOutput(); err != nil {
		t.Fatalf("lxd init: %v %s", err, out)
	}
	return env
}

// TestCopyFromRealLXD: lodged copies public images (unified and split)
// from a real LXD 5.0 daemon and launches one.
func TestCopyFromRealLXD(t *testing.T) {
	needIntegration(t)
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	lxc := realLXD(t, addr)
	// A split image: metadata tarball + squashfs of the same busybox root.
	work := t.TempDir()
	for _, c := range [][]string{
		{"tar", "-xf", tarball, "-C", work, "--numeric-owner"},
		{"tar", "-cJf", filepath.Join(work, "meta.tar.xz"), "-C", work, "metadata.yaml"},
		{"mksquashfs", filepath.Join(work, "rootfs"), filepath.Join(work, "root.squashfs"), "-noappend", "-quiet", "-no-progress"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	lxc("image", "import", tarball, "--alias", "rm-lxd-uni", "--public")
	lxc("image", "import", filepath.Join(work, "meta.tar.xz"), filepath.Join(work, "root.squashfs"), "--alias", "rm-lxd-split", "--public")

	t.Setenv("LODGE_CONF", t.TempDir())
	lodge(t, "remote", "add", "rmreal", "https://"+addr, "--accept-certificate", "--public")
	if out := lodge(t, "image", "list", "rmreal:"); !strings.Contains(out, "rm-lxd-uni") || !strings.Contains(out, "rm-lxd-split") {
		t.Fatalf("image list of LXD:\n%s", out)
	}
	lodge(t, "image", "copy", "rmreal:rm-lxd-split", "local:", "--alias", "rm-from-lxd-split")
	lodge(t, "image", "copy", "rmreal:rm-lxd-uni", "local:", "--alias", "rm-from-lxd-uni")
	t.Cleanup(func() { lodgeOut("image", "delete", "rm-from-lxd-split", "rm-from-lxd-uni") })
	lodge(t, "launch", "rm-from-lxd-split", "rm-real1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "rm-real1") })
	if out := lodge(t, "exec", "rm-real1", "--", "echo", "from-lxd"); out != "from-lxd\n" {
		t.Fatalf("exec: %q", out)
	}
}
