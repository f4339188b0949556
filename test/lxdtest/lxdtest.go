// Package lxdtest runs Debian's LXD 5.0.2 for tests that check lodge
// against it (backups made by one and read by the other, migrations).
package lxdtest

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

	"lodge/test/gate"
)

// LXD is a running LXD daemon of a test's own.
type LXD struct {
	// Dir is its LXD_DIR (below os.TempDir, named lodge-lxd-*).
	Dir string
	env []string
	t   testing.TB
}

// Start runs Debian's LXD 5.0.2 on a state directory of its own with a
// dir pool and no network; the daemon is shut down and its directory
// removed when the test ends. It fails unless LODGE_INTEGRATION=1 (and
// skips if the lxd package cannot be installed).
func Start(t testing.TB) *LXD {
	t.Helper()
	gate.Integration(t, "starts Debian's LXD")
	if _, err := exec.LookPath("lxd"); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "lxd")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("Debian's lxd package cannot be installed here: %v %s", err, out)
		}
	}
	// Not under t.TempDir: its parent is 0700, and the unprivileged
	// container's root must reach its rootfs.
	dir, err := os.MkdirTemp("", "lodge-lxd-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o711)
	t.Cleanup(func() { os.RemoveAll(dir) })
	l := &LXD{Dir: dir, t: t, env: append(os.Environ(), "LXD_DIR="+dir, "HOME="+dir, "LXD_CONF="+filepath.Join(dir, "client"))}
	d := exec.Command("lxd", "--logfile", filepath.Join(dir, "lxd.log"))
	d.Env = l.env
	d.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sd := exec.Command("lxd", "shutdown", "--timeout", "30")
		sd.Env = l.env
		if sd.Run() != nil {
			d.Process.Kill()
		}
		d.Wait()
	})
	if _, err := l.run("", "lxd", "waitready", "--timeout", "60"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.run("config:\n  images.auto_update_interval: \"0\"\nstorage_pools:\n- name: default\n  driver: dir\nprofiles:\n- name: default\n  devices:\n    root: {path: /, pool: default, type: disk}\n", "lxd", "init", "--preseed"); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *LXD) run(stdin string, args ...string) (string, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = l.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), err
}

// Lxc runs Debian's lxc against this LXD and returns its output; a
// failure fails the test.
func (l *LXD) Lxc(args ...string) string {
	l.t.Helper()
	out, err := l.run("", append([]string{"lxc"}, args...)...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// LxcErr is Lxc returning the error instead.
func (l *LXD) LxcErr(args ...string) (string, error) {
	return l.run("", append([]string{"lxc"}, args...)...)
}
