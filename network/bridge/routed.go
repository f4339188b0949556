package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"lodge/network"
)

var _ network.RoutedNICs = (*Driver)(nil)

// checkRoutedHost refuses, as LXD does, a routed NIC whose parent would
// not forward for it: lodge does not change the sysctls of an interface
// it did not make, it says which to set.
func checkRoutedHost(r network.RoutedNIC) error {
	var missing []string
	need := func(key string) {
		if getSysctl(key) != "1" {
			missing = append(missing, strings.ReplaceAll(key, "/", ".")+"=1")
		}
	}
	if len(r.IPv6) > 0 {
		need("net/ipv6/conf/all/forwarding")
	}
	if r.Parent != "" {
		if len(r.IPv4) > 0 {
			need("net/ipv4/conf/" + r.Parent + "/forwarding")
		}
		if len(r.IPv6) > 0 {
			need("net/ipv6/conf/" + r.Parent + "/forwarding")
			if getSysctl("net/ipv6/conf/all/proxy_ndp") != "1" {
				need("net/ipv6/conf/" + r.Parent + "/proxy_ndp")
			}
		}
	}
	if len(missing) > 0 {
		return network.Invalidf("nic %s: a routed NIC needs the host to forward for it: set sysctl %s (e.g. in /etc/sysctl.d/)",
			r.HostName, strings.Join(missing, " "))
	}
	return nil
}

// SetupRouted implements network.RoutedNICs.
func (d *Driver) SetupRouted(ctx context.Context, r network.RoutedNIC) error {
	if err := checkRoutedHost(r); err != nil {
		return err
	}
	if r.Parent == "" {
		return nil
	}
	parent, err := netlink.LinkByName(r.Parent)
	if err != nil {
		return network.Invalidf("nic %s: parent %s: %v", r.HostName, r.Parent, err)
	}
	for _, ip := range append(append([]net.IP{}, r.IPv4...), r.IPv6...) {
		if err := proxyNeigh(parent.Attrs().Index, ip, true); err != nil {
			return fmt.Errorf("nic %s: answer for %s on %s (proxy ARP/NDP): %w", r.HostName, ip, r.Parent, err)
		}
	}
	return nil
}

// TeardownRouted implements network.RoutedNICs.
func (d *Driver) TeardownRouted(ctx context.Context, r network.RoutedNIC) error {
	if r.Parent == "" {
		return nil
	}
	parent, err := netlink.LinkByName(r.Parent)
	if err != nil {
		return nil // the parent went, and its entries with it
	}
	var errs []error
	for _, ip := range append(append([]net.IP{}, r.IPv4...), r.IPv6...) {
		if err := proxyNeigh(parent.Attrs().Index, ip, false); err != nil {
			errs = append(errs, fmt.Errorf("remove the proxy entry for %s on %s: %w", ip, r.Parent, err))
		}
	}
	return errors.Join(errs...)
}

