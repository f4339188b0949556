package devlxd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// peer is who is on the other end of one connection, decided when it is
// accepted.
type peer struct {
	cred     unix.Ucred
	instance string
	err      error
}

type peerKey struct{}

type peerConn struct {
	net.Conn
	peer *peer
}

func connContext(ctx context.Context, c net.Conn) context.Context {
	if pc, ok := c.(*peerConn); ok {
		return context.WithValue(ctx, peerKey{}, pc.peer)
	}
	return ctx
}

// peerListener identifies every connection it accepts.
type peerListener struct {
	net.Listener
	instance string // the instance this socket belongs to, "" if shared
	resolver Resolver
}

func wrapListener(l net.Listener, instance string, r Resolver) net.Listener {
	return &peerListener{Listener: l, instance: instance, resolver: r}
}

func (l *peerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &peerConn{Conn: c, peer: identify(c, l.instance, l.resolver)}, nil
}

// identify reads the peer's credentials and finds its instance. It runs at
// accept, while the peer (which just connected) is most likely alive; a
// pidfd of the peer, where the kernel gives one, proves afterwards that the
// pid the resolver looked at was still the peer's and not a recycled one.
func identify(c net.Conn, instance string, r Resolver) *peer {
	p := &peer{}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		p.err = errors.New("not a unix socket connection")
		return p
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		p.err = err
		return p
	}
	pidfd := -1
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		var cred *unix.Ucred
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if credErr == nil {
			p.cred = *cred
		}
		if n, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PEERPIDFD); err == nil {
			pidfd = n
		}
	}); err != nil {
		p.err = err
		return p
	}
	if pidfd >= 0 {
		defer unix.Close(pidfd)
	}
	if credErr != nil {
		p.err = fmt.Errorf("SO_PEERCRED: %w", credErr)
		return p
	}
	if r == nil {
		if instance == "" {
			p.err = errors.New("a shared socket needs a resolver")
		}
		p.instance = instance
		return p
	}
	name, err := r.InstanceOf(p.cred.Pid)
	if err != nil {
		p.err = fmt.Errorf("pid %d: %w", p.cred.Pid, err)
		return p
	}
	if pidfd >= 0 {
		if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
			p.err = fmt.Errorf("pid %d exited before it could be identified", p.cred.Pid)
			return p
		}
	}
	if instance != "" && name != instance {
		p.err = fmt.Errorf("pid %d of instance %q connected to the socket of instance %q", p.cred.Pid, name, instance)
		return p
	}
	p.instance = name
	return p
}

// Sockets keeps one guest API socket per running instance: DIR/NAME/sock,
// where DIR/NAME is bind-mounted (read-only) at /dev/lxd in the instance.
// Connections on an instance's socket belong to that instance; a Resolver,
// if the server has one, must agree.
type Sockets struct {
	srv *Server
	dir string

	mu        sync.Mutex
	listeners map[string]*net.UnixListener
}

// Sockets manages per-instance sockets under dir (created 0711: the
// instances' root users must be able to traverse it to their own
// directory, and nothing else).
func (s *Server) Sockets(dir string) (*Sockets, error) {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("guest API socket directory: %w", err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, fmt.Errorf("guest API socket directory: %w", err)
	}
	return &Sockets{srv: s, dir: dir, listeners: map[string]*net.UnixListener{}}, nil
}

// Dir is the host directory to bind-mount at /dev/lxd in instance name.
func (ss *Sockets) Dir(name string) string { return filepath.Join(ss.dir, name) }

// Listen starts (or restarts) the socket of instance name. The directory
// is 0755 and the socket 0666, both root's: any process of the instance
// may connect, and the server answers only the instance's root.
func (ss *Sockets) Listen(name string) error {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name {
		return fmt.Errorf("guest API socket: invalid instance name %q", name)
	}
	dir := ss.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("guest API socket for %s: %w", name, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("guest API socket for %s: %w", name, err)
	}
	ss.Close(name)
	sock := filepath.Join(dir, "sock")
	// A socket left by an earlier lodged; the instance keeps the directory
	// mounted and sees the new one.
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("guest API socket for %s: %w", name, err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return fmt.Errorf("guest API socket for %s: %w", name, err)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		l.Close()
		return fmt.Errorf("guest API socket for %s: %w", name, err)
	}
	ss.mu.Lock()
	ss.listeners[name] = l
	ss.mu.Unlock()
	go func() { _ = ss.srv.http.Serve(wrapListener(l, name, ss.srv.resolver)) }()
	return nil
}

// Close stops the socket of instance name (the directory stays, mounted
// in the instance while it runs). Closing one that is not open is a no-op.
func (ss *Sockets) Close(name string) {
	ss.mu.Lock()
	l := ss.listeners[name]
	delete(ss.listeners, name)
	ss.mu.Unlock()
	if l != nil {
		l.Close() // unlinks the socket
	}
}

// Remove stops the socket and deletes the directory of instance name
// (after it stopped for good: delete, rename).
func (ss *Sockets) Remove(name string) error {
	ss.Close(name)
	if name == "" || filepath.Base(name) != name || name == "." || name == ".." {
		return nil
	}
	err := os.RemoveAll(ss.Dir(name))
	if err != nil {
		return fmt.Errorf("guest API socket for %s: %w", name, err)
	}
	return nil
}

// Listening names the instances with an open socket.
func (ss *Sockets) Listening() []string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := make([]string, 0, len(ss.listeners))
	for n := range ss.listeners {
		out = append(out, n)
	}
	return out
}
