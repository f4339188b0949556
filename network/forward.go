package network

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// Forward is a network forward as LXD 5.0 has them
// (/1.0/networks/NAME/forwards/LISTEN): connections to ListenAddress on the
// host are sent to an instance on the network, by port (Ports) or, for
// everything else, to Config["target_address"].
type Forward struct {
	ListenAddress string
	Description   string
	Config        map[string]string
	Ports         []ForwardPort
}

// ForwardPort sends the listen ports of one protocol to a target.
type ForwardPort struct {
	Description string
	// Protocol is tcp or udp.
	Protocol string
	// ListenPort and TargetPort are comma-separated ports and ranges
	// (80,8000-8010); an empty TargetPort keeps the listen port, one target
	// port takes every listen port, else the counts must match.
	ListenPort    string
	TargetPort    string
	TargetAddress string
}

// forwardRule is one DNAT rule a forward expands to.
type forwardRule struct {
	proto       string // "" for the default target: every protocol
	listenPorts string // nft set text: 80 or { 80, 8000-8010 }
	target      string // nft dnat target: 10.0.0.5, 10.0.0.5:8080, [fd00::5]:80
	targetHost  net.IP
}

// ValidateForward checks a forward against its network's config and the
// network's other forwards (others, without this one): the listen address
// is a unicast address outside the network's subnet, targets are in the
// subnet and of the listen address's family, ports are valid and each
// listen port of a protocol is forwarded once.
func ValidateForward(cfg map[string]string, f Forward, others []Forward) error {
	listen := net.ParseIP(f.ListenAddress)
	if listen == nil || listen.IsUnspecified() || listen.IsMulticast() || listen.IsLoopback() || listen.IsLinkLocalUnicast() {
		return Invalidf("forward listen address %q must be a unicast IPv4 or IPv6 address (the address clients connect to)", f.ListenAddress)
	}
	is4 := listen.To4() != nil
	var subnet *net.IPNet
	if is4 {
		_, subnet, _ = ParseIPv4Address(cfg["ipv4.address"])
	} else {
		_, subnet, _ = ParseIPv6Address(cfg["ipv6.address"])
	}
	fam := map[bool]string{true: "IPv4", false: "IPv6"}[is4]
	if subnet == nil {
		return Invalidf("forward %s: the network has no %s subnet to forward to (set ipv%s.address)", f.ListenAddress, fam, map[bool]string{true: "4", false: "6"}[is4])
	}
	if subnet.Contains(listen) {
		return Invalidf("forward %s: the listen address is inside the network's own subnet %s; use an address clients reach the host on", f.ListenAddress, subnet)
	}
	for _, o := range others {
		if net.ParseIP(o.ListenAddress).Equal(listen) {
			return Invalidf("forward %s already exists on this network", f.ListenAddress)
		}
	}
	checkTarget := func(what, v string) error {
		ip := net.ParseIP(v)
		if ip == nil {
			return Invalidf("forward %s: %s %q is not an IP address", f.ListenAddress, what, v)
		}
		if (ip.To4() != nil) != is4 {
			return Invalidf("forward %s: %s %s is not %s like the listen address", f.ListenAddress, what, v, fam)
		}
		if !subnet.Contains(ip) {
			return Invalidf("forward %s: %s %s is not in the network's subnet %s", f.ListenAddress, what, v, subnet)
		}
		return nil
	}
	for k, v := range f.Config {
		switch {
		case k == "target_address":
			if v != "" {
				if err := checkTarget("target_address", v); err != nil {
					return err
				}
			}
		case strings.HasPrefix(k, "user."):
		default:
			return Invalidf("forward %s: config key %q is not supported (supported: target_address, user.*)", f.ListenAddress, k)
		}
	}
	seen := map[string]map[int]bool{"tcp": {}, "udp": {}}
	for i, p := range f.Ports {
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			return Invalidf("forward %s: port %d: protocol %q must be tcp or udp", f.ListenAddress, i, p.Protocol)
		}
		if err := checkTarget(fmt.Sprintf("port %d target_address", i), p.TargetAddress); err != nil {
			return err
		}
		lp, err := expandPorts(p.ListenPort)
		if err != nil || len(lp) == 0 {
			return Invalidf("forward %s: port %d: listen_port %q must be ports or ranges such as 80,8000-8010", f.ListenAddress, i, p.ListenPort)
		}
		for _, n := range lp {
			if seen[p.Protocol][n] {
				return Invalidf("forward %s: %s port %d is forwarded twice", f.ListenAddress, p.Protocol, n)
			}
			seen[p.Protocol][n] = true
		}
		if p.TargetPort != "" {
			tp, err := expandPorts(p.TargetPort)
			if err != nil || len(tp) == 0 {
				return Invalidf("forward %s: port %d: target_port %q must be ports or ranges such as 80,8000-8010", f.ListenAddress, i, p.TargetPort)
			}
			if len(tp) != 1 && len(tp) != len(lp) {
				return Invalidf("forward %s: port %d: %d listen ports but %d target ports (give one target port, or as many as listen ports)", f.ListenAddress, i, len(lp), len(tp))
			}
		}
	}
	return nil
}

