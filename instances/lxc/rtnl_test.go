//go:build linux && cgo

package lxc

import (
	"os"
	"testing"

	"github.com/vishvananda/netlink"
)

// The dumps of rtnl.go read what the netlink library reads, compared on
// this host's own namespace (its bridges, veths and addresses): each
// link's name, index, flags, MTU, hardware address, kind and veth peer,
// and each address with its prefix.
func TestRouteDumpsMatchNetlink(t *testing.T) {
	needRoot(t)
	links, addrs, err := nsLinksAddrs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	want, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]rtLink{}
	for _, l := range links {
		got[l.name] = l
	}
	if len(links) != len(want) || len(links) == 0 {
		t.Fatalf("%d links, the library sees %d", len(links), len(want))
	}
	for _, w := range want {
		a := w.Attrs()
		g, ok := got[a.Name]
		if !ok {
			t.Fatalf("link %s missing", a.Name)
		}
		if int(g.index) != a.Index || g.mtu != a.MTU || g.hwaddr.String() != a.HardwareAddr.String() ||
			g.flags&1 != a.RawFlags&1 || g.kind != w.Type() && !(g.kind == "" && w.Type() == "device") || g.peer != a.ParentIndex {
			t.Fatalf("link %s: got %+v, the library %+v (type %s)", a.Name, g, a, w.Type())
		}
	}
	wantAddrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != len(wantAddrs) || len(addrs) == 0 {
		t.Fatalf("%d addresses, the library sees %d", len(addrs), len(wantAddrs))
	}
	for i, w := range wantAddrs {
		ones, _ := w.Mask.Size()
		if g := addrs[i]; !g.ip.Equal(w.IP) || g.prefix != ones || int(g.index) != w.LinkIndex {
			t.Fatalf("address %d: got %s/%d on %d, the library %s on %d", i, g.ip, g.prefix, g.index, w.IPNet, w.LinkIndex)
		}
	}
}
