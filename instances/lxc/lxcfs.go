//go:build linux && cgo

package lxc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// StartLXCFS starts (or adopts) the lxcfs serving mnt in the background,
// so that lodged serves meanwhile (an lxcfs takes about 30 ms to mount);
// Define waits for it, and failed is called if it does not come up (then
// containers get no lxcfs views).
func (d *Driver) StartLXCFS(mnt string, failed func(error)) {
	d.lxcfsUp = make(chan struct{})
	go func() {
		defer close(d.lxcfsUp)
		if err := StartLXCFS(mnt); err != nil {
			failed(err)
			return
		}
		d.LXCFS = mnt
	}()
}

// WaitLXCFS returns once the lxcfs StartLXCFS began is up or failed.
func (d *Driver) WaitLXCFS() {
	if d.lxcfsUp != nil {
		<-d.lxcfsUp
	}
}

// StartLXCFS makes sure an lxcfs serves mnt: one left running by an earlier
// lodged is kept (containers have its files bind-mounted), a dead one's
// mount is detached and a new lxcfs started with its pid in mnt+".pid" and
// its output in mnt+".log". lxcfs runs in its own session, so it outlives
// lodged like the containers that use it.
func StartLXCFS(mnt string) error {
	if lxcfsAlive(mnt) {
		return nil
	}
	// An lxcfs that no longer serves (or is still exiting) holds the
	// pidfile lock; a dead one leaves a mount that answers ENOTCONN.
	if pid := lxcfsPid(mnt); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		waitGone(pid, 5*time.Second)
	}
	_ = unix.Unmount(mnt, unix.MNT_DETACH)
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return fmt.Errorf("lxcfs mount point %s: %w", mnt, err)
	}
	bin, err := exec.LookPath("lxcfs")
	if err != nil {
		return fmt.Errorf("lxcfs is not installed (apt-get install lxcfs): containers will see the host's memory and CPUs")
	}
	logf, err := os.OpenFile(mnt+".log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--foreground", "--enable-loadavg", "--pidfile="+mnt+".pid", mnt)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start lxcfs: %w", err)
	}
	exited := make(chan error, 1)
	// Reaped while lodged lives; init adopts it after.
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if lxcfsAlive(mnt) {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("lxcfs exited at start (%v); see %s.log", err, mnt)
		// lxcfs mounts within milliseconds; a coarse poll would make every
		// lodged start that starts it wait for the next tick.
		case <-time.After(2 * time.Millisecond):
		}
	}
	return fmt.Errorf("lxcfs did not mount %s within 10s; see %s.log", mnt, mnt)
}

// lxcfsAlive tells whether a working lxcfs is mounted on mnt.
func lxcfsAlive(mnt string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); err != nil || st.Type != unix.FUSE_SUPER_MAGIC {
		return false
	}
	_, err := os.Stat(filepath.Join(mnt, "proc", "meminfo"))
	return err == nil
}

// StopLXCFS stops the lxcfs serving mnt (lodged shutdown, once every
// container is down) and removes its mount.
func StopLXCFS(mnt string) error {
	// lxcfs takes seconds to exit on SIGTERM (its loadavg thread), and
	// lodged waited for it at every exit with nothing running. It keeps no
	// state and no container uses it then: after a short grace it is
	// killed, and its dead mount detached below.
	if pid := lxcfsPid(mnt); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		if !waitGone(pid, 300*time.Millisecond) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			waitGone(pid, 5*time.Second)
		}
	}
	if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount lxcfs at %s: %w", mnt, err)
	}
	return nil
}

// lxcfsPid is the pid in mnt's pidfile if that process is an lxcfs.
func lxcfsPid(mnt string) int {
	b, err := os.ReadFile(mnt + ".pid")
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "lxcfs" {
		return 0
	}
	return pid
}

// waitGone waits for a process to exit, up to timeout.
func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}
