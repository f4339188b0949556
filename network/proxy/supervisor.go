package proxy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"lodge/errdefs"
)

// Proxy devices (listen on the host, connect inside the container) run as
// "lodged forkproxy PID LISTEN CONNECT" helpers in their own session: they
// keep forwarding while lodged restarts, are re-adopted by pidfile, and end
// by themselves when the container's init goes away.

// Supervisor starts, adopts and stops the forwarders of proxy devices, one
// helper process per device, with a pidfile and a log in Dir/INSTANCE/.
type Supervisor struct {
	// Dir holds a directory per instance with proxy devices.
	Dir string
	// Helper is the binary run as "forkproxy" (lodged itself); without it
	// proxy devices are refused.
	Helper string
}

// Forward is one proxy device: listen= and connect= as the device says.
type Forward struct{ Listen, Connect string }

func (s Supervisor) dir(instance string) string { return filepath.Join(s.Dir, instance) }

// Has tells whether instance has forwarder files (running ones or left over).
func (s Supervisor) Has(instance string) bool {
	_, err := os.Stat(s.dir(instance))
	return err == nil
}

func procArgs(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

func readPidFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// proxyRunning tells whether pid is a forkproxy helper with exactly args.
func proxyRunning(pid int, args []string) bool {
	cl := procArgs(pid)
	return pid > 0 && len(cl) > 1 && slices.Equal(cl[1:], args)
}

// killProxy ends the forkproxy helper of a pidfile and waits until it has
// released its port.
func killProxy(pidFile string) {
	pid := readPidFile(pidFile)
	if cl := procArgs(pid); pid > 0 && len(cl) > 1 && cl[1] == "forkproxy" {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 100 && procArgs(pid) != nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
		if procArgs(pid) != nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	os.Remove(pidFile)
}

// Sync makes the forwarders of a running instance (its init is pid) match
// want, its proxy devices by name: stale ones stop, missing ones start,
// running ones with the same arguments are kept (adopted after a lodged
// restart).
func (s Supervisor) Sync(instance string, pid int, want map[string]Forward) error {
	dir := s.dir(instance)
	args := map[string][]string{}
	for dev, f := range want {
		args[dev] = []string{"forkproxy", strconv.Itoa(pid), f.Listen, f.Connect}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		dev, ok := strings.CutSuffix(strings.TrimPrefix(e.Name(), "proxy."), ".pid")
		if !ok || !strings.HasPrefix(e.Name(), "proxy.") {
			continue
		}
		pf := filepath.Join(dir, e.Name())
		if a, ok := args[dev]; !ok || !proxyRunning(readPidFile(pf), a) {
			killProxy(pf)
		}
	}
	if len(args) == 0 {
		return nil
	}
	if s.Helper == "" {
		return errdefs.Invalidf("instance %q: proxy devices need lodged's forkproxy helper, which this server was not given", instance)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	devs := make([]string, 0, len(args))
	for dev := range args {
		devs = append(devs, dev)
	}
	slices.Sort(devs)
	for _, dev := range devs {
		a := args[dev]
		pf := filepath.Join(dir, "proxy."+dev+".pid")
		if proxyRunning(readPidFile(pf), a) {
			continue
		}
		if err := s.start(dir, dev, a); err != nil {
			return fmt.Errorf("instance %q: proxy device %q: %w", instance, dev, err)
		}
	}
	return nil
}

func (s Supervisor) start(dir, dev string, args []string) error {
	logPath := filepath.Join(dir, "proxy."+dev+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.Helper, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	if err := os.WriteFile(filepath.Join(dir, "proxy."+dev+".pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	// Wait until it listens (it logs "forwarding") or fails (a busy port).
	for i := 0; i < 100; i++ {
		select {
		case <-exited:
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("forwarder failed: %s", strings.TrimSpace(string(out)))
		case <-time.After(20 * time.Millisecond):
		}
		if out, _ := os.ReadFile(logPath); strings.Contains(string(out), "forwarding") {
			return nil
		}
	}
	return nil
}

// Stop ends every forwarder of an instance.
func (s Supervisor) Stop(instance string) {
	entries, _ := os.ReadDir(s.dir(instance))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "proxy.") && strings.HasSuffix(e.Name(), ".pid") {
			killProxy(filepath.Join(s.dir(instance), e.Name()))
		}
	}
}

// Remove stops an instance's forwarders and forgets their files.
func (s Supervisor) Remove(instance string) {
	s.Stop(instance)
	os.RemoveAll(s.dir(instance))
}
