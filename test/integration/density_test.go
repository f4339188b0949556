package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"lodge/hostlimits"
	"lodge/network/bridge"
)

// parallel runs f(i) for i in [0, n), w at a time.
func parallel(n, w int, f func(i int)) {
	var wg sync.WaitGroup
	work := make(chan int)
	for k := 0; k < w; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				f(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
}

// densityNet makes a bridge and a profile putting eth0 on it, both removed
// at the end; extra are more network keys.
func densityNet(t *testing.T, name string, extra ...string) (subnet string) {
	t.Helper()
	addr, err := bridge.FreeSubnet()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"network", "create", name, "ipv4.address=" + addr, "ipv4.nat=false", "ipv6.address=none"}, extra...)
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "SUBNET", strings.TrimSuffix(addr, ".1/24"))
	}
	lodge(t, args...)
	t.Cleanup(func() { lodgeOut("network", "delete", name) })
	lodge(t, "profile", "create", name)
	t.Cleanup(func() { lodgeOut("profile", "delete", name) })
	lodge(t, "profile", "device", "add", name, "eth0", "nic", "network="+name, "name=eth0")
	return addr
}

// deleteAll force-deletes instances, several at a time.
func deleteAll(names []string) {
	parallel(len(names), 6, func(i int) { lodgeOut("delete", "-f", names[i]) })
}

// TestDensityCI is issue 24's CI-sized density check: 100 busybox and 20
// Debian containers with systemd on one bridge, all running with a lease,
// and the host limits lodged raises in force. TestDensityLimitsReported,
// TestDensityFailedLaunch and TestDensityFullNetwork are its other parts,
// apart so that each runs alone.
func TestDensityCI(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	ensureImage(t, "debian", "debian/12")

	t.Run("host limits applied", func(t *testing.T) {
		for _, s := range hostlimits.Density {
			b, err := os.ReadFile(filepath.Join("/proc/sys", strings.ReplaceAll(s.Key, ".", "/")))
			if err != nil {
				t.Errorf("%s: %v", s.Key, err)
				continue
			}
			v, err := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
			if err != nil || v < s.Min {
				t.Errorf("%s = %s, want at least %d (%s)", s.Key, strings.TrimSpace(string(b)), s.Min, s.Why)
			}
		}
	})
	net := fmt.Sprintf("dci%d", os.Getpid()%100000)
	densityNet(t, net)
	var names []string
	for i := 1; i <= 100; i++ {
		names = append(names, fmt.Sprintf("dcb%d", i))
	}
	for i := 1; i <= 20; i++ {
		names = append(names, fmt.Sprintf("dcd%d", i))
	}
	t.Cleanup(func() { deleteAll(names) })
	start := time.Now()
	var mu sync.Mutex
	var failed []string
	parallel(len(names), 6, func(i int) {
		img := "busybox"
		if strings.HasPrefix(names[i], "dcd") {
			img = "debian/12"
		}
		if _, err := lodgeOut("launch", img, names[i], "-p", "default", "-p", net); err != nil {
			mu.Lock()
			failed = append(failed, err.Error())
			mu.Unlock()
		}
	})
	if len(failed) > 0 {
		t.Fatalf("%d of %d launches failed; first: %s", len(failed), len(names), failed[0])
	}
	t.Logf("%d launched in %s", len(names), time.Since(start).Round(time.Millisecond))

	running := map[string]bool{}
	for _, l := range strings.Split(lodge(t, "list", "--format", "csv", "-c", "ns"), "\n") {
		if n, st, ok := strings.Cut(l, ","); ok && st == "RUNNING" {
			running[n] = true
		}
	}
	for _, n := range names {
		if !running[n] {
			t.Errorf("%s is not running", n)
		}
	}
	// Every one gets a lease on the bridge.
	var missing []string
	waitFor(t, "a lease for each of the 120", 2*time.Minute, func() bool {
		ls := leases(t, net)
		missing = missing[:0]
		for _, n := range names {
			if ls[n].Address == "" {
				missing = append(missing, n)
			}
		}
		return len(missing) == 0
	})
	// systemd finishes booting in every Debian one.
	parallel(20, 5, func(i int) {
		n := fmt.Sprintf("dcd%d", i+1)
		var state string
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			out, _ := lodgeOut("exec", n, "--", "systemctl", "is-system-running", "--wait")
			if state = strings.TrimSpace(out); state == "running" || state == "degraded" {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Errorf("%s: systemd is %q, not running or degraded", n, state)
	})
	t.Logf("all running with leases, systemd up, after %s", time.Since(start).Round(time.Millisecond))
}

// TestDensityLimitsReported: lodge info --resources shows the host limits
// lodged applied at its start.
func TestDensityLimitsReported(t *testing.T) {
	needIntegration(t)
	out := lodge(t, "info", "--resources")
	for _, s := range hostlimits.Density {
		if !strings.Contains(out, s.Key) {
			t.Errorf("lodge info --resources lacks %s:\n%s", s.Key, out)
		}
	}
}

// TestDensityFailedLaunch: a container that runs into the inotify limit
// fails its launch with the limit's name and fix, and leaves nothing.
func TestDensityFailedLaunch(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "debian", "debian/12")
	net := fmt.Sprintf("dfl%d", os.Getpid()%100000)
	densityNet(t, net)
	// The inotify limit, lowered for one container: a hook at its start
	// sets its user namespace's max_inotify_instances to 0 (the level
	// below the host's fs.inotify.max_user_instances in the same kernel
	// accounting, so that no other container on this shared machine is
	// touched). systemd then fails as it does when the host's limit is
	// used up, and the launch must say which limit and how to raise it.
	const hook = `lxc.hook.start-host = /bin/sh -c "nsenter -U -t $LXC_PID /bin/sh -c 'echo 0 > /proc/sys/user/max_inotify_instances'"`
	t.Run("launch beyond the inotify limit", func(t *testing.T) {
		t.Cleanup(func() { lodgeOut("delete", "-f", "dcino") })
		msg := lodgeFail(t, "launch", "debian/12", "dcino", "-p", "default", "-p", net, "-c", "raw.lxc="+hook)
		if !strings.Contains(msg, "Too many open files") || !strings.Contains(msg, "fs.inotify.max_user_instances") {
			t.Fatalf("the failed launch does not name the limit and its fix:\n%s", msg)
		}
		if out := lodge(t, "list", "--format", "csv", "-c", "n"); strings.Contains("\n"+out, "\ndcino\n") {
			t.Errorf("the failed launch left the instance:\n%s", out)
		}
		for _, p := range []string{filepath.Join(stateDir, "containers", "dcino"), filepath.Join(stateDir, "storage-pools", "default", "containers", "dcino")} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("the failed launch left %s", p)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(stateDir, "networks", net, "dnsmasq.hosts")); strings.Contains(string(b), ",dcino") {
			t.Errorf("the failed launch left its DHCP reservation:\n%s", b)
		}
	})
}

