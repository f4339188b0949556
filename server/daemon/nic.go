package daemon

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/network"
	"lodge/server/db"
)

// What lodged sets up on the host for a NIC beside the veth liblxc makes
// (issue 18): anti-spoofing filters on the bridge port, the port's
// isolation and hairpin flags, bandwidth limits, and a routed NIC's proxy
// ARP/NDP entries on its parent. The filters are nftables tables keyed by
// the host-side name, applied before the instance starts (no unfiltered
// moment) and kept while it is stopped; the rest lives on the veth or the
// parent and is set after the start and undone after the stop.

// hostNIC is one NIC of an instance with a host-side veth.
type hostNIC struct {
	dev  string
	conf map[string]string
	// kind is api.DeviceKind's: bridged, network or routed.
	kind   string
	host   string
	hwaddr string
	// net is the managed network the NIC is on (network=, or bridged on
	// one); nil otherwise.
	net *db.Network
}

func (h hostNIC) filtering() bool {
	return h.kind != "routed" && (network.IsTrue(h.conf["security.mac_filtering"], false) ||
		network.IsTrue(h.conf["security.ipv4_filtering"], false) || network.IsTrue(h.conf["security.ipv6_filtering"], false))
}

func (h hostNIC) isolated() bool {
	return h.kind != "routed" && network.IsTrue(h.conf["security.port_isolation"], false)
}

func (h hostNIC) limits() network.NICLimits {
	l, _ := network.NICLimitsFor(h.conf)
	return l
}

// needsDriver: the NIC has something only the network driver sets up.
func (h hostNIC) needsDriver() bool {
	return h.kind == "routed" || h.filtering() || h.isolated() || h.limits() != (network.NICLimits{})
}

// nicHostName is a NIC's host-side veth: host_name, else the name it got
// at its last start (volatile.DEV.host_name, cfg being the instance's
// config), else the name an older lodge gave it (legacyVethName).
func nicHostName(instance string, cfg map[string]string, dev string, devc map[string]string) string {
	if devc["host_name"] != "" {
		return devc["host_name"]
	}
	if n := cfg[hostNameKey(dev)]; n != "" {
		return n
	}
	return legacyVethName(instance, dev)
}

// nicAddress is the address a NIC on a managed network is reserved, of
// family ipv4 or ipv6: its ipv4.address/ipv6.address, else the one lodged
// allocated for its filter (volatile.DEV.ipv4.address); "" for none.
func nicAddress(in db.Instance, dev string, devc map[string]string, fam string) string {
	if a := devc[fam+".address"]; a != "" {
		if a == "none" {
			return ""
		}
		return a
	}
	return in.Config["volatile."+dev+"."+fam+".address"]
}

// hostNICs lists x's NICs with a host-side veth, sorted by device.
func (d *Daemon) hostNICs(ctx context.Context, x Expanded) []hostNIC {
	return hostNICsOf(x, d.networkLookup(ctx))
}

// networkLookup reads a managed network's record once per name: a pass
// over every instance (gcNICs) asks for the same few networks.
func (d *Daemon) networkLookup(ctx context.Context) func(name string) *db.Network {
	seen := map[string]*db.Network{}
	return func(name string) *db.Network {
		if n, ok := seen[name]; ok {
			return n
		}
		var p *db.Network
		if n, err := d.db.GetNetwork(ctx, name); err == nil {
			p = &n
		}
		seen[name] = p
		return p
	}
}

// hostNICsOf is hostNICs with the networks looked up through netOf.
func hostNICsOf(x Expanded, netOf func(name string) *db.Network) []hostNIC {
	devs := expandedDevices(x)
	var out []hostNIC
	for _, dev := range slices.Sorted(maps.Keys(devs)) {
		devc := devs[dev]
		kind := api.DeviceKind(devc)
		if devc["type"] != "nic" || kind != "bridged" && kind != "network" && kind != "routed" {
			continue
		}
		h := hostNIC{dev: dev, conf: devc, kind: kind, host: nicHostName(x.Name, x.Config, dev, devc), hwaddr: devc["hwaddr"]}
		if h.hwaddr == "" {
			h.hwaddr = x.Config["volatile."+dev+".hwaddr"]
		}
		name := devc["network"]
		if kind == "bridged" {
			name = devc["parent"]
		}
		if name != "" {
			h.net = netOf(name)
		}
		out = append(out, h)
	}
	return out
}

