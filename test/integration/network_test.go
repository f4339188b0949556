package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lodge/network/bridge"
)

type lease struct {
	Hostname string `json:"hostname"`
	Hwaddr   string `json:"hwaddr"`
	Address  string `json:"address"`
	Type     string `json:"type"`
}

func leases(t *testing.T, network string) map[string]lease {
	t.Helper()
	var ls []lease
	if err := json.Unmarshal([]byte(lodge(t, "network", "list-leases", network, "--format", "json")), &ls); err != nil {
		t.Fatal(err)
	}
	out := map[string]lease{}
	for _, l := range ls {
		out[l.Hostname] = l
	}
	return out
}

func waitLease(t *testing.T, network, host string) lease {
	t.Helper()
	var l lease
	waitFor(t, "a DHCP lease for "+host, 30*time.Second, func() bool {
		var ok bool
		l, ok = leases(t, network)[host]
		return ok
	})
	return l
}

func dnsmasqPid(t *testing.T, network string) int {
	t.Helper()
	b, _ := os.ReadFile(stateDir + "/networks/" + network + "/dnsmasq.pid")
	var pid int
	fmt.Sscan(string(b), &pid)
	return pid
}

// Two containers on the default managed network get leases, see each other
// by name, keep their connectivity across a lodged restart; a reservation
// gives a fixed address; a network in use cannot be deleted, and deleting a
// network removes its bridge, dnsmasq and nftables table.
func TestManagedNetwork(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	out := lodge(t, "network", "list", "--format", "csv")
	if !strings.Contains(out, defaultNet+",bridge,YES,10.") {
		t.Fatalf("default network missing from network list:\n%s", out)
	}
	for _, c := range []string{"nwc1", "nwc2"} {
		lodge(t, "init", "busybox", c)
		c := c
		t.Cleanup(func() { lodgeOut("delete", "-f", c) })
	}
	start := time.Now()
	lodge(t, "start", "nwc1")
	l1 := waitLease(t, defaultNet, "nwc1")
	t.Logf("busybox: lodge start returned and first lease seen after %v", time.Since(start))
	lodge(t, "start", "nwc2")
	l2 := waitLease(t, defaultNet, "nwc2")
	if l1.Address == l2.Address || !strings.HasPrefix(l1.Address, "10.") {
		t.Fatalf("leases: %+v %+v", l1, l2)
	}
	// list's IPV4 comes from the host side, for a DHCP address too.
	waitFor(t, "list to show the leased address", 10*time.Second, func() bool {
		out, _ := lodgeOut("list", "nwc1", "--format", "csv", "-c", "n4")
		return strings.Contains(out, l1.Address+" (eth0)")
	})
	// Names: dnsmasq answers nwc1.lodge with its lease, and the address answers.
	out = lodge(t, "exec", "nwc2", "--", "nslookup", "nwc1.lodge")
	if !strings.Contains(out, l1.Address) {
		t.Fatalf("nslookup nwc1.lodge from nwc2:\n%s", out)
	}
	if out, err := lodgeOut("exec", "nwc2", "--", "ping", "-c", "1", "-W", "2", l1.Address); err != nil {
		t.Fatalf("ping nwc1 from nwc2: %v %s", err, out)
	}
	// The host-side veth has the stable name lodged chose.
	var inst struct {
		State struct {
			Network map[string]struct {
				HostName string `json:"host_name"`
			} `json:"network"`
		} `json:"state"`
	}
	_, env := apiDo(t, "GET", "/1.0/instances/nwc1?recursion=1", "")
	json.Unmarshal(env.Metadata, &inst)
	veth := inst.State.Network["eth0"].HostName
	if !strings.HasPrefix(veth, "veth") {
		t.Fatalf("host-side name of eth0: %q", veth)
	}

	// A lodged restart adopts dnsmasq and keeps both containers reachable.
	pid := dnsmasqPid(t, defaultNet)
	stopDaemon(syscall.SIGTERM)
	if err := startDaemon(); err != nil {
		t.Fatal(err)
	}
	if got := dnsmasqPid(t, defaultNet); got != pid || syscall.Kill(pid, 0) != nil {
		t.Fatalf("dnsmasq pid %d -> %d across a lodged restart", pid, got)
	}
	for _, a := range []string{l1.Address, l2.Address} {
		if out, err := exec.Command("ping", "-c", "1", "-W", "2", a).CombinedOutput(); err != nil {
			t.Fatalf("ping %s from the host after restart: %v %s", a, err, out)
		}
	}

	// A reservation on the profile's eth0 (the device is overridden).
	prefix := l1.Address[:strings.LastIndex(l1.Address, ".")+1]
	fixed := prefix + "250"
	lodge(t, "config", "device", "set", "nwc1", "eth0", "ipv4.address="+fixed)
	if msg := lodgeFail(t, "config", "device", "set", "nwc2", "eth0", "ipv4.address="+fixed); !strings.Contains(msg, "nwc1") {
		t.Fatalf("a second reservation of %s: %s", fixed, msg)
	}
	lodge(t, "restart", "nwc1")
	waitFor(t, "nwc1 to get its reserved address", 30*time.Second, func() bool { return leases(t, defaultNet)["nwc1"].Address == fixed })
	if l := leases(t, defaultNet)["nwc1"]; l.Type != "static" {
		t.Fatalf("reserved lease type: %+v", l)
	}

	// Deleting a network in use is refused with its users.
	if msg := lodgeFail(t, "network", "delete", defaultNet); !strings.Contains(msg, "nwc1") || !strings.Contains(msg, "nwc2") {
		t.Fatalf("delete of a network in use: %s", msg)
	}
	// A second network, used, then deleted with everything it made.
	nw := fmt.Sprintf("nwt%d", os.Getpid()%10000)
	lodge(t, "network", "create", nw, "ipv4.address=auto", "ipv4.nat=false", "dns.domain=nwlan")
	t.Cleanup(func() { lodgeOut("network", "delete", nw) })
	if got := lodge(t, "network", "get", nw, "ipv4.nat"); strings.TrimSpace(got) != "false" {
		t.Fatalf("network get: %q", got)
	}
	lodge(t, "config", "device", "add", "nwc2", "eth1", "nic", "network="+nw)
	if msg := lodgeFail(t, "network", "delete", nw); !strings.Contains(msg, "nwc2") {
		t.Fatalf("delete in use: %s", msg)
	}
	lodge(t, "config", "device", "remove", "nwc2", "eth1")
	dpid := dnsmasqPid(t, nw)
	if info := lodge(t, "network", "info", nw); !strings.Contains(info, "State: up") {
		t.Fatalf("network info:\n%s", info)
	}
	lodge(t, "network", "delete", nw)
	if exec.Command("ip", "link", "show", nw).Run() == nil {
		t.Fatal("bridge left after network delete")
	}
	if exec.Command("nft", "list", "table", "ip", "lodge-"+nw).Run() == nil {
		t.Fatal("nftables table left after network delete")
	}
	if syscall.Kill(dpid, 0) == nil {
		t.Fatalf("dnsmasq %d left after network delete", dpid)
	}

	// Deleting a container removes its veth and its lease; dnsmasq goes on.
	lodge(t, "delete", "-f", "nwc1")
	if exec.Command("ip", "link", "show", veth).Run() == nil {
		t.Fatalf("veth %s left after delete", veth)
	}
	ls := leases(t, defaultNet)
	if _, ok := ls["nwc1"]; ok {
		t.Fatalf("lease of deleted nwc1 still there: %+v", ls)
	}
	for _, l := range ls {
		if l.Address == fixed {
			t.Fatalf("lease of deleted nwc1 still there: %+v", ls)
		}
	}
	if _, ok := ls["nwc2"]; !ok {
		t.Fatalf("nwc2's lease lost when nwc1's was released: %+v", ls)
	}
	if out, err := lodgeOut("exec", "nwc2", "--", "nslookup", "nwc2.lodge"); err != nil || !strings.Contains(out, l2.Address) {
		log, _ := os.ReadFile(stateDir + "/networks/" + defaultNet + "/dnsmasq.log")
		t.Fatalf("DNS after the lease release: %v %s\ndnsmasq log:\n%s", err, out, log)
	}
}

