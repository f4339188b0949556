package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Issue 18 end to end: real containers, and only software nobody here
// wrote to judge them (tcpdump, iperf3, Prometheus, curl, busybox and
// Debian's own tools). Addresses are documentation ranges reached from a
// network namespace the tests make, never from outside this machine.

// hsNetwork creates a managed network deleted when the test ends (after
// the instances made later, whose cleanups run first).
func hsNetwork(t *testing.T, name string, cfg ...string) {
	t.Helper()
	exec.Command("ip", "link", "del", name).Run()
	lodge(t, append([]string{"network", "create", name}, cfg...)...)
	t.Cleanup(func() {
		if _, err := lodgeOut("network", "delete", name); err != nil && !strings.Contains(err.Error(), "not found") {
			t.Errorf("network delete %s: %v", name, err)
		}
	})
}

// hsInstance makes an instance whose eth0 (the default profile's) is on
// network nw with the device keys given, started.
func hsInstance(t *testing.T, image, name, nw string, keys ...string) {
	t.Helper()
	lodge(t, "init", image, name)
	t.Cleanup(func() { lodgeOut("delete", "-f", name) })
	lodge(t, append([]string{"config", "device", "override", name, "eth0", "network=" + nw}, keys...)...)
	lodge(t, "start", name)
}

func volatileMAC(t *testing.T, name, dev string) string {
	t.Helper()
	return strings.TrimSpace(lodge(t, "config", "get", name, "volatile."+dev+".hwaddr"))
}

// globalIPv6 waits for the instance's eth0 to have a global IPv6 address
// (SLAAC from dnsmasq's router advertisements) and returns it.
func globalIPv6(t *testing.T, name string) string {
	t.Helper()
	re := regexp.MustCompile(`inet6 ([0-9a-f:]+)/64 scope global`)
	var addr string
	waitFor(t, name+" to get a global IPv6 address", 30*time.Second, func() bool {
		out, _ := lodgeOut("exec", name, "--", "ip", "-6", "addr", "show", "dev", "eth0")
		if m := re.FindStringSubmatch(out); m != nil && !strings.Contains(out, "tentative") {
			addr = m[1]
		}
		return addr != ""
	})
	return addr
}

// waitIPv4 waits for the instance's eth0 to carry its lease's address
// (dnsmasq's lease file keeps a restarted instance's old lease, so it
// tells nothing about the instance having applied it again).
func waitIPv4(t *testing.T, name, addr string) {
	t.Helper()
	waitFor(t, name+" to have "+addr+" on eth0", 30*time.Second, func() bool {
		out, _ := lodgeOut("exec", name, "--", "ip", "-4", "addr", "show", "dev", "eth0")
		return strings.Contains(out, "inet "+addr+"/")
	})
}

// inNetns runs a host command in an instance's network namespace.
func inNetns(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	_, pid := instanceState(t, name)
	if pid <= 0 {
		t.Fatalf("%s has no pid", name)
	}
	return exec.Command("nsenter", append([]string{"-t", fmt.Sprint(pid), "-n"}, args...)...)
}

// lockedBuffer is a bytes.Buffer safe to read while a process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tcpdumpIn captures the frames arriving on an instance's eth0 (tcpdump
// in its network namespace) until the returned function is called, which
// returns them, one line each with MACs.
func tcpdumpIn(t *testing.T, name string) func() string {
	t.Helper()
	cmd := inNetns(t, name, "tcpdump", "-Q", "in", "-i", "eth0", "-n", "-e", "-l", "-p")
	out, errb := &lockedBuffer{}, &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "tcpdump to listen", 10*time.Second, func() bool { return strings.Contains(errb.String(), "listening on") })
	return func() string {
		time.Sleep(500 * time.Millisecond) // the last frames cross the bridge
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
		return out.String()
	}
}

