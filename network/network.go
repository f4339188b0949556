// Package network manages lodge's networks: a driver interface the server
// uses, the config keys of a managed bridge, and the pure parts (subnet
// choice, dnsmasq arguments, nftables ruleset, lease files) that the bridge
// driver renders and that unit tests check without root.
package network

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"lodge/errdefs"
)

// The error kinds (lodge/errdefs) under this package's names.
var (
	ErrNotFound = errdefs.ErrNotFound
	ErrInvalid  = errdefs.ErrInvalid
)

// Invalidf returns a validation error whose message is complete as it is
// (errors.Is(err, ErrInvalid) holds).
func Invalidf(format string, a ...any) error { return errdefs.Invalidf(format, a...) }

// Network is one managed network as the server stores it.
type Network struct {
	Name   string
	Config map[string]string
	// Hosts are the DHCP reservations and names of the NICs on it.
	Hosts []Host
	// Forwards are the network's forwards (ValidateForward checked them).
	Forwards []Forward
}

// Host is one NIC on a managed network: dnsmasq hands it its name (and its
// reserved address, if any) by MAC, so containers resolve each other even
// when their DHCP client sends no hostname.
type Host struct {
	HWAddr  string
	Name    string
	Address string // IPv4 reservation, may be empty
	// Address6 is an IPv6 reservation (stateful DHCPv6), may be empty.
	Address6 string
}

// State is a network's live state read from the kernel.
type State struct {
	Up        bool
	HWAddr    string
	MTU       int
	Addresses []Address
	RxBytes   uint64
	TxBytes   uint64
	RxPackets uint64
	TxPackets uint64
	// Ports are the interfaces enslaved to the bridge.
	Ports []string
}

// Address is an address on a network's host interface.
type Address struct {
	Family  string // inet, inet6
	Address string
	Prefix  int
	Scope   string
}

// Lease is one DHCP lease from dnsmasq's lease file.
type Lease struct {
	Expiry   time.Time
	HWAddr   string
	Address  string
	Hostname string
	// ClientID is the DHCP client identifier the client sent ("" for
	// none): a release names the lease by it.
	ClientID string
}

// Driver creates and runs networks. Ensure is idempotent: it creates what is
// missing, updates what changed and re-adopts what is running (after a
// daemon restart), so the server calls it at startup and after every change.
type Driver interface {
	Ensure(ctx context.Context, n Network) error
	// UpdateHosts rewrites the reservation file and tells dnsmasq to reload it.
	UpdateHosts(ctx context.Context, n Network) error
	Delete(ctx context.Context, name string) error
	State(ctx context.Context, name string) (State, error)
	Leases(ctx context.Context, name string) ([]Lease, error)
	// FreeSubnet picks a 10.x.y.1/24 that overlaps no host route.
	FreeSubnet() (string, error)
	// FreeSubnetPrefix picks a 10.x.y.1/prefix (16 to 24) that overlaps
	// no host route (the default network is a /22, for density).
	FreeSubnetPrefix(prefix int) (string, error)
	// FreeSubnetV6 resolves ipv6.address=auto for a network: a unique
	// local /64 derived from the host and the name (AutoIPv6) that
	// overlaps no host IPv6 route.
	FreeSubnetV6(name string) (string, error)
	// Owner tells who holds a host interface name a network would take:
	// nobody, this lodged (a left-over of its own, or of a lodged no
	// longer serving it), another lodged that serves it, or not lodge.
	Owner(ctx context.Context, name string) (Ownership, error)
	// AttachNIC moves a NIC into a running container's network namespace
	// (its init is pid); DetachNIC takes one out.
	AttachNIC(ctx context.Context, pid int, nic NIC) error
	DetachNIC(ctx context.Context, pid int, nic NIC) error
	// ReleaseLeases drops the DHCP leases of MACs whose NICs are gone (a
	// deleted container), so their addresses and names are free at once
	// instead of at lease expiry.
	ReleaseLeases(ctx context.Context, n Network, macs []string) error
	// Close stops supervising (the networks and dnsmasq keep running).
	Close()

	// Per-NIC anti-spoofing and port isolation, bandwidth limits and
	// the parents of routed NICs.
	NICFilterer
	NICLimiter
	RoutedNICs
}

// Holder is who holds an interface name.
type Holder int

