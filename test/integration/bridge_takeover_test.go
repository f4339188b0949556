package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"lodge/builder"
)

// defaultNetwork is the network the daemon's default profile uses.
func (l *aLodged) defaultNetwork() (name, desc string) {
	l.t.Helper()
	for _, line := range strings.Split(l.must("profile", "show", "default"), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "network: "); ok {
			name = v
		}
	}
	if name == "" {
		l.t.Fatalf("lodged on %s: the default profile has no network", l.dir)
	}
	var nets []struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	json.Unmarshal([]byte(l.must("network", "list", "--format", "json")), &nets)
	for _, n := range nets {
		if n.Name == name {
			return name, n.Description
		}
	}
	l.t.Fatalf("network %s is not in network list", name)
	return "", ""
}

// TestStaleBridgeTakeover: lodged marks the bridges it makes; a second
// lodged on the same host does not take a bridge the first one serves (it
// picks the next name and says why), and a lodged whose state directory was
// reset takes over the bridge, nftables table and dnsmasq its earlier self
// left, so that its containers have a network again.
func TestStaleBridgeTakeover(t *testing.T) {
	needIntegration(t)
	tarball, err := builder.Build(context.Background(), "busybox", builder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	netName := fmt.Sprintf("nwst%d", os.Getpid()%100000)
	var made []string
	t.Cleanup(func() {
		for _, n := range append(made, netName) {
			exec.Command("ip", "link", "del", n).Run()
			exec.Command("nft", "delete", "table", "ip", "lodge-"+n).Run()
		}
	})
	newDir := func(tag string) string {
		d, err := os.MkdirTemp("", "lodge-it-"+tag+"-")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	dir1, dir2 := newDir("st1"), newDir("st2")

	one := startLodged(t, dir1, netName)
	t.Cleanup(one.teardown)
	if name, desc := one.defaultNetwork(); name != netName || desc != "" {
		t.Fatalf("first lodged's network: %s %q", name, desc)
	}
	link, err := netlink.LinkByName(netName)
	if err != nil || link.Attrs().Alias != "lodge "+filepath.Join(dir1, "networks") {
		t.Fatalf("bridge %s mark: %v %+v", netName, err, link)
	}

	// A second lodged while the first serves the bridge: another name.
	two := startLodged(t, dir2, netName)
	t.Cleanup(two.teardown)
	name2, desc2 := two.defaultNetwork()
	made = append(made, name2)
	if name2 == netName || !strings.Contains(desc2, netName+" was taken") || !strings.Contains(desc2, dir1) {
		t.Fatalf("second lodged's network: %s %q", name2, desc2)
	}
	two.must("profile", "device", "remove", "default", "eth0")
	two.must("network", "delete", name2)

	// The first lodged shut down, its state directory removed, a new one
	// started on it: the bridge is taken over, and a container leases on it.
	one.shutdown()
	dns1 := func() int {
		b, _ := os.ReadFile(filepath.Join(dir1, "networks", netName, "dnsmasq.pid"))
		var pid int
		fmt.Sscan(string(b), &pid)
		return pid
	}
	oldDNS := dns1()
	if oldDNS == 0 || !running(oldDNS) {
		t.Fatalf("dnsmasq of %s did not outlive lodged shutdown (pid %d)", netName, oldDNS)
	}
	removeStateDir(dir1)
	os.MkdirAll(dir1, 0o711)
	three := startLodged(t, dir1, netName)
	t.Cleanup(three.teardown)
	if name, desc := three.defaultNetwork(); name != netName || desc != "" {
		t.Fatalf("after a reset: network %s %q, want %s taken over", name, desc, netName)
	}
	if running(oldDNS) {
		t.Fatalf("the orphaned dnsmasq (pid %d) still runs beside the new one", oldDNS)
	}
	three.must("image", "import", tarball, "--alias", "st-bb")
	three.must("launch", "st-bb", "st1")
	waitFor(t, "a lease on the taken-over bridge", 30*time.Second, func() bool {
		out, _ := three.run("network", "list-leases", netName, "--format", "csv")
		return strings.Contains(out, "st1")
	})
	three.must("delete", "-f", "st1")
	three.must("profile", "device", "remove", "default", "eth0")
	three.must("network", "delete", netName)
}

// mountsUnder lists mount points below dir, deepest first.
func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if f := strings.Fields(lines[i]); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// running tells a live process from a gone or zombie one (an orphan that
// was killed may wait for init to reap it).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}
