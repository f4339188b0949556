//go:build linux && cgo

package lxc

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
)

// ownSysfsEnv tells forkstart (helper_c.c) to start the container from a
// mount namespace of its own whose /sys shows lodged's network namespace.
const ownSysfsEnv = "LODGE_OWN_SYSFS"

// needOwnSysfs says whether lodged runs in a network namespace that the
// mounted /sys does not show: a sysfs shows the interfaces of the network
// namespace it was mounted in, so a lodged started with `nsenter
// --net=/run/netns/NAME` (a network namespace of its own, the host's
// mount namespace) finds the host's interfaces under /sys/class/net. liblxc
// stats /sys/class/net/BRIDGE/bridge to tell a Linux bridge from Open
// vSwitch, and would fail to attach containers to lodged's own bridge.
// A difference seen once may be an interface coming or going between the
// two reads; one seen twice is another namespace. (Were it only a busy
// host's veths coming and going, a sysfs of lodged's namespace is the
// one it already has: starts still work, from a namespace of their own.)
func needOwnSysfs() (bool, string) {
	// In init's network namespace, the /sys init mounted is this one's:
	// the common case costs two readlinks, not a walk over every
	// interface (a host with 1,000 containers has 1,000 veths) at start.
	if self, err := os.Readlink("/proc/self/ns/net"); err == nil {
		if initNS, err := os.Readlink("/proc/1/ns/net"); err == nil && initNS == self {
			return false, ""
		}
	}
	why := ""
	for try := 0; try < 2; try++ {
		if try > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		own, seen, err := netnsAndSysfsLinks()
		if err != nil {
			return false, ""
		}
		var same bool
		if same, why = sameInterfaces(own, seen); same {
			return false, ""
		}
	}
	return true, why
}

// netnsAndSysfsLinks lists the interfaces (name -> ifindex) that netlink
// reports, always this process's network namespace, and those under
// /sys/class/net.
func netnsAndSysfsLinks() (map[string]int, map[string]int, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, nil, fmt.Errorf("list network interfaces: %w", err)
	}
	own := map[string]int{}
	for _, l := range links {
		own[l.Attrs().Name] = l.Attrs().Index
	}
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		return nil, nil, fmt.Errorf("read /sys/class/net: %w", err)
	}
	seen := map[string]int{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/sys/class/net", e.Name(), "ifindex"))
		if err != nil {
			continue // gone since the listing
		}
		seen[e.Name()], _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	return own, seen, nil
}

// sameInterfaces tells whether two name -> ifindex maps agree, and if not
// says how.
func sameInterfaces(own, sysfs map[string]int) (bool, string) {
	var diff []string
	for n, i := range own {
		if j, ok := sysfs[n]; !ok {
			diff = append(diff, n+" missing from /sys/class/net")
		} else if i != j {
			diff = append(diff, fmt.Sprintf("%s is index %d, /sys/class/net says %d", n, i, j))
		}
	}
	for n := range sysfs {
		if _, ok := own[n]; !ok {
			diff = append(diff, n+" in /sys/class/net is not in this namespace")
		}
	}
	sort.Strings(diff)
	return len(diff) == 0, strings.Join(diff, "; ")
}