// checkUnmanagedFiltering refuses, as LXD does, IP filtering on a bridge
// lodged does not manage without the address to allow (there is no
// reservation to take it from), and a reservation such a bridge cannot
// hand out.
func checkUnmanagedFiltering(dev string, devc map[string]string) error {
	for _, fam := range []string{"ipv4", "ipv6"} {
		on := network.IsTrue(devc["security."+fam+"_filtering"], false)
		switch {
		case on && devc[fam+".address"] == "":
			return errdefs.Invalidf("device %q: %s filtering requires a manually specified %s.address when using an unmanaged parent bridge (%s is not a lodge-managed network)",
				dev, strings.ToUpper(fam[:2])+fam[2:], fam, devc["parent"])
		case !on && devc[fam+".address"] != "":
			return errdefs.Invalidf("device %q: %s.address needs a lodge-managed network, and parent %q is not one (use network=NAME; lodge network list shows them), or security.%s_filtering=true to allow only that address",
				dev, fam, devc["parent"], fam)
		}
	}
	return nil
}

// reserveNICAddresses allocates, as LXD does, the address a filtered NIC
// on a managed network may use when it has none: IPv4 filtering without
// ipv4.address takes a free address of the network's DHCP ranges (the
// NIC's current lease if it has one), stateful DHCPv6 with IPv6
// filtering likewise. It returns the volatile keys to store (nothing is
// written here); dnsmasq reserves them for the NIC once stored.
func (d *Daemon) reserveNICAddresses(ctx context.Context, x Expanded) (map[string]string, error) {
	out := map[string]string{}
	for _, h := range d.hostNICs(ctx, x) {
		if h.net == nil || h.kind == "routed" {
			continue
		}
		for _, fam := range []string{"ipv4", "ipv6"} {
			key := "volatile." + h.dev + "." + fam + ".address"
			if !network.IsTrue(h.conf["security."+fam+"_filtering"], false) || h.conf[fam+".address"] != "" || x.Config[key] != "" {
				continue
			}
			if fam == "ipv6" && !network.IsTrue(h.net.Config["ipv6.dhcp.stateful"], false) {
				continue // SLAAC: the address follows from the MAC
			}
			a, err := d.freeAddress(ctx, *h.net, fam, h.hwaddr, out)
			if err != nil {
				return nil, errdefs.Invalidf("instance %q: device %q: security.%s_filtering: %v", x.Name, h.dev, fam, err)
			}
			if a != "" {
				out[key] = a
			}
		}
	}
	return out, nil
}

