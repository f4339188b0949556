package bridge

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"lodge/network"
)

// testNS is a network namespace with one veth on a bridge.
type testNS struct {
	ns, host, peer string
	mac            net.HardwareAddr
	ip4, ip6       net.IP
}

// nsOnBridge makes a namespace whose veth (host end host) is on bridge br,
// with the given MAC and static addresses; cleanup removes it.
func nsOnBridge(t *testing.T, br, ns, host, mac, ip4, ip6 string) testNS {
	t.Helper()
	exec.Command("ip", "netns", "del", ns).Run()
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run(t, "ip", "netns", "add", ns)
	run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns)
	run(t, "ip", "link", "set", host, "master", br, "up")
	run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	run(t, "ip", "-n", ns, "link", "set", "eth0", "address", mac, "up")
	run(t, "ip", "-n", ns, "addr", "add", ip4+"/24", "dev", "eth0")
	run(t, "ip", "-n", ns, "addr", "add", ip6+"/64", "dev", "eth0", "nodad")
	hw, _ := net.ParseMAC(mac)
	return testNS{ns: ns, host: host, peer: "eth0", mac: hw, ip4: net.ParseIP(ip4).To4(), ip6: net.ParseIP(ip6)}
}

func (n testNS) run(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"netns", "exec", n.ns}, args...)...)
}

func (n testNS) ok(args ...string) bool {
	return exec.Command("ip", append([]string{"netns", "exec", n.ns}, args...)...).Run() == nil
}

// rawSender sends hand-made Ethernet frames out of a namespace's eth0.
func rawSender(t *testing.T, ns string) func(frame []byte) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	ifi, ierr := net.InterfaceByName("eth0")
	if serr := netns.Set(orig); serr != nil {
		panic(serr) // this thread would stay in the test's namespace
	}
	if err != nil || ierr != nil {
		t.Fatal(err, ierr)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return func(frame []byte) {
		if err := unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}); err != nil {
			t.Fatalf("send a frame from %s: %v", ns, err)
		}
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func ethernet(dst, src net.HardwareAddr, typ uint16, payload []byte) []byte {
	f := append(append([]byte{}, dst...), src...)
	f = binary.BigEndian.AppendUint16(f, typ)
	return append(f, payload...)
}

// arpReply is "spa is-at sha", sent to tha/tpa.
func arpReply(sha net.HardwareAddr, spa net.IP, tha net.HardwareAddr, tpa net.IP) []byte {
	p := []byte{0, 1, 8, 0, 6, 4, 0, 2}
	p = append(append(p, sha...), spa.To4()...)
	return append(append(p, tha...), tpa.To4()...)
}

func csum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func ipv4UDP(src, dst net.IP, port uint16, payload []byte) []byte {
	udp := binary.BigEndian.AppendUint16(nil, port)
	udp = binary.BigEndian.AppendUint16(udp, port)
	udp = binary.BigEndian.AppendUint16(udp, uint16(8+len(payload)))
	udp = append(udp, 0, 0)
	udp = append(udp, payload...)
	h := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0}
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(udp)))
	h = append(append(h, src.To4()...), dst.To4()...)
	binary.BigEndian.PutUint16(h[10:], csum(h))
	return append(h, udp...)
}

// ipv6Packet wraps an upper-layer payload whose checksum field sits at
// ckOff, and fills that checksum in.
func ipv6Packet(src, dst net.IP, next byte, hop byte, upper []byte, ckOff int) []byte {
	pseudo := append(append([]byte{}, src.To16()...), dst.To16()...)
	pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(len(upper)))
	pseudo = append(pseudo, 0, 0, 0, next)
	binary.BigEndian.PutUint16(upper[ckOff:], csum(append(pseudo, upper...)))
	h := []byte{0x60, 0, 0, 0, 0, 0, next, hop}
	binary.BigEndian.PutUint16(h[4:], uint16(len(upper)))
	h = append(append(h, src.To16()...), dst.To16()...)
	return append(h, upper...)
}

func ipv6UDP(src, dst net.IP, port uint16, payload []byte) []byte {
	udp := binary.BigEndian.AppendUint16(nil, port)
	udp = binary.BigEndian.AppendUint16(udp, port)
	udp = binary.BigEndian.AppendUint16(udp, uint16(8+len(payload)))
	udp = append(udp, 0, 0)
	return ipv6Packet(src, dst, 17, 64, append(udp, payload...), 6)
}

