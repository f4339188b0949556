//go:build linux && cgo

package lxc

import (
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"lodge/instances"
)

// peerNames says whether interfaces asks each veth's host-side peer for
// its name: State does; a list leaves it to the daemon, which has the names
// in each instance's config (as LXD reports them), since asking or dumping
// the host's links (a thousand veths on a busy host) cost a tenth of a list.
type peerNames int

const (
	askPeers peerNames = iota
	skipPeers
)

// interfaces lists the container's links and addresses through a netlink
// socket opened inside its network namespace; the calling thread never
// switches namespaces for longer than opening that socket. peers says
// whether a veth's host-side peer is asked for its name.
func interfaces(pid int, peers peerNames) map[string]instances.Interface {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return nil
	}
	defer ns.Close()
	// Only rtnetlink: without a family the handle opens three sockets
	// (route, xfrm, netfilter), each with two namespace switches.
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil
	}
	// One dump of every address in the namespace, not one per link.
	byLink := map[int][]netlink.Addr{}
	if addrs, err := h.AddrList(nil, netlink.FAMILY_ALL); err == nil {
		for _, ad := range addrs {
			byLink[ad.LinkIndex] = append(byLink[ad.LinkIndex], ad)
		}
	}
	out := make(map[string]instances.Interface, len(links))
	for _, l := range links {
		a := l.Attrs()
		ifc := instances.Interface{HWAddr: a.HardwareAddr.String(), MTU: a.MTU, Up: a.Flags&net.FlagUp != 0, Type: "broadcast"}
		if a.Flags&net.FlagLoopback != 0 {
			ifc.Type = "loopback"
		}
		// A veth's link index names its peer, which lives in the host's
		// namespace: that is the host-side name LXD reports.
		// One request for that link, not net.InterfaceByIndex's dump of
		// every host link (hundreds of veths on a busy host, for each
		// container listed).
		if l.Type() == "veth" && a.ParentIndex > 0 {
			ifc.Veth = true
			if peers == askPeers {
				if peer, err := netlink.LinkByIndex(a.ParentIndex); err == nil {
					ifc.HostName = peer.Attrs().Name
				}
			}
		}
		for _, ad := range byLink[a.Index] {
			fam := "inet"
			if ad.IP.To4() == nil {
				fam = "inet6"
			}
			ones, _ := ad.Mask.Size()
			scope := "global"
			switch {
			case ad.IP.IsLoopback():
				scope = "local"
			case ad.IP.IsLinkLocalUnicast():
				scope = "link"
			}
			ifc.Addresses = append(ifc.Addresses, instances.Address{Family: fam, Address: ad.IP.String(), Prefix: ones, Scope: scope})
		}
		out[a.Name] = ifc
	}
	return out
}
