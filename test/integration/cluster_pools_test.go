package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClusterPoolsNetworks: a storage pool and a network created after
// the cluster formed, as LXD makes them (each member's part defined with
// --target, by Debian's lxc for one member and lodge for the others, then
// created on every member at once), exist on every member: an instance
// launched on each member has its root disk on that member's part of the
// pool and a NIC on that member's bridge of the network, where it gets a
// DHCP lease. The members run in network namespaces of their own (the
// netns cluster), since three members on one network namespace cannot
// each own a bridge of the same name. Deletes are refused while an
// instance uses them, then remove the pool and the bridge on every
// member.
func TestClusterPoolsNetworks(t *testing.T) {
	needIntegration(t)
	names := []string{"lcp-a", "lcp-b", "lcp-c"}
	c := startNetnsCluster(t, "lcp", names)
	id := fmt.Sprint(os.Getpid() % 100000)
	pool, netName := "lcpool"+id, "lcpn"+id
	lxc := lxcOn(t, c.members[0])

	// The pool: a's and b's parts with a source of their own, c's with
	// the default.
	// Sources other users can traverse (t.TempDir is 0700): an
	// unprivileged container's root must reach its rootfs.
	src := []string{srcDir(t), srcDir(t), ""}
	if lxc != nil {
		if out, err := lxc("storage", "create", pool, "dir", "source="+src[0], "--target", names[0]); err != nil || !strings.Contains(out, "pending on member "+names[0]) {
			t.Fatalf("lxc storage create --target: %v %s", err, out)
		}
	} else {
		t.Log("lxc is not installed: lodge defines a's part too")
		c.members[0].must("storage", "create", pool, "dir", "source="+src[0], "--target", names[0])
	}
	c.members[1].must("storage", "create", pool, "dir", "source="+src[1], "--target", names[1])
	c.members[2].must("storage", "create", pool, "dir", "--target", names[2])
	if out := c.members[1].must("storage", "show", pool); !strings.Contains(out, "status: Pending") {
		t.Fatalf("pool before the create:\n%s", out)
	}
	if _, err := c.members[0].run("storage", "create", pool, "dir", "source=/tmp/x"); err == nil {
		t.Fatal("a member-specific key without --target was accepted")
	}
	c.members[2].must("storage", "create", pool, "dir")
	if out := c.members[0].must("storage", "show", pool); !strings.Contains(out, "status: Created") || strings.Contains(out, "source:") {
		t.Fatalf("pool after the create, the cluster's view:\n%s", out)
	}
	if out := c.members[0].must("storage", "show", pool, "--target", names[1]); !strings.Contains(out, "source: "+src[1]) {
		t.Fatalf("%s's view of the pool:\n%s", names[1], out)
	}
	if lxc != nil {
		if out, err := lxc("storage", "show", pool, "--target", names[0]); err != nil || !strings.Contains(out, "source: "+src[0]) {
			t.Fatalf("lxc storage show --target: %v %s", err, out)
		}
	}

	// The network: a subnet nothing in the namespaces or on the host uses.
	used := ipOut(t, "-4", "-o", "addr") + ipOut(t, "-4", "route")
	for _, ns := range c.ns {
		used += ipOut(t, "-n", ns, "-4", "-o", "addr")
	}
	prefix := ""
	for i := 0; i < 200 && prefix == ""; i++ {
		if p := fmt.Sprintf("10.253.%d.", (os.Getpid()+i)%200+20); !strings.Contains(used, p) {
			prefix = p
		}
	}
	if prefix == "" {
		t.Fatal("no free 10.253.X.0/24 for the network")
	}
	if lxc != nil {
		if out, err := lxc("network", "create", netName, "--target", names[0]); err != nil || !strings.Contains(out, "pending on member "+names[0]) {
			t.Fatalf("lxc network create --target: %v %s", err, out)
		}
	} else {
		c.members[0].must("network", "create", netName, "--target", names[0])
	}
	for i := 1; i < 3; i++ {
		c.members[i].must("network", "create", netName, "--target", names[i])
	}
	for _, ns := range c.ns {
		if exec.Command("ip", "-n", ns, "link", "show", netName).Run() == nil {
			t.Fatalf("a pending network has a bridge in %s", ns)
		}
	}
	c.members[1].must("network", "create", netName, "ipv4.address="+prefix+"1/24", "ipv4.dhcp.ranges="+prefix+"100-"+prefix+"199", "ipv6.address=none")
	for i, ns := range c.ns {
		if out := ipOut(t, "-n", ns, "-4", "-o", "addr", "show", "dev", netName); !strings.Contains(out, prefix+"1/24") {
			t.Fatalf("%s's bridge %s: %s", names[i], netName, out)
		}
	}

	c.members[0].must("profile", "create", "lcpnic")
	c.members[0].must("profile", "device", "add", "lcpnic", "eth0", "nic", "network="+netName, "name=eth0")
	c.clusterImage("lcp-img")
	insts := []string{"lcp-1", "lcp-2", "lcp-3"}
	for i, n := range insts {
		c.members[(i+1)%3].must("launch", "lcp-img", n, "--target", names[i], "-s", pool, "-p", "default", "-p", "lcpnic")
	}
	_, subnet, _ := net.ParseCIDR(prefix + "0/24")
	for i, n := range insts {
		root := src[i]
		if root == "" {
			root = filepath.Join(c.members[i].dir, "storage-pools", pool)
		}
		if _, err := os.Stat(filepath.Join(root, "containers", n, "rootfs")); err != nil {
			t.Fatalf("%s is not on %s's part of %s: %v", n, names[i], pool, err)
		}
		var ip string
		waitFor(t, n+"'s lease on "+names[i]+"'s "+netName, 90*time.Second, func() bool {
			out, err := c.members[0].run("list", n, "--format", "csv", "-c", "4")
			ip, _, _ = strings.Cut(strings.TrimSpace(out), " ")
			return err == nil && net.ParseIP(ip) != nil && subnet.Contains(net.ParseIP(ip))
		})
		leases, err := os.ReadFile(filepath.Join(c.members[i].dir, "networks", netName, "dnsmasq.leases"))
		if err != nil || !strings.Contains(string(leases), " "+ip+" ") {
			t.Fatalf("%s's dnsmasq on %s has no lease for %s (%s): %v %q", names[i], netName, n, ip, err, leases)
		}
	}

	// A change of the network's config reaches every member's dnsmasq.
	c.members[1].must("network", "set", netName, "ipv4.dhcp.ranges="+prefix+"100-"+prefix+"150")
	for i, ns := range c.ns {
		waitFor(t, names[i]+"'s dnsmasq on the new range", 30*time.Second, func() bool {
			return strings.Contains(dnsmasqArgs(ns, netName), prefix+"150")
		})
	}

	if _, err := c.members[2].run("storage", "delete", pool); err == nil {
		t.Fatal("a pool in use on every member was deleted")
	}
	if _, err := c.members[2].run("network", "delete", netName); err == nil {
		t.Fatal("a network in use was deleted")
	}
	for _, n := range insts {
		c.members[0].must("delete", n, "--force")
	}
	c.members[0].must("profile", "delete", "lcpnic")
	c.members[2].must("network", "delete", netName)
	for i, ns := range c.ns {
		if exec.Command("ip", "-n", ns, "link", "show", netName).Run() == nil {
			t.Fatalf("%s's bridge %s is left", names[i], netName)
		}
	}
	c.members[1].must("storage", "delete", pool)
	for i := range names {
		if out := c.members[i].must("storage", "list"); strings.Contains(out, pool) {
			t.Fatalf("storage list on %s after the delete:\n%s", names[i], out)
		}
	}
	if _, err := os.Stat(filepath.Join(c.members[2].dir, "storage-pools", pool)); !os.IsNotExist(err) {
		t.Fatalf("%s's part of the pool is left: %v", names[2], err)
	}
}

// srcDir is an empty directory for a pool's source, removed after the
// test.
func srcDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "lcp-src-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o711); err != nil {
		t.Fatal(err)
	}
	return d
}

// dnsmasqArgs is the command line of the dnsmasq serving bridge in
// namespace ns ("" if none).
func dnsmasqArgs(ns, bridge string) string {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, pid := range strings.Fields(string(out)) {
		b, err := os.ReadFile("/proc/" + pid + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.HasPrefix(args, "dnsmasq") || strings.Contains(args, "/dnsmasq ") {
			if strings.Contains(args, bridge) {
				return args
			}
		}
	}
	return ""
}
