package bridge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"

	"lodge/network"
)

// Every bridge lodge makes carries an interface alias naming the state of
// the lodged that made it, so that a later lodged can tell its own
// left-overs (kept by `lodged shutdown`, as LXD keeps lxdbr0) from another
// running lodged's bridge and from an interface lodge never made.
const aliasPrefix = "lodge "

func (d *Driver) alias() string { return aliasPrefix + d.dir }

// Owner implements network.Driver.
func (d *Driver) Owner(ctx context.Context, name string) (network.Ownership, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return network.Ownership{Holder: network.Free}, nil
		}
		return network.Ownership{}, fmt.Errorf("look up host interface %s: %w", name, err)
	}
	if link.Type() != "bridge" {
		return network.Ownership{Holder: network.Foreign, Why: fmt.Sprintf("host interface %s is a %s that lodge did not make", name, link.Type())}, nil
	}
	alias := link.Attrs().Alias
	if alias == d.alias() {
		return network.Ownership{Holder: network.Ours, Why: fmt.Sprintf("bridge %s was made by this lodged (%s)", name, d.dir)}, nil
	}
	// Bridges of lodge versions before the alias still have lodge's MAC.
	lodgeMade := strings.HasPrefix(alias, aliasPrefix) || alias == "" && link.Attrs().HardwareAddr.String() == bridgeMAC(name).String()
	if !lodgeMade {
		return network.Ownership{Holder: network.Foreign, Why: fmt.Sprintf("bridge %s was not made by lodge (alias %q)", name, alias)}, nil
	}
	by := "another lodged"
	if dir := strings.TrimPrefix(alias, aliasPrefix); dir != alias {
		by = "the lodged of " + filepath.Dir(dir)
	}
	if pid, pidFile := servingDnsmasq(name); pid > 0 && readPid(pidFile) == pid {
		return network.Ownership{Holder: network.InUse, Why: fmt.Sprintf("bridge %s belongs to %s, whose dnsmasq (pid %d) serves it", name, by, pid)}, nil
	}
	if ports := bridgePorts(link); ports > 0 {
		return network.Ownership{Holder: network.InUse, Why: fmt.Sprintf("bridge %s belongs to %s and has %d ports attached", name, by, ports)}, nil
	}
	return network.Ownership{Holder: network.Ours, Why: fmt.Sprintf("bridge %s is a left-over of %s that nothing serves or uses", name, by)}, nil
}

// servingDnsmasq finds a dnsmasq bound to the interface, with the pidfile
// it was told to write. Only this network namespace's count: a bridge of
// the same name in another one (another lodged's, in a namespace of its
// own) is another interface, whose dnsmasq is none of this one's business.
func servingDnsmasq(name string) (int, string) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, ""
	}
	own, err := netnsOf("self")
	if err != nil {
		return 0, ""
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cl := cmdline(pid)
		if len(cl) == 0 || filepath.Base(cl[0]) != "dnsmasq" || !inNetns(pid, own) {
			continue
		}
		pidFile, bound := "", false
		for _, a := range cl[1:] {
			bound = bound || a == "--interface="+name
			if f, ok := strings.CutPrefix(a, "--pid-file="); ok {
				pidFile = f
			}
		}
		if bound {
			return pid, pidFile
		}
	}
	return 0, ""
}

// stopOrphanDnsmasq ends a dnsmasq still bound to a bridge this lodged is
// taking over whose lodged is gone (its pidfile no longer names it, as
// after a state directory was removed): the new dnsmasq could not bind the
// interface's ports beside it. A dnsmasq its pidfile names is left to the
// usual adopt-or-restart path.
func stopOrphanDnsmasq(name string) {
	pid, pidFile := servingDnsmasq(name)
	if pid <= 0 || readPid(pidFile) == pid {
		return
	}
	cl := cmdline(pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	waitGone(pid, cl[1:])
}

// bridgePorts counts the interfaces attached to the bridge. Asked of
// netlink, not /sys/class/net/BRIDGE/brif: the mounted sysfs shows the
// network namespace it was mounted in, which is not lodged's when lodged
// runs in a network namespace of its own.
func bridgePorts(link netlink.Link) int {
	links, err := netlink.LinkList()
	if err != nil {
		return 0
	}
	n := 0
	for _, l := range links {
		if l.Attrs().MasterIndex == link.Attrs().Index {
			n++
		}
	}
	return n
}

// netnsOf identifies the network namespace of /proc/PID ("self" for this
// process) by its nsfs device and inode.
func netnsOf(pid string) ([2]uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join("/proc", pid, "ns", "net"), &st); err != nil {
		return [2]uint64{}, err
	}
	return [2]uint64{st.Dev, st.Ino}, nil
}

// inNetns tells whether process pid is in the network namespace own; a
// process gone, or whose namespace cannot be read, is not.
func inNetns(pid int, own [2]uint64) bool {
	ns, err := netnsOf(strconv.Itoa(pid))
	return err == nil && ns == own
}