// freeAddress picks an address of a network's DHCP range no NIC has
// reserved and no other MAC leases; the MAC's own lease comes first.
// "" if the network has no such range (the family stays blocked).
func (d *Daemon) freeAddress(ctx context.Context, n db.Network, fam, hwaddr string, taken map[string]string) (string, error) {
	used := map[string]bool{}
	hosts, err := d.networkHosts(ctx, n.Name)
	if err != nil {
		return "", err
	}
	for _, h := range hosts {
		for _, a := range []string{h.Address, h.Address6} {
			if ip := net.ParseIP(a); ip != nil {
				used[ip.String()] = true
			}
		}
	}
	for _, a := range taken {
		used[a] = true
	}
	leases, _ := d.nets.drv.Leases(ctx, n.Name)
	var mine string
	for _, l := range leases {
		if strings.EqualFold(l.HWAddr, hwaddr) {
			mine = l.Address
		} else if ip := net.ParseIP(l.Address); ip != nil {
			used[ip.String()] = true
		}
	}
	var ranges [][2]net.IP
	if fam == "ipv4" {
		rs, err := network.DHCPRanges(n.Config)
		if err != nil {
			return "", err
		}
		for _, r := range rs {
			ranges = append(ranges, [2]net.IP{net.ParseIP(r[0]).To4(), net.ParseIP(r[1]).To4()})
		}
	} else {
		_, subnet, _ := network.ParseIPv6Address(n.Config["ipv6.address"])
		if subnet == nil {
			return "", nil
		}
		if r := n.Config["ipv6.dhcp.ranges"]; r != "" {
			for _, rg := range strings.Split(r, ",") {
				a, b, _ := strings.Cut(strings.TrimSpace(rg), "-")
				ranges = append(ranges, [2]net.IP{net.ParseIP(a), net.ParseIP(b)})
			}
		} else {
			// dnsmasq's default range (network.DnsmasqArgs): ::2 to the
			// subnet's last address but one.
			first, last := slices.Clone(subnet.IP.To16()), slices.Clone(subnet.IP.To16())
			mask := net.IP(subnet.Mask).To16()
			for i := range last {
				last[i] |= ^mask[i]
			}
			last[15]--
			ranges = append(ranges, [2]net.IP{nextAddr(nextAddr(first)), last})
		}
	}
	inRange := func(ip net.IP) bool {
		for _, r := range ranges {
			if ipCompare(ip, r[0]) >= 0 && ipCompare(ip, r[1]) <= 0 {
				return true
			}
		}
		return false
	}
	if ip := net.ParseIP(mine); ip != nil && (ip.To4() != nil) == (fam == "ipv4") && inRange(ip) && !used[ip.String()] {
		return ip.String(), nil
	}
	for _, r := range ranges {
		// At most 65,536 candidates a range: a network that full needs a
		// reservation given by hand.
		for ip, i := slices.Clone(r[0]), 0; ipCompare(ip, r[1]) <= 0 && i < 1<<16; ip, i = nextAddr(ip), i+1 {
			if !used[ip.String()] {
				return ip.String(), nil
			}
		}
	}
	return "", fmt.Errorf("no free %s address left in network %q's DHCP ranges to allow; give the NIC %s.address", fam, n.Name, fam)
}

func ipCompare(a, b net.IP) int {
	if a4, b4 := a.To4(), b.To4(); a4 != nil && b4 != nil {
		a, b = a4, b4
	}
	return strings.Compare(string(a), string(b))
}

func nextAddr(ip net.IP) net.IP {
	out := slices.Clone(ip)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]++
		if out[i] != 0 {
			break
		}
	}
	return out
}

// nicFilter is a NIC's filter: the allowed addresses are its
// ipv4.address/ipv6.address, else on a managed network its reservation
// and for IPv6 without one its SLAAC address.
func nicFilter(x Expanded, h hostNIC) (network.NICFilter, error) {
	var alloc4, alloc6 net.IP
	if h.net != nil {
		alloc4 = net.ParseIP(nicAddress(x.Instance, h.dev, h.conf, "ipv4"))
		alloc6 = net.ParseIP(nicAddress(x.Instance, h.dev, h.conf, "ipv6"))
		if _, sub, _ := network.ParseIPv6Address(h.net.Config["ipv6.address"]); alloc6 == nil && sub != nil && !network.IsTrue(h.net.Config["ipv6.dhcp.stateful"], false) {
			if mac, err := net.ParseMAC(h.hwaddr); err == nil {
				alloc6, _ = network.EUI64(sub, mac)
			}
		}
	}
	f, err := network.NICFilterFor(h.host, h.hwaddr, h.conf, alloc4, alloc6)
	if err != nil {
		return f, errdefs.Invalidf("instance %q: device %q: %v", x.Name, h.dev, err)
	}
	return f, nil
}

// filterSet remembers the host names that have filter rules, so a NIC
// whose filter went off while its instance was stopped loses its rules at
// the next start without an nft call for every NIC.
func (d *Daemon) markFiltered(host string, on bool) {
	d.nets.filterMu.Lock()
	defer d.nets.filterMu.Unlock()
	if d.nets.filtered == nil {
		d.nets.filtered = map[string]bool{}
	}
	if on {
		d.nets.filtered[host] = true
	} else {
		delete(d.nets.filtered, host)
	}
}

func (d *Daemon) isFiltered(host string) bool {
	d.nets.filterMu.Lock()
	defer d.nets.filterMu.Unlock()
	return d.nets.filtered[host]
}