const (
	// Free: no host interface has the name.
	Free Holder = iota
	// Ours: a bridge this lodged made, or one a lodged made that nothing
	// serves or uses any more (a state directory reset, a lodged removed):
	// this lodged may take it over.
	Ours
	// InUse: a bridge of another lodged, served by its dnsmasq or with
	// ports attached.
	InUse
	// Foreign: an interface lodge did not make.
	Foreign
)

// Ownership is what Owner found, with the reason in words.
type Ownership struct {
	Holder Holder
	Why    string
}

// Usable tells whether a network of this name may be made or taken over.
func (o Ownership) Usable() bool { return o.Holder == Free || o.Holder == Ours }

// DefaultDomain is the DNS domain of a network without dns.domain.
const DefaultDomain = "lodge"

var nameRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*$`)

// ValidateName checks a network name: it becomes the bridge's interface
// name, so 15 bytes at most, and part of an nftables table name.
func ValidateName(name string) error {
	if len(name) == 0 || len(name) > 15 || !nameRE.MatchString(name) {
		return Invalidf("network name %q is invalid: use 1-15 letters, digits and dashes, starting with a letter (it becomes the bridge's interface name)", name)
	}
	return nil
}

// Keys are the config keys a managed bridge accepts, with their validators.
var Keys = map[string]func(string) error{
	"ipv4.address":       validIPv4CIDR,
	"ipv4.nat":           validBool,
	"ipv4.dhcp":          validBool,
	"ipv4.dhcp.ranges":   validRanges,
	"ipv6.address":       validIPv6,
	"ipv6.nat":           validBool,
	"ipv6.dhcp":          validBool,
	"ipv6.dhcp.stateful": validBool,
	"ipv6.dhcp.ranges":   validRanges6,
	"dns.domain":         validDomain,
	"bridge.mtu":         validMTU,
}

// ValidateConfig checks every key and value; user.* keys are free-form.
func ValidateConfig(cfg map[string]string) error {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, "user.") {
			continue
		}
		f, ok := Keys[k]
		if !ok {
			return Invalidf("network config key %q is not supported (supported: %s, user.*)", k, strings.Join(keyNames(), ", "))
		}
		if cfg[k] == "" {
			continue
		}
		if err := f(cfg[k]); err != nil {
			return Invalidf("network config %s=%q: %v", k, cfg[k], err)
		}
	}
	if r := cfg["ipv4.dhcp.ranges"]; r != "" {
		_, subnet, err := ParseIPv4Address(cfg["ipv4.address"])
		if err != nil || subnet == nil {
			return Invalidf("network config ipv4.dhcp.ranges needs ipv4.address to be a CIDR address")
		}
		for _, rg := range strings.Split(r, ",") {
			a, b, _ := strings.Cut(strings.TrimSpace(rg), "-")
			if !subnet.Contains(net.ParseIP(a)) || !subnet.Contains(net.ParseIP(b)) {
				return Invalidf("network config ipv4.dhcp.ranges: range %q is outside %s", rg, subnet)
			}
		}
	}
	if r := cfg["ipv6.dhcp.ranges"]; r != "" {
		_, subnet, err := ParseIPv6Address(cfg["ipv6.address"])
		if err != nil || subnet == nil {
			return Invalidf("network config ipv6.dhcp.ranges needs ipv6.address to be a CIDR address")
		}
		for _, rg := range strings.Split(r, ",") {
			a, b, _ := strings.Cut(strings.TrimSpace(rg), "-")
			if !subnet.Contains(net.ParseIP(a)) || !subnet.Contains(net.ParseIP(b)) {
				return Invalidf("network config ipv6.dhcp.ranges: range %q is outside %s", rg, subnet)
			}
		}
	}
	return nil
}

func keyNames() []string {
	var ks []string
	for k := range Keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func validBool(v string) error {
	switch strings.ToLower(v) {
	case "true", "false", "1", "0", "yes", "no", "on", "off":
		return nil
	}
	return errors.New("must be true or false")
}

// IsTrue reads a boolean key; def applies when it is unset.
func IsTrue(v string, def bool) bool {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true
	case "false", "0", "no", "off":
		return false
	}
	return def
}

func validIPv4CIDR(v string) error {
	switch v {
	case "none", "auto":
		return nil
	}
	ip, _, err := ParseIPv4Address(v)
	if err != nil {
		return err
	}
	if ip == nil {
		return errors.New("must be auto, none or an IPv4 address with prefix such as 10.10.10.1/24")
	}
	return nil
}

// ParseIPv4Address parses the host address and subnet of ipv4.address; both
// are nil for "none", "auto" and "".
func ParseIPv4Address(v string) (net.IP, *net.IPNet, error) {
	switch v {
	case "", "none", "auto":
		return nil, nil, nil
	}
	ip, n, err := net.ParseCIDR(v)
	if err != nil || ip.To4() == nil {
		return nil, nil, errors.New("must be auto, none or an IPv4 address with prefix such as 10.10.10.1/24")
	}
	ones, _ := n.Mask.Size()
	if ones > 30 || ones < 8 {
		return nil, nil, errors.New("the prefix must be between /8 and /30")
	}
	if ip.Equal(n.IP) {
		return nil, nil, fmt.Errorf("%s is the network address; give the bridge's own address, e.g. %s", ip, nextIP(n.IP, 1))
	}
	return ip.To4(), n, nil
}

func validRanges(v string) error {
	for _, r := range strings.Split(v, ",") {
		a, b, ok := strings.Cut(strings.TrimSpace(r), "-")
		ia, ib := net.ParseIP(a).To4(), net.ParseIP(b).To4()
		if !ok || ia == nil || ib == nil || ipToU32(ia) > ipToU32(ib) {
			return fmt.Errorf("range %q must be FIRST-LAST with IPv4 addresses, e.g. 10.10.10.100-10.10.10.200", r)
		}
	}
	return nil
}

var domainRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$`)

