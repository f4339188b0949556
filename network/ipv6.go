package network

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
)

func validIPv6(v string) error {
	switch v {
	case "none", "auto":
		return nil
	}
	_, _, err := ParseIPv6Address(v)
	return err
}

// ParseIPv6Address parses the host address and subnet of ipv6.address;
// both are nil for "none", "auto" and "" (auto is resolved by ULA first).
func ParseIPv6Address(v string) (net.IP, *net.IPNet, error) {
	switch v {
	case "", "none", "auto":
		return nil, nil, nil
	}
	ip, n, err := net.ParseCIDR(v)
	if err != nil || ip.To4() != nil || strings.Contains(v, ".") {
		return nil, nil, errors.New("must be auto, none or an IPv6 address with prefix such as fd42:1:2:3::1/64")
	}
	ones, _ := n.Mask.Size()
	if ones < 8 || ones > 126 {
		return nil, nil, errors.New("the prefix must be between /8 and /126 (/64 for SLAAC)")
	}
	if ip.Equal(n.IP) {
		return nil, nil, fmt.Errorf("%s is the subnet's router anycast address; give the bridge's own address, e.g. %s", ip, addIP6(n.IP, 1))
	}
	if ip.IsLinkLocalUnicast() || ip.IsMulticast() {
		return nil, nil, errors.New("must be a global or unique local (fd00::/8) address, not link-local or multicast")
	}
	return ip, n, nil
}

func validRanges6(v string) error {
	for _, r := range strings.Split(v, ",") {
		a, b, ok := strings.Cut(strings.TrimSpace(r), "-")
		ia, ib := net.ParseIP(a), net.ParseIP(b)
		if !ok || ia == nil || ib == nil || ia.To4() != nil || ib.To4() != nil || ip6Int(ia).Cmp(ip6Int(ib)) > 0 {
			return fmt.Errorf("range %q must be FIRST-LAST with IPv6 addresses, e.g. fd42::100-fd42::1ff", r)
		}
	}
	return nil
}

func ip6Int(ip net.IP) *big.Int { return new(big.Int).SetBytes(ip.To16()) }

// addIP6 returns ip + n (n may be negative), within the 128-bit space.
func addIP6(ip net.IP, n int64) net.IP {
	v := new(big.Int).Add(ip6Int(ip), big.NewInt(n))
	b := v.Bytes()
	out := make(net.IP, 16)
	copy(out[16-len(b):], b)
	return out
}

// AutoIPv6 is the address ipv6.address=auto stands for on a network: a
// unique local fdXX:XXXX:XXXX:XXXX::1/64 whose 40-bit global ID (RFC 4193)
// and subnet ID are a hash of seed (the host's machine-id) and the network
// name, so the same host always derives the same subnet for a network,
// across restarts, and another host a different one. attempt > 0 gives
// another candidate for when the first overlaps a host route.
func AutoIPv6(seed, name string, attempt int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("lodge ula %s %s %d", seed, name, attempt)))
	ip := make(net.IP, net.IPv6len)
	ip[0] = 0xfd
	copy(ip[1:8], sum[:7])
	ip[15] = 1
	// In the canonical form (RFC 5952, no leading zeros), as the kernel,
	// tcpdump and LXD print it, so that the stored value compares equal.
	return ip.String() + "/64"
}

// PickIPv6 resolves ipv6.address=auto to the first AutoIPv6 candidate that
// overlaps none of used (the host's IPv6 routes and addresses).
func PickIPv6(seed, name string, used []*net.IPNet) (string, error) {
	for i := 0; i < 100; i++ {
		cand := AutoIPv6(seed, name, i)
		_, n, _ := net.ParseCIDR(cand)
		free := true
		for _, u := range used {
			if ones, _ := u.Mask.Size(); ones == 0 || u.IP.To4() != nil {
				continue
			}
			if overlaps(u, n) {
				free = false
				break
			}
		}
		if free {
			return cand, nil
		}
	}
	return "", errors.New("no free unique local /64 found among the host's routes; set ipv6.address explicitly")
}

// ResolveAuto returns a copy of cfg with ipv6.address=auto replaced by
// AutoIPv6's first candidate for the network. The server stores a concrete
// subnet when a network is created or changed (PickIPv6); this keeps a
// stored "auto" working and stable, never a new subnet per restart.
func ResolveAuto(name string, cfg map[string]string, seed string) map[string]string {
	if cfg["ipv6.address"] != "auto" {
		return cfg
	}
	out := make(map[string]string, len(cfg))
	for k, v := range cfg {
		out[k] = v
	}
	out["ipv6.address"] = AutoIPv6(seed, name, 0)
	return out
}

