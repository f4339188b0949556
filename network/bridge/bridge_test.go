package bridge

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"lodge/network"
	"lodge/test/gate"
)

func needRoot(t *testing.T) {
	t.Helper()
	gate.Integration(t, "makes bridges, dnsmasq and nftables tables")
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

	// Releasing the lease (a deleted container) drops it by a DHCPRELEASE
	// to the running dnsmasq, which is not restarted; DNS still answers.
	running := readPid(d2.paths(br).PidFile)
	if err := d2.ReleaseLeases(ctx, n, []string{mac}); err != nil {
		t.Fatal(err)
	}
	if ls, _ := d2.Leases(ctx, br); len(ls) != 0 {
		t.Fatalf("leases after release: %+v", ls)
	}
	if got := readPid(d2.paths(br).PidFile); got != running {
		t.Fatalf("dnsmasq was restarted for the release (pid %d -> %d): is dhcp_release (dnsmasq-utils) installed?", running, got)
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
	if auto, err := FreeSubnetV6(br); err != nil || !strings.HasPrefix(auto, "fd") || !strings.HasSuffix(auto, "::1/64") {
		t.Fatalf("FreeSubnetV6 = %q, %v", auto, err)
	}
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
	up := time.Now()
	run(t, "ip", "netns", "exec", ns, "busybox", "udhcpc", "-i", "nwv6p", "-n", "-q", "-f", "-t", "10", "-T", "1", "-s", "/bin/true")
	leased := time.Since(up)
	hw, _ := net.ParseMAC(mac)
	_, sub, _ := net.ParseCIDR(ula)
	want, _ := network.EUI64(sub, hw)
	waitUntil(t, "a SLAAC address and a default route from the router advertisements", func() bool {
		out, _ := exec.Command("ip", "-n", ns, "-6", "addr", "show", "dev", "nwv6p", "scope", "global").CombinedOutput()
		rt, _ := exec.Command("ip", "-n", ns, "-6", "route", "show", "default").CombinedOutput()
		return strings.Contains(string(out), want.String()) && !strings.Contains(string(out), "tentative") && strings.Contains(string(rt), "via fe80:")
	})
	t.Logf("link up to DHCPv4 lease %v, to a usable SLAAC address and IPv6 default route %v", leased.Round(time.Millisecond), time.Since(up).Round(time.Millisecond))
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

// dhcpv6Solicit sends a DHCPv6 Solicit (DUID-LL of mac, one IA_NA) from
// eth0 in namespace ns and returns the address dnsmasq's Advertise (or
// Reply, with rapid commit) offers in it.
func dhcpv6Solicit(t *testing.T, ns string, mac net.HardwareAddr) net.IP {
	t.Helper()
	runtime.LockOSThread()
	orig, _ := netns.Get()
	target, err := netns.GetFromName(ns)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	netns.Set(target)
	conn, lerr := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified, Port: 546})
	if err := netns.Set(orig); err != nil {
		panic(err)
	}
	runtime.UnlockOSThread()
	target.Close()
	orig.Close()
	if lerr != nil {
		t.Fatal(lerr)
	}
	defer conn.Close()
	opt := func(code uint16, data []byte) []byte {
		b := binary.BigEndian.AppendUint16(nil, code)
		b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
		return append(b, data...)
	}
	duid := append([]byte{0, 3, 0, 1}, mac...) // DUID-LL, Ethernet
	msg := []byte{1, 0x4c, 0x6f, 0x64}         // Solicit, transaction id
	msg = append(msg, opt(1, duid)...)         // Client Identifier
	msg = append(msg, opt(3, make([]byte, 12))...)
	msg = append(msg, opt(8, []byte{0, 0})...) // Elapsed Time
	// The zone by index: Go would look a name up in the test's namespace.
	idx, _, _ := strings.Cut(run(t, "ip", "-n", ns, "-o", "link", "show", "eth0"), ":")
	dst := &net.UDPAddr{IP: net.ParseIP("ff02::1:2"), Port: 547, Zone: idx}
	buf := make([]byte, 1500)
	for try := 0; try < 10; try++ {
		if _, err := conn.WriteToUDP(msg, dst); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			continue
		}
		// Options after the 4-byte header: find IA_NA (3), inside it IAADDR (5).
		for b := buf[4:n]; len(b) >= 4; {
			code, l := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
			if 4+l > len(b) {
				break
			}
			if code == 3 && l >= 12 {
				for ia := b[4+12 : 4+l]; len(ia) >= 4; {
					c, il := binary.BigEndian.Uint16(ia), int(binary.BigEndian.Uint16(ia[2:]))
					if c == 5 && il >= 16 && 4+il <= len(ia) {
						return net.IP(append([]byte{}, ia[4:20]...))
					}
					if 4+il > len(ia) {
						break
					}
					ia = ia[4+il:]
				}
			}
			b = b[4+l:]
		}
	}
	t.Fatalf("no address offered by DHCPv6 in %s", ns)
	return nil
}

// Stateful DHCPv6 (ipv6.dhcp.stateful): dnsmasq offers a client an
// address from the range, and a reservation (Host.Address6) to its MAC.
func TestBridgeDHCPv6Stateful(t *testing.T) {
	needRoot(t)
	const br, ns = "nwbrd6", "nwnsd6"
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	exec.Command("ip", "netns", "del", ns).Run()
	t.Cleanup(func() {
		stopPidfile(filepath.Join(dir, br, "dnsmasq.pid"))
		exec.Command("ip", "netns", "del", ns).Run()
		exec.Command("ip", "link", "del", br).Run()
		exec.Command("nft", "delete", "table", "ip", network.TableName(br)).Run()
		exec.Command("nft", "delete", "table", "ip6", network.TableName(br)).Run()
	})
	d, err := New(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	n := network.Network{Name: br, Config: map[string]string{"ipv4.address": "none", "ipv6.address": "fd42:4c6f:6467:6502::1/64",
		"ipv6.dhcp.stateful": "true", "ipv6.dhcp.ranges": "fd42:4c6f:6467:6502::100-fd42:4c6f:6467:6502::1ff"}}
	if err := d.Ensure(ctx, n); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "netns", "add", ns)
	run(t, "ip", "link", "add", "nwd6", "type", "veth", "peer", "name", "eth0", "netns", ns)
	run(t, "ip", "link", "set", "nwd6", "master", br, "up")
	mac, _ := net.ParseMAC("00:16:3e:aa:bb:07")
	run(t, "ip", "-n", ns, "link", "set", "eth0", "address", mac.String(), "up")
	waitUntil(t, "the client's link-local address", func() bool {
		out, _ := exec.Command("ip", "-n", ns, "-6", "addr", "show", "dev", "eth0", "scope", "link").CombinedOutput()
		return strings.Contains(string(out), "fe80") && !strings.Contains(string(out), "tentative")
	})
	_, rng, _ := net.ParseCIDR("fd42:4c6f:6467:6502::100/120")
	if ip := dhcpv6Solicit(t, ns, mac); !rng.Contains(ip) {
		t.Fatalf("offered %s, outside the range %s", ip, rng)
	}
	n.Hosts = []network.Host{{HWAddr: mac.String(), Name: "nwhostd6", Address6: "fd42:4c6f:6467:6502::77"}}
	if err := d.UpdateHosts(ctx, n); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the reservation", func() bool {
		return dhcpv6Solicit(t, ns, mac).Equal(net.ParseIP("fd42:4c6f:6467:6502::77"))
	})
}
