package network

import (
	"net"
	"strings"
	"testing"
)

func TestAutoIPv6StableULA(t *testing.T) {
	a, b := AutoIPv6("m1", "lodgebr0", 0), AutoIPv6("m1", "lodgebr0", 0)
	if a != b || !strings.HasPrefix(a, "fd") || !strings.HasSuffix(a, "::1/64") {
		t.Fatalf("AutoIPv6 = %q, %q; want one stable fdXX:...::1/64", a, b)
	}
	if AutoIPv6("m2", "lodgebr0", 0) == a || AutoIPv6("m1", "other", 0) == a || AutoIPv6("m1", "lodgebr0", 1) == a {
		t.Fatal("another host, network or attempt gives the same subnet")
	}
	if _, _, err := ParseIPv6Address(a); err != nil {
		t.Fatalf("auto address %s does not parse: %v", a, err)
	}
	_, first, _ := net.ParseCIDR(a)
	got, err := PickIPv6("m1", "lodgebr0", []*net.IPNet{cidr("::/0"), first, cidr("10.0.0.0/8")})
	if err != nil || got != AutoIPv6("m1", "lodgebr0", 1) {
		t.Fatalf("PickIPv6 with the first candidate routed = %q, %v", got, err)
	}
	cfg := ResolveAuto("lodgebr0", map[string]string{"ipv6.address": "auto", "ipv4.address": "10.1.2.1/24"}, "m1")
	if cfg["ipv6.address"] != a || cfg["ipv4.address"] != "10.1.2.1/24" {
		t.Fatalf("ResolveAuto = %v", cfg)
	}
}

func TestEUI64(t *testing.T) {
	mac, _ := net.ParseMAC("00:16:3e:12:34:56")
	ip, err := EUI64(cidr("fd42:1:2:3::/64"), mac)
	if err != nil || ip.String() != "fd42:1:2:3:216:3eff:fe12:3456" {
		t.Fatalf("EUI64 = %v, %v", ip, err)
	}
	if _, err := EUI64(cidr("fd42:1:2:3::/80"), mac); err == nil {
		t.Fatal("EUI64 in a /80")
	}
}

func TestDnsmasqArgsIPv6(t *testing.T) {
	p := Paths{Dir: "/s/n", PidFile: "/s/n/dnsmasq.pid", LeaseFile: "/s/n/dnsmasq.leases", HostsFile: "/s/n/dnsmasq.hosts"}
	cases := []struct {
		cfg        map[string]string
		want, lack []string
	}{
		// SLAAC with names from DHCPv4, as LXD's default.
		{map[string]string{"ipv4.address": "10.7.8.1/24", "ipv6.address": "fd42:1:2:3::1/64"},
			[]string{"--listen-address=10.7.8.1", "--listen-address=fd42:1:2:3::1", "--enable-ra", "--dhcp-range=::,constructor:nwbr0,ra-stateless,ra-names"}, nil},
		{map[string]string{"ipv6.address": "fd42:1:2:3::1/64", "ipv6.dhcp.stateful": "true"},
			[]string{"--dhcp-range=fd42:1:2:3::2,fd42:1:2:3:ffff:ffff:ffff:fffe,64,1h", "--enable-ra"}, []string{"--listen-address=10.", "ra-stateless"}},
		{map[string]string{"ipv6.address": "fd42:1:2:3::1/64", "ipv6.dhcp.stateful": "true", "ipv6.dhcp.ranges": "fd42:1:2:3::100-fd42:1:2:3::1ff"},
			[]string{"--dhcp-range=fd42:1:2:3::100,fd42:1:2:3::1ff,64,1h"}, nil},
		{map[string]string{"ipv6.address": "fd42:1:2:3::1/64", "ipv6.dhcp": "false"},
			[]string{"--dhcp-range=::,constructor:nwbr0,ra-only"}, []string{"ra-stateless"}},
		{map[string]string{"ipv4.address": "10.7.8.1/24", "ipv6.address": "none"},
			nil, []string{"--enable-ra", "constructor"}},
	}
	for _, c := range cases {
		args, err := DnsmasqArgs("nwbr0", c.cfg, p, "")
		if err != nil {
			t.Fatalf("%v: %v", c.cfg, err)
		}
		joined := strings.Join(args, " ")
		for _, w := range c.want {
			if !strings.Contains(joined, w) {
				t.Errorf("%v: args lack %s:\n%s", c.cfg, w, joined)
			}
		}
		for _, l := range c.lack {
			if strings.Contains(joined, l) {
				t.Errorf("%v: args have %s:\n%s", c.cfg, l, joined)
			}
		}
	}
}

func TestNftRulesetIPv6(t *testing.T) {
	got, err := NftRuleset("nwbr0", map[string]string{"ipv4.address": "10.7.8.1/24", "ipv6.address": "fd42:1:2:3::1/64", "ipv6.nat": "true"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(got, "table ip6 lodge-nwbr0 {\n")
	if i < 0 {
		t.Fatalf("no ip6 table:\n%s", got)
	}
	v6 := got[i:]
	for _, w := range []string{`iifname "nwbr0" udp dport { 53, 547 } accept`, "nd-router-solicit", "nd-neighbor-solicit",
		"ip6 saddr fd42:1:2:3::/64 ip6 daddr != fd42:1:2:3::/64 masquerade"} {
		if !strings.Contains(v6, w) {
			t.Errorf("ip6 table lacks %q:\n%s", w, v6)
		}
	}
	got, _ = NftRuleset("nwbr0", map[string]string{"ipv4.address": "10.7.8.1/24", "ipv6.address": "fd42:1:2:3::1/64"}, nil)
	if strings.Contains(got, "ip6 saddr") {
		t.Fatalf("ipv6.nat unset still masquerades IPv6:\n%s", got)
	}
}

func TestHostsFileIPv6(t *testing.T) {
	got := HostsFile([]Host{{HWAddr: "00:16:3e:00:00:01", Name: "c1", Address: "10.0.0.50", Address6: "fd42::50"}})
	if got != "00:16:3e:00:00:01,10.0.0.50,[fd42::50],c1\n" {
		t.Fatalf("hosts file: %q", got)
	}
}

// The /64 is stored as the kernel prints it: a group 0x0fa6 is "fa6".
func TestAutoIPv6Canonical(t *testing.T) {
	for i := 0; i < 200; i++ {
		a := AutoIPv6("m1", "lodgebr0", i)
		ip, n, err := net.ParseCIDR(a)
		if err != nil || !strings.HasPrefix(a, "fd") || ip.String()+"/64" != a || n.IP.String()+"1/64" != a {
			t.Fatalf("AutoIPv6(%d) = %q: not a canonical fdXX::/64 gateway (%v)", i, a, err)
		}
	}
}
