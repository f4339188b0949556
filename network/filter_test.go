package network

import (
	"errors"
	"net"
	"strings"
	"testing"
)

func TestNICFilterFor(t *testing.T) {
	dev := map[string]string{"security.ipv4_filtering": "true", "security.ipv6_filtering": "true"}
	f, err := NICFilterFor("veth1", "00:16:3e:00:00:01", dev, net.ParseIP("10.0.0.5"), net.ParseIP("fd42::5"))
	if err != nil || !f.IPv4 || !f.IPv6 || f.MAC || len(f.IPv4Nets) != 1 || f.IPv4Nets[0].String() != "10.0.0.5/32" || f.IPv6Nets[0].String() != "fd42::5/128" {
		t.Fatalf("from allocations: %+v, %v", f, err)
	}
	dev["ipv4.address"], dev["ipv6.address"] = "10.0.0.9", "none"
	f, _ = NICFilterFor("veth1", "00:16:3e:00:00:01", dev, net.ParseIP("10.0.0.5"), net.ParseIP("fd42::5"))
	if f.IPv4Nets[0].String() != "10.0.0.9/32" || len(f.IPv6Nets) != 0 {
		t.Fatalf("the device's own addresses win, none blocks: %+v", f)
	}
	f, _ = NICFilterFor("veth1", "00:16:3e:00:00:01", map[string]string{"security.ipv4_filtering": "true"}, nil, nil)
	if !f.IPv4 || len(f.IPv4Nets) != 0 || f.IPv6 {
		t.Fatalf("no known address blocks the family, unfiltered families pass: %+v", f)
	}
	if f, _ := NICFilterFor("veth1", "x", map[string]string{}, nil, nil); f.On() {
		t.Fatal("a NIC without security keys is filtered")
	}
}

func TestNICFilterRuleset(t *testing.T) {
	off, err := NICFilterRuleset(NICFilter{HostName: "veth1"})
	if err != nil || off != "table bridge lodge-nic-veth1 {}\ndelete table bridge lodge-nic-veth1\n" {
		t.Fatalf("off: %q %v", off, err)
	}
	mac := NICFilter{HostName: "veth1", HWAddr: "00:16:3E:00:00:01", MAC: true}
	got, _ := NICFilterRuleset(mac)
	for _, w := range []string{`iifname "veth1" ether saddr != 00:16:3e:00:00:01 drop`, `arp saddr ether != 00:16:3e:00:00:01 drop`,
		"@nh,528,48 != 0x00163e000001 drop", "type filter hook input priority -200", "type filter hook forward priority -200"} {
		if !strings.Contains(got, w) {
			t.Errorf("MAC filter lacks %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "ether type ip drop") || strings.Contains(got, "ether type != ") {
		t.Errorf("MAC filtering alone filters IP:\n%s", got)
	}
	_, n4, _ := net.ParseCIDR("10.0.0.5/32")
	_, n6, _ := net.ParseCIDR("fd42::5/128")
	got, _ = NICFilterRuleset(NICFilter{HostName: "veth1", HWAddr: "00:16:3e:00:00:01", IPv4: true, IPv6: true,
		IPv4Nets: []*net.IPNet{n4}, IPv6Nets: []*net.IPNet{n6}})
	in := got[strings.Index(got, "chain input"):strings.Index(got, "chain forward")]
	fwd := got[strings.Index(got, "chain forward"):]
	for _, w := range []string{"ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp dport 67 accept", "arp saddr ip 10.0.0.5/32 accept",
		"ip saddr 10.0.0.5/32 accept", "ether type arp drop", "ether type ip drop", "udp dport 547 accept", "nd-router-solicit accept",
		"nd-router-advert drop", "@nh,384,128 0xfd420000000000000000000000000005 accept", "ip6 saddr fd42::5/128 accept",
		"ether type ip6 drop", "ether type != { arp, ip, ip6 } drop"} {
		if !strings.Contains(in, w) {
			t.Errorf("input chain lacks %q:\n%s", w, in)
		}
	}
	if strings.Contains(fwd, "udp dport 67") || strings.Contains(fwd, "nd-router-solicit") || !strings.Contains(fwd, "nd-router-advert drop") {
		t.Errorf("forward chain lets DHCP/RS through to other ports or RAs out:\n%s", fwd)
	}
	// IP filtering with nothing allowed blocks the family.
	got, _ = NICFilterRuleset(NICFilter{HostName: "veth1", HWAddr: "00:16:3e:00:00:01", IPv4: true})
	if strings.Contains(got, " accept\n") || !strings.Contains(got, "ether type ip drop") {
		t.Errorf("IPv4 filtering without an address:\n%s", got)
	}
	for _, bad := range []NICFilter{{HostName: "veth 1", MAC: true, HWAddr: "00:16:3e:00:00:01"}, {HostName: "veth1", MAC: true, HWAddr: "nope"}} {
		if _, err := NICFilterRuleset(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestParseBitRate(t *testing.T) {
	for in, want := range map[string]uint64{"": 0, "50Mbit": 50e6, "1Gbit": 1e9, "512kbit": 512e3, "100": 100, "2Mibit": 2 << 20, "10bit": 10} {
		if got, err := ParseBitRate(in); err != nil || got != want {
			t.Errorf("ParseBitRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"50MB", "50 Mbit", "Mbit", "-5Mbit", "0Mbit", "1.5Mbit", "99999999999Ebit"} {
		if _, err := ParseBitRate(in); err == nil {
			t.Errorf("ParseBitRate(%q) accepted", in)
		}
	}
	l, err := NICLimitsFor(map[string]string{"limits.ingress": "50Mbit", "limits.egress": "20Mbit"})
	if err != nil || l != (NICLimits{Ingress: 50e6, Egress: 20e6}) {
		t.Fatalf("NICLimitsFor = %+v, %v", l, err)
	}
	if l, _ := NICLimitsFor(map[string]string{"limits.ingress": "50Mbit", "limits.max": "10Mbit"}); l != (NICLimits{10e6, 10e6}) {
		t.Fatalf("limits.max: %+v", l)
	}
	if len(IFBName("veth0123456789a")) > 15 || IFBName("a") == IFBName("b") || IFBHost(IFBAlias("veth1")) != "veth1" {
		t.Fatal("ifb names")
	}
}
