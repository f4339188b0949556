//go:build linux && cgo

package lxc

import (
	"github.com/vishvananda/netlink"
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
// socket opened inside its network namespace (rtnl.go); the calling
// thread never switches namespaces. peers says whether a veth's host-side
// peer is asked for its name.
func interfaces(pid int, peers peerNames) map[string]instances.Interface {
	links, addrs, err := nsLinksAddrs(pid)
	if err != nil {
		return nil
	}
	byLink := map[int32][]rtAddr{}
	for _, ad := range addrs {
		byLink[ad.index] = append(byLink[ad.index], ad)
	}
	out := make(map[string]instances.Interface, len(links))
	for _, l := range links {
		ifc := instances.Interface{HWAddr: l.hwaddr.String(), MTU: l.mtu, Up: l.flags&unix.IFF_UP != 0, Type: "broadcast"}
		if l.flags&unix.IFF_LOOPBACK != 0 {
			ifc.Type = "loopback"
		}
		// A veth's link index names its peer, which lives in the host's
		// namespace: that is the host-side name LXD reports.
		// One request for that link, not net.InterfaceByIndex's dump of
		// every host link (hundreds of veths on a busy host, for each
		// container listed).
		if l.kind == "veth" && l.peer > 0 {
			ifc.Veth = true
			if peers == askPeers {
				if peer, err := netlink.LinkByIndex(l.peer); err == nil {
					ifc.HostName = peer.Attrs().Name
				}
			}
		}
		for _, ad := range byLink[l.index] {
			fam := "inet"
			if ad.ip.To4() == nil {
				fam = "inet6"
			}
			scope := "global"
			switch {
			case ad.ip.IsLoopback():
				scope = "local"
			case ad.ip.IsLinkLocalUnicast():
				scope = "link"
			}
			ifc.Addresses = append(ifc.Addresses, instances.Address{Family: fam, Address: ad.ip.String(), Prefix: ad.prefix, Scope: scope})
		}
		out[l.name] = ifc
	}
	return out
}