func validDomain(v string) error {
	if !domainRE.MatchString(v) || len(v) > 253 {
		return errors.New("must be a DNS domain such as lodge or lan.example")
	}
	return nil
}

func validMTU(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1280 || n > 65535 {
		return errors.New("must be a number between 1280 and 65535")
	}
	return nil
}

func ipToU32(ip net.IP) uint32 {
	ip = ip.To4()
	return uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
}

func u32ToIP(v uint32) net.IP { return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).To4() }

func nextIP(ip net.IP, n int) net.IP { return u32ToIP(ipToU32(ip) + uint32(n)) }

func overlaps(a, b *net.IPNet) bool { return a.Contains(b.IP) || b.Contains(a.IP) }

// PickSubnet returns a free 10.x.y.1/24: one that overlaps none of used (the
// host's routes and addresses). rnd returns a number in [0, n).
func PickSubnet(used []*net.IPNet, rnd func(n int) int) (string, error) {
	return PickSubnetPrefix(used, 24, rnd)
}

// PickSubnetPrefix is PickSubnet for a 10.x.y.1/prefix (16 to 24): a /22
// holds 1,021 DHCP addresses, what a host of a thousand containers needs
// on one network (issue 24).
func PickSubnetPrefix(used []*net.IPNet, prefix int, rnd func(n int) int) (string, error) {
	if prefix < 16 || prefix > 24 {
		return "", fmt.Errorf("subnet prefix /%d: lodge picks /16 to /24 within 10.0.0.0/8", prefix)
	}
	align := 1<<(24-prefix) - 1
	for try := 0; try < 1000; try++ {
		x, y := rnd(255)+1, rnd(255)&^align
		cand := &net.IPNet{IP: net.IPv4(10, byte(x), byte(y), 0).To4(), Mask: net.CIDRMask(prefix, 32)}
		free := true
		for _, u := range used {
			// A default route (0.0.0.0/0) overlaps everything but blocks nothing.
			if ones, _ := u.Mask.Size(); ones == 0 {
				continue
			}
			if overlaps(u, cand) {
				free = false
				break
			}
		}
		if free {
			return fmt.Sprintf("10.%d.%d.1/%d", x, y, prefix), nil
		}
	}
	return "", fmt.Errorf("no free 10.x.y.0/%d subnet found among the host's routes; set ipv4.address explicitly", prefix)
}

// DHCPRanges returns dnsmasq's ranges for a network: ipv4.dhcp.ranges, or
// the whole subnet after the bridge's address.
func DHCPRanges(cfg map[string]string) ([][2]string, error) {
	ip, subnet, err := ParseIPv4Address(cfg["ipv4.address"])
	if err != nil || ip == nil {
		return nil, err
	}
	if r := cfg["ipv4.dhcp.ranges"]; r != "" {
		var out [][2]string
		for _, rg := range strings.Split(r, ",") {
			a, b, _ := strings.Cut(strings.TrimSpace(rg), "-")
			out = append(out, [2]string{a, b})
		}
		return out, nil
	}
	ones, bits := subnet.Mask.Size()
	size := uint32(1) << (bits - ones)
	first := ipToU32(subnet.IP) + 1
	last := ipToU32(subnet.IP) + size - 2
	me := ipToU32(ip)
	// Skip the bridge's own address: take the larger side of it.
	if me-first >= last-me {
		last = me - 1
	} else {
		first = me + 1
	}
	return [][2]string{{u32ToIP(first).String(), u32ToIP(last).String()}}, nil
}

