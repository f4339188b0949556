package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lodge/api"
)

// netnsCluster is a cluster whose members each run in a network namespace
// of their own, as LXD's suite tests clustering on one machine: a bridge
// of the test's own on the host, a veth from it into each namespace (eth0
// there), and in each namespace a lodged with its own state directory and
// its own lodgebr0 (a managed bridge, DHCP by dnsmasq, nftables), all on
// the port a real member uses.
type netnsCluster struct {
	*aCluster
	bridge string
	ns     []string
}

// ipOut runs ip(8) and fails the test on error.
func ipOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// freeSubnet is a 10.251.X.0/24 that no address or route of the host
// touches (another test's bridge included).
func freeSubnet(t *testing.T) string {
	t.Helper()
	used := ipOut(t, "-4", "-o", "addr") + ipOut(t, "-4", "route")
	for i := 0; i < 200; i++ {
		p := fmt.Sprintf("10.251.%d.", (os.Getpid()+i)%200+20)
		if !strings.Contains(used, p) {
			return p
		}
	}
	t.Fatal("no free 10.251.X.0/24 for the cluster's bridge")
	return ""
}

// startNetnsCluster makes the bridge and one namespace per member, starts
// each member's lodged in its namespace and forms the cluster over the
// namespaces' addresses. Cleanup ends every process left in the
// namespaces (dnsmasq outlives `lodged shutdown`, as LXD keeps lxdbr0's)
// and removes the namespaces, which takes the veths and the nftables
// tables lodged made there with them, then the bridge.
func startNetnsCluster(t *testing.T, tag string, names []string) *netnsCluster {
	t.Helper()
	id := fmt.Sprint(os.Getpid() % 100000)
	c := &netnsCluster{aCluster: &aCluster{t: t, names: names}, bridge: tag + id}
	prefix := freeSubnet(t)
	ipOut(t, "link", "add", c.bridge, "type", "bridge")
	t.Cleanup(func() { exec.Command("ip", "link", "del", c.bridge).Run() })
	ipOut(t, "addr", "add", prefix+"1/24", "dev", c.bridge)
	ipOut(t, "link", "set", c.bridge, "up")
	for i := range names {
		ns := fmt.Sprintf("%s%s-%d", tag, id, i)
		host, peer := fmt.Sprintf("%s%s%c", tag, id, 'a'+i), fmt.Sprintf("%s%s%cp", tag, id, 'a'+i)
		ipOut(t, "netns", "add", ns)
		t.Cleanup(func() { removeNetns(ns) })
		c.ns = append(c.ns, ns)
		ipOut(t, "link", "add", host, "type", "veth", "peer", "name", peer)
		// Gone with the namespace, once its peer is there; this if not.
		t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
		ipOut(t, "link", "set", peer, "netns", ns)
		ipOut(t, "link", "set", host, "master", c.bridge, "up")
		ipOut(t, "-n", ns, "link", "set", "lo", "up")
		ipOut(t, "-n", ns, "link", "set", peer, "name", "eth0")
		ipOut(t, "-n", ns, "addr", "add", fmt.Sprintf("%s%d/24", prefix, 11+i), "dev", "eth0")
		ipOut(t, "-n", ns, "link", "set", "eth0", "up")
		c.addrs = append(c.addrs, fmt.Sprintf("%s%d:8443", prefix, 11+i))
	}
	for i := range names {
		dir, err := os.MkdirTemp("", "lodge-it-"+tag+fmt.Sprint(i)+"-")
		if err != nil {
			t.Fatal(err)
		}
		l := startLodgedNetns(t, dir, c.ns[i])
		t.Cleanup(l.teardown)
		c.members = append(c.members, l)
	}
	first := c.members[0]
	first.must("config", "set", "core.https_address", c.addrs[0])
	first.must("cluster", "enable", names[0])
	for i := 1; i < len(names); i++ {
		tok := strings.TrimSpace(first.must("cluster", "add", names[i], "--quiet"))
		out, err := exec.Command("nsenter", "--net=/run/netns/"+c.ns[i], filepath.Join(binDir, "lodged"), "--dir", c.members[i].dir,
			"init", "--join", tok, "--address", c.addrs[i]).CombinedOutput()
		if err != nil {
			t.Fatalf("%s joins: %v: %s", names[i], err, out)
		}
	}
	return c
}

