// Package bridge is lodge's managed-bridge network driver: a Linux bridge
// made with netlink, a dnsmasq per network for DHCP and DNS (supervised,
// and re-adopted from its pidfile after a daemon restart), and NAT in an
// nftables table of lodge's own.
package bridge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"lodge/network"
)

// Driver implements network.Driver with Linux bridges.
type Driver struct {
	dir string // DIR/<name>/ holds dnsmasq's pid, lease, hosts and log files
	log *slog.Logger

	mu    sync.Mutex
	procs map[string]*dnsmasq
}

var _ network.Driver = (*Driver)(nil)

// New returns a driver keeping its per-network files under dir.
func New(dir string, log *slog.Logger) (*Driver, error) {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("network state directory %s: %w", dir, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Driver{dir: dir, log: log, procs: map[string]*dnsmasq{}}, nil
}

func (d *Driver) paths(name string) network.Paths {
	dir := filepath.Join(d.dir, name)
	return network.Paths{Dir: dir, PidFile: filepath.Join(dir, "dnsmasq.pid"),
		LeaseFile: filepath.Join(dir, "dnsmasq.leases"), HostsFile: filepath.Join(dir, "dnsmasq.hosts")}
}

// UsedSubnets lists the host's IPv4 routes and addresses (all tables).
func UsedSubnets() ([]*net.IPNet, error) {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: syscall.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("read host routes: %w", err)
	}
	var out []*net.IPNet
	for _, r := range routes {
		if r.Dst != nil {
			out = append(out, r.Dst)
		}
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("read host addresses: %w", err)
	}
	for _, a := range addrs {
		out = append(out, &net.IPNet{IP: a.IP.Mask(a.Mask), Mask: a.Mask})
	}
	return out, nil
}

// FreeSubnet picks a 10.x.y.1/24 that overlaps no host route or address.
func (d *Driver) FreeSubnet() (string, error) { return FreeSubnet() }

// FreeSubnetPrefix picks a 10.x.y.1/prefix that overlaps no host route or
// address.
func (d *Driver) FreeSubnetPrefix(prefix int) (string, error) { return FreeSubnetPrefix(prefix) }

// FreeSubnet picks a 10.x.y.1/24 that overlaps no host route or address.
func FreeSubnet() (string, error) { return FreeSubnetPrefix(24) }

// FreeSubnetPrefix picks a 10.x.y.1/prefix (16 to 24) that overlaps no
// host route or address.
func FreeSubnetPrefix(prefix int) (string, error) {
	used, err := UsedSubnets()
	if err != nil {
		return "", err
	}
	return network.PickSubnetPrefix(used, prefix, rand.IntN)
}

// FreeSubnetV6 implements network.Driver (the function FreeSubnetV6).
func (d *Driver) FreeSubnetV6(name string) (string, error) { return FreeSubnetV6(name) }

// FreeSubnetV6 resolves ipv6.address=auto for a network: the first of
// its machine-id-derived unique local /64s (network.AutoIPv6) that
// overlaps no host IPv6 route or address.
func FreeSubnetV6(name string) (string, error) {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Table: syscall.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return "", fmt.Errorf("read host IPv6 routes: %w", err)
	}
	var used []*net.IPNet
	for _, r := range routes {
		if r.Dst != nil && !r.Dst.IP.IsLinkLocalUnicast() && !r.Dst.IP.IsMulticast() {
			used = append(used, r.Dst)
		}
	}
	return network.PickIPv6(machineID(), name, used)
}