// A Debian container (isc-dhcp-client through ifupdown) gets its lease on
// the default network and resolves another container by name.
func TestManagedNetworkDebian(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "debian", "debian/12")
	ensureImage(t, "busybox", "busybox")
	lodge(t, "init", "debian/12", "nwdeb1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "nwdeb1") })
	lodge(t, "launch", "busybox", "nwc4")
	t.Cleanup(func() { lodgeOut("delete", "-f", "nwc4") })
	l4 := waitLease(t, defaultNet, "nwc4")
	start := time.Now()
	lodge(t, "start", "nwdeb1")
	l := waitLease(t, defaultNet, "nwdeb1")
	t.Logf("debian: lodge start to first lease %v", time.Since(start))
	waitFor(t, "list to show the Debian lease", 10*time.Second, func() bool {
		out, _ := lodgeOut("list", "nwdeb1", "--format", "csv", "-c", "n4")
		return strings.Contains(out, l.Address+" (eth0)")
	})
	out := lodge(t, "exec", "nwdeb1", "--", "getent", "hosts", "nwc4.lodge")
	if !strings.Contains(out, l4.Address) {
		t.Fatalf("getent hosts nwc4.lodge in Debian: %q", out)
	}
	if out, err := lodgeOut("exec", "nwdeb1", "--", "ping", "-c", "1", "-W", "2", "nwc4"); err != nil {
		t.Fatalf("ping nwc4 by short name (search domain from DHCP): %v %s", err, out)
	}

	// The image's networking.service drop-in: a user's restart of
	// networking takes eth0 down (ifdown runs the if-down.d hooks) and up
	// again; a shutdown of the container does not run ifdown at all.
	lodge(t, "exec", "nwdeb1", "--", "sh", "-c", `printf '#!/bin/sh\necho "$IFACE" >> /root/ifdown-ran\n' > /etc/network/if-down.d/zz-test && chmod +x /etc/network/if-down.d/zz-test`)
	lodge(t, "exec", "nwdeb1", "--", "systemctl", "restart", "networking")
	if out, _ := lodgeOut("exec", "nwdeb1", "--", "cat", "/root/ifdown-ran"); !strings.Contains(out, "eth0") {
		t.Fatalf("systemctl restart networking did not take eth0 down: %q", out)
	}
	waitLease(t, defaultNet, "nwdeb1")
	waitFor(t, "systemd running", 60*time.Second, func() bool {
		out, _ := lodgeOut("exec", "nwdeb1", "--", "systemctl", "is-system-running")
		return strings.TrimSpace(out) == "running" || strings.TrimSpace(out) == "degraded"
	})
	lodge(t, "exec", "nwdeb1", "--", "rm", "/root/ifdown-ran")
	lodge(t, "stop", "nwdeb1")
	lodge(t, "start", "nwdeb1")
	if out, err := lodgeOut("exec", "nwdeb1", "--", "cat", "/root/ifdown-ran"); err == nil {
		t.Fatalf("the shutdown ran ifdown: %q", out)
	}
}

