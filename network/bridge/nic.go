package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"lodge/network"
)

var (
	_ network.NICFilterer = (*Driver)(nil)
	_ network.NICLimiter  = (*Driver)(nil)
)

// ApplyNICFilter implements network.NICFilterer: one nftables table of
// family bridge per NIC, replaced atomically.
func (d *Driver) ApplyNICFilter(ctx context.Context, f network.NICFilter) error {
	rules, err := network.NICFilterRuleset(f)
	if err != nil {
		return err
	}
	if err := nft(ctx, rules); err != nil {
		return fmt.Errorf("nic %s: apply its filter (nftables table bridge %s): %w", f.HostName, network.NICFilterTable(f.HostName), err)
	}
	return nil
}

// RemoveNICFilter implements network.NICFilterer.
func (d *Driver) RemoveNICFilter(ctx context.Context, hostName string) error {
	return d.ApplyNICFilter(ctx, network.NICFilter{HostName: hostName})
}

// NICFilters implements network.NICFilterer.
func (d *Driver) NICFilters(ctx context.Context) ([]string, error) {
	out, err := exec.CommandContext(ctx, "nft", "list", "tables", "bridge").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("list nftables tables: %v: %s", err, bytes.TrimSpace(out))
	}
	var hosts []string
	for _, line := range strings.Split(string(out), "\n") {
		if h, ok := strings.CutPrefix(strings.TrimSpace(line), "table bridge "+network.NICFilterTable("")); ok {
			hosts = append(hosts, h)
		}
	}
	return hosts, nil
}

// SetPortIsolation implements network.NICFilterer.
func (d *Driver) SetPortIsolation(ctx context.Context, hostName string, on bool) error {
	link, err := netlink.LinkByName(hostName)
	if err != nil {
		return fmt.Errorf("nic %s: port isolation: %w", hostName, err)
	}
	if link.Attrs().MasterIndex == 0 {
		return fmt.Errorf("nic %s: port isolation needs the interface on a bridge; it is on none", hostName)
	}
	if err := netlink.LinkSetIsolated(link, on); err != nil {
		return fmt.Errorf("nic %s: set the bridge port's isolated flag: %w", hostName, err)
	}
	return nil
}

// SetPortHairpin implements network.NICFilterer.
func (d *Driver) SetPortHairpin(ctx context.Context, n network.Network, hostName string) error {
	link, err := netlink.LinkByName(hostName)
	if err != nil {
		return fmt.Errorf("nic %s: hairpin: %w", hostName, err)
	}
	return setHairpin(link, wantHairpin(n))
}

// wantHairpin: forwards, and bridged frames that pass through netfilter.
func wantHairpin(n network.Network) bool {
	return len(n.Forwards) > 0 && (getSysctl("net/bridge/bridge-nf-call-iptables") == "1" || getSysctl("net/bridge/bridge-nf-call-ip6tables") == "1")
}

func setHairpin(link netlink.Link, on bool) error {
	if pi, err := netlink.LinkGetProtinfo(link); err == nil && pi.Hairpin == on {
		return nil
	}
	if err := netlink.LinkSetHairpin(link, on); err != nil {
		return fmt.Errorf("nic %s: set the bridge port's hairpin flag: %w", link.Attrs().Name, err)
	}
	return nil
}

// syncHairpin sets the hairpin flag of every port of a network's bridge.
func syncHairpin(br netlink.Link, n network.Network) error {
	links, err := netlink.LinkList()
	if err != nil {
		return err
	}
	on := wantHairpin(n)
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			if err := setHairpin(l, on); err != nil {
				return err
			}
		}
	}
	return nil
}

