package network

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// The gateways a routed NIC's instance sees, as in LXD: fixed link-local
// addresses the host answers for on the NIC's host-side veth.
const (
	RoutedGateway4 = "169.254.0.1"
	RoutedGateway6 = "fe80::1"
)

// RoutedNIC is what a nictype=routed NIC needs on the host beyond its
// veth (which liblxc's router mode sets up at start with the routes to
// the instance's addresses and the gateways' proxy entries): the parent,
// if any, answers ARP and NDP for the instance's addresses, so that
// hosts on the parent's network reach them through this host.
type RoutedNIC struct {
	HostName string
	// Parent is the host interface facing the addresses' network; empty
	// for routed addresses that reach the host by other routing.
	Parent     string
	IPv4, IPv6 []net.IP
}

// RoutedNICs is implemented by drivers that set up routed NICs' parents.
type RoutedNICs interface {
	// SetupRouted checks the host's forwarding (and for IPv6 proxy_ndp)
	// settings on the parent and adds the proxy neighbour entries;
	// idempotent. Called before the instance starts.
	SetupRouted(ctx context.Context, r RoutedNIC) error
	// TeardownRouted removes the proxy entries (after the instance
	// stopped or the NIC was removed); entries already gone are no error.
	TeardownRouted(ctx context.Context, r RoutedNIC) error
}

// RoutedNICFor reads a routed NIC's device config: ipv4.address and
// ipv6.address are comma-separated lists of addresses, as in LXD.
func RoutedNICFor(hostName string, dev map[string]string) (RoutedNIC, error) {
	r := RoutedNIC{HostName: hostName, Parent: dev["parent"]}
	var err error
	if r.IPv4, err = ParseAddressList(dev["ipv4.address"], 4); err != nil {
		return r, Invalidf("ipv4.address: %v", err)
	}
	if r.IPv6, err = ParseAddressList(dev["ipv6.address"], 6); err != nil {
		return r, Invalidf("ipv6.address: %v", err)
	}
	return r, nil
}

// ParseAddressList parses a comma-separated list of addresses of one
// family (4 or 6), refusing duplicates.
func ParseAddressList(v string, family int) ([]net.IP, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []net.IP
	seen := map[string]bool{}
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		ip := net.ParseIP(s)
		if ip == nil || (ip.To4() != nil) != (family == 4) || strings.Contains(s, ".") != (family == 4) {
			return nil, fmt.Errorf("%q is not an IPv%d address", s, family)
		}
		if ip.IsUnspecified() || ip.IsLoopback() || ip.IsMulticast() || ip.IsLinkLocalUnicast() {
			return nil, fmt.Errorf("%s is not a unicast address an instance can be given", s)
		}
		if seen[ip.String()] {
			return nil, fmt.Errorf("%s is listed twice", s)
		}
		seen[ip.String()] = true
		if family == 4 {
			ip = ip.To4()
		}
		out = append(out, ip)
	}
	return out, nil
}