// Ensure makes the bridge, its address, NAT and dnsmasq match n.Config.
func (d *Driver) Ensure(ctx context.Context, n network.Network) error {
	if err := network.ValidateName(n.Name); err != nil {
		return err
	}
	n.Config = network.ResolveAuto(n.Name, n.Config, machineID())
	ip, subnet, err := network.ParseIPv4Address(n.Config["ipv4.address"])
	if err != nil {
		return network.Invalidf("network %q: ipv4.address: %v", n.Name, err)
	}
	ip6, subnet6, err := network.ParseIPv6Address(n.Config["ipv6.address"])
	if err != nil {
		return network.Invalidf("network %q: ipv6.address: %v", n.Name, err)
	}
	link, err := netlink.LinkByName(n.Name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("network %q: look up the bridge: %w", n.Name, err)
		}
		br := &netlink.Bridge{LinkAttrs: netlink.NewLinkAttrs()}
		br.Name = n.Name
		if err := netlink.LinkAdd(br); err != nil {
			return fmt.Errorf("network %q: create the bridge: %w", n.Name, err)
		}
		if link, err = netlink.LinkByName(n.Name); err != nil {
			return fmt.Errorf("network %q: created bridge vanished: %w", n.Name, err)
		}
	} else if link.Type() != "bridge" {
		return network.Invalidf("network %q: a host interface of that name exists and is a %s, not a bridge; pick another name", n.Name, link.Type())
	}
	if link.Attrs().Alias != d.alias() {
		if err := netlink.LinkSetAlias(link, d.alias()); err != nil {
			return fmt.Errorf("network %q: mark the bridge as this lodged's: %w", n.Name, err)
		}
	}
	// A bridge without its own MAC takes its ports' lowest one, so it
	// changes whenever a container stops or starts and every container's
	// ARP entry for the gateway goes stale: give it a fixed one.
	if mac := bridgeMAC(n.Name); link.Attrs().HardwareAddr.String() != mac.String() {
		if err := netlink.LinkSetHardwareAddr(link, mac); err != nil {
			return fmt.Errorf("network %q: set the bridge's MAC address: %w", n.Name, err)
		}
	}
	if m := n.Config["bridge.mtu"]; m != "" {
		mtu, _ := strconv.Atoi(m)
		if link.Attrs().MTU != mtu {
			if err := netlink.LinkSetMTU(link, mtu); err != nil {
				return fmt.Errorf("network %q: set MTU %d: %w", n.Name, mtu, err)
			}
		}
	}
	if err := syncAddr(link, ip, subnet); err != nil {
		return fmt.Errorf("network %q: %w", n.Name, err)
	}
	if subnet6 != nil {
		// The bridge's IPv6 is off until it has an address of ours;
		// dnsmasq sends router advertisements from it.
		if err := setSysctl("net/ipv6/conf/"+n.Name+"/disable_ipv6", "0"); err != nil {
			return fmt.Errorf("network %q: enable IPv6 on the bridge: %w", n.Name, err)
		}
		if err := setSysctl("net/ipv6/conf/"+n.Name+"/accept_ra", "0"); err != nil {
			return fmt.Errorf("network %q: %w", n.Name, err)
		}
		// The kernel runs duplicate address detection again each time the
		// bridge regains a carrier (its first port comes up): for a second
		// its link-local address, the source of dnsmasq's router
		// advertisements, is unusable, the first instance's router
		// solicitation goes unanswered and it waits 4 s to ask again.
		if err := setSysctl("net/ipv6/conf/"+n.Name+"/accept_dad", "0"); err != nil {
			return fmt.Errorf("network %q: %w", n.Name, err)
		}
	}
	if err := syncAddr6(link, ip6, subnet6); err != nil {
		return fmt.Errorf("network %q: %w", n.Name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("network %q: set the bridge up: %w", n.Name, err)
	}
	if subnet != nil && network.IsTrue(n.Config["ipv4.nat"], true) || len(n.Forwards) > 0 {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
			return fmt.Errorf("network %q: enable IPv4 forwarding: %w", n.Name, err)
		}
	}
	if subnet6 != nil {
		if err := enableIPv6Forwarding(); err != nil {
			return fmt.Errorf("network %q: enable IPv6 forwarding: %w", n.Name, err)
		}
	}
	rules, err := network.NftRuleset(n.Name, n.Config, n.Forwards)
	if err != nil {
		return err
	}
	if err := nft(ctx, rules); err != nil {
		return fmt.Errorf("network %q: apply nftables tables ip and ip6 %s: %w", n.Name, network.TableName(n.Name), err)
	}
	if err := syncHairpin(link, n); err != nil {
		return fmt.Errorf("network %q: %w", n.Name, err)
	}
	return d.ensureDnsmasq(n)
}

// machineID seeds ipv6.address=auto: stable per host, different across hosts.
func machineID() string {
	for _, f := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(f); err == nil && len(bytes.TrimSpace(b)) > 0 {
			return string(bytes.TrimSpace(b))
		}
	}
	h, _ := os.Hostname()
	return h
}

// setSysctl writes a /proc/sys value (key with slashes, e.g. net/ipv6/conf/br0/forwarding).
func setSysctl(key, value string) error {
	return os.WriteFile("/proc/sys/"+key, []byte(value), 0o644)
}

