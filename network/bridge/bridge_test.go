package bridge

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lodge/network"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Getenv("LODGE_INTEGRATION") != "1" || os.Geteuid() != 0 {
		t.Skip("needs root and LODGE_INTEGRATION=1")
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func waitUntil(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A managed bridge end to end: a client in a network namespace the test
// made gets its reserved address from dnsmasq and resolves a name under the
// network's domain; a second driver (a lodged restart) adopts the running
// dnsmasq; a killed dnsmasq is restarted; Delete removes everything.
func TestBridgeLifecycle(t *testing.T) {
	needRoot(t)
	const br, ns = "nwbrt0", "nwns0"
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755) // dnsmasq drops privileges and re-reads its hosts file
	os.Chmod(dir, 0o755)
	exec.Command("ip", "netns", "del", ns).Run()
	t.Cleanup(func() {
		// A failed run must not leave its dnsmasq behind.
		stopPidfile(filepath.Join(dir, "networks", br, "dnsmasq.pid"))
		exec.Command("ip", "netns", "del", ns).Run()
		exec.Command("ip", "link", "del", br).Run()
		exec.Command("nft", "delete", "table", "ip", network.TableName(br)).Run()
	})
	d, err := New(filepath.Join(dir, "networks"), nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := FreeSubnet()
	if err != nil {
		t.Fatal(err)
	}
	prefix := strings.TrimSuffix(addr, "1/24")
	ctx := context.Background()
	mac := "00:16:3e:aa:bb:01"
	n := network.Network{Name: br, Config: map[string]string{"ipv4.address": addr, "bridge.mtu": "1400"},
		Hosts: []network.Host{{HWAddr: mac, Name: "nwhost1", Address: prefix + "77"}}}
	if err := d.Ensure(ctx, n); err != nil {
		t.Fatal(err)
	}
	st, err := d.State(ctx, br)
	if err != nil || !st.Up || st.MTU != 1400 || len(st.Addresses) == 0 || st.Addresses[0].Address != prefix+"1" {
		t.Fatalf("state = %+v, %v", st, err)
	}
	// The bridge's MAC is its own, not a port's that changes with them.
	if st.HWAddr != bridgeMAC(br).String() {
		t.Fatalf("bridge MAC %s, want the fixed %s", st.HWAddr, bridgeMAC(br))
	}
	if out := run(t, "nft", "list", "table", "ip", network.TableName(br)); !strings.Contains(out, "masquerade") {
		t.Fatalf("nft table:\n%s", out)
	}

	run(t, "ip", "netns", "add", ns)
	run(t, "ip", "link", "add", "nwv0", "type", "veth", "peer", "name", "nwv0p", "netns", ns)
	run(t, "ip", "link", "set", "nwv0", "master", br, "up")
	run(t, "ip", "-n", ns, "link", "set", "nwv0p", "address", mac, "up")
	run(t, "ip", "netns", "exec", ns, "busybox", "udhcpc", "-i", "nwv0p", "-n", "-q", "-f", "-t", "10", "-T", "1", "-s", "/bin/true")
	waitUntil(t, "the lease", func() bool {
		ls, _ := d.Leases(ctx, br)
		return len(ls) == 1 && ls[0].Address == prefix+"77" && ls[0].HWAddr == mac
	})
	run(t, "ip", "-n", ns, "addr", "add", prefix+"77/24", "dev", "nwv0p")
	out := run(t, "ip", "netns", "exec", ns, "busybox", "nslookup", "nwhost1.lodge", prefix+"1")
	if !strings.Contains(out, prefix+"77") {
		t.Fatalf("nslookup nwhost1.lodge:\n%s", out)
	}

	// A restart of lodged: a fresh driver adopts the same dnsmasq.
	pid := readPid(d.paths(br).PidFile)
	d.Close()
	d2, _ := New(filepath.Join(dir, "networks"), nil)
	if err := d2.Ensure(ctx, n); err != nil {
		t.Fatal(err)
	}
	if got := readPid(d2.paths(br).PidFile); got != pid {
		t.Fatalf("dnsmasq was restarted (pid %d -> %d), not adopted", pid, got)
	}
	if ls, _ := d2.Leases(ctx, br); len(ls) != 1 {
		t.Fatalf("leases after restart: %+v", ls)
	}
	// Supervision: a killed dnsmasq comes back, with the lease kept.
	syscall.Kill(pid, syscall.SIGKILL)
	waitUntil(t, "dnsmasq restarted", func() bool {
		p := readPid(d2.paths(br).PidFile)
		return p != pid && p > 0 && syscall.Kill(p, 0) == nil
	})
	if ls, _ := d2.Leases(ctx, br); len(ls) != 1 {
		t.Fatalf("leases after dnsmasq restart: %+v", ls)
	}

	// Changing the config restarts dnsmasq with the new arguments.
	n.Config["dns.domain"] = "nwlan"
	if err := d2.Ensure(ctx, n); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the new domain", func() bool {
		out, _ := exec.Command("ip", "netns", "exec", ns, "busybox", "nslookup", "nwhost1.nwlan", prefix+"1").CombinedOutput()
		return strings.Contains(string(out), prefix+"77")
	})

	// Releasing the lease (a deleted container) drops it; DNS still answers.
	if err := d2.ReleaseLeases(ctx, n, []string{mac}); err != nil {
		t.Fatal(err)
	}
	if ls, _ := d2.Leases(ctx, br); len(ls) != 0 {
		t.Fatalf("leases after release: %+v", ls)
	}
	out = run(t, "ip", "netns", "exec", ns, "busybox", "nslookup", "_gateway.nwlan", prefix+"1")
	if !strings.Contains(out, prefix+"1") {
		t.Fatalf("nslookup after release:\n%s", out)
	}

	last := readPid(d2.paths(br).PidFile)
	if err := d2.Delete(ctx, br); err != nil {
		t.Fatal(err)
	}
	if exec.Command("ip", "link", "show", br).Run() == nil {
		t.Fatal("bridge still exists after Delete")
	}
	if exec.Command("nft", "list", "table", "ip", network.TableName(br)).Run() == nil {
		t.Fatal("nft table still exists after Delete")
	}
	if syscall.Kill(last, 0) == nil && cmdline(last) != nil {
		t.Fatalf("dnsmasq %d still runs after Delete", last)
	}
}