// TestDensityFullNetwork: a launch onto a network whose DHCP range is used
// up is refused with the network's name, and leaves nothing.
func TestDensityFullNetwork(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	// A network with two addresses: a third container must be refused.
	t.Run("launch onto a full network", func(t *testing.T) {
		full := fmt.Sprintf("dcf%d", os.Getpid()%100000)
		densityNet(t, full, "ipv4.dhcp.ranges=SUBNET.10-SUBNET.11")
		few := []string{"dcf1", "dcf2", "dcf3"}
		t.Cleanup(func() { deleteAll(few) })
		for _, n := range few[:2] {
			lodge(t, "launch", "busybox", n, "-p", "default", "-p", full)
		}
		msg := lodgeFail(t, "launch", "busybox", "dcf3", "-p", "default", "-p", full)
		if !strings.Contains(msg, full) || !strings.Contains(strings.ToLower(msg), "address") {
			t.Errorf("the refusal does not name the network and the missing address:\n%s", msg)
		}
		if _, err := lodgeOut("info", "dcf3"); err == nil {
			t.Error("the refused launch left the instance")
		}
	})
}

// TestDensityDefaultNetwork: lodged's default network is sized for 1,000
// containers: a /22, and dnsmasq's lease table to match.
func TestDensityDefaultNetwork(t *testing.T) {
	needIntegration(t)
	addr := strings.TrimSpace(lodge(t, "network", "get", defaultNet, "ipv4.address"))
	if !strings.HasSuffix(addr, "/22") {
		t.Fatalf("default network %s: ipv4.address %q, want a /22", defaultNet, addr)
	}
	b, err := os.ReadFile(filepath.Join(stateDir, "networks", defaultNet, "dnsmasq.pid"))
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strings.TrimSpace(string(b)), "cmdline"))
	if err != nil {
		t.Fatal(err)
	}
	leaseMax := -1
	for _, a := range strings.Split(string(cmdline), "\x00") {
		if v, ok := strings.CutPrefix(a, "--dhcp-lease-max="); ok {
			leaseMax, _ = strconv.Atoi(v)
		}
	}
	if leaseMax < 1000 {
		t.Fatalf("dnsmasq of %s: no lease table for 1,000: %q", defaultNet, strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
}