// applyNICFilter puts a NIC's filter in force, or removes its rules.
func (d *Daemon) applyNICFilter(ctx context.Context, x Expanded, h hostNIC) error {
	f, err := nicFilter(x, h)
	if err != nil {
		return err
	}
	switch {
	case f.On():
		if err := d.nets.drv.ApplyNICFilter(ctx, f); err != nil {
			return fmt.Errorf("instance %q: device %q: %w", x.Name, h.dev, err)
		}
		d.markFiltered(h.host, true)
	case d.isFiltered(h.host):
		if err := d.nets.drv.RemoveNICFilter(ctx, h.host); err != nil {
			return fmt.Errorf("instance %q: device %q: %w", x.Name, h.dev, err)
		}
		d.markFiltered(h.host, false)
	}
	return nil
}

func (d *Daemon) checkNICDriver(x Expanded, nics []hostNIC) error {
	if d.nets.drv != nil {
		return nil
	}
	for _, h := range nics {
		if h.needsDriver() {
			return errdefs.Invalidf("instance %q: device %q: NIC filtering, isolation, limits and routed NICs need lodged's network driver, and this lodged runs without one", x.Name, h.dev)
		}
	}
	return nil
}

// nicsBeforeStart sets up what must be there before an instance's NICs
// exist: their filters, and the parents of routed NICs.
func (d *Daemon) nicsBeforeStart(ctx context.Context, x Expanded) error {
	nics := d.hostNICs(ctx, x)
	if err := d.checkNICDriver(x, nics); err != nil || d.nets.drv == nil {
		return err
	}
	for _, h := range nics {
		if err := d.nicBeforePlug(ctx, x, h); err != nil {
			return err
		}
	}
	return nil
}

func (d *Daemon) nicBeforePlug(ctx context.Context, x Expanded, h hostNIC) error {
	if h.kind != "routed" {
		return d.applyNICFilter(ctx, x, h)
	}
	r, err := network.RoutedNICFor(h.host, h.conf)
	if err == nil {
		err = d.nets.drv.SetupRouted(ctx, r)
	}
	if err != nil {
		return fmt.Errorf("instance %q: device %q: %w", x.Name, h.dev, err)
	}
	return nil
}

// nicsAfterStart sets what lives on the veths of a started instance: the
// bridge ports' isolation and hairpin flags and the bandwidth limits.
func (d *Daemon) nicsAfterStart(ctx context.Context, x Expanded) error {
	if d.nets.drv == nil {
		return nil
	}
	for _, h := range d.hostNICs(ctx, x) {
		if err := d.nicAfterPlug(ctx, x, h); err != nil {
			return err
		}
	}
	return nil
}

func (d *Daemon) nicAfterPlug(ctx context.Context, x Expanded, h hostNIC) error {
	wrap := func(err error) error { return fmt.Errorf("instance %q: device %q: %w", x.Name, h.dev, err) }
	if h.isolated() {
		if err := d.nets.drv.SetPortIsolation(ctx, h.host, true); err != nil {
			return wrap(err)
		}
	}
	if h.net != nil && h.kind != "routed" {
		fwds, err := d.networkForwards(ctx, h.net.Name)
		if err != nil {
			return wrap(err)
		}
		if len(fwds) > 0 {
			if err := d.nets.drv.SetPortHairpin(ctx, network.Network{Name: h.net.Name, Config: h.net.Config, Forwards: fwds}, h.host); err != nil {
				return wrap(err)
			}
		}
	}
	if l := h.limits(); l != (network.NICLimits{}) {
		if err := d.nets.drv.SetNICLimits(ctx, h.host, l); err != nil {
			return wrap(err)
		}
	}
	return nil
}

// nicsStopped undoes what outlives a stopped instance's veths: the ifb of
// egress limits and the routed NICs' proxy entries on their parents. The
// filters stay for the next start. Failures are logged: the instance is
// stopped either way, and the next start or lodged's start tries again.
func (d *Daemon) nicsStopped(ctx context.Context, x Expanded) {
	if d.nets.drv == nil {
		return
	}
	for _, h := range d.hostNICs(ctx, x) {
		d.nicUnplugged(ctx, x, h, false)
	}
}