// neighborAdvert is an unsolicited NA: target is at tlla (override set).
func neighborAdvert(src, target net.IP, tlla net.HardwareAddr) []byte {
	icmp := []byte{136, 0, 0, 0, 0x20, 0, 0, 0}
	icmp = append(icmp, target.To16()...)
	icmp = append(append(icmp, 2, 1), tlla...)
	return ipv6Packet(src, net.ParseIP("ff02::1"), 58, 255, icmp, 2)
}

func routerAdvert(src net.IP, mac net.HardwareAddr) []byte {
	icmp := []byte{134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0}
	icmp = append(append(icmp, 1, 1), mac...)
	return ipv6Packet(src, net.ParseIP("ff02::1"), 58, 255, icmp, 2)
}

// capture runs tcpdump on a namespace's eth0 until the returned function
// is called, which returns what it printed (one line per frame, with MACs).
func capture(t *testing.T, n testNS) func() string {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command("ip", "netns", "exec", n.ns, "tcpdump", "-i", "eth0", "-n", "-e", "-l", "-p")
	cmd.Stdout = &out
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitUntil(t, "tcpdump to listen", func() bool { return strings.Contains(stderr.String(), "listening on") })
	return func() string {
		time.Sleep(300 * time.Millisecond) // the last frames cross the bridge
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
		return out.String()
	}
}