// DHCPCapacity is how many addresses a network's DHCP hands out: the sum
// of its ranges (0 without DHCP or an IPv4 subnet). A NIC beyond it gets no
// lease; the server refuses such a launch, and dnsmasq's lease table
// (--dhcp-lease-max) is sized to it.
func DHCPCapacity(cfg map[string]string) (int, error) {
	if !IsTrue(cfg["ipv4.dhcp"], true) {
		return 0, nil
	}
	ranges, err := DHCPRanges(cfg)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range ranges {
		a, b := net.ParseIP(r[0]).To4(), net.ParseIP(r[1]).To4()
		if a == nil || b == nil || ipToU32(a) > ipToU32(b) {
			return 0, Invalidf("DHCP range %s-%s is invalid", r[0], r[1])
		}
		n += int(ipToU32(b)-ipToU32(a)) + 1
	}
	return n, nil
}

// Paths are where a network's dnsmasq files live.
type Paths struct {
	Dir, PidFile, LeaseFile, HostsFile string
}

// DnsmasqArgs renders the dnsmasq command line for a network, in the
// manner of LXD's: bound to the bridge only, authoritative, a lease file
// that survives restarts, reservations in a hosts file reloaded on SIGHUP,
// names under the network's domain answered locally and never forwarded.
func DnsmasqArgs(name string, cfg map[string]string, p Paths, user string) ([]string, error) {
	ip, subnet, err := ParseIPv4Address(cfg["ipv4.address"])
	if err != nil {
		return nil, err
	}
	ip6, subnet6, err := ParseIPv6Address(cfg["ipv6.address"])
	if err != nil {
		return nil, err
	}
	if ip == nil && ip6 == nil {
		return nil, nil
	}
	domain := cfg["dns.domain"]
	if domain == "" {
		domain = DefaultDomain
	}
	args := []string{
		"--conf-file=/dev/null",
		"--keep-in-foreground",
		"--strict-order",
		"--bind-interfaces",
		"--except-interface=lo",
		"--no-resolv",
		"--no-ping",
		"--no-hosts",
		"--interface=" + name,
	}
	if ip != nil {
		args = append(args, "--listen-address="+ip.String())
	}
	args = append(args,
		"--pid-file="+p.PidFile,
		"--dhcp-leasefile="+p.LeaseFile,
		"--dhcp-hostsfile="+p.HostsFile,
		"--dhcp-rapid-commit",
		"--dhcp-no-override",
		"--dhcp-authoritative",
		"--domain="+domain,
		"--local=/"+domain+"/",
		"--expand-hosts",
		"--interface-name=_gateway."+domain+","+name,
		"--quiet-dhcp",
		"--log-facility="+p.Dir+"/dnsmasq.log",
	)
	if user != "" {
		args = append(args, "--user="+user, "--group=nogroup")
	}
	if ip != nil && IsTrue(cfg["ipv4.dhcp"], true) {
		ranges, err := DHCPRanges(cfg)
		if err != nil {
			return nil, err
		}
		mask := net.IP(subnet.Mask).String()
		for _, r := range ranges {
			args = append(args, fmt.Sprintf("--dhcp-range=%s,%s,%s,1h", r[0], r[1], mask))
		}
		// dnsmasq keeps 1,000 leases unless told: on a /22 or larger the
		// 1,001st container would get none although addresses are free.
		// Its one count covers both families: with stateful DHCPv6 each
		// container may hold a lease of each.
		capacity, err := DHCPCapacity(cfg)
		if err != nil {
			return nil, err
		}
		if ip6 != nil && IsTrue(cfg["ipv6.dhcp.stateful"], false) {
			capacity *= 2
		}
		args = append(args, fmt.Sprintf("--dhcp-lease-max=%d", max(capacity, 1)))
		// The router and DNS server is the bridge itself.
		args = append(args, "--dhcp-option-force=3,"+ip.String(), "--dhcp-option-force=6,"+ip.String())
		if mtu := cfg["bridge.mtu"]; mtu != "" {
			args = append(args, "--dhcp-option-force=26,"+mtu)
		}
	}
	if ip6 != nil {
		args = append(args, dnsmasqIPv6Args(name, cfg, ip6, subnet6)...)
	}
	return args, nil
}

