package network

import (
	"context"
	"fmt"
	"math/big"
	"net"
	"regexp"
	"strings"
)

// NICFilter is a NIC's anti-spoofing filter on its host-side bridge port
// (LXD's security.mac_filtering, security.ipv4_filtering and
// security.ipv6_filtering): frames from the instance must carry its MAC,
// and with IP filtering its ARP, IPv4 source, neighbour advertisements
// and IPv6 source must be its own addresses; router advertisements from
// the instance are dropped.
type NICFilter struct {
	// HostName is the host-side interface, the bridge port; it keys the rules.
	HostName string
	HWAddr   string
	// MAC, IPv4 and IPv6 are the security.*_filtering keys. IP filtering
	// implies MAC filtering, as in LXD.
	MAC, IPv4, IPv6 bool
	// IPv4Nets and IPv6Nets are the source addresses allowed when the
	// family is filtered; none blocks the family altogether.
	IPv4Nets, IPv6Nets []*net.IPNet
}

// On tells whether the filter has any rule at all.
func (f NICFilter) On() bool { return f.MAC || f.IPv4 || f.IPv6 }

// NICFilterer is implemented by network drivers that filter NICs on their
// host-side bridge ports. The rules live in the kernel, keyed by the host
// interface's name: they outlive a daemon restart and apply again to a
// veth of the same name after the instance restarts.
type NICFilterer interface {
	// ApplyNICFilter replaces the NIC's rules with f's (idempotent); a
	// filter with nothing on removes them.
	ApplyNICFilter(ctx context.Context, f NICFilter) error
	// RemoveNICFilter removes the NIC's rules; no rules is not an error.
	RemoveNICFilter(ctx context.Context, hostName string) error
	// NICFilters lists the host interfaces that have rules (to drop
	// those of NICs that no longer exist).
	NICFilters(ctx context.Context) ([]string, error)
	// SetPortIsolation sets the bridge port's isolated flag
	// (security.port_isolation): isolated ports reach only the bridge and
	// ports that are not isolated, never each other.
	SetPortIsolation(ctx context.Context, hostName string, on bool) error
	// SetPortHairpin sets the port's hairpin flag when the host's bridges
	// pass through netfilter (br_netfilter) and the network has forwards,
	// as LXD does: an instance that is a forward's target reaches the
	// forward's listen address only if its frames may come back out of
	// its own port. Clears it otherwise. Ensure does it for the ports a
	// bridge already has; call it for a NIC that starts or is hot-plugged.
	SetPortHairpin(ctx context.Context, n Network, hostName string) error
}

// NICFilterTable is the nftables table (family bridge) of a NIC's filter.
func NICFilterTable(hostName string) string { return "lodge-nic-" + hostName }

// NICFilterFor builds a NIC's filter from its device config, as LXD's
// allowedIPNets does: ipv4.address/ipv6.address (none blocks the family),
// else alloc4/alloc6, the address the network gave the NIC (its DHCP
// reservation or lease, or its SLAAC address), else the family is blocked.
func NICFilterFor(hostName, hwaddr string, dev map[string]string, alloc4, alloc6 net.IP) (NICFilter, error) {
	f := NICFilter{HostName: hostName, HWAddr: hwaddr,
		MAC: IsTrue(dev["security.mac_filtering"], false), IPv4: IsTrue(dev["security.ipv4_filtering"], false),
		IPv6: IsTrue(dev["security.ipv6_filtering"], false)}
	nets := func(v string, alloc net.IP, bits int) ([]*net.IPNet, error) {
		switch {
		case v == "none":
			return nil, nil
		case v != "":
			ip := net.ParseIP(v)
			if ip == nil {
				return nil, fmt.Errorf("invalid address %q", v)
			}
			alloc = ip
		}
		if alloc == nil {
			return nil, nil
		}
		if bits == 32 {
			alloc = alloc.To4()
		}
		return []*net.IPNet{{IP: alloc, Mask: net.CIDRMask(bits, bits)}}, nil
	}
	var err error
	if f.IPv4 {
		if f.IPv4Nets, err = nets(dev["ipv4.address"], alloc4, 32); err != nil {
			return f, err
		}
	}
	if f.IPv6 {
		if f.IPv6Nets, err = nets(dev["ipv6.address"], alloc6, 128); err != nil {
			return f, err
		}
	}
	return f, nil
}

// prefixHex is the top ones bits of an IPv6 network as an nft integer.
func prefixHex(n *net.IPNet) (int, string) {
	ones, _ := n.Mask.Size()
	v := new(big.Int).SetBytes(n.IP.To16())
	v.Rsh(v, uint(128-ones))
	return ones, "0x" + v.Text(16)
}

// NICFilterRuleset renders a NIC's filter as one nft transaction that
// replaces its table (or only deletes it when the filter is off). The
// rules are LXD's: an input chain for frames to the host (DHCP and router
// solicitations still pass) and a forward chain for frames to other ports.
func NICFilterRuleset(f NICFilter) (string, error) {
	if !ifNameRE.MatchString(f.HostName) {
		return "", Invalidf("nic filter: %q is not an interface name", f.HostName)
	}
	t := NICFilterTable(f.HostName)
	var b strings.Builder
	fmt.Fprintf(&b, "table bridge %s {}\ndelete table bridge %s\n", t, t)
	if !f.On() {
		return b.String(), nil
	}
	mac, err := net.ParseMAC(f.HWAddr)
	if err != nil || len(mac) != 6 {
		return "", Invalidf("nic filter on %s: MAC %q is not an Ethernet address", f.HostName, f.HWAddr)
	}
	macHex := "0x" + strings.ReplaceAll(mac.String(), ":", "")
	fmt.Fprintf(&b, "table bridge %s {\n", t)
	for _, hook := range []string{"input", "forward"} {
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority -200; policy accept;\n", hook, hook)
		r := func(rule string, a ...any) {
			fmt.Fprintf(&b, "\t\tiifname %q "+rule+"\n", append([]any{f.HostName}, a...)...)
		}
		r("ether saddr != %s drop", mac)
		r("ether type arp arp saddr ether != %s drop", mac)
		r("ether type ip6 icmpv6 type nd-neighbor-advert @nh,528,48 != %s drop", macHex)
		if f.IPv4 {
			if hook == "input" && len(f.IPv4Nets) > 0 {
				r("ether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp dport 67 accept")
			}
			for _, n := range f.IPv4Nets {
				r("ether type arp arp saddr ip %s accept", n)
				r("ether type ip ip saddr %s accept", n)
			}
			r("ether type arp drop")
			r("ether type ip drop")
		}
		if f.IPv6 {
			if hook == "input" && len(f.IPv6Nets) > 0 {
				r("ether type ip6 ip6 saddr fe80::/10 ip6 daddr ff02::1:2 udp dport 547 accept")
				r("ether type ip6 ip6 saddr fe80::/10 ip6 daddr ff02::2 icmpv6 type nd-router-solicit accept")
			}
			r("ether type ip6 icmpv6 type nd-router-advert drop")
			for _, n := range f.IPv6Nets {
				bits, hex := prefixHex(n)
				r("ether type ip6 icmpv6 type nd-neighbor-advert @nh,384,%d %s accept", bits, hex)
				r("ether type ip6 ip6 saddr %s accept", n)
			}
			r("ether type ip6 drop")
		}
		if f.IPv4 || f.IPv6 {
			r("ether type != { arp, ip, ip6 } drop")
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String(), nil
}

// ifNameRE is a host interface name (IFNAMSIZ: 15 bytes) safe in nft text.
var ifNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,15}$`)