// attack has attacker a send, to observer o's segment, every kind of spoof
// of victim v's identity; it returns what o saw of each.
func attack(t *testing.T, a, v, o testNS) map[string]int {
	t.Helper()
	send := rawSender(t, a.ns)
	stop := capture(t, o)
	bcast, _ := net.ParseMAC("ff:ff:ff:ff:ff:ff")
	all6, _ := net.ParseMAC("33:33:00:00:00:01")
	marker := []byte("lodge-spoof")
	for i := 0; i < 3; i++ {
		// The victim's MAC as the source.
		send(ethernet(o.mac, v.mac, 0x0800, ipv4UDP(a.ip4, o.ip4, 9001, marker)))
		// The victim's IPv4 address claimed by ARP, and used as a source.
		send(ethernet(bcast, a.mac, 0x0806, arpReply(a.mac, v.ip4, bcast, v.ip4)))
		send(ethernet(o.mac, a.mac, 0x0800, ipv4UDP(v.ip4, o.ip4, 9002, marker)))
		// The victim's IPv6 address claimed by NDP, and used as a source.
		send(ethernet(all6, a.mac, 0x86dd, neighborAdvert(v.ip6, v.ip6, a.mac)))
		send(ethernet(o.mac, a.mac, 0x86dd, ipv6UDP(v.ip6, o.ip6, 9003, marker)))
		// A router advertisement from the instance.
		send(ethernet(all6, a.mac, 0x86dd, routerAdvert(net.ParseIP("fe80::1"), a.mac)))
	}
	seen := map[string]int{}
	for _, line := range strings.Split(stop(), "\n") {
		switch {
		case strings.Contains(line, v.mac.String()+" >") && strings.Contains(line, ".9001 >"):
			seen["mac"]++
		case strings.Contains(line, "Reply "+v.ip4.String()+" is-at "+a.mac.String()):
			seen["arp"]++
		case strings.Contains(line, v.ip4.String()+".9002 >"):
			seen["ipv4"]++
		case strings.Contains(line, "neighbor advertisement") && strings.Contains(line, "tgt is "+v.ip6.String()):
			seen["ndp"]++
		case strings.Contains(line, v.ip6.String()+".9003 >"):
			seen["ipv6"]++
		case strings.Contains(line, "router advertisement"):
			seen["ra"]++
		}
	}
	return seen
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// Anti-spoofing on a real bridge: an attacker namespace sends frames with
// its neighbour's MAC, ARP and NDP claims of the neighbour's addresses,
// packets from them and a router advertisement. Unfiltered, a third
// namespace sees all of it and its ARP entry for the victim is poisoned;
// with the attacker's NIC filtered (security.mac_filtering,
// ipv4_filtering, ipv6_filtering) it sees none of it while everyone's
// own traffic flows. Port isolation then cuts the attacker off from its
// isolated neighbour only.
func TestNICFilterStopsSpoofing(t *testing.T) {
	needRoot(t)
	const br = "nwbrf"
	exec.Command("ip", "link", "del", br).Run()
	run(t, "ip", "link", "add", br, "type", "bridge")
	run(t, "ip", "link", "set", br, "up")
	t.Cleanup(func() { exec.Command("ip", "link", "del", br).Run() })
	d, _ := New(t.TempDir(), nil)
	ctx := context.Background()
	t.Cleanup(func() { d.RemoveNICFilter(ctx, "nwfa") })

	v := nsOnBridge(t, br, "nwfv", "nwfv", "00:16:3e:f0:00:01", "10.250.7.1", "fd42:7::1")
	a := nsOnBridge(t, br, "nwfa", "nwfa", "00:16:3e:f0:00:02", "10.250.7.2", "fd42:7::2")
	o := nsOnBridge(t, br, "nwfo", "nwfo", "00:16:3e:f0:00:03", "10.250.7.3", "fd42:7::3")
	primeNeighbours := func() {
		o.run(t, "ip", "neigh", "flush", "dev", "eth0")
		o.run(t, "ping", "-c", "1", "-W", "2", v.ip4.String())
		o.run(t, "ping", "-6", "-c", "1", "-W", "2", v.ip6.String())
		// The kernel ignores ARP updates within a second (locktime) of the last.
		time.Sleep(1100 * time.Millisecond)
	}
	victimMAC := func() string {
		out := o.run(t, "ip", "neigh", "show", v.ip4.String(), "dev", "eth0")
		return strings.Fields(out + " - - - -")[2]
	}

	primeNeighbours()
	seen := attack(t, a, v, o)
	for _, kind := range []string{"mac", "arp", "ipv4", "ndp", "ipv6", "ra"} {
		if seen[kind] == 0 {
			t.Errorf("without filtering the %s spoof did not reach the neighbour (seen %v): the test cannot tell a filter works", kind, seen)
		}
	}
	if got := victimMAC(); got != a.mac.String() {
		t.Errorf("without filtering the neighbour's ARP entry for %s is %s, not the attacker's %s", v.ip4, got, a.mac)
	}

	f := network.NICFilter{HostName: a.host, HWAddr: a.mac.String(), MAC: true, IPv4: true, IPv6: true,
		IPv4Nets: []*net.IPNet{{IP: a.ip4, Mask: net.CIDRMask(32, 32)}}, IPv6Nets: []*net.IPNet{{IP: a.ip6, Mask: net.CIDRMask(128, 128)}}}
	for i := 0; i < 2; i++ { // idempotent
		if err := d.ApplyNICFilter(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if hosts, err := d.NICFilters(ctx); err != nil || !slices.Contains(hosts, a.host) {
		t.Fatalf("NICFilters = %v, %v", hosts, err)
	}
	primeNeighbours()
	seen = attack(t, a, v, o)
	if len(seen) != 0 {
		t.Errorf("with filtering the neighbour still saw spoofed frames: %v", seen)
	}
	if got := victimMAC(); got != v.mac.String() {
		t.Errorf("with filtering the neighbour's ARP entry for %s is %s, not the victim's %s", v.ip4, got, v.mac)
	}
	// Everyone's own traffic flows, the attacker's too.
	a.run(t, "ping", "-c", "1", "-W", "2", o.ip4.String())
	a.run(t, "ping", "-6", "-c", "1", "-W", "2", o.ip6.String())
	v.run(t, "ping", "-c", "1", "-W", "2", o.ip4.String())

	if err := d.RemoveNICFilter(ctx, a.host); err != nil {
		t.Fatal(err)
	}
	if hosts, _ := d.NICFilters(ctx); slices.Contains(hosts, a.host) {
		t.Fatalf("filter table of %s left after RemoveNICFilter: %v", a.host, hosts)
	}
	if err := d.RemoveNICFilter(ctx, a.host); err != nil {
		t.Fatalf("removing a removed filter: %v", err)
	}

	// Port isolation: isolated ports do not reach each other.
	for _, n := range []testNS{a, o} {
		if err := d.SetPortIsolation(ctx, n.host, true); err != nil {
			t.Fatal(err)
		}
	}
	o.run(t, "ip", "neigh", "flush", "dev", "eth0")
	if a.ok("ping", "-c", "1", "-W", "1", o.ip4.String()) {
		t.Error("an isolated port reached another isolated port")
	}
	v.run(t, "ping", "-c", "1", "-W", "2", a.ip4.String())
	for _, n := range []testNS{a, o} {
		if err := d.SetPortIsolation(ctx, n.host, false); err != nil {
			t.Fatal(err)
		}
	}
	a.run(t, "ping", "-c", "1", "-W", "2", o.ip4.String())
}

// iperf3 measures the rate in bit/s from n to server (reverse: server to n).
func iperf(t *testing.T, n testNS, server net.IP, reverse bool) float64 {
	t.Helper()
	args := []string{"iperf3", "-c", server.String(), "-t", "2", "-J"}
	if reverse {
		args = append(args, "-R")
	}
	out := n.run(t, args...)
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.End.SumReceived.BitsPerSecond == 0 {
		t.Fatalf("iperf3 output: %v\n%s", err, out)
	}
	return res.End.SumReceived.BitsPerSecond
}

// Bandwidth limits on a NIC's host-side veth, measured by Debian's iperf3
// between two namespaces on a bridge: what the instance receives
// (limits.ingress) and sends (limits.egress, through an ifb) stays under
// its rate, a new rate applies at once, and without limits the link runs
// far faster again with nothing left behind.
func TestNICLimits(t *testing.T) {
	needRoot(t)
	const br = "nwbrl"
	exec.Command("ip", "link", "del", br).Run()
	run(t, "ip", "link", "add", br, "type", "bridge")
	run(t, "ip", "link", "set", br, "up")
	t.Cleanup(func() { exec.Command("ip", "link", "del", br).Run() })
	d, _ := New(t.TempDir(), nil)
	ctx := context.Background()
	c := nsOnBridge(t, br, "nwlc", "nwlc", "00:16:3e:f1:00:01", "10.250.8.1", "fd42:8::1")
	s := nsOnBridge(t, br, "nwls", "nwls", "00:16:3e:f1:00:02", "10.250.8.2", "fd42:8::2")
	t.Cleanup(func() { d.SetNICLimits(ctx, c.host, network.NICLimits{}) })
	srv := exec.Command("ip", "netns", "exec", s.ns, "iperf3", "-s", "-B", s.ip4.String())
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	waitUntil(t, "the iperf3 server", func() bool {
		out, _ := exec.Command("ip", "netns", "exec", s.ns, "ss", "-ltnH", "sport", "5201").Output()
		return len(out) > 0
	})

	if err := d.SetNICLimits(ctx, c.host, network.NICLimits{Ingress: 50e6, Egress: 20e6}); err != nil {
		t.Fatal(err)
	}
	if hosts, err := d.LimitedNICs(ctx); err != nil || !slices.Contains(hosts, c.host) {
		t.Fatalf("LimitedNICs = %v, %v", hosts, err)
	}
	in, out := iperf(t, c, s.ip4, true), iperf(t, c, s.ip4, false)
	t.Logf("limits.ingress=50Mbit limits.egress=20Mbit: received %.1f Mbit/s, sent %.1f Mbit/s", in/1e6, out/1e6)
	if in > 55e6 || in < 25e6 {
		t.Errorf("limits.ingress=50Mbit: the instance received %.1f Mbit/s", in/1e6)
	}
	if out > 22e6 || out < 10e6 {
		t.Errorf("limits.egress=20Mbit: the instance sent %.1f Mbit/s", out/1e6)
	}
	// Live: a new rate replaces the old one.
	if err := d.SetNICLimits(ctx, c.host, network.NICLimits{Ingress: 20e6}); err != nil {
		t.Fatal(err)
	}
	if in := iperf(t, c, s.ip4, true); in > 22e6 {
		t.Errorf("limits.ingress=20Mbit: the instance received %.1f Mbit/s", in/1e6)
	}
	if _, err := net.InterfaceByName(network.IFBName(c.host)); err == nil {
		t.Error("the ifb stays after limits.egress was unset")
	}
	if hosts, _ := d.LimitedNICs(ctx); slices.Contains(hosts, c.host) {
		t.Errorf("LimitedNICs still lists %s: %v", c.host, hosts)
	}
	if err := d.SetNICLimits(ctx, c.host, network.NICLimits{}); err != nil {
		t.Fatal(err)
	}
	in, out = iperf(t, c, s.ip4, true), iperf(t, c, s.ip4, false)
	t.Logf("unlimited: received %.0f Mbit/s, sent %.0f Mbit/s", in/1e6, out/1e6)
	if in < 200e6 || out < 200e6 {
		t.Errorf("without limits: received %.1f, sent %.1f Mbit/s", in/1e6, out/1e6)
	}
	if q := run(t, "tc", "qdisc", "show", "dev", c.host); strings.Contains(q, "htb") || strings.Contains(q, "ingress") {
		t.Errorf("qdiscs left after the limits were removed:\n%s", q)
	}
	// A stopped instance: its veth is gone, clearing still removes the ifb.
	if err := d.SetNICLimits(ctx, c.host, network.NICLimits{Egress: 1e6}); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "link", "del", c.host)
	if err := d.SetNICLimits(ctx, c.host, network.NICLimits{}); err != nil {
		t.Fatalf("clearing the limits of a NIC whose veth is gone: %v", err)
	}
	if _, err := net.InterfaceByName(network.IFBName(c.host)); err == nil {
		t.Error("the ifb of a gone veth stays after clearing")
	}
}