// Anti-spoofing with real containers: an attacker takes its neighbour's
// IPv4 address (busybox ip, arping -U, ping from it), IPv6 address (ping6
// from it, an unsolicited neighbour advertisement) and MAC. Without
// filtering the neighbour receives the ARP, NDP and MAC spoofs (tcpdump
// in its network namespace) and the host the spoofed IPv4 and IPv6
// packets (tcpdump on the bridge); with security.*_filtering on the
// attacker's NIC none of it gets through, the host still reaches the
// neighbour and the attacker's own traffic flows. The rules outlive a
// lodged restart and go with the instance's delete.
func TestHostingSpoofing(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	nw := fmt.Sprintf("hsf%d", os.Getpid()%10000)
	hsNetwork(t, nw, "ipv4.address=auto", "ipv6.address=auto")
	hsInstance(t, "busybox", "hsfv", nw)
	hsInstance(t, "busybox", "hsfa", nw)
	vip, aip := waitLease(t, nw, "hsfv").Address, waitLease(t, nw, "hsfa").Address
	vmac := volatileMAC(t, "hsfv", "eth0")
	v6 := globalIPv6(t, "hsfv")
	globalIPv6(t, "hsfa")
	gw := strings.Split(strings.TrimSpace(lodge(t, "network", "get", nw, "ipv4.address")), "/")[0]
	gw6 := strings.Split(strings.TrimSpace(lodge(t, "network", "get", nw, "ipv6.address")), "/")[0]
	hostCapture := func() func() string {
		cmd := exec.Command("tcpdump", "-i", nw, "-n", "-l", "-p", fmt.Sprintf("(icmp and src %s) or (icmp6 and src %s)", vip, v6))
		out, errb := &lockedBuffer{}, &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = out, errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		waitFor(t, "tcpdump on the bridge to listen", 10*time.Second, func() bool { return strings.Contains(errb.String(), "listening on") })
		return func() string {
			cmd.Process.Signal(syscall.SIGINT)
			cmd.Wait()
			return out.String()
		}
	}
	attack := func() map[string]int {
		t.Helper()
		stopV, stopHost := tcpdumpIn(t, "hsfv"), hostCapture()
		script := fmt.Sprintf(`ip addr add %[1]s/32 dev eth0
arping -U -c 2 -w 2 -I eth0 -s %[1]s %[1]s
ping -c 2 -W 1 -I %[1]s %[4]s
echo 0 >/proc/sys/net/ipv6/conf/eth0/accept_dad
echo 1 >/proc/sys/net/ipv6/conf/eth0/ndisc_notify
ip -6 addr add %[2]s/128 dev eth0
ping6 -c 2 -W 1 -I %[2]s %[5]s 2>&1
ip link set eth0 address %[3]s
arping -c 2 -w 2 -I eth0 %[4]s
true`, vip, v6, vmac, gw, gw6)
		out, err := lodgeOut("exec", "hsfa", "--", "sh", "-c", script)
		if err != nil {
			t.Fatalf("the attack: %v\n%s", err, out)
		}
		t.Logf("the attack, inside:\n%s", out)
		seen := map[string]int{}
		for _, line := range strings.Split(stopV(), "\n") {
			if strings.Contains(line, " "+vmac+" >") {
				seen["mac"]++ // tcpdump -Q in: the victim's MAC on a frame it did not send
			}
			if strings.Contains(line, "ARP") && (strings.Contains(line, "tell "+vip) || strings.Contains(line, vip+" is-at")) {
				seen["arp"]++
			}
			if strings.Contains(line, "neighbor advertisement") && strings.Contains(line, "tgt is "+v6) {
				seen["ndp"]++
			}
		}
		for _, line := range strings.Split(stopHost(), "\n") {
			switch {
			case strings.Contains(line, vip+" > "+gw) && strings.Contains(line, "echo request"):
				seen["ipv4"]++
			case strings.Contains(line, v6+" > "+gw6) && strings.Contains(line, "echo request"):
				seen["ipv6"]++
			}
		}
		return seen
	}

	seen := attack()
	for _, kind := range []string{"mac", "arp", "ndp", "ipv4", "ipv6"} {
		if seen[kind] == 0 {
			t.Errorf("without filtering the %s spoof did not get through (seen %v): this test cannot tell a filter works", kind, seen)
		}
	}

	lodge(t, "config", "device", "set", "hsfa", "eth0", "security.mac_filtering=true", "security.ipv4_filtering=true", "security.ipv6_filtering=true")
	// IPv4 filtering on a managed network reserves the address the NIC
	// has (its lease), so it keeps it.
	if got := strings.TrimSpace(lodge(t, "config", "get", "hsfa", "volatile.eth0.ipv4.address")); got != aip {
		t.Fatalf("the address allowed to the filtered NIC is %q, not its lease %s", got, aip)
	}
	lodge(t, "restart", "--force", "hsfa") // undo the attacker's changes inside
	waitIPv4(t, "hsfa", aip)
	globalIPv6(t, "hsfa")
	seen = attack()
	if len(seen) != 0 {
		t.Errorf("with filtering spoofed frames still got through: %v", seen)
	}
	if out, err := exec.Command("ping", "-c", "1", "-W", "2", vip).CombinedOutput(); err != nil {
		t.Errorf("host -> victim after the attack: %v %s", err, out)
	}
	if out, err := lodgeOut("exec", "hsfv", "--", "ping", "-c", "1", "-W", "2", gw); err != nil {
		t.Errorf("victim -> host after the attack: %v %s", err, out)
	}
	lodge(t, "restart", "--force", "hsfa")
	waitIPv4(t, "hsfa", aip)
	if out, err := lodgeOut("exec", "hsfa", "--", "ping", "-c", "1", "-W", "2", gw); err != nil {
		t.Errorf("the filtered instance's own IPv4: %v %s", err, out)
	}
	globalIPv6(t, "hsfa")
	if out, err := lodgeOut("exec", "hsfa", "--", "ping6", "-c", "1", "-W", "2", gw6); err != nil {
		t.Errorf("the filtered instance's own IPv6: %v %s", err, out)
	}
	// The rules are bound to the NIC's host-side name: the delete takes them away.
	var inst struct {
		State struct {
			Network map[string]struct {
				HostName string `json:"host_name"`
			} `json:"network"`
		} `json:"state"`
	}
	_, env := apiDo(t, "GET", "/1.0/instances/hsfa?recursion=1", "")
	json.Unmarshal(env.Metadata, &inst)
	table := "lodge-nic-" + inst.State.Network["eth0"].HostName
	if out, err := exec.Command("nft", "list", "table", "bridge", table).CombinedOutput(); err != nil || !strings.Contains(string(out), aip) {
		t.Fatalf("the filter table %s: %v\n%s", table, err, out)
	}
	// A lodged restart (the instance runs on) keeps the rules.
	stopDaemon(syscall.SIGTERM)
	if err := startDaemon(); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("nft", "list", "table", "bridge", table).CombinedOutput(); err != nil || !strings.Contains(string(out), aip) {
		t.Fatalf("the filter table %s after a lodged restart: %v\n%s", table, err, out)
	}
	lodge(t, "delete", "-f", "hsfa")
	if exec.Command("nft", "list", "table", "bridge", table).Run() == nil {
		t.Errorf("filter table %s left after delete", table)
	}
}