// HostsFile renders dnsmasq's dhcp-hostsfile: MAC,[IP,]name per line.
func HostsFile(hosts []Host) string {
	hs := append([]Host(nil), hosts...)
	sort.Slice(hs, func(i, j int) bool { return strings.ToLower(hs[i].HWAddr) < strings.ToLower(hs[j].HWAddr) })
	var b strings.Builder
	for _, h := range hs {
		if h.HWAddr == "" {
			continue
		}
		fields := []string{strings.ToLower(h.HWAddr)}
		if h.Address != "" {
			fields = append(fields, h.Address)
		}
		if h.Address6 != "" {
			fields = append(fields, "["+h.Address6+"]")
		}
		if h.Name != "" {
			fields = append(fields, h.Name)
		}
		b.WriteString(strings.Join(fields, ",") + "\n")
	}
	return b.String()
}

// TableName is the nftables table (families ip and ip6) that holds a
// network's rules.
func TableName(name string) string { return "lodge-" + name }

// NftRuleset renders a network's tables, ip and ip6, as one nft
// transaction that replaces any previous version atomically (add, delete,
// add); the ip6 table is deleted when the network has no IPv6. fwds are
// the network's forwards (ValidateForward checked them). cfg must have
// ipv6.address=auto resolved (ResolveAuto).
func NftRuleset(name string, cfg map[string]string, fwds []Forward) (string, error) {
	_, subnet, err := ParseIPv4Address(cfg["ipv4.address"])
	if err != nil {
		return "", err
	}
	_, subnet6, err := ParseIPv6Address(cfg["ipv6.address"])
	if err != nil {
		return "", err
	}
	t := TableName(name)
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {}\ndelete table ip %s\ntable ip %s {\n", t, t, t)
	// DHCP and DNS from the bridge are accepted even when a host firewall
	// drops input by default (the top networking complaint about LXD).
	fmt.Fprintf(&b, "\tchain input {\n\t\ttype filter hook input priority filter - 1; policy accept;\n")
	fmt.Fprintf(&b, "\t\tiifname %q udp dport { 53, 67 } accept\n\t\tiifname %q tcp dport 53 accept\n\t}\n", name, name)
	fmt.Fprintf(&b, "\tchain forward {\n\t\ttype filter hook forward priority filter - 1; policy accept;\n")
	fmt.Fprintf(&b, "\t\tiifname %q accept\n\t\toifname %q accept\n\t}\n", name, name)
	if subnet != nil {
		writeForwardChains(&b, "ip", name, subnet, IsTrue(cfg["ipv4.nat"], true), fwds)
	}
	b.WriteString("}\n")
	b.WriteString(nftRuleset6(name, cfg, subnet6, fwds))
	return b.String(), nil
}

// ParseLeases reads a dnsmasq lease file: "expiry mac ip hostname clientid".
func ParseLeases(r io.Reader) ([]Lease, error) {
	var out []Lease
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || strings.Contains(f[2], ":") && !strings.Contains(f[2], ".") && len(f[1]) != 17 {
			continue
		}
		if len(f[1]) != 17 { // duid line or IPv6 lease
			continue
		}
		exp, _ := strconv.ParseInt(f[0], 10, 64)
		l := Lease{Expiry: time.Unix(exp, 0).UTC(), HWAddr: f[1], Address: f[2]}
		if f[3] != "*" {
			l.Hostname = f[3]
		}
		if len(f) > 4 && f[4] != "*" {
			l.ClientID = f[4]
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

// NIC is a container NIC resolved to host links, for hotplug.
type NIC struct {
	Name     string // inside the container
	Type     string // veth, macvlan or routed
	Link     string // bridge (veth), parent (macvlan, routed; may be empty for routed)
	HWAddr   string
	MTU      int
	HostName string // host-side veth name
	// IPv4 and IPv6 are a routed NIC's addresses.
	IPv4, IPv6 []net.IP
}

// DropLeases returns lease-file text without the lines of the given MACs.
func DropLeases(text string, macs []string) (string, bool) {
	drop := map[string]bool{}
	for _, m := range macs {
		drop[strings.ToLower(m)] = true
	}
	var out []string
	changed := false
	for _, line := range strings.SplitAfter(text, "\n") {
		if f := strings.Fields(line); len(f) > 2 && drop[strings.ToLower(f[1])] {
			changed = true
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, ""), changed
}