// removeNetns ends what still runs in namespace ns and deletes it.
func removeNetns(ns string) {
	for i := 0; i < 50; i++ {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			var pid int
			if _, err := fmt.Sscan(p, &pid); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	exec.Command("ip", "netns", "del", ns).Run()
}

// startLodgedNetns starts lodged on dir in network namespace ns with its
// default network, lodgebr0. nsenter enters only the network namespace
// (ip netns exec would also give lodged a mount namespace of its own):
// lodged and its containers see the host's mounts, and the test theirs.
func startLodgedNetns(t *testing.T, dir, ns string) *aLodged {
	t.Helper()
	// nsenter execs lodged: the pid is lodged's, for kill -9.
	return startLodgedVia(t, dir, "lodgebr0", "nsenter", "--net=/run/netns/"+ns)
}

// bridgeNet is the IPv4 network of lodgebr0 in namespace ns.
func bridgeNet(t *testing.T, ns string) *net.IPNet {
	t.Helper()
	f := strings.Fields(ipOut(t, "-n", ns, "-4", "-o", "addr", "show", "dev", "lodgebr0"))
	for i, w := range f {
		if w == "inet" && i+1 < len(f) {
			_, n, err := net.ParseCIDR(f[i+1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("lodgebr0 in %s has no IPv4 address: %v", ns, f)
	return nil
}

// leader is the member `lodge cluster list` on member i shows with the
// database-leader role, "" if none.
func (c *aCluster) leader(i int) string {
	c.t.Helper()
	var ms []api.ClusterMember
	out, err := c.members[i].run("cluster", "list", "--format", "json")
	if err != nil || json.Unmarshal([]byte(out), &ms) != nil {
		return ""
	}
	for _, m := range ms {
		for _, r := range m.Roles {
			if r == "database-leader" {
				return m.ServerName
			}
		}
	}
	return ""
}

// TestClusterNetns: three members, each lodged in a network namespace of
// its own with its own lodgebr0, form a cluster over the namespaces'
// addresses; an instance launched on each gets a lease from its member's
// lodgebr0; every member lists all three with their locations; exec is
// forwarded. Then the database leader is killed (kill -9): writes are
// accepted again from the survivors, one of which is the new leader, the
// dead one shows OFFLINE with its instance in ERROR; restarted, it rejoins
// ONLINE and its instance runs on.
func TestClusterNetns(t *testing.T) {
	needIntegration(t)
	names := []string{"cln-a", "cln-b", "cln-c"}
	c := startNetnsCluster(t, "lcn", names)
	c.members[0].must("config", "set", "cluster.offline_threshold", "11")
	for i := range names {
		ms := c.list(i)
		for j, n := range names {
			if m := ms[n]; m.URL != "https://"+c.addrs[j] || m.Status != "Online" {
				t.Fatalf("%s seen from %s: %+v, want https://%s Online", n, names[i], m, c.addrs[j])
			}
		}
	}
	// Each member's lodgebr0 is its own, in its own namespace.
	for i, ns := range c.ns {
		if out := ipOut(t, "-n", ns, "-o", "link", "show", "lodgebr0"); !strings.Contains(out, "lodgebr0") {
			t.Fatalf("no lodgebr0 in %s", ns)
		}
		if out, err := exec.Command("nsenter", "--net=/run/netns/"+ns, "nft", "list", "tables").CombinedOutput(); err != nil || !strings.Contains(string(out), "lodge-lodgebr0") {
			t.Fatalf("nftables in %s (%s): %v %s", ns, names[i], err, out)
		}
	}

	c.clusterImage("cln-img")
	insts := []string{"cln-1", "cln-2", "cln-3"}
	for i, n := range insts {
		c.members[0].must("launch", "cln-img", n, "--target", names[i])
	}
	// Each gets a lease from its own member's lodgebr0 (busybox's udhcpc
	// asks at boot).
	for i, n := range insts {
		subnet := bridgeNet(t, c.ns[i])
		var ip string
		asked := time.Now()
		waitFor(t, n+"'s lease on "+names[i]+"'s lodgebr0", 60*time.Second, func() bool {
			out, err := c.members[(i+1)%3].run("list", n, "--format", "csv", "-c", "4")
			ip, _, _ = strings.Cut(strings.TrimSpace(out), " ")
			return err == nil && net.ParseIP(ip) != nil && subnet.Contains(net.ParseIP(ip))
		})
		t.Logf("%s: lease %s seen after %s", n, ip, time.Since(asked).Round(time.Millisecond))
		leases, err := os.ReadFile(filepath.Join(c.members[i].dir, "networks", "lodgebr0", "dnsmasq.leases"))
		if err != nil || !strings.Contains(string(leases), " "+ip+" ") {
			t.Fatalf("%s's dnsmasq has no lease for %s (%s): %v %q", names[i], n, ip, err, leases)
		}
	}
	want := map[string]string{"cln-1": "RUNNING cln-a", "cln-2": "RUNNING cln-b", "cln-3": "RUNNING cln-c"}
	for i := range names {
		if got := c.locations(i); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("list on %s: %v, want %v", names[i], got, want)
		}
	}
	// exec forwarded to the member that runs the instance.
	if out := c.members[0].must("exec", "cln-3", "--", "hostname"); strings.TrimSpace(out) != "cln-3" {
		t.Fatalf("exec cln-3 from cln-a: %q", out)
	}
	if out := c.members[2].must("exec", "cln-1", "--", "sh", "-c", "echo forwarded"); out != "forwarded\n" {
		t.Fatalf("exec cln-1 from cln-c: %q", out)
	}

	// Kill the leader.
	var lead string
	waitFor(t, "a database leader", 60*time.Second, func() bool { lead = c.leader(0); return lead != "" })
	li := -1
	for i, n := range names {
		if n == lead {
			li = i
		}
	}
	if li < 0 {
		t.Fatalf("the leader %q is no member", lead)
	}
	surv := []int{(li + 1) % 3, (li + 2) % 3}
	dead := c.members[li]
	if err := dead.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	dead.cmd.Wait()
	dead.cmd = nil
	// A cluster-wide write, from a survivor, until one is accepted.
	var wrote string
	waitFor(t, "a write accepted after the leader died", 120*time.Second, func() bool {
		v := fmt.Sprint(11 + time.Since(killed).Milliseconds()%80)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, "lodge"), "config", "set", "images.remote_cache_expiry", v)
		cmd.Env = append(os.Environ(), "LODGE_DIR="+c.members[surv[0]].dir)
		if cmd.Run() == nil {
			wrote = v
			return true
		}
		return false
	})
	t.Logf("leader %s killed: the next write was accepted %s later", lead, time.Since(killed).Round(time.Millisecond))
	if got := strings.TrimSpace(c.members[surv[1]].must("config", "get", "images.remote_cache_expiry")); got != wrote {
		t.Fatalf("the write on %s reads %q on %s, want %q", names[surv[0]], got, names[surv[1]], wrote)
	}
	waitFor(t, "a new leader among the survivors", 60*time.Second, func() bool {
		l := c.leader(surv[0])
		return l != "" && l != lead && l == c.leader(surv[1])
	})
	waitFor(t, lead+" OFFLINE", 60*time.Second, func() bool {
		return c.list(surv[0])[lead].Status == "Offline"
	})
	if got := c.locations(surv[1])[insts[li]]; got != "ERROR "+lead {
		t.Fatalf("%s on the dead leader lists as %q, want ERROR %s", insts[li], got, lead)
	}
	// Back: it rejoins, and its instance, which ran on, is seen again.
	back := startLodgedNetns(t, dead.dir, c.ns[li])
	t.Cleanup(back.teardown)
	c.members[li] = back
	waitFor(t, lead+" ONLINE again", 60*time.Second, func() bool {
		return c.list(surv[0])[lead].Status == "Online"
	})
	if got := c.locations(li)[insts[li]]; got != "RUNNING "+lead {
		t.Fatalf("%s after its member came back: %q", insts[li], got)
	}
}