// echoServer is a static program run inside a busybox container: TCP and
// UDP servers on port 7 that answer in upper case, and a TCP discard
// server on port 9 (for throughput).
const echoServer = `package main

import (
	"bytes"
	"io"
	"net"
)

func main() {
	pc, err := net.ListenPacket("udp", ":7")
	if err != nil {
		panic(err)
	}
	go func() {
		b := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(b)
			if err != nil {
				return
			}
			pc.WriteTo(bytes.ToUpper(b[:n]), from)
		}
	}()
	d, err := net.Listen("tcp", ":9")
	if err != nil {
		panic(err)
	}
	go func() {
		for {
			c, err := d.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	l, err := net.Listen("tcp", "127.0.0.1:7")
	if err != nil {
		panic(err)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			b, _ := io.ReadAll(c)
			c.Write(bytes.ToUpper(b))
			c.Close()
		}()
	}
}
`

// runEchoServer builds echoServer statically and starts it in a container.
func runEchoServer(t *testing.T, name string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "main.go")
	os.WriteFile(src, []byte(echoServer), 0o644)
	bin := filepath.Join(filepath.Dir(src), "nwecho")
	build := exec.Command("go", "build", "-o", bin, src)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the echo server: %v %s", err, out)
	}
	lodge(t, "file", "push", "--mode", "0755", bin, name+"/nwecho")
	lodge(t, "exec", name, "--", "sh", "-c", "/nwecho </dev/null >/dev/null 2>&1 &")
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := l.Addr().(*net.TCPAddr).Port
	u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return freePort(t)
	}
	u.Close()
	return p
}

func tcpAsk(addr, msg string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte(msg))
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	return string(b), err
}

func udpAsk(addr, msg string) (string, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	c.Write([]byte(msg))
	b := make([]byte, 2048)
	n, err := c.Read(b)
	return string(b[:n]), err
}