func family(ip net.IP) int {
	if ip.To4() != nil {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

// proxyNeigh adds (or deletes) a proxy neighbour entry, as
// `ip neigh add proxy IP dev LINK` does.
func proxyNeigh(linkIndex int, ip net.IP, add bool) error {
	n := &netlink.Neigh{LinkIndex: linkIndex, Family: family(ip), Flags: netlink.NTF_PROXY, IP: ip}
	if add {
		if err := netlink.NeighSet(n); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		return nil
	}
	if err := netlink.NeighDel(n); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// attachRouted hot-plugs a routed NIC as liblxc's router mode sets one up
// at start: a veth whose host end has the routes to the instance's
// addresses and answers for the link-local gateways, and inside the
// addresses (/32, /128) with default routes through those gateways.
func (d *Driver) attachRouted(ctx context.Context, ns netns.NsHandle, tmp string, nic network.NIC, mac net.HardwareAddr) error {
	r := network.RoutedNIC{HostName: nic.HostName, Parent: nic.Link, IPv4: nic.IPv4, IPv6: nic.IPv6}
	if err := d.SetupRouted(ctx, r); err != nil {
		return err
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU = nic.HostName, nic.MTU
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: tmp, PeerHardwareAddr: mac}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("nic %s: create veth %s: %w", nic.Name, nic.HostName, err)
	}
	fail := func(err error) error {
		_ = netlink.LinkDel(veth)
		_ = d.TeardownRouted(ctx, r)
		return fmt.Errorf("nic %s: %w", nic.Name, err)
	}
	host, err := netlink.LinkByName(nic.HostName)
	if err != nil {
		return fail(err)
	}
	if len(nic.IPv6) > 0 {
		// The host answers for fe80::1 from its own link-local address,
		// which it cannot use until duplicate address detection is done:
		// a second or two without IPv6 after the plug. The link is a veth
		// to the instance alone, so skip it.
		if err := setSysctl("net/ipv6/conf/"+nic.HostName+"/accept_dad", "0"); err != nil {
			return fail(err)
		}
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fail(err)
	}
	idx := host.Attrs().Index
	if len(nic.IPv4) > 0 {
		if err := setSysctl("net/ipv4/conf/"+nic.HostName+"/forwarding", "1"); err != nil {
			return fail(err)
		}
		// Answer the instance's ARP for its gateway at once, not after
		// the random proxy delay of up to 0.8 s.
		if err := setSysctl("net/ipv4/neigh/"+nic.HostName+"/proxy_delay", "0"); err != nil {
			return fail(err)
		}
		if err := proxyNeigh(idx, net.ParseIP(network.RoutedGateway4).To4(), true); err != nil {
			return fail(fmt.Errorf("answer for the gateway %s: %w", network.RoutedGateway4, err))
		}
	}
	if len(nic.IPv6) > 0 {
		for _, k := range []string{"forwarding", "proxy_ndp"} {
			if err := setSysctl("net/ipv6/conf/"+nic.HostName+"/"+k, "1"); err != nil {
				return fail(err)
			}
		}
		if err := setSysctl("net/ipv6/neigh/"+nic.HostName+"/proxy_delay", "0"); err != nil {
			return fail(err)
		}
		if err := proxyNeigh(idx, net.ParseIP(network.RoutedGateway6), true); err != nil {
			return fail(fmt.Errorf("answer for the gateway %s: %w", network.RoutedGateway6, err))
		}
	}
	for _, ip := range append(append([]net.IP{}, nic.IPv4...), nic.IPv6...) {
		if err := netlink.RouteReplace(&netlink.Route{LinkIndex: idx, Dst: hostNet(ip), Scope: netlink.SCOPE_LINK}); err != nil {
			return fail(fmt.Errorf("route %s to %s: %w", ip, nic.HostName, err))
		}
	}
	peer, err := netlink.LinkByName(tmp)
	if err != nil {
		return fail(err)
	}
	if err := netlink.LinkSetNsFd(peer, int(ns)); err != nil {
		return fail(fmt.Errorf("move into the container: %w", err))
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fail(err)
	}
	defer h.Close()
	in, err := h.LinkByName(tmp)
	if err == nil {
		err = h.LinkSetName(in, nic.Name)
	}
	if err == nil {
		err = h.LinkSetUp(in)
	}
	if err != nil {
		return fail(fmt.Errorf("name and raise it inside the container: %w", err))
	}
	inIdx := in.Attrs().Index
	for _, ip := range nic.IPv4 {
		if err := h.AddrAdd(in, &netlink.Addr{IPNet: hostNet(ip)}); err != nil {
			return fail(fmt.Errorf("address %s inside: %w", ip, err))
		}
	}
	for _, ip := range nic.IPv6 {
		if err := h.AddrAdd(in, &netlink.Addr{IPNet: hostNet(ip), Flags: unix.IFA_F_NODAD}); err != nil {
			return fail(fmt.Errorf("address %s inside: %w", ip, err))
		}
	}
	if len(nic.IPv4) > 0 {
		gw := net.ParseIP(network.RoutedGateway4).To4()
		if err := h.RouteReplace(&netlink.Route{LinkIndex: inIdx, Dst: hostNet(gw), Scope: netlink.SCOPE_LINK}); err != nil {
			return fail(fmt.Errorf("route to the gateway inside: %w", err))
		}
		if err := h.RouteReplace(&netlink.Route{LinkIndex: inIdx, Gw: gw}); err != nil {
			return fail(fmt.Errorf("default route inside: %w", err))
		}
	}
	if len(nic.IPv6) > 0 {
		if err := h.RouteReplace(&netlink.Route{LinkIndex: inIdx, Gw: net.ParseIP(network.RoutedGateway6),
			Dst: &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}}); err != nil {
			return fail(fmt.Errorf("IPv6 default route inside: %w", err))
		}
	}
	return nil
}

func hostNet(ip net.IP) *net.IPNet {
	if v4 := ip.To4(); v4 != nil {
		return &net.IPNet{IP: v4, Mask: net.CIDRMask(32, 32)}
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(128, 128)}
}
