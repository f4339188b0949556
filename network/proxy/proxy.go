// Package proxy forwards a host address to an address inside a container's
// network namespace (LXD's proxy device, like docker -p): TCP connections
// and UDP datagrams. lodged runs one forwarder per device as a re-executed
// helper process ("lodged forkproxy"), in its own session, so forwarding
// survives a lodged restart and ends with the container.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"lodge/netparse"

	"github.com/vishvananda/netns"
)

// Addr is a parsed listen= or connect= value (lodge/netparse).
type Addr = netparse.Addr

// ParseAddr parses PROTO:HOST:PORT (netparse.Parse).
func ParseAddr(s string) (Addr, error) { return netparse.Parse(s) }

// Dialer dials from inside a network namespace.
type Dialer func(network, addr string) (net.Conn, error)

// NetnsDialer returns a Dialer that creates its sockets in the network
// namespace of process pid: the socket belongs to the namespace it was
// created in, so only the socket() call runs on a thread switched there.
func NetnsDialer(pid int) (Dialer, netns.NsHandle, error) {
	target, err := netns.GetFromPid(pid)
	if err != nil {
		return nil, 0, fmt.Errorf("network namespace of pid %d: %w", pid, err)
	}
	dial := func(network, addr string) (net.Conn, error) {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			return nil, fmt.Errorf("enter the container's network namespace: %w", err)
		}
		d := net.Dialer{Timeout: 10 * time.Second}
		c, derr := d.Dial(network, addr)
		if err := netns.Set(orig); err != nil {
			// The thread is stuck in the container's namespace: it stays
			// locked, so the runtime discards it when this goroutine ends.
			if c != nil {
				c.Close()
			}
			return nil, fmt.Errorf("return to the host's network namespace: %w", err)
		}
		runtime.UnlockOSThread()
		return c, derr
	}
	return dial, target, nil
}

// Serve forwards listen to connect (dialled with dial) until ctx ends.
func Serve(ctx context.Context, listen, connect Addr, dial Dialer, ready func(net.Addr)) error {
	switch listen.Proto {
	case "tcp":
		l, err := net.Listen("tcp", listen.HostPort())
		if err != nil {
			return err
		}
		if ready != nil {
			ready(l.Addr())
		}
		go func() { <-ctx.Done(); l.Close() }()
		return serveTCP(ctx, l, connect, dial)
	case "udp":
		pc, err := net.ListenPacket("udp", listen.HostPort())
		if err != nil {
			return err
		}
		if ready != nil {
			ready(pc.LocalAddr())
		}
		go func() { <-ctx.Done(); pc.Close() }()
		return serveUDP(ctx, pc, connect, dial)
	}
	return fmt.Errorf("unsupported protocol %q", listen.Proto)
}

func serveTCP(ctx context.Context, l net.Listener, connect Addr, dial Dialer) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		go func() {
			defer c.Close()
			up, err := dial("tcp", connect.HostPort())
			if err != nil {
				fmt.Fprintf(os.Stderr, "proxy: connect %s: %v\n", connect, err)
				return
			}
			defer up.Close()
			pipe(c, up)
		}()
	}
}

// pipe copies both ways, passing a half-close on so request/response
// protocols that shut down their write side still work.
func pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			dst.Close()
		}
	}
	wg.Add(2)
	go cp(a, b)
	go cp(b, a)
	wg.Wait()
}

// udpIdle ends a UDP flow nobody used for this long.
const udpIdle = 2 * time.Minute

func serveUDP(ctx context.Context, pc net.PacketConn, connect Addr, dial Dialer) error {
	var mu sync.Mutex
	flows := map[string]net.Conn{}
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		key := from.String()
		mu.Lock()
		up := flows[key]
		mu.Unlock()
		if up == nil {
			up, err = dial("udp", connect.HostPort())
			if err != nil {
				fmt.Fprintf(os.Stderr, "proxy: connect %s: %v\n", connect, err)
				continue
			}
			mu.Lock()
			flows[key] = up
			mu.Unlock()
			go func(up net.Conn, from net.Addr) {
				defer func() {
					mu.Lock()
					delete(flows, from.String())
					mu.Unlock()
					up.Close()
				}()
				rb := make([]byte, 65535)
				for {
					_ = up.SetReadDeadline(time.Now().Add(udpIdle))
					m, err := up.Read(rb)
					if err != nil {
						return
					}
					if _, err := pc.WriteTo(rb[:m], from); err != nil {
						return
					}
				}
			}(up, from)
		}
		_, _ = up.Write(buf[:n])
	}
}

// HelperMain runs "forkproxy PID LISTEN CONNECT" and reports whether args
// named it. It forwards until the container's init (PID) is gone.
func HelperMain(args []string) (handled bool, exitCode int) {
	if len(args) == 0 || args[0] != "forkproxy" {
		return false, 0
	}
	if len(args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: forkproxy PID LISTEN CONNECT")
		return true, 2
	}
	pid, err := strconv.Atoi(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "forkproxy: bad pid:", args[1])
		return true, 2
	}
	listen, err := ParseAddr(args[2])
	if err == nil {
		var c Addr
		if c, err = ParseAddr(args[3]); err == nil {
			return true, runHelper(pid, listen, c)
		}
	}
	fmt.Fprintln(os.Stderr, "forkproxy:", err)
	return true, 2
}

func runHelper(pid int, listen, connect Addr) int {
	dial, ns, err := NetnsDialer(pid)
	if err != nil {
		fmt.Fprintln(os.Stderr, "forkproxy:", err)
		return 1
	}
	var st syscall.Stat_t
	_ = syscall.Fstat(int(ns), &st)
	ctx, cancel := context.WithCancel(context.Background())
	// The forwarder ends with the container: when PID no longer has the
	// namespace we entered (it exited, or the pid was reused).
	go func() {
		for {
			time.Sleep(time.Second)
			var now syscall.Stat_t
			if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &now); err != nil || now.Ino != st.Ino {
				cancel()
				return
			}
		}
	}()
	if err := Serve(ctx, listen, connect, dial, func(net.Addr) {
		fmt.Fprintf(os.Stderr, "forkproxy: forwarding %s to %s in pid %d\n", listen, connect, pid)
	}); err != nil {
		fmt.Fprintf(os.Stderr, "forkproxy: listen %s: %v\n", listen, err)
		return 1
	}
	return 0
}