// Proxy devices forward TCP and UDP from the host's loopback to servers
// on the container's loopback, are added to a running container, survive a
// lodged restart, and stop with the container.
func TestProxyDevice(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "launch", "busybox", "nwp1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "nwp1") })
	runEchoServer(t, "nwp1")

	tp, up := freePort(t), freePort(t)
	taddr, uaddr := fmt.Sprintf("127.0.0.1:%d", tp), fmt.Sprintf("127.0.0.1:%d", up)
	lodge(t, "config", "device", "add", "nwp1", "web", "proxy", "listen=tcp:"+taddr, "connect=tcp:127.0.0.1:7")
	lodge(t, "config", "device", "add", "nwp1", "dns", "proxy", "listen=udp:"+uaddr, "connect=udp:127.0.0.1:7")
	if msg := lodgeFail(t, "config", "device", "add", "nwp1", "bad", "proxy", "listen=tcp:127.0.0.1:1", "connect=udp:127.0.0.1:7"); !strings.Contains(msg, "same protocol") {
		t.Fatalf("mixed protocols: %s", msg)
	}
	check := func(when string) {
		t.Helper()
		var got string
		var err error
		waitFor(t, "TCP through the proxy "+when, 10*time.Second, func() bool {
			got, err = tcpAsk(taddr, "hello tcp")
			return err == nil && got == "HELLO TCP"
		})
		if got, err = udpAsk(uaddr, "hello udp"); err != nil || got != "HELLO UDP" {
			t.Fatalf("UDP through the proxy %s: %q %v", when, got, err)
		}
	}
	check("after hot add")

	stopDaemon(syscall.SIGTERM)
	if got, err := tcpAsk(taddr, "down"); err != nil || got != "DOWN" {
		t.Fatalf("TCP through the proxy while lodged is down: %q %v", got, err)
	}
	if err := startDaemon(); err != nil {
		t.Fatal(err)
	}
	check("after a lodged restart")

	lodge(t, "config", "device", "remove", "nwp1", "dns")
	waitFor(t, "the UDP forwarder to go", 10*time.Second, func() bool {
		u, err := net.ListenPacket("udp", uaddr)
		if err == nil {
			u.Close()
		}
		return err == nil
	})
	lodge(t, "stop", "-f", "nwp1")
	if _, err := tcpAsk(taddr, "x"); err == nil {
		t.Fatal("the TCP forwarder still answers after stop")
	}
	// At the next start the forwarder comes back (the server does not: the
	// busybox container runs nothing of its own on port 7).
	lodge(t, "start", "nwp1")
	waitFor(t, "the TCP forwarder to listen again", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", taddr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// lanRouter makes a simulated LAN: a host bridge (for bridged NICs) and a
// veth (a parent for macvlan NICs), both wired into a network namespace that
// plays the LAN's router with its own dnsmasq. It returns the two subnet
// prefixes ("10.x.y.") and the router's lease file.
func lanRouter(t *testing.T, br, mvParent, ns string) (brPrefix, mvPrefix, leaseFile string) {
	t.Helper()
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	exec.Command("ip", "netns", "del", ns).Run()
	exec.Command("ip", "link", "del", br).Run()
	exec.Command("ip", "link", "del", mvParent).Run()
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", ns).Run()
		exec.Command("ip", "link", "del", br).Run()
		exec.Command("ip", "link", "del", mvParent).Run()
	})
	sub1, err := bridge.FreeSubnet()
	if err != nil {
		t.Fatal(err)
	}
	brPrefix = strings.TrimSuffix(sub1, "1/24")
	// A second /24 next to the first: x.y+1 (or x.y-1 at the top).
	parts := strings.Split(brPrefix, ".")
	var y int
	fmt.Sscan(parts[2], &y)
	if y < 254 {
		y++
	} else {
		y--
	}
	mvPrefix = fmt.Sprintf("%s.%s.%d.", parts[0], parts[1], y)
	run("ip", "netns", "add", ns)
	run("ip", "link", "add", br, "type", "bridge")
	run("ip", "link", "set", br, "up")
	run("ip", "link", "add", ns+"b", "type", "veth", "peer", "name", "lan0", "netns", ns)
	run("ip", "link", "set", ns+"b", "master", br, "up")
	run("ip", "link", "add", mvParent, "type", "veth", "peer", "name", "lan1", "netns", ns)
	run("ip", "link", "set", mvParent, "up")
	run("ip", "-n", ns, "addr", "add", brPrefix+"1/24", "dev", "lan0")
	run("ip", "-n", ns, "addr", "add", mvPrefix+"1/24", "dev", "lan1")
	run("ip", "-n", ns, "link", "set", "lan0", "up")
	run("ip", "-n", ns, "link", "set", "lan1", "up")
	run("ip", "-n", ns, "link", "set", "lo", "up")
	dir := t.TempDir()
	leaseFile = filepath.Join(dir, "leases")
	cmd := exec.Command("ip", "netns", "exec", ns, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-ping",
		"--no-hosts", "--bind-interfaces", "--interface=lan0", "--interface=lan1", "--except-interface=lo", "--user=root",
		"--dhcp-range="+brPrefix+"100,"+brPrefix+"150,1h", "--dhcp-range="+mvPrefix+"100,"+mvPrefix+"150,1h",
		"--dhcp-leasefile="+leaseFile, "--pid-file="+filepath.Join(dir, "pid"), "--domain=nwlan", "--local=/nwlan/")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return brPrefix, mvPrefix, leaseFile
}

