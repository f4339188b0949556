package network

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
)

func cidr(s string) *net.IPNet { _, n, _ := net.ParseCIDR(s); return n }

func TestPickSubnetAvoidsRoutes(t *testing.T) {
	// The generator first offers 10.1.0, then 10.1.1, then 10.2.3.
	seq := []int{0, 0, 0, 1, 1, 3}
	i := 0
	rnd := func(n int) int { v := seq[i%len(seq)]; i++; return v }
	used := []*net.IPNet{cidr("0.0.0.0/0"), cidr("10.1.0.0/16"), cidr("192.168.1.0/24")}
	got, err := PickSubnet(used, rnd)
	if err != nil || got != "10.2.3.1/24" {
		t.Fatalf("PickSubnet = %q, %v; want 10.2.3.1/24 (10.1.x overlaps a route, the default route blocks nothing)", got, err)
	}
	if _, err := PickSubnet([]*net.IPNet{cidr("10.0.0.0/8")}, rnd); err == nil {
		t.Fatal("PickSubnet found a subnet inside a host route covering all of 10/8")
	}
}

func TestPickSubnetPrefix(t *testing.T) {
	// Offered 10.1.7 (in use), then 10.2.7: a /22 starts on a multiple of 4.
	seq := []int{0, 7, 1, 7}
	i := 0
	rnd := func(n int) int { v := seq[i%len(seq)]; i++; return v }
	used := []*net.IPNet{cidr("10.1.4.0/24")}
	got, err := PickSubnetPrefix(used, 22, rnd)
	if err != nil || got != "10.2.4.1/22" {
		t.Fatalf("PickSubnetPrefix(22) = %q, %v; want 10.2.4.1/22 (10.1.4.0/22 overlaps 10.1.4.0/24)", got, err)
	}
	if n, err := DHCPCapacity(map[string]string{"ipv4.address": got}); err != nil || n != 1021 {
		t.Fatalf("a picked /22 holds %d DHCP addresses, %v", n, err)
	}
	if _, err := PickSubnetPrefix(nil, 8, rnd); err == nil {
		t.Fatal("a /8 inside 10/8 accepted")
	}
}

func TestValidateConfig(t *testing.T) {
	good := []map[string]string{
		{"ipv4.address": "10.123.5.1/24", "ipv4.nat": "false", "ipv6.address": "none"},
		{"ipv4.address": "auto", "dns.domain": "lan.example", "bridge.mtu": "1400", "user.x": "y"},
		{"ipv4.address": "10.0.0.1/24", "ipv4.dhcp.ranges": "10.0.0.100-10.0.0.200"},
		{"ipv6.address": "auto", "ipv6.nat": "true"},
		{"ipv6.address": "fd42:1:2:3::1/64", "ipv6.dhcp": "true", "ipv6.dhcp.stateful": "true", "ipv6.dhcp.ranges": "fd42:1:2:3::100-fd42:1:2:3::1ff"},
	}
	for _, c := range good {
		if err := ValidateConfig(c); err != nil {
			t.Errorf("%v: %v", c, err)
		}
	}
	bad := map[string]map[string]string{
		"prefix":  {"ipv4.address": "10.0.0.1"},
		"netaddr": {"ipv4.address": "10.0.0.0/24"},
		"nat":     {"ipv4.nat": "maybe"},
		"ipv6":    {"ipv6.address": "fd00::1"},
		"ipv6ll":  {"ipv6.address": "fe80::1/64"},
		"ipv6net": {"ipv6.address": "fd00::/64"},
		"ipv6v4":  {"ipv6.address": "10.0.0.1/24"},
		"range6":  {"ipv6.address": "fd00::1/64", "ipv6.dhcp.ranges": "fd01::5-fd01::9"},
		"unknown": {"bridge.driver": "openvswitch"},
		"range":   {"ipv4.address": "10.0.0.1/24", "ipv4.dhcp.ranges": "10.0.1.5-10.0.1.9"},
		"mtu":     {"bridge.mtu": "9"},
		"domain":  {"dns.domain": "-bad-"},
	}
	for what, c := range bad {
		if err := ValidateConfig(c); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v accepted (err %v)", what, c, err)
		}
	}
	for _, n := range []string{"", "0abc", "a_b", "averyveryverylongname"} {
		if ValidateName(n) == nil {
			t.Errorf("name %q accepted", n)
		}
	}
}

func TestDHCPRanges(t *testing.T) {
	r, _ := DHCPRanges(map[string]string{"ipv4.address": "10.5.6.1/24"})
	if len(r) != 1 || r[0] != [2]string{"10.5.6.2", "10.5.6.254"} {
		t.Fatalf("ranges = %v", r)
	}
	r, _ = DHCPRanges(map[string]string{"ipv4.address": "10.5.6.254/24"})
	if r[0] != [2]string{"10.5.6.1", "10.5.6.253"} {
		t.Fatalf("ranges with the bridge at the top = %v", r)
	}
}

func TestDHCPCapacity(t *testing.T) {
	for _, c := range []struct {
		cfg  map[string]string
		want int
	}{
		{map[string]string{"ipv4.address": "10.5.6.1/24"}, 253},
		{map[string]string{"ipv4.address": "10.5.4.1/22"}, 1021},
		{map[string]string{"ipv4.address": "10.5.6.1/22"}, 512}, // the larger side of the bridge's address
		{map[string]string{"ipv4.address": "10.5.6.1/24", "ipv4.dhcp.ranges": "10.5.6.10-10.5.6.19,10.5.6.100-10.5.6.100"}, 11},
		{map[string]string{"ipv4.address": "10.5.6.1/24", "ipv4.dhcp": "false"}, 0},
		{map[string]string{"ipv4.address": "none"}, 0},
	} {
		if got, err := DHCPCapacity(c.cfg); err != nil || got != c.want {
			t.Errorf("%v: %d, %v; want %d", c.cfg, got, err, c.want)
		}
	}
}

