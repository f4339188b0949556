//go:build linux && cgo

package lxc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// The interfaces of every running container at every list: a list of
// 1,000 spent over a third of its CPU in the netlink library's link and
// address dumps (a handle per namespace, the link dump with every
// interface's statistics, parsed into full objects). This asks the kernel
// for what a list shows, links without their statistics
// (RTEXT_FILTER_SKIP_STATS) and addresses, on one socket opened in the
// container's namespace, and parses only the attributes used.

// rtextFilterSkipStats is RTEXT_FILTER_SKIP_STATS (Linux 4.20; an older
// kernel ignores it and sends the statistics).
const rtextFilterSkipStats = 1 << 3

// rtLink is a link as a list shows it.
type rtLink struct {
	index  int32
	flags  uint32
	name   string
	hwaddr net.HardwareAddr
	mtu    int
	peer   int // IFLA_LINK: for a veth, its peer's index (in the host)
	kind   string
}

// rtAddr is an address of a link.
type rtAddr struct {
	index  int32
	ip     net.IP
	prefix int
}

// hostNetns is lodged's own network namespace, opened once: the thread
// that opened a socket in a container's namespace returns to it.
var hostNetns = sync.OnceValues(func() (int, error) {
	return unix.Open("/proc/self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
})

// nsRouteSocket opens a NETLINK_ROUTE socket in the network namespace of
// process pid. The switch happens on a thread of its own goroutine: a
// thread that could not switch back is left locked, so Go ends it with
// the goroutine rather than run anything else in the wrong namespace.
func nsRouteSocket(pid int) (int, error) {
	host, err := hostNetns()
	if err != nil {
		return -1, fmt.Errorf("lodged's network namespace: %w", err)
	}
	nsfd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(nsfd)
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, err}
			return
		}
		fd, serr := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err := unix.Setns(host, unix.CLONE_NEWNET); err != nil {
			if serr == nil {
				unix.Close(fd)
			}
			ch <- result{-1, fmt.Errorf("back to lodged's network namespace: %w", err)}
			return // still locked: the thread ends with this goroutine
		}
		runtime.UnlockOSThread()
		ch <- result{fd, serr}
	}()
	r := <-ch
	return r.fd, r.err
}

// rtDump sends one dump request (type typ, body) and calls each for every
// message of the answer.
func rtDump(fd int, typ uint16, seq uint32, body []byte, buf []byte, each func(m *syscall.NetlinkMessage)) error {
	req := make([]byte, unix.NLMSG_HDRLEN+len(body))
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], typ)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], seq)
	copy(req[unix.NLMSG_HDRLEN:], body)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for i := range msgs {
			m := &msgs[i]
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
						return syscall.Errno(-e)
					}
				}
				return nil
			}
			each(m)
		}
	}
}

// nsLinksAddrs dumps the links (without statistics) and the addresses of
// process pid's network namespace.
func nsLinksAddrs(pid int) ([]rtLink, []rtAddr, error) {
	fd, err := nsRouteSocket(pid)
	if err != nil {
		return nil, nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 32<<10)

	// struct ifinfomsg (16 bytes), then IFLA_EXT_MASK.
	body := make([]byte, unix.SizeofIfInfomsg+8)
	body[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint16(body[16:], 8)
	binary.NativeEndian.PutUint16(body[18:], unix.IFLA_EXT_MASK)
	binary.NativeEndian.PutUint32(body[20:], rtextFilterSkipStats)
	var links []rtLink
	err = rtDump(fd, unix.RTM_GETLINK, 1, body, buf, func(m *syscall.NetlinkMessage) {
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			return
		}
		l := rtLink{index: int32(binary.NativeEndian.Uint32(m.Data[4:])), flags: binary.NativeEndian.Uint32(m.Data[8:])}
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			return
		}
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFLA_IFNAME:
				l.name = cString(a.Value)
			case unix.IFLA_ADDRESS:
				// All zeroes (lo) is no address, as the netlink
				// library had it: an empty hwaddr in the API.
				for _, b := range a.Value {
					if b != 0 {
						l.hwaddr = net.HardwareAddr(append([]byte(nil), a.Value...))
						break
					}
				}
			case unix.IFLA_MTU:
				if len(a.Value) >= 4 {
					l.mtu = int(binary.NativeEndian.Uint32(a.Value))
				}
			case unix.IFLA_LINK:
				if len(a.Value) >= 4 {
					l.peer = int(binary.NativeEndian.Uint32(a.Value))
				}
			case unix.IFLA_LINKINFO:
				l.kind = linkKind(a.Value)
			}
		}
		links = append(links, l)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("links: %w", err)
	}

	// struct ifaddrmsg (8 bytes), any family.
	var addrs []rtAddr
	err = rtDump(fd, unix.RTM_GETADDR, 2, make([]byte, unix.SizeofIfAddrmsg), buf, func(m *syscall.NetlinkMessage) {
		if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg {
			return
		}
		ad := rtAddr{prefix: int(m.Data[1]), index: int32(binary.NativeEndian.Uint32(m.Data[4:]))}
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			return
		}
		// IFA_LOCAL is the interface's own address where it differs
		// from IFA_ADDRESS (the peer's, on a point-to-point link).
		var local, address net.IP
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFA_LOCAL:
				local = net.IP(append([]byte(nil), a.Value...))
			case unix.IFA_ADDRESS:
				address = net.IP(append([]byte(nil), a.Value...))
			}
		}
		if ad.ip = local; ad.ip == nil {
			ad.ip = address
		}
		if ad.ip != nil {
			addrs = append(addrs, ad)
		}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("addresses: %w", err)
	}
	return links, addrs, nil
}

// linkKind is IFLA_INFO_KIND in an IFLA_LINKINFO attribute's nested ones.
func linkKind(b []byte) string {
	attrs, err := nl.ParseRouteAttr(b)
	if err != nil {
		return ""
	}
	for _, a := range attrs {
		if a.Attr.Type == unix.IFLA_INFO_KIND {
			return cString(a.Value)
		}
	}
	return ""
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