// LAN presence: a container bridged onto a host bridge, and one on a
// macvlan of a host NIC, get their leases from the LAN's own DHCP server
// (a router namespace the test made), not from lodge.
func TestLANPresence(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	brPrefix, mvPrefix, leaseFile := lanRouter(t, "nwlanbr0", "nwmvp0", "nwrouter0")
	lodge(t, "init", "busybox", "nwlan1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "nwlan1") })
	lodge(t, "init", "busybox", "nwmv1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "nwmv1") })
	// eth0 of the instance replaces the default profile's eth0.
	lodge(t, "config", "device", "add", "nwlan1", "eth0", "nic", "nictype=bridged", "parent=nwlanbr0")
	lodge(t, "config", "device", "add", "nwmv1", "eth0", "nic", "nictype=macvlan", "parent=nwmvp0")
	for _, c := range []struct{ name, prefix string }{{"nwlan1", brPrefix}, {"nwmv1", mvPrefix}} {
		hw := strings.TrimSpace(lodge(t, "config", "get", c.name, "volatile.eth0.hwaddr"))
		lodge(t, "start", c.name)
		var addr string
		waitFor(t, c.name+"'s lease from the LAN router", 30*time.Second, func() bool {
			b, _ := os.ReadFile(leaseFile)
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) > 2 && f[1] == hw {
					addr = f[2]
					return true
				}
			}
			return false
		})
		if !strings.HasPrefix(addr, c.prefix) {
			t.Fatalf("%s leased %s, outside the LAN's %s0/24", c.name, addr, c.prefix)
		}
		waitFor(t, c.name+" to list its LAN address", 10*time.Second, func() bool {
			out, _ := lodgeOut("list", c.name, "--format", "csv", "-c", "n4")
			return strings.Contains(out, addr+" (eth0)")
		})
		if out, err := lodgeOut("exec", c.name, "--", "ping", "-c", "1", "-W", "2", c.prefix+"1"); err != nil {
			t.Fatalf("%s: ping the LAN router: %v %s", c.name, err, out)
		}
		if leases(t, defaultNet)[c.name].Address != "" {
			t.Fatalf("%s has a lease on lodge's own network too", c.name)
		}
	}
}

