package network

import (
	"errors"
	"strings"
	"testing"
)

var fwdNet = map[string]string{"ipv4.address": "10.7.8.1/24", "ipv6.address": "fd42:1:2:3::1/64"}

func TestValidateForward(t *testing.T) {
	good := []Forward{
		{ListenAddress: "192.0.2.20", Config: map[string]string{"target_address": "10.7.8.5"}},
		{ListenAddress: "192.0.2.21", Ports: []ForwardPort{{Protocol: "tcp", ListenPort: "80,443", TargetAddress: "10.7.8.5"},
			{Protocol: "udp", ListenPort: "5000-5002", TargetPort: "6000-6002", TargetAddress: "10.7.8.6"},
			{Protocol: "tcp", ListenPort: "8000-8009", TargetPort: "80", TargetAddress: "10.7.8.6"}}},
		{ListenAddress: "2001:db8::20", Config: map[string]string{"target_address": "fd42:1:2:3::5", "user.x": "y"}},
	}
	for _, f := range good {
		if err := ValidateForward(fwdNet, f, nil); err != nil {
			t.Errorf("%+v: %v", f, err)
		}
	}
	bad := map[string]Forward{
		"listen":       {ListenAddress: "nope"},
		"wildcard":     {ListenAddress: "0.0.0.0"},
		"in subnet":    {ListenAddress: "10.7.8.9"},
		"mixed":        {ListenAddress: "192.0.2.20", Config: map[string]string{"target_address": "fd42:1:2:3::5"}},
		"outside":      {ListenAddress: "192.0.2.20", Config: map[string]string{"target_address": "10.9.9.9"}},
		"key":          {ListenAddress: "192.0.2.20", Config: map[string]string{"target_port": "80"}},
		"proto":        {ListenAddress: "192.0.2.20", Ports: []ForwardPort{{Protocol: "icmp", ListenPort: "1", TargetAddress: "10.7.8.5"}}},
		"port":         {ListenAddress: "192.0.2.20", Ports: []ForwardPort{{Protocol: "tcp", ListenPort: "70000", TargetAddress: "10.7.8.5"}}},
		"twice":        {ListenAddress: "192.0.2.20", Ports: []ForwardPort{{Protocol: "tcp", ListenPort: "80", TargetAddress: "10.7.8.5"}, {Protocol: "tcp", ListenPort: "79-81", TargetAddress: "10.7.8.6"}}},
		"counts":       {ListenAddress: "192.0.2.20", Ports: []ForwardPort{{Protocol: "tcp", ListenPort: "80-82", TargetPort: "90-91", TargetAddress: "10.7.8.5"}}},
		"no target":    {ListenAddress: "192.0.2.20", Ports: []ForwardPort{{Protocol: "tcp", ListenPort: "80"}}},
		"duplicate":    {ListenAddress: "192.0.2.99"},
		"no v6 subnet": {ListenAddress: "2001:db8::20"},
	}
	others := []Forward{{ListenAddress: "192.0.2.99"}}
	for what, f := range bad {
		cfg := fwdNet
		if what == "no v6 subnet" {
			cfg = map[string]string{"ipv4.address": "10.7.8.1/24"}
		}
		if err := ValidateForward(cfg, f, others); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %+v accepted (%v)", what, f, err)
		}
	}
}

func TestForwardRuleset(t *testing.T) {
	fwds := []Forward{
		{ListenAddress: "192.0.2.20", Config: map[string]string{"target_address": "10.7.8.5"},
			Ports: []ForwardPort{{Protocol: "tcp", ListenPort: "80,443", TargetAddress: "10.7.8.6"},
				{Protocol: "udp", ListenPort: "5000-5001", TargetPort: "6000-6001", TargetAddress: "10.7.8.6"},
				{Protocol: "tcp", ListenPort: "8000-8009", TargetPort: "80", TargetAddress: "10.7.8.7"}}},
		{ListenAddress: "2001:db8::20", Ports: []ForwardPort{{Protocol: "tcp", ListenPort: "22", TargetPort: "2222", TargetAddress: "fd42:1:2:3::5"}}},
	}
	got, err := NftRuleset("nwbr0", fwdNet, fwds)
	if err != nil {
		t.Fatal(err)
	}
	want4 := `	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 192.0.2.20 tcp dport { 80, 443 } dnat to 10.7.8.6
		ip daddr 192.0.2.20 udp dport 5000 dnat to 10.7.8.6:6000
		ip daddr 192.0.2.20 udp dport 5001 dnat to 10.7.8.6:6001
		ip daddr 192.0.2.20 tcp dport 8000-8009 dnat to 10.7.8.7:80
		ip daddr 192.0.2.20 dnat to 10.7.8.5
	}
	chain output {
		type nat hook output priority -100; policy accept;
		ip daddr 192.0.2.20 tcp dport { 80, 443 } dnat to 10.7.8.6
		ip daddr 192.0.2.20 udp dport 5000 dnat to 10.7.8.6:6000
		ip daddr 192.0.2.20 udp dport 5001 dnat to 10.7.8.6:6001
		ip daddr 192.0.2.20 tcp dport 8000-8009 dnat to 10.7.8.7:80
		ip daddr 192.0.2.20 dnat to 10.7.8.5
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 10.7.8.0/24 ip daddr != 10.7.8.0/24 masquerade
		ip saddr 10.7.8.0/24 ip daddr 10.7.8.6 ct status dnat masquerade
		ip saddr 10.7.8.0/24 ip daddr 10.7.8.7 ct status dnat masquerade
		ip saddr 10.7.8.0/24 ip daddr 10.7.8.5 ct status dnat masquerade
	}
`
	if !strings.Contains(got, want4) {
		t.Errorf("ip table forward chains:\n%s\nwant:\n%s", got, want4)
	}
	for _, w := range []string{"ip6 daddr 2001:db8::20 tcp dport 22 dnat to [fd42:1:2:3::5]:2222",
		"ip6 saddr fd42:1:2:3::/64 ip6 daddr fd42:1:2:3::5 ct status dnat masquerade"} {
		if !strings.Contains(got, w) {
			t.Errorf("ip6 table lacks %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "ip6 saddr fd42:1:2:3::/64 ip6 daddr != ") {
		t.Errorf("ipv6.nat is off but the ip6 table masquerades:\n%s", got)
	}
}