// iperfRate is the rate in bit/s iperf3 measures from the host to an
// instance (reverse: from the instance), the server run in the instance's
// network namespace by the host's iperf3.
func iperfRate(t *testing.T, name, addr string, reverse bool) float64 {
	t.Helper()
	port := fmt.Sprint(freePort(t))
	srv := inNetns(t, name, "iperf3", "-s", "-1", "-B", addr, "-p", port)
	var serr lockedBuffer
	srv.Stdout, srv.Stderr = &serr, &serr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	args := []string{"-c", addr, "-p", port, "-t", "2", "-J", "--connect-timeout", "3000"}
	if reverse {
		args = append(args, "-R")
	}
	var res struct {
		Error string `json:"error"`
		End   struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	var out []byte
	for i := 0; i < 30; i++ { // the server binds in a moment
		out, _ = exec.Command("iperf3", args...).Output()
		res.Error = ""
		if err := json.Unmarshal(out, &res); err != nil {
			res.Error = err.Error()
		}
		if res.Error == "" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if res.Error != "" || res.End.SumReceived.BitsPerSecond == 0 {
		t.Fatalf("iperf3 to %s: %s\n%s\nserver: %s", addr, res.Error, out, serr.String())
	}
	return res.End.SumReceived.BitsPerSecond
}

// Bandwidth limits, set and lifted on a running instance, measured by
// Debian's iperf3 between the host and the instance.
func TestHostingLimits(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "launch", "busybox", "hsl1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "hsl1") })
	ip := waitLease(t, defaultNet, "hsl1").Address
	lodge(t, "config", "device", "override", "hsl1", "eth0", "limits.ingress=50Mbit", "limits.egress=20Mbit")
	in, out := iperfRate(t, "hsl1", ip, false), iperfRate(t, "hsl1", ip, true)
	t.Logf("limits.ingress=50Mbit: %.1f Mbit/s received; limits.egress=20Mbit: %.1f Mbit/s sent", in/1e6, out/1e6)
	if in > 55e6 || in < 25e6 {
		t.Errorf("with limits.ingress=50Mbit the instance received %.1f Mbit/s, want at most 55", in/1e6)
	}
	if out > 22e6 || out < 10e6 {
		t.Errorf("with limits.egress=20Mbit the instance sent %.1f Mbit/s, want at most 22", out/1e6)
	}
	lodge(t, "config", "device", "unset", "hsl1", "eth0", "limits.ingress", "limits.egress")
	in, out = iperfRate(t, "hsl1", ip, false), iperfRate(t, "hsl1", ip, true)
	t.Logf("unlimited: %.1f Mbit/s received, %.1f Mbit/s sent", in/1e6, out/1e6)
	if in < 200e6 || out < 200e6 {
		t.Errorf("without limits: %.1f Mbit/s received, %.1f sent; want well above the limits", in/1e6, out/1e6)
	}
	links, _ := exec.Command("ip", "-d", "link", "show", "type", "ifb").CombinedOutput()
	if strings.Contains(string(links), "lodge limits") {
		t.Errorf("an ifb of lodge's is left after the limits went:\n%s", links)
	}
}

// IPv6 on a managed network: a busybox and a Debian container get SLAAC
// addresses from dnsmasq's router advertisements, reach each other by
// name (AAAA) and the host over IPv6; the NAT66 rules are there, and go
// with the network.
func TestHostingIPv6(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	ensureImage(t, "debian", "debian/12")
	nw := fmt.Sprintf("hs6n%d", os.Getpid()%10000)
	hsNetwork(t, nw, "ipv4.address=auto", "ipv6.address=auto")
	sub := strings.TrimSpace(lodge(t, "network", "get", nw, "ipv6.address"))
	if !strings.HasPrefix(sub, "fd") || !strings.HasSuffix(sub, "::1/64") || strings.TrimSpace(lodge(t, "network", "get", nw, "ipv6.nat")) != "true" {
		t.Fatalf("ipv6.address=auto stored as %q, ipv6.nat %q", sub, lodge(t, "network", "get", nw, "ipv6.nat"))
	}
	gw6 := strings.TrimSuffix(sub, "/64")
	_, subnet, _ := net.ParseCIDR(sub)
	rules, err := exec.Command("nft", "list", "table", "ip6", "lodge-"+nw).CombinedOutput()
	if err != nil || !strings.Contains(string(rules), "masquerade") {
		t.Fatalf("NAT66 rules: %v\n%s", err, rules)
	}
	start := time.Now()
	hsInstance(t, "busybox", "hs6b", nw)
	waitLease(t, nw, "hs6b")
	leased := time.Now()
	b6 := globalIPv6(t, "hs6b")
	t.Logf("busybox: lease %v after start, global IPv6 %s %v after the lease", leased.Sub(start), b6, time.Since(leased))
	// A DHCP renew (the image's udhcpc script, run as udhcpc runs it)
	// leaves the IPv6 addresses alone: the link-local and the SLAAC one.
	bip := leases(t, nw)["hs6b"].Address
	if out, err := lodgeOut("exec", "hs6b", "--", "sh", "-c", `export interface=eth0 ip=`+bip+` router=$(ip -4 route show default | cut -d" " -f3)
export dns="$(sed -n "s/^nameserver //p" /etc/resolv.conf)" domain="$(sed -n "s/^search //p" /etc/resolv.conf)"
/etc/udhcpc.script renew && ip -6 addr show dev eth0`); err != nil ||
		!strings.Contains(out, b6+"/64") || !strings.Contains(out, "inet6 fe80::") {
		t.Fatalf("IPv6 addresses after a DHCP renew: %v\n%s", err, out)
	}
	hsInstance(t, "debian/12", "hs6d", nw)
	d6 := globalIPv6(t, "hs6d")
	for _, a := range []string{b6, d6} {
		if ip := net.ParseIP(a); ip == nil || !subnet.Contains(ip) {
			t.Fatalf("address %s is not in %s", a, sub)
		}
	}
	// By name, AAAA: dnsmasq learns each SLAAC address (ra-names).
	var last string
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(last, d6); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			dd, _ := lodgeOut("exec", "hs6d", "--", "ip", "-6", "addr")
			t.Fatalf("busybox did not resolve the Debian container's AAAA %s:\n%s\nDebian's addresses:\n%s", d6, last, dd)
		}
		last, _ = lodgeOut("exec", "hs6b", "--", "nslookup", "-type=AAAA", "hs6d.lodge")
	}
	if out, err := lodgeOut("exec", "hs6b", "--", "ping6", "-c", "1", "-W", "2", "hs6d.lodge"); err != nil || !strings.Contains(out, d6) {
		t.Fatalf("busybox -> Debian by name over IPv6: %v\n%s", err, out)
	}
	waitFor(t, "Debian to resolve the busybox container's AAAA", 30*time.Second, func() bool {
		out, _ := lodgeOut("exec", "hs6d", "--", "getent", "ahostsv6", "hs6b.lodge")
		return strings.Contains(out, b6)
	})
	if out, err := lodgeOut("exec", "hs6d", "--", "ping", "-6", "-c", "1", "-W", "2", "hs6b.lodge"); err != nil {
		t.Fatalf("Debian -> busybox by name over IPv6: %v\n%s", err, out)
	}
	// The host over IPv6, both ways.
	if out, err := lodgeOut("exec", "hs6b", "--", "ping6", "-c", "1", "-W", "2", gw6); err != nil {
		t.Fatalf("busybox -> host over IPv6: %v\n%s", err, out)
	}
	if out, err := exec.Command("ping", "-6", "-c", "1", "-W", "2", d6).CombinedOutput(); err != nil {
		t.Fatalf("host -> Debian over IPv6: %v\n%s", err, out)
	}
	lodge(t, "delete", "-f", "hs6b", "hs6d")
	lodge(t, "network", "delete", nw)
	if exec.Command("nft", "list", "table", "ip6", "lodge-"+nw).Run() == nil {
		t.Fatal("the NAT66 table is left after the network's delete")
	}
}