// NICs added to a running container appear inside it at once (a veth moved
// into its namespace, or a macvlan), with the MAC kept in volatile; removed,
// they go, host end included.
func TestNICHotplug(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	exec.Command("ip", "link", "del", "nwhpp0").Run()
	if out, err := exec.Command("ip", "link", "add", "nwhpp0", "type", "veth", "peer", "name", "nwhpp1").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", "nwhpp0").Run() })
	exec.Command("ip", "link", "set", "nwhpp0", "up").Run()
	lodge(t, "launch", "busybox", "nwhp1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "nwhp1") })
	lodge(t, "config", "device", "add", "nwhp1", "eth1", "nic", "network="+defaultNet)
	lodge(t, "config", "device", "add", "nwhp1", "eth2", "nic", "nictype=macvlan", "parent=nwhpp0")
	for _, dev := range []string{"eth1", "eth2"} {
		hw := strings.TrimSpace(lodge(t, "config", "get", "nwhp1", "volatile."+dev+".hwaddr"))
		out := lodge(t, "exec", "nwhp1", "--", "ip", "link", "show", dev)
		if hw == "" || !strings.Contains(out, hw) || !strings.Contains(out, "UP") {
			t.Fatalf("%s inside after hotplug (want MAC %q, up):\n%s", dev, hw, out)
		}
	}
	// The hot-plugged veth is on the bridge and DHCP answers on it.
	var inst struct {
		State struct {
			Network map[string]struct {
				HostName string `json:"host_name"`
			} `json:"network"`
		} `json:"state"`
	}
	_, env := apiDo(t, "GET", "/1.0/instances/nwhp1?recursion=1", "")
	json.Unmarshal(env.Metadata, &inst)
	veth := inst.State.Network["eth1"].HostName
	if out, _ := exec.Command("ip", "link", "show", veth).CombinedOutput(); !strings.Contains(string(out), "master "+defaultNet) {
		t.Fatalf("host end %q of eth1: %s", veth, out)
	}
	lodge(t, "exec", "nwhp1", "--", "udhcpc", "-i", "eth1", "-n", "-q", "-t", "10", "-T", "1", "-s", "/bin/true")
	lodge(t, "config", "device", "remove", "nwhp1", "eth1", "eth2")
	for _, dev := range []string{"eth1", "eth2"} {
		if out, err := lodgeOut("exec", "nwhp1", "--", "ip", "link", "show", dev); err == nil {
			t.Fatalf("%s still inside after removal:\n%s", dev, out)
		}
	}
	if exec.Command("ip", "link", "show", veth).Run() == nil {
		t.Fatalf("host end %s left after unplug", veth)
	}
	// After a restart the container has only the profile's eth0.
	lodge(t, "restart", "nwhp1")
	if out := lodge(t, "exec", "nwhp1", "--", "ls", "/sys/class/net"); strings.Fields(out)[0] != "eth0" || strings.Contains(out, "eth1") {
		t.Fatalf("links after restart: %q", out)
	}
}

// Debian's LXD client drives networks and devices too.
func TestUpstreamLXDNetwork(t *testing.T) {
	needIntegration(t)
	lxcBin, err := exec.LookPath("lxc")
	if err != nil {
		t.Skip("Debian's lxd-client is not installed (make deps installs it)")
	}
	ensureImage(t, "busybox", "busybox")
	home := t.TempDir()
	lxc := func(args ...string) (string, error) {
		cmd := exec.Command(lxcBin, args...)
		cmd.Env = append(os.Environ(), "LXD_DIR="+stateDir, "HOME="+home)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil {
			return stdout.String(), fmt.Errorf("lxc %s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.String(), nil
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := lxc(args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	nw := fmt.Sprintf("nwu%d", os.Getpid()%10000)
	t.Cleanup(func() { lodgeOut("delete", "-f", "nwu1"); lodgeOut("network", "delete", nw) })
	if out := run("network", "list", "--format", "csv"); !strings.Contains(out, defaultNet+",bridge,YES") {
		t.Fatalf("lxc network list: %s", out)
	}
	run("network", "create", nw, "ipv4.address=auto", "ipv4.nat=false")
	run("network", "set", nw, "dns.domain", "nwdom")
	if out := run("network", "get", nw, "dns.domain"); strings.TrimSpace(out) != "nwdom" {
		t.Fatalf("lxc network get: %q", out)
	}
	if out := run("network", "info", nw); !strings.Contains(out, "State: up") {
		t.Fatalf("lxc network info: %s", out)
	}
	run("launch", "busybox", "nwu1")
	run("config", "device", "add", "nwu1", "eth1", "nic", "network="+nw)
	if out := lodge(t, "exec", "nwu1", "--", "ls", "/sys/class/net"); !strings.Contains(out, "eth1") {
		t.Fatalf("eth1 not hot-plugged by lxc config device add: %q", out)
	}
	waitLease(t, defaultNet, "nwu1")
	if out := run("network", "list-leases", defaultNet, "--format", "csv"); !strings.Contains(out, "nwu1,") {
		t.Fatalf("lxc network list-leases: %s", out)
	}
	if _, err := lxc("network", "delete", nw); err == nil || !strings.Contains(err.Error(), "nwu1") {
		t.Fatalf("lxc network delete of a network in use: %v", err)
	}
	run("config", "device", "remove", "nwu1", "eth1")
	run("network", "delete", nw)
}
