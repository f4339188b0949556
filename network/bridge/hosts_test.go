package bridge

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lodge/network"
)

// UpdateHosts runs after every change to any instance (on a busy host,
// after each of a thousand launches and every config change): when the
// reservations are the same, the file is not rewritten and dnsmasq gets no
// SIGHUP; when they differ, both happen.
func TestUpdateHostsOnlyWhenChanged(t *testing.T) {
	// The stand-in inherits this process's signal dispositions: under
	// nohup, SIGHUP is ignored and cannot end it.
	if st, err := os.ReadFile("/proc/self/status"); err == nil && sigIgnored(string(st), syscall.SIGHUP) {
		t.Skip("SIGHUP is ignored in this process (run under nohup?): the stand-in for dnsmasq cannot show a reload")
	}
	d, err := New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const name = "nwhosts0"
	p := d.paths(name)
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A stand-in for dnsmasq: sleep dies of the SIGHUP that would make
	// dnsmasq reload.
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { sleeper.Wait(); close(exited) }()
	t.Cleanup(func() { sleeper.Process.Kill(); <-exited })
	d.procs[name] = &dnsmasq{name: name, pid: sleeper.Process.Pid}

	ctx := context.Background()
	hosts := []network.Host{{HWAddr: "00:16:3e:00:00:01", Name: "c1"}, {HWAddr: "00:16:3e:00:00:02", Name: "c2"}}
	if err := os.WriteFile(p.HostsFile, []byte(network.HostsFile(hosts)), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(p.HostsFile)
	// The same hosts in another order render the same file.
	if err := d.UpdateHosts(ctx, network.Network{Name: name, Hosts: []network.Host{hosts[1], hosts[0]}}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(p.HostsFile)
	if !os.SameFile(before, after) {
		t.Error("unchanged reservations: the file was rewritten")
	}
	select {
	case <-exited:
		t.Fatal("unchanged reservations: dnsmasq was sent SIGHUP")
	case <-time.After(200 * time.Millisecond):
	}

	hosts = append(hosts, network.Host{HWAddr: "00:16:3e:00:00:03", Name: "c3"})
	if err := d.UpdateHosts(ctx, network.Network{Name: name, Hosts: hosts}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p.HostsFile); string(b) != network.HostsFile(hosts) {
		t.Errorf("hosts file after a change:\n%s", b)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("changed reservations: dnsmasq was not told to reload")
	}
	if m, _ := filepath.Glob(filepath.Join(p.Dir, ".tmp-*")); len(m) > 0 {
		t.Errorf("temp files left: %v", m)
	}
}

// sigIgnored reads the SigIgn mask of a /proc/PID/status text.
func sigIgnored(status string, sig syscall.Signal) bool {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<(uint(sig)-1)) != 0
		}
	}
	return false
}
