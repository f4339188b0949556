// Package netparse parses the network values device keys hold: proxy
// addresses (PROTO:HOST:PORT, listen= and connect=) and bit rates
// (limits.ingress, limits.egress), and the byte rates of rsync's
// --bwlimit (a pool's rsync.bwlimit). It is a leaf: instances validates
// devices with it and network applies them, storage/pools validates the
// pool key and migration applies it, without importing each other.
package netparse

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Addr is a parsed listen= or connect= value, e.g. tcp:0.0.0.0:8080.
type Addr struct {
	Proto string // tcp, udp
	Host  string
	Port  int
}

func (a Addr) String() string { return a.Proto + ":" + net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

// HostPort is the address for net.Listen/Dial.
func (a Addr) HostPort() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

// Parse parses PROTO:HOST:PORT (HOST may be [v6]).
func Parse(s string) (Addr, error) {
	proto, rest, ok := strings.Cut(s, ":")
	if !ok || proto != "tcp" && proto != "udp" {
		return Addr{}, fmt.Errorf("%q: must be tcp:ADDRESS:PORT or udp:ADDRESS:PORT", s)
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return Addr{}, fmt.Errorf("%q: %v", s, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return Addr{}, fmt.Errorf("%q: port %q must be a number from 1 to 65535 (ranges are not supported)", s, port)
	}
	if net.ParseIP(host) == nil {
		return Addr{}, fmt.Errorf("%q: %q must be an IP address", s, host)
	}
	return Addr{Proto: proto, Host: host, Port: p}, nil
}