// hsInternet makes "the internet side": a network namespace joined to the
// host by a veth pair whose host end (up) is the parent of routed NICs,
// on 203.0.113.0/24 and 2001:db8:77::/64, with its default routes through
// the host. Nothing here reaches beyond this machine.
func hsInternet(t *testing.T, ns, up string) {
	t.Helper()
	exec.Command("ip", "netns", "del", ns).Run()
	exec.Command("ip", "link", "del", up).Run()
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", ns).Run()
		exec.Command("ip", "link", "del", up).Run()
	})
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", up, "type", "veth", "peer", "name", up + "p"},
		{"ip", "link", "set", up + "p", "netns", ns},
		{"ip", "addr", "add", "203.0.113.1/24", "dev", up},
		{"ip", "-6", "addr", "add", "2001:db8:77::1/64", "dev", up, "nodad"},
		{"ip", "link", "set", up, "up"},
		{"ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"},
		{"ip", "netns", "exec", ns, "ip", "addr", "add", "203.0.113.2/24", "dev", up + "p"},
		{"ip", "netns", "exec", ns, "ip", "-6", "addr", "add", "2001:db8:77::2/64", "dev", up + "p", "nodad"},
		{"ip", "netns", "exec", ns, "ip", "link", "set", up + "p", "up"},
		{"ip", "netns", "exec", ns, "ip", "route", "add", "default", "via", "203.0.113.1"},
		{"ip", "netns", "exec", ns, "ip", "-6", "route", "add", "default", "via", "2001:db8:77::1"},
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", s, err, out)
		}
	}
	// What LXD asks of a routed NIC's parent, set on this test's own link.
	for _, k := range []string{"ipv4/conf/" + up + "/forwarding", "ipv6/conf/" + up + "/forwarding", "ipv6/conf/" + up + "/proxy_ndp"} {
		if err := os.WriteFile("/proc/sys/net/"+k, []byte("1"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func nsCurl(ns, url string) (string, error) {
	out, err := exec.Command("ip", "netns", "exec", ns, "curl", "-sS", "-g", "--max-time", "5", url).CombinedOutput()
	return string(out), err
}

// A routed NIC with a public address and network forwards, reached from
// "the internet side": the host answers ARP and NDP for the routed
// addresses on the parent and routes them to the instance; a forward's
// listen address sends port 80 to one port of an instance and every
// other to the same port, over IPv4 and IPv6, TCP and UDP; all of it goes away with
// the instance's stop and the forward's delete.
func TestHostingRoutedAndForwards(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	const ns, up = "hsinet", "hsup0"
	nw := fmt.Sprintf("hsw%d", os.Getpid()%10000)
	// An IPv6 network first: lodge turns the host's IPv6 forwarding on
	// as LXD does (keeping RA on interfaces that use it).
	hsNetwork(t, nw, "ipv4.address=auto", "ipv6.address=auto")
	hsInternet(t, ns, up)

	// The routed instance has no other NIC: a profile with the root disk only.
	lodge(t, "profile", "create", "hsroot")
	t.Cleanup(func() { lodgeOut("profile", "delete", "hsroot") })
	lodge(t, "profile", "device", "add", "hsroot", "root", "disk", "path=/", "pool=default")
	lodge(t, "init", "busybox", "hsr1", "-p", "hsroot")
	t.Cleanup(func() { lodgeOut("delete", "-f", "hsr1") })
	lodge(t, "config", "device", "add", "hsr1", "pub", "nic", "nictype=routed", "parent="+up,
		"ipv4.address=203.0.113.10", "ipv6.address=2001:db8:77::10")
	lodge(t, "start", "hsr1")
	ping := func(addr string) error {
		args := []string{"netns", "exec", ns, "ping", "-c", "1", "-W", "2", addr}
		var err error
		for i := 0; i < 10; i++ { // the instance's link comes up in a moment
			if err = exec.Command("ip", args...).Run(); err == nil {
				return nil
			}
		}
		return err
	}
	for _, a := range []string{"203.0.113.10", "2001:db8:77::10"} {
		if err := ping(a); err != nil {
			out, _ := lodgeOut("exec", "hsr1", "--", "ip", "addr")
			neigh, _ := exec.Command("ip", "neigh", "show", "proxy", "dev", up).CombinedOutput()
			t.Fatalf("the internet side -> routed %s: %v\ninside:\n%s\nproxy entries on %s:\n%s", a, err, out, up, neigh)
		}
	}
	if out, err := lodgeOut("exec", "hsr1", "--", "ping", "-c", "1", "-W", "2", "203.0.113.2"); err != nil {
		t.Fatalf("routed instance -> the internet side: %v %s", err, out)
	}
	lodge(t, "stop", "hsr1")
	if out, _ := exec.Command("ip", "neigh", "show", "proxy", "dev", up).CombinedOutput(); strings.Contains(string(out), "203.0.113.10") {
		t.Fatalf("proxy entries left after the stop:\n%s", out)
	}
	if exec.Command("ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", "203.0.113.10").Run() == nil {
		t.Fatal("a stopped routed instance's address still answers")
	}

	// Forwards to a web server on the managed network.
	hsInstance(t, "busybox", "hsweb", nw)
	web4 := waitLease(t, nw, "hsweb").Address
	web6 := globalIPv6(t, "hsweb")
	lodge(t, "exec", "hsweb", "--", "sh", "-c", "mkdir -p /www && echo hello-forward >/www/index.html && httpd -p 8080 -h /www && httpd -p 8081 -h /www")
	// The servers answer on the instance's own addresses first (the host
	// reaches them directly): what follows tests the forwards alone.
	for _, u := range []string{"http://" + web4 + ":8080/", "http://[" + web6 + "]:8081/"} {
		waitFor(t, "the instance's web server at "+u, 10*time.Second, func() bool {
			out, err := exec.Command("curl", "-sS", "-g", "--max-time", "2", u).CombinedOutput()
			return err == nil && strings.TrimSpace(string(out)) == "hello-forward"
		})
	}
	lodge(t, "network", "forward", "create", nw, "198.51.100.20", "target_address="+web4)
	lodge(t, "network", "forward", "port", "add", nw, "198.51.100.20", "tcp", "80", web4, "8080")
	lodge(t, "network", "forward", "create", nw, "2001:db8:78::20")
	lodge(t, "network", "forward", "port", "add", nw, "2001:db8:78::20", "tcp", "80,81", web6, "8080,8081")
	if out := lodge(t, "network", "forward", "list", nw, "--format", "csv"); !strings.Contains(out, "198.51.100.20,,"+web4+",1") {
		t.Fatalf("forward list:\n%s", out)
	}
	for _, url := range []string{"http://198.51.100.20/", "http://198.51.100.20:8081/", "http://[2001:db8:78::20]/", "http://[2001:db8:78::20]:81/"} {
		if out, err := nsCurl(ns, url); err != nil || strings.TrimSpace(out) != "hello-forward" {
			rules, _ := exec.Command("nft", "list", "table", "ip", "lodge-"+nw).CombinedOutput()
			rules6, _ := exec.Command("nft", "list", "table", "ip6", "lodge-"+nw).CombinedOutput()
			fwd, _ := os.ReadFile("/proc/sys/net/ipv6/conf/all/forwarding")
			inside, _ := lodgeOut("exec", "hsweb", "--", "sh", "-c", "ip -6 addr; ip -6 route; netstat -ltn; ip -6 neigh")
			p6, _ := exec.Command("ping", "-6", "-c", "1", "-W", "2", web6).CombinedOutput()
			n6, _ := exec.Command("ip", "-6", "neigh").CombinedOutput()
			time.Sleep(3 * time.Second)
			again, aerr := nsCurl(ns, url)
			inside += fmt.Sprintf("\nhost ping6: %s\nhost neigh: %s\ncurl 3 s later: %v %s", p6, n6, aerr, again)
			t.Fatalf("the internet side -> %s: %v %q\n%s\n%s\nipv6 forwarding: %s\ninside:\n%s", url, err, out, rules, rules6, fwd, inside)
		}
	}
	// A port the IPv6 forward does not list goes nowhere.
	if out, err := nsCurl(ns, "http://[2001:db8:78::20]:8080/"); err == nil {
		t.Fatalf("an unlisted port of a forward without a default target answered: %q", out)
	}
	// UDP: a datagram to a listed port arrives at the target port (tcpdump
	// in the instance's namespace; busybox has no UDP listener).
	lodge(t, "network", "forward", "port", "add", nw, "198.51.100.20", "udp", "5000", web4, "6000")
	stop := tcpdumpIn(t, "hsweb")
	if out, err := exec.Command("ip", "netns", "exec", ns, "bash", "-c", "echo hi-udp >/dev/udp/198.51.100.20/5000").CombinedOutput(); err != nil {
		t.Fatalf("a UDP datagram from the internet side: %v %s", err, out)
	}
	if got := stop(); !regexp.MustCompile(`203\.0\.113\.2\.\d+ > ` + regexp.QuoteMeta(web4) + `\.6000: UDP`).MatchString(got) {
		t.Fatalf("the UDP forward 198.51.100.20:5000 -> %s:6000 delivered nothing there:\n%s", web4, got)
	}
	lodge(t, "network", "forward", "delete", nw, "198.51.100.20")
	if out, err := nsCurl(ns, "http://198.51.100.20/"); err == nil {
		t.Fatalf("a deleted forward still answers: %q", out)
	}
	rules, _ := exec.Command("nft", "list", "table", "ip", "lodge-"+nw).CombinedOutput()
	if strings.Contains(string(rules), "198.51.100.20") {
		t.Fatalf("the deleted forward's rules are left:\n%s", rules)
	}
}

// Debian's Prometheus scrapes lodged's core.metrics_address over TLS with
// a certificate of type metrics that `lodge config trust add --type
// metrics` made, and its own query API has each instance's CPU and
// memory series with LXD's labels after two scrapes. The HTTPS API serves
// the same to that certificate, and nothing else.
func TestHostingPrometheus(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	for _, n := range []string{"hsp1", "hsp2"} {
		lodge(t, "launch", "busybox", n)
		n := n
		t.Cleanup(func() { lodgeOut("delete", "-f", n) })
	}
	dir := t.TempDir()
	cmd := lodgeCmd("config", "trust", "add", "--type", "metrics", "hsprom")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "trusted as metrics") {
		t.Fatalf("trust add --type metrics: %v %s", err, out)
	}
	t.Cleanup(func() { lodgeOut("config", "trust", "remove", "hsprom") })
	if out := lodge(t, "config", "trust", "list"); !strings.Contains(out, "metrics") || !strings.Contains(out, "hsprom") {
		t.Fatalf("trust list:\n%s", out)
	}
	mport, hport, pport := freePort(t), freePort(t), freePort(t)
	lodge(t, "config", "set", "core.metrics_address", fmt.Sprintf("127.0.0.1:%d", mport))
	t.Cleanup(func() { lodgeOut("config", "unset", "core.metrics_address") })
	crt, key := filepath.Join(dir, "hsprom.crt"), filepath.Join(dir, "hsprom.key")
	curl := func(url string) (string, error) {
		out, err := exec.Command("curl", "-sS", "-k", "--max-time", "5", "--cert", crt, "--key", key, url).CombinedOutput()
		return string(out), err
	}
	// The HTTPS API: the metrics, and nothing else, for this certificate.
	lodge(t, "config", "set", "core.https_address", fmt.Sprintf("127.0.0.1:%d", hport))
	t.Cleanup(func() { lodgeOut("config", "unset", "core.https_address") })
	if out, err := curl(fmt.Sprintf("https://127.0.0.1:%d/1.0/metrics", hport)); err != nil || !strings.Contains(out, `name="hsp1"`) {
		t.Fatalf("/1.0/metrics on the HTTPS API: %v %s", err, out)
	}
	if out, _ := curl(fmt.Sprintf("https://127.0.0.1:%d/1.0/instances", hport)); !strings.Contains(out, `"error_code":403`) {
		t.Fatalf("the metrics certificate on /1.0/instances: %s", out)
	}
	if out, _ := exec.Command("curl", "-sS", "-k", "--max-time", "5", fmt.Sprintf("https://127.0.0.1:%d/1.0/metrics", mport)).CombinedOutput(); !strings.Contains(string(out), `"error_code":403`) {
		t.Fatalf("untrusted on the metrics listener: %s", out)
	}

	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
- job_name: lodged
  metrics_path: /1.0/metrics
  scheme: https
  static_configs:
  - targets: ['127.0.0.1:%d']
  tls_config:
    cert_file: %s
    key_file: %s
    insecure_skip_verify: true
`, mport, crt, key)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := exec.Command("prometheus", "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", pport))
	var plog lockedBuffer
	prom.Stdout, prom.Stderr = &plog, &plog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prom.Process.Signal(syscall.SIGTERM); prom.Wait() })
	type series struct {
		Metric map[string]string `json:"metric"`
		Value  []any             `json:"value"`
	}
	query := func(q string) []series {
		out, err := exec.Command("curl", "-sS", "--max-time", "5", "--get", "--data-urlencode", "query="+q,
			fmt.Sprintf("http://127.0.0.1:%d/api/v1/query", pport)).Output()
		if err != nil {
			return nil
		}
		var r struct {
			Status string `json:"status"`
			Data   struct {
				Result []series `json:"result"`
			} `json:"data"`
		}
		if json.Unmarshal(out, &r) != nil || r.Status != "success" {
			return nil
		}
		return r.Data.Result
	}
	waitFor(t, "Prometheus to have scraped lodged twice", 60*time.Second, func() bool {
		r := query(`count_over_time(lxd_uptime_seconds[1m])`)
		var n float64
		if len(r) == 1 {
			fmt.Sscan(fmt.Sprint(r[0].Value[1]), &n)
		}
		return n >= 2
	})
	if r := query(`up{job="lodged"}`); len(r) != 1 || fmt.Sprint(r[0].Value[1]) != "1" {
		t.Fatalf("up: %+v\n%s", r, plog.String())
	}
	for _, n := range []string{"hsp1", "hsp2"} {
		cpu := query(fmt.Sprintf(`lxd_cpu_seconds_total{name=%q}`, n))
		modes := map[string]bool{}
		for _, s := range cpu {
			if s.Metric["project"] != "default" || s.Metric["type"] != "container" || s.Metric["cpu"] == "" {
				t.Errorf("%s CPU series labels: %v", n, s.Metric)
			}
			modes[s.Metric["mode"]] = true
		}
		if !modes["user"] || !modes["system"] {
			t.Errorf("%s CPU series by mode: %+v", n, cpu)
		}
		mem := query(fmt.Sprintf(`lxd_memory_MemTotal_bytes{name=%q,project="default",type="container"}`, n))
		if len(mem) != 1 || fmt.Sprint(mem[0].Value[1]) == "0" {
			t.Errorf("%s memory series: %+v", n, mem)
		}
	}
	if r := query(`lxd_instances{project="default",type="container"}`); len(r) != 1 {
		t.Errorf("lxd_instances: %+v", r)
	}
}