// expandPorts turns "80,8000-8002" into [80 8000 8001 8002].
func expandPorts(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		a, b, isRange := strings.Cut(part, "-")
		lo, err := strconv.Atoi(a)
		if err != nil {
			return nil, err
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(b); err != nil {
				return nil, err
			}
		}
		if lo < 1 || hi > 65535 || lo > hi {
			return nil, fmt.Errorf("port range %q out of 1-65535", part)
		}
		for p := lo; p <= hi; p++ {
			out = append(out, p)
		}
	}
	return out, nil
}

// portSet renders ports as nft wants them: 80, or { 80, 8000-8010 }.
func portSet(s string) string {
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

func dnatTarget(ip net.IP, port int) string {
	switch {
	case port == 0:
		return ip.String()
	case ip.To4() == nil:
		return fmt.Sprintf("[%s]:%d", ip, port)
	}
	return fmt.Sprintf("%s:%d", ip, port)
}

// forwardRules expands forwards of one family to DNAT rules: port rules
// first, then default targets, so a forwarded port wins over the default.
func forwardRules(fwds []Forward) map[string][]forwardRule {
	out := map[string][]forwardRule{}
	for _, f := range fwds {
		listen := net.ParseIP(f.ListenAddress)
		if listen == nil {
			continue
		}
		for _, p := range f.Ports {
			target := net.ParseIP(p.TargetAddress)
			lp, err1 := expandPorts(p.ListenPort)
			if target == nil || err1 != nil {
				continue
			}
			tp, _ := expandPorts(p.TargetPort)
			switch {
			case len(tp) == 0:
				out[listen.String()] = append(out[listen.String()], forwardRule{p.Protocol, portSet(p.ListenPort), dnatTarget(target, 0), target})
			case len(tp) == 1:
				out[listen.String()] = append(out[listen.String()], forwardRule{p.Protocol, portSet(p.ListenPort), dnatTarget(target, tp[0]), target})
			default:
				for i := range lp {
					out[listen.String()] = append(out[listen.String()], forwardRule{p.Protocol, strconv.Itoa(lp[i]), dnatTarget(target, tp[i]), target})
				}
			}
		}
	}
	for _, f := range fwds {
		listen, target := net.ParseIP(f.ListenAddress), net.ParseIP(f.Config["target_address"])
		if listen != nil && target != nil {
			out[listen.String()] = append(out[listen.String()], forwardRule{target: dnatTarget(target, 0), targetHost: target})
		}
	}
	return out
}

// writeForwardChains writes a family's NAT chains: DNAT of the forwards
// (prerouting for clients elsewhere, output for the host itself), and in
// postrouting the network's masquerade (nat) plus a masquerade of forwarded
// connections that come from the network itself, so that an instance
// reaching a forward (its own or a neighbour's) gets the replies through
// the host rather than straight from the target.
func writeForwardChains(b *strings.Builder, fam, bridge string, subnet *net.IPNet, nat bool, fwds []Forward) {
	var mine []Forward
	for _, f := range fwds {
		if ip := net.ParseIP(f.ListenAddress); ip != nil && (ip.To4() != nil) == (fam == "ip") {
			mine = append(mine, f)
		}
	}
	rules := forwardRules(mine)
	listens := make([]string, 0, len(rules))
	for l := range rules {
		listens = append(listens, l)
	}
	sort.Strings(listens)
	if len(listens) > 0 {
		for _, hook := range []string{"prerouting", "output"} {
			prio := "dstnat"
			if hook == "output" {
				prio = "-100"
			}
			fmt.Fprintf(b, "\tchain %s {\n\t\ttype nat hook %s priority %s; policy accept;\n", hook, hook, prio)
			for _, l := range listens {
				for _, r := range rules[l] {
					if r.proto == "" {
						fmt.Fprintf(b, "\t\t%s daddr %s dnat to %s\n", fam, l, r.target)
					} else {
						fmt.Fprintf(b, "\t\t%s daddr %s %s dport %s dnat to %s\n", fam, l, r.proto, r.listenPorts, r.target)
					}
				}
			}
			b.WriteString("\t}\n")
		}
	}
	if !nat && len(listens) == 0 {
		return
	}
	fmt.Fprintf(b, "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n")
	if nat {
		fmt.Fprintf(b, "\t\t%s saddr %s %s daddr != %s masquerade\n", fam, subnet, fam, subnet)
	}
	seen := map[string]bool{}
	for _, l := range listens {
		for _, r := range rules[l] {
			if t := r.targetHost.String(); !seen[t] {
				seen[t] = true
				fmt.Fprintf(b, "\t\t%s saddr %s %s daddr %s ct status dnat masquerade\n", fam, subnet, fam, t)
			}
		}
	}
	b.WriteString("\t}\n")
}