// EUI64 is the SLAAC address a NIC with mac takes in a /64: the prefix with
// the MAC's modified EUI-64 interface identifier (what the kernel does
// without privacy extensions, and what dnsmasq's ra-names looks for).
func EUI64(prefix *net.IPNet, mac net.HardwareAddr) (net.IP, error) {
	if ones, bits := prefix.Mask.Size(); ones != 64 || bits != 128 {
		return nil, fmt.Errorf("SLAAC needs a /64, not %s", prefix)
	}
	if len(mac) != 6 {
		return nil, fmt.Errorf("MAC %s is not a 48-bit Ethernet address", mac)
	}
	ip := make(net.IP, 16)
	copy(ip, prefix.IP.To16()[:8])
	ip[8], ip[9], ip[10] = mac[0]^0x02, mac[1], mac[2]
	ip[11], ip[12] = 0xff, 0xfe
	ip[13], ip[14], ip[15] = mac[3], mac[4], mac[5]
	return ip, nil
}

// dnsmasqIPv6Args are dnsmasq's IPv6 arguments for a network, as LXD
// renders them: router advertisements from the bridge's address, and
// addresses by SLAAC with names from DHCPv4 (ra-stateless, ra-names) or
// from stateful DHCPv6 ranges; ipv6.dhcp=false leaves RA alone (ra-only).
func dnsmasqIPv6Args(name string, cfg map[string]string, ip net.IP, subnet *net.IPNet) []string {
	args := []string{"--listen-address=" + ip.String(), "--enable-ra", "--quiet-dhcp6", "--quiet-ra"}
	ones, _ := subnet.Mask.Size()
	switch {
	case !IsTrue(cfg["ipv6.dhcp"], true):
		args = append(args, fmt.Sprintf("--dhcp-range=::,constructor:%s,ra-only", name))
	case IsTrue(cfg["ipv6.dhcp.stateful"], false):
		if r := cfg["ipv6.dhcp.ranges"]; r != "" {
			for _, rg := range strings.Split(r, ",") {
				a, b, _ := strings.Cut(strings.TrimSpace(rg), "-")
				args = append(args, fmt.Sprintf("--dhcp-range=%s,%s,%d,1h", a, b, ones))
			}
		} else {
			last := addIP6(lastIP6(subnet), -1)
			args = append(args, fmt.Sprintf("--dhcp-range=%s,%s,%d,1h", addIP6(subnet.IP, 2), last, ones))
		}
	default:
		args = append(args, fmt.Sprintf("--dhcp-range=::,constructor:%s,ra-stateless,ra-names", name))
	}
	return args
}

// lastIP6 is the highest address of a subnet.
func lastIP6(n *net.IPNet) net.IP {
	ip := make(net.IP, 16)
	base, mask := n.IP.To16(), net.IP(n.Mask).To16()
	if len(n.Mask) == 16 {
		mask = net.IP(n.Mask)
	}
	for i := range ip {
		ip[i] = base[i] | ^mask[i]
	}
	return ip
}

// nftRuleset6 renders the network's ip6 table like the ip one: DHCPv6,
// DNS and the ICMPv6 that router advertisements and neighbour discovery
// need accepted from the bridge, forwarding accepted, NAT66 (masquerade)
// with ipv6.nat; a network without IPv6 gets the table deleted.
func nftRuleset6(name string, cfg map[string]string, subnet *net.IPNet, fwds []Forward) string {
	t := TableName(name)
	var b strings.Builder
	fmt.Fprintf(&b, "table ip6 %s {}\ndelete table ip6 %s\n", t, t)
	if subnet == nil {
		return b.String()
	}
	fmt.Fprintf(&b, "table ip6 %s {\n", t)
	fmt.Fprintf(&b, "\tchain input {\n\t\ttype filter hook input priority filter - 1; policy accept;\n")
	fmt.Fprintf(&b, "\t\tiifname %q udp dport { 53, 547 } accept\n\t\tiifname %q tcp dport 53 accept\n", name, name)
	fmt.Fprintf(&b, "\t\tiifname %q icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld2-listener-report } accept\n\t}\n", name)
	fmt.Fprintf(&b, "\tchain forward {\n\t\ttype filter hook forward priority filter - 1; policy accept;\n")
	fmt.Fprintf(&b, "\t\tiifname %q accept\n\t\toifname %q accept\n\t}\n", name, name)
	writeForwardChains(&b, "ip6", name, subnet, IsTrue(cfg["ipv6.nat"], false), fwds)
	b.WriteString("}\n")
	return b.String()
}
