//go:build linux && cgo

package lxc

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"lodge/instances"
)

func TestParseProcStart(t *testing.T) {
	// The comm field may hold spaces and parentheses.
	stat := "1234 (a) b (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 1 0 987654 1000 10 18446744073709551615"
	if n, ok := parseProcStart(stat); !ok || n != 987654 {
		t.Fatalf("start = %d, %v", n, ok)
	}
	if _, ok := parseProcStart("1234 (short) S 1 2"); ok {
		t.Fatal("a short line parsed")
	}
	if _, ok := parseProcStart(strings.Replace(stat, ") S ", ") Z ", 1)); ok {
		t.Fatal("a zombie init is taken for a live one")
	}
}

func TestLiveCacheTrustsOnlyTheSameLiveProcess(t *testing.T) {
	var c liveCache
	if _, ok := c.runningInit("x"); ok {
		t.Fatal("nothing remembered, yet trusted")
	}
	c.remember("x", os.Getpid())
	if pid, ok := c.runningInit("x"); !ok || pid != os.Getpid() {
		t.Fatalf("a live remembered init: %d %v", pid, ok)
	}
	// While a stop runs (two at once here), liblxc is asked.
	done1, done2 := c.beginStop("x"), c.beginStop("x")
	c.remember("x", os.Getpid())
	if _, ok := c.runningInit("x"); ok {
		t.Fatal("trusted while stopping")
	}
	done1()
	c.remember("x", os.Getpid())
	if _, ok := c.runningInit("x"); ok {
		t.Fatal("trusted while the second stop runs")
	}
	done2()
	if _, ok := c.runningInit("x"); ok {
		t.Fatal("the init a stop ended is still trusted")
	}
	// A reused pid: another start time.
	c.inits.Store("x", &initProc{pid: os.Getpid(), start: 1})
	if _, ok := c.runningInit("x"); ok {
		t.Fatal("a pid with another start time trusted")
	}
	if _, ok := c.inits.Load("x"); ok {
		t.Fatal("a stale init is kept")
	}
}

// A list asks liblxc once per running container and then reads /proc and
// the cgroup only, with the same answers; freezing, stopping and a new
// init go back to liblxc.
func TestStatesFastPath(t *testing.T) {
	d := runningBusybox(t, "t-lxc-fast")
	const name = "t-lxc-fast"
	ctx := context.Background()
	slow, err := d.State(ctx, name)
	if err != nil || slow.Status != instances.StatusRunning {
		t.Fatalf("state: %+v %v", slow, err)
	}
	fast, ok := d.fastState(name, askPeers)
	if !ok {
		t.Fatal("a running container's init was not remembered: every list asks liblxc")
	}
	if fast.Status != instances.StatusRunning || fast.PID != slow.PID || fast.MemoryUsed <= 0 || fast.Processes < 1 {
		t.Fatalf("fast state %+v, liblxc's %+v", fast, slow)
	}
	if lo, ok := fast.Interfaces["lo"]; !ok || !lo.Up || len(lo.Addresses) == 0 {
		t.Fatalf("fast state's interfaces: %+v", fast.Interfaces)
	}
	if sts := d.States(ctx, []string{name}); sts[name].Status != instances.StatusRunning || sts[name].PID != slow.PID {
		t.Fatalf("states: %+v", sts)
	}
	if st, err := d.Status(ctx, name); err != nil || st != instances.StatusRunning {
		t.Fatalf("status: %s %v", st, err)
	}

	if err := d.Freeze(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.fastState(name, askPeers); ok {
		t.Fatal("a frozen container answered by the fast path")
	}
	if sts := d.States(ctx, []string{name}); sts[name].Status != instances.StatusFrozen {
		t.Fatalf("states when frozen: %+v", sts)
	}
	if st, err := d.Status(ctx, name); err != nil || st != instances.StatusFrozen {
		t.Fatalf("status when frozen: %s %v", st, err)
	}
	if err := d.Unfreeze(ctx, name); err != nil {
		t.Fatal(err)
	}
	if sts := d.States(ctx, []string{name}); sts[name].Status != instances.StatusRunning {
		t.Fatalf("states after unfreeze: %+v", sts)
	}

	// During a stop the fast path stands aside.
	done := d.live.beginStop(name)
	if _, ok := d.fastState(name, askPeers); ok {
		t.Fatal("fast path during a stop")
	}
	done()

	// A restart is a new init: the old one is not reported.
	if err := d.Stop(ctx, name, 0, true); err != nil {
		t.Fatal(err)
	}
	if sts := d.States(ctx, []string{name}); sts[name].Status != instances.StatusStopped {
		t.Fatalf("states after stop: %+v", sts)
	}
	if st, err := d.Status(ctx, name); err != nil || st != instances.StatusStopped {
		t.Fatalf("status after stop: %s %v", st, err)
	}
	if err := d.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		sts := d.States(ctx, []string{name})
		if sts[name].Status == instances.StatusRunning && sts[name].PID != slow.PID && sts[name].PID > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("states after restart: %+v (old init %d)", sts, slow.PID)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A container pinned by limits.cpu counts against its CPUs for the next
// one, read from its cgroup without liblxc once Start has noted its init,
// with liblxc's answer.
func TestCPUPinsFromCgroup(t *testing.T) {
	if len(hostLayout.HostCPUs) < 2 {
		t.Skip("needs two CPUs to pin one")
	}
	d := runningBusybox(t, "t-lxc-pinned-x") // another running, unpinned
	const name = "t-lxc-pinned"
	cleanupContainer(t, d.lxcpath, name)
	ctx := context.Background()
	if err := d.Define(ctx, instances.Spec{Name: name, Rootfs: busyboxRootfs(t), Init: "busybox", Config: map[string]string{"limits.cpu": "1"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	set, ok := d.cgroupCPUs(name)
	if !ok {
		t.Fatal("a started container's init was not noted: limits.cpu launches ask liblxc about every container")
	}
	fast := d.cpuPins("someone-else")
	d.live.forget(name)
	d.live.forget("t-lxc-pinned-x")
	slow := d.cpuPins("someone-else")
	if len(fast) != 1 || fmt.Sprint(fast) != fmt.Sprint(slow) {
		t.Fatalf("pins from the cgroup %v (cpuset %q), from liblxc %v", fast, set, slow)
	}
}
