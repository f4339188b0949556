//go:build linux && cgo

package lxc

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"lodge/instances"
	"lodge/network"
	"lodge/network/bridge"
)

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return string(out)
}

// A busybox container with a routed NIC: liblxc's router mode gives it its
// public addresses and default routes through LXD's link-local gateways,
// the network driver has the parent answer for them, and a namespace
// standing for the internet beyond the parent reaches the container by
// IPv4 and IPv6; once it stopped and the proxies are gone, nothing answers.
func TestRoutedNICContainer(t *testing.T) {
	needRoot(t)
	const parent, inet, name = "lxrp", "lxri", "t-lxc-routed"
	exec.Command("ip", "netns", "del", inet).Run()
	exec.Command("ip", "link", "del", parent).Run()
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", inet).Run()
		exec.Command("ip", "link", "del", parent).Run()
	})
	sh(t, "ip", "netns", "add", inet)
	sh(t, "ip", "link", "add", parent, "type", "veth", "peer", "name", "eth0", "netns", inet)
	sh(t, "ip", "addr", "add", "203.0.113.1/24", "dev", parent)
	sh(t, "ip", "addr", "add", "2001:db8:6::1/64", "dev", parent, "nodad")
	sh(t, "ip", "link", "set", parent, "up")
	sh(t, "ip", "-n", inet, "link", "set", "eth0", "up")
	sh(t, "ip", "-n", inet, "addr", "add", "203.0.113.2/24", "dev", "eth0")
	sh(t, "ip", "-n", inet, "addr", "add", "2001:db8:6::2/64", "dev", "eth0", "nodad")
	// The parent is the test's own veth; all/forwarding is what any IPv6
	// router (and lodge's IPv6 bridges) has.
	for _, k := range []string{"ipv4/conf/" + parent + "/forwarding", "ipv6/conf/" + parent + "/forwarding",
		"ipv6/conf/" + parent + "/proxy_ndp", "ipv6/conf/all/forwarding"} {
		if err := os.WriteFile("/proc/sys/net/"+k, []byte("1"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	nets, err := bridge.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := network.RoutedNIC{HostName: "lxrh", Parent: parent, IPv4: []net.IP{net.ParseIP("203.0.113.10").To4()}, IPv6: []net.IP{net.ParseIP("2001:db8:6::10")}}
	if err := nets.SetupRouted(ctx, r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nets.TeardownRouted(ctx, r) })

	lxcpath := t.TempDir()
	d := testDriver(t, lxcpath)
	cleanupContainer(t, lxcpath, name)
	spec := instances.Spec{Name: name, Rootfs: busyboxRootfs(t), Init: "busybox", NICs: []instances.NIC{{Name: "eth0", Type: "routed",
		Link: parent, HostName: "lxrh", HWAddr: "00:16:3e:f3:00:01", IPv4: []string{"203.0.113.10"}, IPv6: []string{"2001:db8:6::10"}}}}
	if err := d.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	if out := run(t, d, name, "ip", "route"); !strings.Contains(out.stdout, "default via 169.254.0.1 dev eth0") {
		t.Fatalf("routes inside: %+v", out)
	}
	// Proxied ARP and NDP answers come after a random delay of up to
	// proxy_delay (0.8 s), and the host end's link-local address, which
	// answers for fe80::1, is usable once duplicate address detection is
	// done: ping a few times.
	for _, addr := range []string{"203.0.113.10", "2001:db8:6::10"} {
		for try := 0; ; try++ {
			err := exec.Command("ip", "netns", "exec", inet, "ping", "-c", "1", "-W", "2", addr).Run()
			if err == nil {
				break
			}
			if try == 5 {
				t.Fatalf("the container's %s does not answer: %v", addr, err)
			}
		}
	}
	if out := run(t, d, name, "ping", "-c", "1", "-W", "3", "203.0.113.2"); out.code != 0 {
		t.Fatalf("container to the internet side: %+v", out)
	}

	if err := d.Stop(ctx, name, time.Second, true); err != nil {
		t.Fatal(err)
	}
	if err := nets.TeardownRouted(ctx, r); err != nil {
		t.Fatal(err)
	}
	if out := sh(t, "ip", "neigh", "show", "proxy", "dev", parent); strings.Contains(out, "203.0.113.10") {
		t.Fatalf("proxy entries left:\n%s", out)
	}
	if exec.Command("ip", "netns", "exec", inet, "ping", "-c", "1", "-W", "1", "203.0.113.10").Run() == nil {
		t.Fatal("the stopped container's address still answers")
	}
}