// nicUnplugged clears a NIC's limits and routed entries, and with gone
// (the NIC or its instance deleted) its filter.
func (d *Daemon) nicUnplugged(ctx context.Context, x Expanded, h hostNIC, gone bool) {
	warn := func(what string, err error) {
		if err != nil {
			d.log.Warn("nic: "+what, "instance", x.Name, "device", h.dev, "host_name", h.host, "err", err)
		}
	}
	if h.limits() != (network.NICLimits{}) {
		warn("clear limits", d.nets.drv.SetNICLimits(ctx, h.host, network.NICLimits{}))
	}
	if h.kind == "routed" {
		if r, err := network.RoutedNICFor(h.host, h.conf); err == nil {
			warn("remove routed entries", d.nets.drv.TeardownRouted(ctx, r))
		}
	}
	if gone && d.isFiltered(h.host) {
		err := d.nets.drv.RemoveNICFilter(ctx, h.host)
		warn("remove filter", err)
		if err == nil {
			d.markFiltered(h.host, false)
		}
	}
}

// nicsDeleted removes everything lodged set up for a deleted instance's NICs.
func (d *Daemon) nicsDeleted(ctx context.Context, x Expanded) {
	if d.nets.drv == nil {
		return
	}
	for _, h := range d.hostNICs(ctx, x) {
		d.nicUnplugged(ctx, x, h, true)
	}
}

// cleanStoppedNICs runs after liblxc's post-stop hook: once the stop that
// caused it is over (the instance's lock), and if the instance is still
// stopped, its NICs' limits and routed entries go.
func (d *Daemon) cleanStoppedNICs(name string) {
	if d.nets.drv == nil {
		return
	}
	unlock := d.instLocks.lock(name)
	defer unlock()
	ctx := d.ctx
	in, err := d.db.GetInstance(ctx, name)
	if err != nil || d.liveStatus(ctx, in) != instances.StatusStopped {
		return
	}
	d.nicsStopped(ctx, d.mustExpand(ctx, in))
}

// nicLiveKey is what of a NIC applies to a running instance without a
// replug: its filter (with the addresses it allows), isolation, limits.
func nicLiveKey(x Expanded, h hostNIC) string {
	var b strings.Builder
	for _, k := range []string{"security.mac_filtering", "security.ipv4_filtering", "security.ipv6_filtering", "security.port_isolation",
		"ipv4.address", "ipv6.address", "limits.ingress", "limits.egress", "limits.max"} {
		b.WriteString(k + "=" + h.conf[k] + "\x00")
	}
	b.WriteString(x.Config["volatile."+h.dev+".ipv4.address"] + "\x00" + x.Config["volatile."+h.dev+".ipv6.address"])
	return b.String()
}

// applyLiveNICs brings the filters, isolation and limits of a running
// instance's NICs in line with a changed config (its own or a profile's);
// NICs that are replugged (applyLiveDevices) get theirs when plugged.
func (d *Daemon) applyLiveNICs(ctx context.Context, oldX, newX Expanded) error {
	if d.nets.drv == nil {
		return d.checkNICDriver(newX, d.hostNICs(ctx, newX))
	}
	oldNICs := map[string]hostNIC{}
	for _, h := range d.hostNICs(ctx, oldX) {
		oldNICs[h.dev] = h
	}
	for _, h := range d.hostNICs(ctx, newX) {
		o, ok := oldNICs[h.dev]
		if !ok || nicLinkKey(o.conf) != nicLinkKey(h.conf) || nicLiveKey(oldX, o) == nicLiveKey(newX, h) {
			continue
		}
		if h.kind != "routed" {
			if err := d.applyNICFilter(ctx, newX, h); err != nil {
				return err
			}
			if o.isolated() != h.isolated() {
				if err := d.nets.drv.SetPortIsolation(ctx, h.host, h.isolated()); err != nil {
					return fmt.Errorf("instance %q: device %q: %w", newX.Name, h.dev, err)
				}
			}
		}
		if o.limits() != h.limits() {
			if err := d.nets.drv.SetNICLimits(ctx, h.host, h.limits()); err != nil {
				return fmt.Errorf("instance %q: device %q: %w", newX.Name, h.dev, err)
			}
		}
	}
	return nil
}

