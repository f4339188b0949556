package integration

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"lodge/builder"
)

// TestVethNamesPerLodged: two lodgeds on one host each run an instance of
// the same name with a NIC on their own bridge. Each host-side veth is its
// lodged's own, stored in volatile.eth0.host_name; with names from the
// instance and device alone, the second start failed with "File exists".
func TestVethNamesPerLodged(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("vn%d", os.Getpid()%100000)
	lodge(t, "launch", "busybox", name)
	t.Cleanup(func() { lodgeOut("delete", "-f", name) })

	dir, err := os.MkdirTemp("", "lodge-it-vn-")
	if err != nil {
		t.Fatal(err)
	}
	netName := fmt.Sprintf("lvn%d", os.Getpid()%100000)
	two := startLodged(t, dir, netName)
	t.Cleanup(two.teardown)
	t.Cleanup(func() {
		two.run("delete", "-f", name)
		two.run("profile", "device", "remove", "default", "eth0")
		two.run("network", "delete", netName)
	})
	bridge2, _ := two.defaultNetwork()
	two.must("image", "import", tarball, "--alias", "vn-bb")
	two.must("launch", "vn-bb", name)

	host := func(out string) string { return strings.TrimSpace(out) }
	h1 := host(lodge(t, "config", "get", name, "volatile.eth0.host_name"))
	h2 := host(two.must("config", "get", name, "volatile.eth0.host_name"))
	if h1 == "" || h2 == "" || h1 == h2 {
		t.Fatalf("host-side veths: %q and %q, want two different names", h1, h2)
	}
	for _, c := range []struct{ veth, bridge, status string }{
		{h1, defaultNet, migStatus(t, &aLodged{t: t, dir: stateDir}, name)},
		{h2, bridge2, migStatus(t, two, name)},
	} {
		if c.status != "RUNNING" {
			t.Errorf("%s on %s: %s, want RUNNING", name, c.bridge, c.status)
		}
		l, err := netlink.LinkByName(c.veth)
		if err != nil {
			t.Errorf("veth %s: %v", c.veth, err)
			continue
		}
		br, err := netlink.LinkByName(c.bridge)
		if err != nil || l.Attrs().MasterIndex != br.Attrs().Index {
			t.Errorf("veth %s is not on bridge %s (%v)", c.veth, c.bridge, err)
		}
	}
}