// SetNICLimits implements network.NICLimiter with tc through netlink:
// what the instance receives is shaped by an HTB qdisc at the root of the
// host interface (its egress); what it sends arrives on the host
// interface's ingress, is redirected to the NIC's ifb device and shaped
// by an HTB qdisc there. Everything is torn down and set up again, so a
// change of either rate takes effect at once.
func (d *Driver) SetNICLimits(ctx context.Context, hostName string, l network.NICLimits) error {
	link, lerr := netlink.LinkByName(hostName)
	var errs []error
	if lerr == nil {
		errs = append(errs, delQdisc(link, netlink.HANDLE_ROOT), delQdisc(link, netlink.HANDLE_INGRESS))
	}
	ifbName := network.IFBName(hostName)
	if ifb, err := netlink.LinkByName(ifbName); err == nil && (l.Egress == 0 || lerr != nil) {
		if err := netlink.LinkDel(ifb); err != nil {
			errs = append(errs, fmt.Errorf("delete ifb %s: %w", ifbName, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("nic %s: clear its limits: %w", hostName, err)
	}
	if l == (network.NICLimits{}) {
		return nil
	}
	if lerr != nil {
		return fmt.Errorf("nic %s: set its limits: %w", hostName, lerr)
	}
	if l.Ingress > 0 {
		if err := shape(link, l.Ingress); err != nil {
			return fmt.Errorf("nic %s: limit what the instance receives (limits.ingress): %w", hostName, err)
		}
	}
	if l.Egress > 0 {
		if err := d.shapeEgress(link, hostName, ifbName, l.Egress); err != nil {
			_ = d.SetNICLimits(ctx, hostName, network.NICLimits{})
			return fmt.Errorf("nic %s: limit what the instance sends (limits.egress): %w", hostName, err)
		}
	}
	return nil
}

// LimitedNICs implements network.NICLimiter.
func (d *Driver) LimitedNICs(ctx context.Context) ([]string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, err
	}
	var hosts []string
	for _, l := range links {
		if h := network.IFBHost(l.Attrs().Alias); h != "" && l.Type() == "ifb" {
			hosts = append(hosts, h)
		}
	}
	return hosts, nil
}

func (d *Driver) shapeEgress(link netlink.Link, hostName, ifbName string, rate uint64) error {
	ifb, err := netlink.LinkByName(ifbName)
	if err != nil {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.TxQLen = ifbName, 1000
		if err := netlink.LinkAdd(&netlink.Ifb{LinkAttrs: attrs}); err != nil {
			return fmt.Errorf("create ifb %s: %w", ifbName, err)
		}
		if ifb, err = netlink.LinkByName(ifbName); err != nil {
			return err
		}
	}
	if err := netlink.LinkSetAlias(ifb, network.IFBAlias(hostName)); err != nil {
		return fmt.Errorf("mark ifb %s: %w", ifbName, err)
	}
	if err := netlink.LinkSetUp(ifb); err != nil {
		return fmt.Errorf("set ifb %s up: %w", ifbName, err)
	}
	_ = delQdisc(ifb, netlink.HANDLE_ROOT)
	if err := shape(ifb, rate); err != nil {
		return err
	}
	ingress := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index,
		Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_INGRESS}}
	if err := netlink.QdiscAdd(ingress); err != nil {
		return fmt.Errorf("add ingress qdisc: %w", err)
	}
	redirect := netlink.NewMirredAction(ifb.Attrs().Index)
	filter := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.MakeHandle(0xffff, 0),
			Priority: 1, Protocol: unix.ETH_P_ALL},
		// One key with a zero mask: every packet.
		Sel:     &netlink.TcU32Sel{Flags: nl.TC_U32_TERMINAL, Nkeys: 1, Keys: []netlink.TcU32Key{{}}},
		Actions: []netlink.Action{redirect},
	}
	if err := netlink.FilterAdd(filter); err != nil {
		return fmt.Errorf("redirect ingress to ifb %s: %w", ifbName, err)
	}
	return nil
}

// shape puts an HTB qdisc with one class at rate (bits/s) at the root of
// link, the default class for all traffic.
func shape(link netlink.Link, rate uint64) error {
	qdisc := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT})
	qdisc.Defcls = 0x10
	if err := netlink.QdiscAdd(qdisc); err != nil {
		return fmt.Errorf("add htb qdisc: %w", err)
	}
	// A burst of 10 ms at the rate, at least 64 KiB: veths hand over
	// GSO packets of up to 64 KiB, and a smaller bucket shapes them
	// below the rate.
	burst := uint32(min(max(rate/8/100, 64<<10), 1<<30))
	class := netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.MakeHandle(1, 0), Handle: netlink.MakeHandle(1, 0x10)},
		netlink.HtbClassAttrs{Rate: rate, Ceil: rate, Buffer: burst, Cbuffer: burst, Quantum: 60000})
	if err := netlink.ClassAdd(class); err != nil {
		return fmt.Errorf("add htb class at %d bit/s: %w", rate, err)
	}
	return nil
}

// delQdisc deletes link's root or ingress qdisc; none is not an error.
func delQdisc(link netlink.Link, parent uint32) error {
	qs, err := netlink.QdiscList(link)
	if err != nil {
		return err
	}
	for _, q := range qs {
		if q.Attrs().Parent != parent {
			continue
		}
		// The kernel's default root qdisc (noqueue, mq) has no handle to delete.
		if q.Attrs().Handle == 0 {
			continue
		}
		if err := netlink.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("delete %s qdisc: %w", q.Type(), err)
		}
	}
	return nil
}
