package bridge

import (
	"context"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"lodge/network"
)

// AttachNIC creates a NIC on the host and moves it into the network
// namespace of pid under its final name: a veth pair whose host end joins
// the bridge, or a macvlan on the parent.
func (d *Driver) AttachNIC(ctx context.Context, pid int, nic network.NIC) error {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("nic %s: network namespace of pid %d: %w", nic.Name, pid, err)
	}
	defer ns.Close()
	var mac net.HardwareAddr
	if nic.HWAddr != "" {
		if mac, err = net.ParseMAC(nic.HWAddr); err != nil {
			return fmt.Errorf("nic %s: %w", nic.Name, err)
		}
	}
	// A temporary name, unique on the host, until it is inside.
	tmp := fmt.Sprintf("lodgetmp%d", pid%10000000)
	var moved netlink.Link
	switch nic.Type {
	case "veth":
		br, err := netlink.LinkByName(nic.Link)
		if err != nil {
			return fmt.Errorf("nic %s: bridge %s: %w", nic.Name, nic.Link, err)
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU = nic.HostName, nic.MTU
		if attrs.MTU == 0 {
			attrs.MTU = br.Attrs().MTU
		}
		veth := &netlink.Veth{LinkAttrs: attrs, PeerName: tmp, PeerHardwareAddr: mac}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("nic %s: create veth %s: %w", nic.Name, nic.HostName, err)
		}
		host, err := netlink.LinkByName(nic.HostName)
		if err == nil {
			err = netlink.LinkSetMaster(host, br)
		}
		if err == nil {
			err = netlink.LinkSetUp(host)
		}
		if err == nil {
			moved, err = netlink.LinkByName(tmp)
		}
		if err != nil {
			_ = netlink.LinkDel(veth)
			return fmt.Errorf("nic %s: attach %s to %s: %w", nic.Name, nic.HostName, nic.Link, err)
		}
	case "routed":
		return d.attachRouted(ctx, ns, tmp, nic, mac)
	case "macvlan":
		parent, err := netlink.LinkByName(nic.Link)
		if err != nil {
			return fmt.Errorf("nic %s: parent %s: %w", nic.Name, nic.Link, err)
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.ParentIndex, attrs.HardwareAddr, attrs.MTU = tmp, parent.Attrs().Index, mac, nic.MTU
		mv := &netlink.Macvlan{LinkAttrs: attrs, Mode: netlink.MACVLAN_MODE_BRIDGE}
		if err := netlink.LinkAdd(mv); err != nil {
			return fmt.Errorf("nic %s: create macvlan on %s: %w", nic.Name, nic.Link, err)
		}
		moved = mv
	default:
		return fmt.Errorf("nic %s: type %q cannot be hotplugged", nic.Name, nic.Type)
	}
	if err := netlink.LinkSetNsFd(moved, int(ns)); err != nil {
		_ = netlink.LinkDel(moved)
		return fmt.Errorf("nic %s: move into the container: %w", nic.Name, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	in, err := h.LinkByName(tmp)
	if err == nil {
		if err = h.LinkSetName(in, nic.Name); err == nil {
			err = h.LinkSetUp(in)
		}
	}
	if err != nil {
		if in != nil {
			_ = h.LinkDel(in)
		}
		return fmt.Errorf("nic %s: name and raise it inside the container: %w", nic.Name, err)
	}
	return nil
}

// DetachNIC deletes a NIC inside the namespace of pid (a veth takes its
// host end with it, and its routes); a routed NIC's proxy entries on its
// parent are removed too when nic names them (Type routed, Link, addresses).
func (d *Driver) DetachNIC(ctx context.Context, pid int, nic network.NIC) error {
	if nic.Type == "routed" {
		if err := d.TeardownRouted(ctx, network.RoutedNIC{HostName: nic.HostName, Parent: nic.Link, IPv4: nic.IPv4, IPv6: nic.IPv6}); err != nil {
			return fmt.Errorf("nic %s: %w", nic.Name, err)
		}
	}
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("nic %s: network namespace of pid %d: %w", nic.Name, pid, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(nic.Name)
	if err != nil {
		return nil // already gone
	}
	if err := h.LinkDel(l); err != nil {
		return fmt.Errorf("nic %s: delete: %w", nic.Name, err)
	}
	return nil
}