// IPv6 on a managed bridge: a client in a network namespace the test made
// takes an address by SLAAC from dnsmasq's router advertisements, reaches
// the bridge over IPv6, and its name (from its DHCPv4 lease) resolves to
// that address (AAAA, ra-names); NAT66 lives in the ip6 table, which goes
// away with ipv6.address=none and with the network.
func TestBridgeIPv6(t *testing.T) {
	needRoot(t)
	const br, ns = "nwbr6", "nwns6"
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	exec.Command("ip", "netns", "del", ns).Run()
	t.Cleanup(func() {
		stopPidfile(filepath.Join(dir, "networks", br, "dnsmasq.pid"))
		exec.Command("ip", "netns", "del", ns).Run()
		exec.Command("ip", "link", "del", br).Run()
		exec.Command("nft", "delete", "table", "ip", network.TableName(br)).Run()
		exec.Command("nft", "delete", "table", "ip6", network.TableName(br)).Run()
	})
	d, err := New(filepath.Join(dir, "networks"), nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := FreeSubnet()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mac := "00:16:3e:aa:bb:06"
	const ula = "fd42:4c6f:6467:6501::1/64"
	n := network.Network{Name: br, Config: map[string]string{"ipv4.address": addr, "ipv6.address": ula, "ipv6.nat": "true"},
		Hosts: []network.Host{{HWAddr: mac, Name: "nwhost6"}}}
	if err := d.Ensure(ctx, n); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "nft", "list", "table", "ip6", network.TableName(br)); !strings.Contains(out, "masquerade") || !strings.Contains(out, "547") {
		t.Fatalf("ip6 table:\n%s", out)
	}
	run(t, "ip", "netns", "add", ns)
	run(t, "ip", "link", "add", "nwv6", "type", "veth", "peer", "name", "nwv6p", "netns", ns)
	run(t, "ip", "link", "set", "nwv6", "master", br, "up")
	run(t, "ip", "netns", "exec", ns, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/nwv6p/accept_ra && echo 1 > /proc/sys/net/ipv6/conf/nwv6p/autoconf")
	run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	run(t, "ip", "-n", ns, "link", "set", "nwv6p", "address", mac, "up")
	run(t, "ip", "netns", "exec", ns, "busybox", "udhcpc", "-i", "nwv6p", "-n", "-q", "-f", "-t", "10", "-T", "1", "-s", "/bin/true")
	hw, _ := net.ParseMAC(mac)
	_, sub, _ := net.ParseCIDR(ula)
	want, _ := network.EUI64(sub, hw)
	waitUntil(t, "a SLAAC address and a default route from the router advertisements", func() bool {
		out, _ := exec.Command("ip", "-n", ns, "-6", "addr", "show", "dev", "nwv6p", "scope", "global").CombinedOutput()
		rt, _ := exec.Command("ip", "-n", ns, "-6", "route", "show", "default").CombinedOutput()
		return strings.Contains(string(out), want.String()) && strings.Contains(string(rt), "via fe80:")
	})
	run(t, "ip", "netns", "exec", ns, "ping", "-6", "-c", "1", "-W", "2", "fd42:4c6f:6467:6501::1")
	// dnsmasq confirms the SLAAC address by a ping before it answers AAAA.
	waitUntil(t, "nwhost6's AAAA record", func() bool {
		out, _ := exec.Command("ip", "netns", "exec", ns, "busybox", "nslookup", "-type=AAAA", "nwhost6.lodge", "fd42:4c6f:6467:6501::1").CombinedOutput()
		return strings.Contains(string(out), want.String())
	})
	n.Config["ipv6.address"] = "none"
	if err := d.Ensure(ctx, n); err != nil {
		t.Fatal(err)
	}
	if exec.Command("nft", "list", "table", "ip6", network.TableName(br)).Run() == nil {
		t.Fatal("ip6 table kept after ipv6.address=none")
	}
	if out := run(t, "ip", "-6", "addr", "show", "dev", br, "scope", "global"); strings.Contains(out, "fd42") {
		t.Fatalf("bridge keeps its IPv6 address after ipv6.address=none:\n%s", out)
	}
	n.Config["ipv6.address"] = ula
	if err := d.Ensure(ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, br); err != nil {
		t.Fatal(err)
	}
	if exec.Command("nft", "list", "table", "ip6", network.TableName(br)).Run() == nil {
		t.Fatal("ip6 table still exists after Delete")
	}
}