func getSysctl(key string) string {
	b, _ := os.ReadFile("/proc/sys/" + key)
	return strings.TrimSpace(string(b))
}

// enableIPv6Forwarding turns IPv6 forwarding on for the host as LXD does:
// interfaces that take router advertisements (accept_ra=1) first get
// accept_ra=2, which keeps them doing so once the host forwards (a host
// that got its own address and default route by SLAAC keeps them).
func enableIPv6Forwarding() error {
	if getSysctl("net/ipv6/conf/all/forwarding") == "1" {
		return nil
	}
	ents, err := os.ReadDir("/proc/sys/net/ipv6/conf")
	if err != nil {
		return err
	}
	for _, e := range ents {
		if getSysctl("net/ipv6/conf/"+e.Name()+"/accept_ra") == "1" {
			if err := setSysctl("net/ipv6/conf/"+e.Name()+"/accept_ra", "2"); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return setSysctl("net/ipv6/conf/all/forwarding", "1")
}

// bridgeMAC is a bridge's stable MAC, in the 00:16:3e range LXD uses.
func bridgeMAC(name string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("lodge bridge " + name))
	return net.HardwareAddr{0x00, 0x16, 0x3e, sum[0] & 0x7f, sum[1], sum[2]}
}

// syncAddr leaves exactly the wanted IPv4 address on the bridge.
func syncAddr(link netlink.Link, ip net.IP, subnet *net.IPNet) error {
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list bridge addresses: %w", err)
	}
	have := false
	for _, a := range addrs {
		if ip != nil && a.IP.Equal(ip) && a.Mask.String() == subnet.Mask.String() {
			have = true
			continue
		}
		if err := netlink.AddrDel(link, &a); err != nil {
			return fmt.Errorf("remove old address %s: %w", a.IPNet, err)
		}
	}
	if ip != nil && !have {
		if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: subnet.Mask}}); err != nil {
			return fmt.Errorf("add address %s: %w", (&net.IPNet{IP: ip, Mask: subnet.Mask}), err)
		}
	}
	return nil
}

// syncAddr6 leaves exactly the wanted global IPv6 address on the bridge
// (link-local ones are the kernel's and stay). The address skips duplicate
// address detection: dnsmasq binds it at once, which a tentative address
// refuses, and the bridge's subnet is its own.
func syncAddr6(link netlink.Link, ip net.IP, subnet *net.IPNet) error {
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V6)
	if err != nil {
		return fmt.Errorf("list bridge addresses: %w", err)
	}
	have := false
	for _, a := range addrs {
		if a.IP.IsLinkLocalUnicast() {
			continue
		}
		if ip != nil && a.IP.Equal(ip) && a.Mask.String() == subnet.Mask.String() {
			have = true
			continue
		}
		if err := netlink.AddrDel(link, &a); err != nil {
			return fmt.Errorf("remove old address %s: %w", a.IPNet, err)
		}
	}
	if ip != nil && !have {
		a := &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: subnet.Mask}, Flags: unix.IFA_F_NODAD}
		if err := netlink.AddrAdd(link, a); err != nil {
			return fmt.Errorf("add address %s: %w", a.IPNet, err)
		}
	}
	return nil
}

