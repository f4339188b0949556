package bridge

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"lodge/network"
)

// internetSide makes a namespace that stands for the network beyond a
// host interface: a veth pair whose host end (parent) has 198.51.100.1/24
// and 2001:db8:5::1/64, the namespace's end .2 and ::2. Nothing leaves the
// machine: the test's addresses are documentation prefixes on veths.
func internetSide(t *testing.T, ns, parent string) testNS {
	t.Helper()
	exec.Command("ip", "netns", "del", ns).Run()
	exec.Command("ip", "link", "del", parent).Run()
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", ns).Run()
		exec.Command("ip", "link", "del", parent).Run()
	})
	run(t, "ip", "netns", "add", ns)
	run(t, "ip", "link", "add", parent, "type", "veth", "peer", "name", "eth0", "netns", ns)
	run(t, "ip", "addr", "add", "198.51.100.1/24", "dev", parent)
	run(t, "ip", "addr", "add", "2001:db8:5::1/64", "dev", parent, "nodad")
	run(t, "ip", "link", "set", parent, "up")
	run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	run(t, "ip", "-n", ns, "link", "set", "eth0", "up")
	run(t, "ip", "-n", ns, "addr", "add", "198.51.100.2/24", "dev", "eth0")
	run(t, "ip", "-n", ns, "addr", "add", "2001:db8:5::2/64", "dev", "eth0", "nodad")
	return testNS{ns: ns, peer: "eth0", ip4: net.ParseIP("198.51.100.2").To4(), ip6: net.ParseIP("2001:db8:5::2")}
}

// A routed NIC hot-plugged into a namespace (standing for a running
// container): hosts on the parent's network reach its addresses through
// proxy ARP and NDP on the parent and the host's routes, and it answers
// through its link-local gateways; detaching it removes the proxies. A
// parent that does not forward is refused, naming the sysctl to set.
func TestRoutedNIC(t *testing.T) {
	needRoot(t)
	const parent, host = "nwrp", "nwrh"
	inet := internetSide(t, "nwri", parent)
	exec.Command("ip", "netns", "del", "nwrc").Run()
	run(t, "ip", "netns", "add", "nwrc")
	t.Cleanup(func() { exec.Command("ip", "netns", "del", "nwrc").Run() })
	ctr := exec.Command("ip", "netns", "exec", "nwrc", "sleep", "600")
	if err := ctr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctr.Process.Kill(); ctr.Wait() })
	pid := ctr.Process.Pid
	waitUntil(t, "the process to enter its namespace", func() bool {
		a, _ := os.Readlink("/proc/self/ns/net")
		b, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/net")
		return b != "" && a != b
	})
	d, _ := New(t.TempDir(), nil)
	ctx := context.Background()
	nic := network.NIC{Name: "eth1", Type: "routed", Link: parent, HWAddr: "00:16:3e:f2:00:01", HostName: host,
		IPv4: []net.IP{net.ParseIP("198.51.100.10").To4()}, IPv6: []net.IP{net.ParseIP("2001:db8:5::10")}}

	if err := setSysctl("net/ipv4/conf/"+parent+"/forwarding", "0"); err != nil {
		t.Fatal(err)
	}
	err := d.AttachNIC(ctx, pid, nic)
	if !errors.Is(err, network.ErrInvalid) || !strings.Contains(err.Error(), "net.ipv4.conf."+parent+".forwarding=1") {
		t.Fatalf("a parent without forwarding: %v", err)
	}
	if _, err := net.InterfaceByName(host); err == nil {
		t.Fatal("a refused routed NIC left its veth")
	}
	for _, k := range []string{"net/ipv4/conf/" + parent + "/forwarding", "net/ipv6/conf/" + parent + "/forwarding",
		"net/ipv6/conf/" + parent + "/proxy_ndp", "net/ipv6/conf/all/forwarding"} {
		if err := setSysctl(k, "1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.AttachNIC(ctx, pid, nic); err != nil {
		t.Fatal(err)
	}
	inside := run(t, "ip", "netns", "exec", "nwrc", "ip", "route")
	if !strings.Contains(inside, "default via 169.254.0.1 dev eth1") {
		t.Fatalf("routes inside:\n%s", inside)
	}
	pingUntil(t, inet.ns, "198.51.100.10")
	pingUntil(t, inet.ns, "2001:db8:5::10")
	pingUntil(t, "nwrc", "198.51.100.2")
	if out := run(t, "ip", "neigh", "show", "proxy", "dev", parent); !strings.Contains(out, "198.51.100.10") || !strings.Contains(out, "2001:db8:5::10") {
		t.Fatalf("proxy entries on %s:\n%s", parent, out)
	}

	if err := d.DetachNIC(ctx, pid, nic); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "ip", "neigh", "show", "proxy", "dev", parent); strings.Contains(out, "198.51.100.10") {
		t.Fatalf("proxy entries left on %s:\n%s", parent, out)
	}
	if _, err := net.InterfaceByName(host); err == nil {
		t.Fatal("the host end stays after detach")
	}
	if inet.ok("ping", "-c", "1", "-W", "1", "198.51.100.10") {
		t.Fatal("the address still answers after detach")
	}
}

// pingUntil pings addr from namespace ns until it answers, a few times:
// the kernel answers broadcast ARP for a proxied address after a random
// delay of up to proxy_delay (0.8 s), so one ping may time out.
func pingUntil(t *testing.T, ns, addr string) {
	t.Helper()
	var out []byte
	var err error
	for try := 0; try < 5; try++ {
		if out, err = exec.Command("ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "2", addr).CombinedOutput(); err == nil {
			return
		}
	}
	t.Fatalf("%s does not answer from %s: %v\n%s", addr, ns, err, out)
}