// storeNICReservations allocates what filtered NICs of a stored instance
// need (reserveNICAddresses) and stores it; x gets the keys too.
func (d *Daemon) storeNICReservations(ctx context.Context, x *Expanded) error {
	keys, err := d.reserveNICAddresses(ctx, *x)
	if err != nil || len(keys) == 0 {
		return err
	}
	in, err := d.db.GetInstance(ctx, x.Name)
	if err != nil {
		return err
	}
	maps.Copy(in.Config, keys)
	if err := d.db.UpdateInstance(ctx, in); err != nil {
		return err
	}
	cfg := maps.Clone(x.Config)
	maps.Copy(cfg, keys)
	x.Config = cfg
	d.syncNetworkHosts(ctx)
	return nil
}

// hostLinkExists tells whether the host has a network link of that name.
func hostLinkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// gcNICs runs at lodged's start: filters and ifb devices of NICs no
// instance has any more go (a delete lodged did not live to finish), and
// so do the limits and routed entries of instances that stopped while
// lodged was not running (their post-stop hook found no one to tell).
// Only what belongs to no host link is touched: another lodged on this
// host (a test daemon beside the real one) has its own tables and ifbs
// under the same prefixes, and a NIC whose link exists is not this
// lodged's to unfilter. A gone link's filter or ifb is dead in any case
// (a stopped instance's filter is applied again before its start).
func (d *Daemon) gcNICs(ctx context.Context, v *instView) {
	drv := d.nets.drv
	if drv == nil {
		return
	}
	list, sts := v.list, v.sts
	expand := d.expander(ctx)
	netOf := d.networkLookup(ctx)
	known := map[string]bool{}   // host names of every instance's NICs
	running := map[string]bool{} // of running ones
	for i, in := range list {
		x := expand(in)
		up := sts[i] == instances.StatusRunning || sts[i] == instances.StatusFrozen
		for _, h := range hostNICsOf(x, netOf) {
			known[h.host] = true
			running[h.host] = up
			if !up && h.kind == "routed" {
				d.nicUnplugged(ctx, x, h, false)
			}
		}
	}
	filters, err := drv.NICFilters(ctx)
	if err != nil {
		d.log.Warn("nic cleanup: list filters", "err", err)
	}
	for _, host := range filters {
		if known[host] {
			d.markFiltered(host, true)
			continue
		}
		if hostLinkExists(host) {
			continue // another lodged's NIC
		}
		d.log.Info("nic cleanup: removing the filter of a NIC that no longer exists", "host_name", host)
		if err := drv.RemoveNICFilter(ctx, host); err != nil {
			d.log.Warn("nic cleanup: remove filter", "host_name", host, "err", err)
		}
	}
	limited, err := drv.LimitedNICs(ctx)
	if err != nil {
		d.log.Warn("nic cleanup: list limited NICs", "err", err)
	}
	for _, host := range limited {
		if running[host] || hostLinkExists(host) {
			continue
		}
		if err := drv.SetNICLimits(ctx, host, network.NICLimits{}); err != nil {
			d.log.Warn("nic cleanup: clear limits", "host_name", host, "err", err)
		}
	}
}

// routedSpec fills a routed NIC's runtime spec (liblxc's veth router mode).
func routedSpec(nic *instances.NIC, instance string, cfg map[string]string, dev string, devc map[string]string) error {
	r, err := network.RoutedNICFor(nicHostName(instance, cfg, dev, devc), devc)
	if err != nil {
		return errdefs.Invalidf("instance %q: device %q: %v", instance, dev, err)
	}
	nic.Type, nic.HostName, nic.Link = "routed", r.HostName, r.Parent
	nic.IPv4, nic.IPv6 = nil, nil
	for _, ip := range r.IPv4 {
		nic.IPv4 = append(nic.IPv4, ip.String())
	}
	for _, ip := range r.IPv6 {
		nic.IPv6 = append(nic.IPv6, ip.String())
	}
	return nil
}

// reserveForUpdate allocates, before an instance's new config is stored,
// the addresses its filtered NICs need (an error refuses the change).
func (d *Daemon) reserveForUpdate(ctx context.Context, next *db.Instance) error {
	x, err := d.expand(ctx, *next)
	if err != nil {
		return err
	}
	keys, err := d.reserveNICAddresses(ctx, x)
	if err != nil || len(keys) == 0 {
		return err
	}
	cfg := maps.Clone(next.Config)
	maps.Copy(cfg, keys)
	next.Config = cfg
	return nil
}