func TestDnsmasqArgs(t *testing.T) {
	p := Paths{Dir: "/s/n", PidFile: "/s/n/dnsmasq.pid", LeaseFile: "/s/n/dnsmasq.leases", HostsFile: "/s/n/dnsmasq.hosts"}
	args, err := DnsmasqArgs("nwbr0", map[string]string{"ipv4.address": "10.7.8.1/24", "bridge.mtu": "1400"}, p, "dnsmasq")
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(args, " ")
	for _, want := range []string{"--no-resolv", "--no-ping", "--strict-order", "--bind-interfaces", "--interface=nwbr0",
		"--listen-address=10.7.8.1", "--dhcp-leasefile=/s/n/dnsmasq.leases", "--dhcp-hostsfile=/s/n/dnsmasq.hosts",
		"--pid-file=/s/n/dnsmasq.pid", "--domain=lodge", "--local=/lodge/", "--dhcp-range=10.7.8.2,10.7.8.254,255.255.255.0,1h",
		"--dhcp-option-force=26,1400", "--user=dnsmasq", "--dhcp-lease-max=253"} {
		if !strings.Contains(joined, want) {
			t.Errorf("dnsmasq args lack %s:\n%s", want, joined)
		}
	}
	args, _ = DnsmasqArgs("nwbr0", map[string]string{"ipv4.address": "10.7.8.1/24", "ipv4.dhcp": "false", "dns.domain": "lan"}, p, "")
	joined = strings.Join(args, " ")
	if strings.Contains(joined, "--dhcp-range") || !strings.Contains(joined, "--domain=lan") {
		t.Errorf("dhcp off / domain: %s", joined)
	}
	// dnsmasq's own default is 1,000 leases: a /22's 1,021 addresses all get one.
	args, _ = DnsmasqArgs("nwbr0", map[string]string{"ipv4.address": "10.7.8.1/22"}, p, "")
	if !slices.Contains(args, "--dhcp-lease-max=1021") {
		t.Errorf("a /22's lease table: %v", args)
	}
	// With stateful DHCPv6 a container may hold a lease of each family.
	args, _ = DnsmasqArgs("nwbr0", map[string]string{"ipv4.address": "10.7.8.1/22", "ipv6.address": "fd42:1:2:3::1/64", "ipv6.dhcp.stateful": "true"}, p, "")
	if !slices.Contains(args, "--dhcp-lease-max=2042") {
		t.Errorf("a /22 with stateful DHCPv6: %v", args)
	}
	if args, _ := DnsmasqArgs("nwbr0", map[string]string{"ipv4.address": "none"}, p, ""); args != nil {
		t.Errorf("no address, but dnsmasq args %v", args)
	}
}

func TestNftRuleset(t *testing.T) {
	got, err := NftRuleset("nwbr0", map[string]string{"ipv4.address": "10.7.8.1/24"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `table ip lodge-nwbr0 {}
delete table ip lodge-nwbr0
table ip lodge-nwbr0 {
	chain input {
		type filter hook input priority filter - 1; policy accept;
		iifname "nwbr0" udp dport { 53, 67 } accept
		iifname "nwbr0" tcp dport 53 accept
	}
	chain forward {
		type filter hook forward priority filter - 1; policy accept;
		iifname "nwbr0" accept
		oifname "nwbr0" accept
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 10.7.8.0/24 ip daddr != 10.7.8.0/24 masquerade
	}
}
table ip6 lodge-nwbr0 {}
delete table ip6 lodge-nwbr0
`
	if got != want {
		t.Fatalf("ruleset:\n%s\nwant:\n%s", got, want)
	}
	got, _ = NftRuleset("nwbr0", map[string]string{"ipv4.address": "10.7.8.1/24", "ipv4.nat": "false"}, nil)
	if strings.Contains(got, "masquerade") {
		t.Fatalf("ipv4.nat=false still masquerades:\n%s", got)
	}
}

func TestHostsFileAndLeases(t *testing.T) {
	got := HostsFile([]Host{{HWAddr: "00:16:3E:00:00:02", Name: "c2"}, {HWAddr: "00:16:3e:00:00:01", Name: "c1", Address: "10.0.0.50"}, {Name: "nomac"}})
	if got != "00:16:3e:00:00:01,10.0.0.50,c1\n00:16:3e:00:00:02,c2\n" {
		t.Fatalf("hosts file:\n%s", got)
	}
	leases, err := ParseLeases(strings.NewReader("1700000000 00:16:3e:00:00:01 10.0.0.50 c1 01:00:16:3e:00:00:01\n1700000001 00:16:3e:00:00:02 10.0.0.7 * *\nduid 00:01:00:01\n"))
	if err != nil || len(leases) != 2 || leases[0].Hostname != "c1" || leases[1].Hostname != "" || leases[1].Address != "10.0.0.7" ||
		leases[0].ClientID != "01:00:16:3e:00:00:01" || leases[1].ClientID != "" {
		t.Fatalf("leases = %+v, %v", leases, err)
	}
}

func TestDropLeases(t *testing.T) {
	in := "1 00:16:3e:00:00:01 10.0.0.5 a *\n2 00:16:3E:00:00:02 10.0.0.6 b *\n"
	out, changed := DropLeases(in, []string{"00:16:3e:00:00:02"})
	if !changed || out != "1 00:16:3e:00:00:01 10.0.0.5 a *\n" {
		t.Fatalf("%q %v", out, changed)
	}
	if _, changed := DropLeases(in, []string{"00:16:3e:00:00:09"}); changed {
		t.Fatal("changed without a match")
	}
}
