package server

import (
	"context"
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
	"lodge/server/db"
)

// Proxy devices (listen on the host, connect inside the container) run as
// "lodged forkproxy PID LISTEN CONNECT" helpers in their own session: they
// keep forwarding while lodged restarts, are re-adopted by pidfile, and end
// by themselves when the container's init goes away.

func (s *Server) proxyDir(instance string) string {
	return filepath.Join(s.cfg.Dir, "devices", instance)
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

// syncProxies makes the forwarders of a running instance (init pid) match
// its proxy devices: stale ones stop, missing ones start, running ones with
// the same arguments are kept (adopted after a lodged restart).
func (s *Server) syncProxies(in db.Instance, pid int) error {
	dir := s.proxyDir(in.Name)
	want := map[string][]string{}
	for dev, d := range s.devicesOf(context.Background(), in) {
		if d["type"] == "proxy" {
			want[dev] = []string{"forkproxy", strconv.Itoa(pid), d["listen"], d["connect"]}
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		dev, ok := strings.CutSuffix(strings.TrimPrefix(e.Name(), "proxy."), ".pid")
		if !ok || !strings.HasPrefix(e.Name(), "proxy.") {
			continue
		}
		pf := filepath.Join(dir, e.Name())
		if args, ok := want[dev]; !ok || !proxyRunning(readPidFile(pf), args) {
			killProxy(pf)
		}
	}
	if len(want) == 0 {
		return nil
	}
	if s.nets.proxyHelper == "" {
		return errdefs.Invalidf("instance %q: proxy devices need lodged's forkproxy helper, which this server was not given", in.Name)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	devs := make([]string, 0, len(want))
	for dev := range want {
		devs = append(devs, dev)
	}
	slices.Sort(devs)
	for _, dev := range devs {
		args := want[dev]
		pf := filepath.Join(dir, "proxy."+dev+".pid")
		if proxyRunning(readPidFile(pf), args) {
			continue
		}
		if err := s.startProxy(dir, dev, args); err != nil {
			return fmt.Errorf("instance %q: proxy device %q: %w", in.Name, dev, err)
		}
	}
	return nil
}

func (s *Server) startProxy(dir, dev string, args []string) error {
	logPath := filepath.Join(dir, "proxy."+dev+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.nets.proxyHelper, args...)
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

// stopProxies ends every forwarder of an instance.
func (s *Server) stopProxies(instance string) {
	entries, _ := os.ReadDir(s.proxyDir(instance))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "proxy.") && strings.HasSuffix(e.Name(), ".pid") {
			killProxy(filepath.Join(s.proxyDir(instance), e.Name()))
		}
	}
}

// runningProxies syncs the forwarders of an instance if it runs.
func (s *Server) runningProxies(ctx context.Context, in db.Instance) error {
	st := s.liveState(ctx, in)
	if st.PID <= 0 || st.Status != "Running" && st.Status != "Frozen" {
		return nil
	}
	return s.syncProxies(in, st.PID)
}

// adoptProxies re-adopts (or restarts) the forwarders of running instances
// after a lodged restart.
func (s *Server) adoptProxies(ctx context.Context) {
	list, err := s.db.ListInstances(ctx)
	if err != nil {
		return
	}
	for _, in := range list {
		if in.Phase != db.PhaseCreated {
			continue
		}
		has := false
		for _, d := range s.devicesOf(ctx, in) {
			has = has || d["type"] == "proxy"
		}
		if !has {
			if _, err := os.Stat(s.proxyDir(in.Name)); err != nil {
				continue
			}
		}
		if err := s.runningProxies(ctx, in); err != nil {
			s.log.Warn("proxy devices not restored", "instance", in.Name, "err", err)
		}
	}
}

// removeProxies stops an instance's forwarders and forgets their files.
func (s *Server) removeProxies(instance string) {
	s.stopProxies(instance)
	os.RemoveAll(s.proxyDir(instance))
}