func nft(ctx context.Context, ruleset string) error {
	cmd := exec.CommandContext(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// UpdateHosts rewrites the reservations and has dnsmasq reload them. The
// server calls it after every change to any instance; when the file would
// not change (no NIC, MAC or name changed) nothing is written and dnsmasq,
// which re-reads every reservation and drops its DNS cache on SIGHUP, is
// left alone.
func (d *Driver) UpdateHosts(ctx context.Context, n network.Network) error {
	p := d.paths(n.Name)
	text := []byte(network.HostsFile(n.Hosts))
	if cur, err := os.ReadFile(p.HostsFile); err == nil && bytes.Equal(cur, text) {
		return nil
	}
	if err := writeFileAtomic(p.HostsFile, text); err != nil {
		return fmt.Errorf("network %q: write DHCP reservations: %w", n.Name, err)
	}
	d.mu.Lock()
	proc := d.procs[n.Name]
	d.mu.Unlock()
	if proc != nil {
		proc.signal(syscall.SIGHUP)
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// dnsmasqUser is the unprivileged user dnsmasq drops to (Debian's
// dnsmasq-base creates "dnsmasq"). It re-reads the hosts file in dir on
// SIGHUP as that user, so if a parent of dir is closed to others (a state
// directory made with mode 0700) it has to stay root.
func (d *Driver) dnsmasqUser(dir string) string {
	for p := dir; p != "/" && p != "."; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o001 == 0 {
			d.log.Warn("dnsmasq runs as root: a directory above its files is closed to other users (make it mode 0711 to fix)", "dir", p)
			return "root"
		}
	}
	if _, err := user.Lookup("dnsmasq"); err == nil {
		return "dnsmasq"
	}
	return "nobody"
}

func (d *Driver) ensureDnsmasq(n network.Network) error {
	n.Config = network.ResolveAuto(n.Name, n.Config, machineID())
	p := d.paths(n.Name)
	// dnsmasq re-reads the hosts file after dropping privileges.
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return fmt.Errorf("network %q: %w", n.Name, err)
	}
	if err := os.Chmod(p.Dir, 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(p.HostsFile, []byte(network.HostsFile(n.Hosts))); err != nil {
		return fmt.Errorf("network %q: write DHCP reservations: %w", n.Name, err)
	}
	args, err := network.DnsmasqArgs(n.Name, n.Config, p, d.dnsmasqUser(p.Dir))
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := d.procs[n.Name]
	if cur != nil && slices.Equal(cur.args, args) {
		cur.signal(syscall.SIGHUP)
		return nil
	}
	if cur != nil {
		cur.stop()
		delete(d.procs, n.Name)
	}
	if args == nil {
		stopPidfile(p.PidFile)
		return nil
	}
	proc := &dnsmasq{name: n.Name, args: args, pidFile: p.PidFile, log: d.log, quit: make(chan struct{}), done: make(chan struct{})}
	// After a lodged restart the old dnsmasq is still serving: adopt it if
	// it runs with exactly these arguments, so no lease is lost and no
	// client sees a gap.
	if pid := readPid(p.PidFile); pid > 0 && cmdlineIs(pid, args) {
		proc.adopt(pid)
		d.log.Info("dnsmasq adopted", "network", n.Name, "pid", pid)
	} else {
		stopPidfile(p.PidFile)
		stopOrphanDnsmasq(n.Name)
		if err := proc.start(); err != nil {
			return fmt.Errorf("network %q: start dnsmasq: %w (see %s)", n.Name, err, filepath.Join(p.Dir, "dnsmasq.log"))
		}
	}
	go proc.supervise()
	d.procs[n.Name] = proc
	return nil
}

// Delete removes the bridge, its dnsmasq, its nftables table and its files.
func (d *Driver) Delete(ctx context.Context, name string) error {
	p := d.paths(name)
	d.mu.Lock()
	if proc := d.procs[name]; proc != nil {
		proc.stop()
		delete(d.procs, name)
	}
	d.mu.Unlock()
	stopPidfile(p.PidFile)
	var errs []error
	for _, fam := range []string{"ip", "ip6"} {
		if out, err := exec.CommandContext(ctx, "nft", "delete", "table", fam, network.TableName(name)).CombinedOutput(); err != nil &&
			!strings.Contains(string(out), "No such file") {
			errs = append(errs, fmt.Errorf("delete nftables table %s %s: %v: %s", fam, network.TableName(name), err, bytes.TrimSpace(out)))
		}
	}
	if link, err := netlink.LinkByName(name); err == nil {
		if link.Type() != "bridge" {
			errs = append(errs, fmt.Errorf("host interface %s is a %s, not lodge's bridge; left alone", name, link.Type()))
		} else if err := netlink.LinkDel(link); err != nil {
			errs = append(errs, fmt.Errorf("delete bridge: %w", err))
		}
	}
	if err := os.RemoveAll(p.Dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("network %q: %w", name, err)
	}
	return nil
}

// State reads the bridge's live state.
func (d *Driver) State(ctx context.Context, name string) (network.State, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return network.State{}, fmt.Errorf("network %q: bridge %s: %w", name, name, network.ErrNotFound)
	}
	a := link.Attrs()
	st := network.State{Up: a.Flags&net.FlagUp != 0, HWAddr: a.HardwareAddr.String(), MTU: a.MTU}
	if s := a.Statistics; s != nil {
		st.RxBytes, st.TxBytes, st.RxPackets, st.TxPackets = s.RxBytes, s.TxBytes, s.RxPackets, s.TxPackets
	}
	addrs, _ := netlink.AddrList(link, netlink.FAMILY_ALL)
	for _, ad := range addrs {
		fam := "inet"
		if ad.IP.To4() == nil {
			fam = "inet6"
		}
		ones, _ := ad.Mask.Size()
		scope := "global"
		switch netlink.Scope(ad.Scope) {
		case netlink.SCOPE_LINK:
			scope = "link"
		case netlink.SCOPE_HOST:
			scope = "local"
		}
		st.Addresses = append(st.Addresses, network.Address{Family: fam, Address: ad.IP.String(), Prefix: ones, Scope: scope})
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		if l.Attrs().MasterIndex == a.Index {
			st.Ports = append(st.Ports, l.Attrs().Name)
		}
	}
	return st, nil
}

// Leases reads dnsmasq's lease file.
func (d *Driver) Leases(ctx context.Context, name string) ([]network.Lease, error) {
	f, err := os.Open(d.paths(name).LeaseFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("network %q: leases: %w", name, err)
	}
	defer f.Close()
	return network.ParseLeases(f)
}

// Close stops supervising; every dnsmasq keeps running for the next lodged.
func (d *Driver) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for n, p := range d.procs {
		p.detach()
		delete(d.procs, n)
	}
}

// dnsmasq is one supervised dnsmasq process.
type dnsmasq struct {
	name    string
	args    []string
	pidFile string
	log     *slog.Logger

	mu     sync.Mutex
	pid    int
	exited chan struct{} // closed when the current pid is gone
	quit   chan struct{}
	done   chan struct{}
}

func (p *dnsmasq) start() error {
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(p.pidFile), "dnsmasq.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command("dnsmasq", p.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session: it outlives lodged, and lodged's signals never reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	// dnsmasq fails fast on a bad config or a busy port: give it a moment.
	select {
	case <-exited:
		out, _ := os.ReadFile(filepath.Join(filepath.Dir(p.pidFile), "dnsmasq.log"))
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return fmt.Errorf("dnsmasq exited at once: %s", lines[len(lines)-1])
	case <-time.After(100 * time.Millisecond):
	}
	p.mu.Lock()
	p.pid, p.exited = cmd.Process.Pid, exited
	p.mu.Unlock()
	p.log.Info("dnsmasq started", "network", p.name, "pid", cmd.Process.Pid)
	return nil
}

// adopt watches a dnsmasq that is not our child (started by an earlier lodged).
func (p *dnsmasq) adopt(pid int) {
	exited := make(chan struct{})
	go func() {
		for {
			if syscall.Kill(pid, 0) != nil || !cmdlineIs(pid, p.args) {
				close(exited)
				return
			}
			select {
			case <-p.quit:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	p.mu.Lock()
	p.pid, p.exited = pid, exited
	p.mu.Unlock()
}

// supervise restarts dnsmasq whenever it dies, until stop or detach.
func (p *dnsmasq) supervise() {
	defer close(p.done)
	backoff := 100 * time.Millisecond
	for {
		p.mu.Lock()
		exited := p.exited
		p.mu.Unlock()
		select {
		case <-p.quit:
			return
		case <-exited:
		}
		p.log.Warn("dnsmasq died; restarting", "network", p.name)
		select {
		case <-p.quit:
			return
		case <-time.After(backoff):
		}
		if err := p.start(); err != nil {
			p.log.Error("dnsmasq restart failed", "network", p.name, "err", err)
			backoff = min(backoff*2, 10*time.Second)
			// Keep the loop going on a closed channel.
			c := make(chan struct{})
			close(c)
			p.mu.Lock()
			p.exited = c
			p.mu.Unlock()
			continue
		}
		backoff = 100 * time.Millisecond
	}
}

func (p *dnsmasq) signal(sig syscall.Signal) {
	p.mu.Lock()
	pid := p.pid
	p.mu.Unlock()
	if pid > 0 {
		_ = syscall.Kill(pid, sig)
	}
}

// stop ends supervision and terminates dnsmasq.
func (p *dnsmasq) stop() {
	close(p.quit)
	<-p.done
	p.mu.Lock()
	pid := p.pid
	p.mu.Unlock()
	if pid <= 0 {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	waitGone(pid, p.args)
}

// detach ends supervision and leaves dnsmasq running.
func (p *dnsmasq) detach() {
	close(p.quit)
	<-p.done
}

func readPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func cmdline(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

func cmdlineIs(pid int, args []string) bool {
	cl := cmdline(pid)
	return len(cl) > 0 && filepath.Base(cl[0]) == "dnsmasq" && slices.Equal(cl[1:], args)
}

// pidfileDnsmasq is the dnsmasq pidFile names, with its command line, if
// that process is a dnsmasq writing that pidfile (a pid reused by another
// program is not); pid 0 otherwise.
func pidfileDnsmasq(pidFile string) (int, []string) {
	pid := readPid(pidFile)
	if pid <= 0 {
		return 0, nil
	}
	cl := cmdline(pid)
	if len(cl) == 0 || filepath.Base(cl[0]) != "dnsmasq" || !slices.Contains(cl, "--pid-file="+pidFile) {
		return 0, nil
	}
	return pid, cl
}

// stopPidfile terminates a dnsmasq left by an earlier lodged (with other
// arguments), identified by its pidfile and its command line.
func stopPidfile(pidFile string) {
	pid, cl := pidfileDnsmasq(pidFile)
	if pid == 0 {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	waitGone(pid, cl[1:])
}

// waitGone waits up to 5 s for process pid (with args) to exit, then
// kills it. dnsmasq leaves within milliseconds of SIGTERM: the poll is
// short.
func waitGone(pid int, args []string) {
	for i := 0; i < 1000; i++ {
		if syscall.Kill(pid, 0) != nil || !cmdlineIs(pid, args) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// releaseByPacket asks network name's running dnsmasq to drop the leases
// of macs (from leases, the lease file's text) with one DHCPRELEASE each
// and waits until its lease file no longer holds them; false if it could
// not (the caller then edits the file itself).
func (d *Driver) releaseByPacket(ctx context.Context, name string, p network.Paths, leases string, macs []string) bool {
	if pid, _ := pidfileDnsmasq(p.PidFile); pid == 0 {
		return false
	}
	held, _ := network.ParseLeases(strings.NewReader(leases))
	for _, l := range held {
		if !slices.ContainsFunc(macs, func(m string) bool { return strings.EqualFold(m, l.HWAddr) }) {
			continue
		}
		args := []string{name, l.Address, l.HWAddr}
		if l.ClientID != "" {
			args = append(args, l.ClientID)
		}
		if out, err := exec.CommandContext(ctx, "dhcp_release", args...).CombinedOutput(); err != nil {
			d.log.Debug("dhcp_release failed; restarting dnsmasq instead", "network", name, "err", err, "output", strings.TrimSpace(string(out)))
			return false
		}
	}
	for i := 0; i < 200; i++ {
		if b, err := os.ReadFile(p.LeaseFile); err == nil {
			if _, changed := network.DropLeases(string(b), macs); !changed {
				return true
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// ReleaseLeases drops the IPv4 leases of macs. The running dnsmasq is
// sent a DHCPRELEASE for each, as the client would send it (dnsmasq-utils'
// dhcp_release), and the call returns once dnsmasq has rewritten its lease
// file without them. If that cannot be done (no dnsmasq running, no
// dhcp_release, no rewrite within a second), dnsmasq, which keeps its
// leases in memory, is stopped, the file edited and dnsmasq started again:
// a pause in DHCP and DNS, and a quarter of a second per deleted container
// on a network of 1,000.
func (d *Driver) ReleaseLeases(ctx context.Context, n network.Network, macs []string) error {
	p := d.paths(n.Name)
	b, err := os.ReadFile(p.LeaseFile)
	if err != nil {
		return nil
	}
	if _, changed := network.DropLeases(string(b), macs); !changed {
		return nil
	}
	if d.releaseByPacket(ctx, n.Name, p, string(b), macs) {
		return nil
	}
	d.mu.Lock()
	if proc := d.procs[n.Name]; proc != nil {
		proc.stop()
		delete(d.procs, n.Name)
	}
	d.mu.Unlock()
	stopPidfile(p.PidFile)
	// Re-read after the stop: dnsmasq writes the file as it exits.
	if b, err = os.ReadFile(p.LeaseFile); err == nil {
		text, _ := network.DropLeases(string(b), macs)
		if err := writeFileAtomic(p.LeaseFile, []byte(text)); err != nil {
			d.log.Warn("could not rewrite the lease file", "network", n.Name, "err", err)
		}
	}
	return d.ensureDnsmasq(n)
}
