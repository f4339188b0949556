package cliconfig

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"lodge/client"
	"lodge/remotes"
	"lodge/remotes/lxd"
	"lodge/remotes/simplestreams"
)

// Ref is a command argument split at its remote prefix: "host2:c1" is
// {host2, c1}, and "c1" is {the default remote, c1}. Commands parse their
// arguments into Refs first and connect to Ref.Remote afterwards, so the
// server a command changes is always the one its argument named.
type Ref struct {
	Remote string
	Name   string
}

// String is the argument again, with its remote.
func (r Ref) String() string { return r.Remote + ":" + r.Name }

// ParseRef splits "remote:rest" at the first colon. Without a colon, with
// an empty remote part, or when a '/' comes before the colon (a path such
// as c1/tmp/a:b), the default remote is meant. A prefix that names no
// remote is an error, so a typo never falls back to the local server.
func (c *Config) ParseRef(s string) (Ref, error) {
	i := strings.Index(s, ":")
	if i < 0 || strings.Contains(s[:i], "/") {
		return Ref{Remote: c.DefaultRemote, Name: s}, nil
	}
	name, rest := s[:i], s[i+1:]
	if name == "" {
		return Ref{Remote: c.DefaultRemote, Name: rest}, nil
	}
	if _, ok := c.Remotes[name]; !ok {
		return Ref{}, fmt.Errorf("remote %q does not exist (see `lodge remote list`)", name)
	}
	return Ref{Remote: name, Name: rest}, nil
}

// IsRemoteArg tells an argument that is only a remote ("host2:") from a name.
func (c *Config) IsRemoteArg(s string) bool {
	name, rest, ok := strings.Cut(s, ":")
	if !ok || rest != "" {
		return false
	}
	_, known := c.Remotes[name]
	return known || name == ""
}

// ProtocolName is the remote's protocol: lxd unless it says otherwise.
func (r Remote) ProtocolName() string {
	if r.Protocol == "" {
		return "lxd"
	}
	return r.Protocol
}

// IsLocal tells whether the remote is this host's lodged over its socket.
func (r Remote) IsLocal() bool { return strings.HasPrefix(r.Addr, "unix:") }

// LocalSocket is the local daemon's socket: LODGE_SOCKET, else
// LODGE_DIR/unix.socket, else /var/lib/lodge/unix.socket.
func LocalSocket() string {
	if s := os.Getenv("LODGE_SOCKET"); s != "" {
		return s
	}
	dir := os.Getenv("LODGE_DIR")
	if dir == "" {
		dir = "/var/lib/lodge"
	}
	return filepath.Join(dir, "unix.socket")
}

// Connect opens the API of remote name: the local socket for a unix://
// remote, HTTPS with this client's certificate and the pinned server
// certificate otherwise. An image server is refused: it runs nothing.
func (c *Config) Connect(name string) (*client.Client, error) {
	r, ok := c.Remotes[name]
	if !ok {
		return nil, fmt.Errorf("remote %q does not exist (see `lodge remote list`)", name)
	}
	if r.IsLocal() {
		sock := strings.TrimPrefix(strings.TrimPrefix(r.Addr, "unix:"), "//")
		if sock == "" {
			sock = LocalSocket()
		}
		return client.Connect("unix://" + sock)
	}
	if r.ProtocolName() != "lxd" {
		return nil, fmt.Errorf("remote %q is an image server (%s): it runs no instances and holds no profiles, networks or pools; name a lodged or LXD remote", name, r.Protocol)
	}
	tcfg, err := c.TLS(name)
	if err != nil {
		return nil, err
	}
	return client.ConnectHTTPS(r.Addr, tcfg)
}

// TLS is the TLS setup towards remote name: this client's certificate
// (made on first use in the config dir) and the server certificate pinned
// when the remote was added.
func (c *Config) TLS(name string) (*tls.Config, error) {
	crt, key := c.ClientCertPaths()
	host, _ := os.Hostname()
	cert, err := remotes.LoadOrCreateCertificate(crt, key, "lodge@"+host, nil)
	if err != nil {
		return nil, err
	}
	pinned, err := os.ReadFile(c.ServerCertPath(name))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return remotes.PinnedTLS(string(pinned), &cert)
}

// ServerCert is the pinned certificate of an lxd-protocol remote ("" when
// none was pinned), which a daemon uses to check the server it downloads from.
func (c *Config) ServerCert(name string) (string, error) {
	if c.Remotes[name].ProtocolName() != "lxd" {
		return "", nil
	}
	b, err := os.ReadFile(c.ServerCertPath(name))
	if os.IsNotExist(err) {
		return "", nil
	}
	return string(b), err
}

// ImageSource reads images from remote name on the client's side (image
// list and info): simplestreams, or the image endpoints of a lodged/LXD.
func (c *Config) ImageSource(name string) (remotes.Source, error) {
	r, ok := c.Remotes[name]
	if !ok {
		return nil, fmt.Errorf("remote %q does not exist (see `lodge remote list`)", name)
	}
	switch r.ProtocolName() {
	case "simplestreams":
		return simplestreams.New(r.Addr, simplestreams.Options{}), nil
	case "lxd":
		tcfg, err := c.TLS(name)
		if err != nil {
			return nil, err
		}
		return lxd.New(r.Addr, remotes.HTTPOptions{TLS: tcfg}, ""), nil
	}
	return nil, fmt.Errorf("remote %s: protocol %q is not supported", name, r.Protocol)
}
