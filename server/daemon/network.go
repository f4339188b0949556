package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/network"
	"lodge/server/db"
	"lodge/trace"
)

// DefaultNetworkName is the managed bridge lodged creates at its first start.
const DefaultNetworkName = "lodgebr0"

// DefaultNetworkPrefix is the default network's IPv4 prefix length.
const DefaultNetworkPrefix = 22

// netState is the server's networking part.
type netState struct {
	drv network.Driver
	// defaultName is the network made at first start ("none": make none).
	defaultName string
	// mu serialises network changes.
	mu sync.Mutex
	// proxyHelper is the binary run as "forkproxy" for proxy devices.
	proxyHelper string
	// hostsMu makes reservation updates land in the order they were computed.
	hostsMu sync.Mutex
	// filtered are the host-side NICs with filter rules (nic.go).
	filterMu sync.Mutex
	filtered map[string]bool
}

// startNetworks creates the default network at the first start, then
// brings every network up (re-adopting running dnsmasqs after a restart).
// v is the instances with their status (nil: read here), read once for
// the proxies, the DHCP reservations and the NIC cleanup.
func (d *Daemon) startNetworks(ctx context.Context, v *instView) {
	v, err := d.instancesNow(ctx, v)
	if err != nil {
		d.log.Error("networks not brought up: list instances", "err", err)
		return
	}
	d.adoptProxies(ctx, v)
	if d.nets.drv == nil {
		return
	}
	if name := d.nets.defaultName; name != "none" {
		if done, err := d.db.NetworkMeta(ctx, "default_created"); err == nil && done == "" {
			if err := d.createDefaultNetwork(ctx, name); err != nil {
				d.log.Error("could not create the default network; create one with lodge network create", "network", name, "err", err)
			} else {
				_ = d.db.SetNetworkMeta(ctx, "default_created", name)
			}
		}
	}
	nets, err := d.db.ListNetworks(ctx)
	if err != nil {
		d.log.Error("list networks", "err", err)
		return
	}
	hosts := d.hostsOf(ctx, v.list)
	for _, n := range nets {
		if !networkUp(n) {
			// Pending: made on every member at once, later.
			continue
		}
		if err := d.ensureNetworkHosts(ctx, n, hosts); err != nil {
			d.log.Error("network not brought up", "network", n.Name, "err", err)
		}
	}
	d.gcNICs(ctx, v)
}

func (d *Daemon) createDefaultNetwork(ctx context.Context, name string) error {
	if _, err := d.db.GetNetwork(ctx, name); err == nil {
		return nil
	}
	// The name may be held: by this lodged's own left-over (taken over),
	// by another lodged on this host, or by an interface lodge did not
	// make. Then the next free name is used, and the log and the network's
	// description say why.
	wanted, desc := name, ""
	for i := 0; ; i++ {
		own, err := d.nets.drv.Owner(ctx, name)
		if err != nil {
			return err
		}
		if own.Usable() {
			if own.Holder == network.Ours {
				d.log.Info("taking over a bridge left from before", "network", name, "why", own.Why)
			}
			break
		}
		if i == 9 {
			return fmt.Errorf("no free name for the default network: %s and the next ones are taken (%s); name one with lodged --network-name", wanted, own.Why)
		}
		next := nextNetworkName(name)
		d.log.Warn("default network name taken; using another", "wanted", name, "using", next, "why", own.Why)
		if desc == "" {
			desc = fmt.Sprintf("lodged's default network (%s was taken: %s)", wanted, own.Why)
		}
		name = next
	}
	// A /22 (1,021 DHCP addresses, a lease table to match): room for
	// the 1,000 containers on one host that issue 24 asks for.
	addr, err := d.nets.drv.FreeSubnetPrefix(DefaultNetworkPrefix)
	if err != nil {
		return err
	}
	d.log.Info("creating the default network", "network", name, "ipv4.address", addr)
	if err := d.db.CreateNetwork(ctx, db.Network{Name: name, Type: "bridge", Description: desc,
		Config: map[string]string{"ipv4.address": addr, "ipv4.nat": "true", "ipv6.address": "none"}}); err != nil {
		return err
	}
	// As lxd init does: the default profile gets eth0 on it, unless it
	// already has a NIC.
	p, err := d.db.GetProfile(ctx, "default")
	if err != nil {
		return err
	}
	for _, dev := range p.Devices {
		if dev["type"] == "nic" {
			return nil
		}
	}
	p.Devices["eth0"] = map[string]string{"type": "nic", "network": name, "name": "eth0"}
	return d.db.UpdateProfile(ctx, p)
}

// nextNetworkName counts up a trailing number: lodgebr0 → lodgebr1, br → br1.
func nextNetworkName(name string) string {
	i := len(name)
	for i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
		i--
	}
	base, n := name[:i], 1
	if i < len(name) {
		n, _ = strconv.Atoi(name[i:])
		n++
	}
	suffix := strconv.Itoa(n)
	if len(base)+len(suffix) > 15 {
		base = base[:15-len(suffix)]
	}
	return base + suffix
}

// ensureNetwork hands a network, its hosts and its forwards to the
// driver (which renders the network's nftables tables whole: every Ensure
// carries the forwards).
func (d *Daemon) ensureNetwork(ctx context.Context, n db.Network) error {
	return d.ensureNetworkHosts(ctx, n, nil)
}

// ensureNetworkHosts is ensureNetwork with every network's hosts already
// read (all; nil reads them).
func (d *Daemon) ensureNetworkHosts(ctx context.Context, n db.Network, all map[string][]network.Host) error {
	if all == nil {
		var err error
		if all, err = d.allNetworkHosts(ctx); err != nil {
			return err
		}
	}
	hosts := all[n.Name]
	fwds, err := d.networkForwards(ctx, n.Name)
	if err != nil {
		return err
	}
	return d.nets.drv.Ensure(ctx, network.Network{Name: n.Name, Config: n.Config, Hosts: hosts, Forwards: fwds})
}

// syncNetworkHosts rewrites the DHCP reservations and names of the named
// networks (every network if none is named) from the instances' NICs.
func (d *Daemon) syncNetworkHosts(ctx context.Context, names ...string) {
	defer trace.Step(ctx, "network: DHCP reservations")()
	if d.nets.drv == nil {
		return
	}
	d.nets.hostsMu.Lock()
	defer d.nets.hostsMu.Unlock()
	var nets []db.Network
	if len(names) == 0 {
		all, err := d.db.ListNetworks(ctx)
		if err != nil {
			d.log.Warn("update DHCP reservations", "err", err)
			return
		}
		nets = all
	}
	for _, name := range names {
		// A NIC's network may be no managed network (a bridged NIC's parent).
		if n, err := d.db.GetNetwork(ctx, name); err == nil {
			nets = append(nets, n)
		}
	}
	if len(nets) == 0 {
		return
	}
	all, err := d.allNetworkHosts(ctx)
	if err != nil {
		d.log.Warn("update DHCP reservations", "err", err)
		return
	}
	for _, n := range nets {
		if !networkUp(n) {
			continue
		}
		if err := d.nets.drv.UpdateHosts(ctx, network.Network{Name: n.Name, Config: n.Config, Hosts: all[n.Name]}); err != nil {
			d.log.Warn("update DHCP reservations", "network", n.Name, "err", err)
		}
	}
}

// syncInstanceHosts rewrites the reservations of the networks where one
// instance's NICs changed (before and after are nicHosts of it, nil when
// it did not or no longer exists): only those, and none if nothing a
// reservation holds (network, MAC, name, address) changed.
func (d *Daemon) syncInstanceHosts(ctx context.Context, before, after map[string][]network.Host) {
	var changed []string
	for name, hs := range before {
		if !sameHosts(hs, after[name]) {
			changed = append(changed, name)
		}
	}
	for name, hs := range after {
		if _, ok := before[name]; !ok && len(hs) > 0 {
			changed = append(changed, name)
		}
	}
	if len(changed) > 0 {
		sort.Strings(changed)
		d.syncNetworkHosts(ctx, changed...)
	}
}

// sameHosts tells whether two host lists hold the same reservations.
func sameHosts(a, b []network.Host) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(hs []network.Host) []string {
		out := make([]string, len(hs))
		for i, h := range hs {
			out[i] = strings.ToLower(h.HWAddr) + "," + h.Name + "," + h.Address + "," + h.Address6
		}
		sort.Strings(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

// instanceHosts is an instance's NICs as hosts by network (nicHosts of its
// expanded devices).
func (d *Daemon) instanceHosts(ctx context.Context, in db.Instance) map[string][]network.Host {
	return nicHosts(in, d.devicesOf(ctx, in))
}

// nicOnNetwork tells whether an (expanded) device is a NIC on network name.
func nicOnNetwork(d map[string]string, name string) bool {
	return name != "" && nicNetwork(d) == name
}

// nicNetwork is the network an (expanded) device is a NIC on: network=, or
// a bridged NIC's parent; "" for other devices.
func nicNetwork(d map[string]string) string {
	switch {
	case d["type"] != "nic":
		return ""
	case d["network"] != "":
		return d["network"]
	case d["nictype"] == "bridged":
		return d["parent"]
	}
	return ""
}

// nicHosts are an expanded instance's NICs as DHCP hosts, by network.
func nicHosts(in db.Instance, devs map[string]map[string]string) map[string][]network.Host {
	out := map[string][]network.Host{}
	for dev, devc := range devs {
		nw := nicNetwork(devc)
		if nw == "" {
			continue
		}
		hw := devc["hwaddr"]
		if hw == "" {
			hw = in.Config["volatile."+dev+".hwaddr"]
		}
		out[nw] = append(out[nw], network.Host{HWAddr: hw, Name: in.Name, Address: nicAddress(in, dev, devc, "ipv4"),
			Address6: nicAddress(in, dev, devc, "ipv6")})
	}
	return out
}

// allNetworkHosts lists the NICs of every instance by network, in one
// pass over the instances and one read of the profiles.
func (d *Daemon) allNetworkHosts(ctx context.Context) (map[string][]network.Host, error) {
	all, err := d.db.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	return d.hostsOf(ctx, all), nil
}

// hostsOf is allNetworkHosts of the instances in list.
func (d *Daemon) hostsOf(ctx context.Context, list []db.Instance) map[string][]network.Host {
	expand := d.expander(ctx)
	out := map[string][]network.Host{}
	for _, in := range list {
		for nw, hs := range nicHosts(in, expandedDevices(expand(in))) {
			out[nw] = append(out[nw], hs...)
		}
	}
	return out
}

// networkHosts lists the NICs on a network: MAC, instance name, reservation.
func (d *Daemon) networkHosts(ctx context.Context, name string) ([]network.Host, error) {
	all, err := d.allNetworkHosts(ctx)
	if err != nil {
		return nil, err
	}
	return all[name], nil
}

// checkNetworkRoom refuses an instance whose NIC would get no DHCP lease:
// on each managed network with DHCP, the NICs already there that take an
// address from its ranges (dynamic ones, and reservations inside them)
// plus the instance's dynamic ones must fit its ranges. Callers hold
// d.idmapMu, so that creates running side by side count each other.
func (d *Daemon) checkNetworkRoom(ctx context.Context, in db.Instance) error {
	if d.nets.drv == nil {
		return nil
	}
	mine := nicHosts(in, d.devicesOf(ctx, in))
	if len(mine) == 0 {
		return nil
	}
	var all map[string][]network.Host
	for name, hs := range mine {
		want := 0
		for _, h := range hs {
			if h.Address == "" {
				want++
			}
		}
		if want == 0 {
			continue
		}
		n, err := d.db.GetNetwork(ctx, name)
		if err != nil {
			continue // not a managed network, or validated elsewhere
		}
		capacity, err := network.DHCPCapacity(n.Config)
		if err != nil || capacity == 0 {
			continue // no DHCP on it: no lease to run out of
		}
		ranges, _ := network.DHCPRanges(n.Config)
		if all == nil {
			if all, err = d.allNetworkHosts(ctx); err != nil {
				return err
			}
		}
		used := 0
		for _, h := range all[name] {
			if h.Name != in.Name && (h.Address == "" || inRanges(h.Address, ranges)) {
				used++
			}
		}
		if used+want > capacity {
			span := make([]string, len(ranges))
			for i, r := range ranges {
				span[i] = r[0] + "-" + r[1]
			}
			return errdefs.Conflictf("instance %q: network %q has no free DHCP address: its %d (%s in %s) are taken by %d NICs; "+
				"widen it (lodge network set %s ipv4.address=<a /22 or wider subnet>, or wider ipv4.dhcp.ranges) or put the instance on another network",
				in.Name, name, capacity, strings.Join(span, ","), n.Config["ipv4.address"], used, name)
		}
	}
	return nil
}

// inRanges tells whether IPv4 address a is inside one of the ranges.
func inRanges(a string, ranges [][2]string) bool {
	ip := net.ParseIP(a).To4()
	if ip == nil {
		return false
	}
	for _, r := range ranges {
		lo, hi := net.ParseIP(r[0]).To4(), net.ParseIP(r[1]).To4()
		if lo != nil && hi != nil && bytes.Compare(ip, lo) >= 0 && bytes.Compare(ip, hi) <= 0 {
			return true
		}
	}
	return false
}

// networkUsers names the instances and profiles with a NIC on a network.
func (d *Daemon) networkUsers(ctx context.Context, name string) (NetworkUsers, error) {
	var users NetworkUsers
	all, err := d.db.ListInstances(ctx)
	if err != nil {
		return users, err
	}
	for _, in := range all {
		for _, dev := range d.devicesOf(ctx, in) {
			if nicOnNetwork(dev, name) {
				users.Instances = append(users.Instances, in.Name)
				break
			}
		}
	}
	profiles, err := d.db.ListProfiles(ctx)
	if err != nil {
		return users, err
	}
	for _, p := range profiles {
		for _, dev := range p.Devices {
			if nicOnNetwork(dev, name) {
				users.Profiles = append(users.Profiles, p.Name)
				break
			}
		}
	}
	return users, nil
}

// devicesOf is an instance's devices with its profiles applied.
func (d *Daemon) devicesOf(ctx context.Context, in db.Instance) map[string]map[string]string {
	return expandedDevices(d.mustExpand(ctx, in))
}

// fillNICVolatile gives every NIC of an instance a MAC kept in
// volatile.<dev>.hwaddr, so its DHCP lease and reservation follow it across
// restarts; it reports whether anything was added.
func (d *Daemon) fillNICVolatile(ctx context.Context, in *db.Instance) bool {
	changed := false
	for dev, devc := range d.devicesOf(ctx, *in) {
		if devc["type"] != "nic" || devc["hwaddr"] != "" {
			continue
		}
		if in.Config == nil {
			in.Config = map[string]string{}
		}
		if in.Config["volatile."+dev+".hwaddr"] == "" {
			in.Config["volatile."+dev+".hwaddr"] = randomMAC()
			changed = true
		}
	}
	return changed
}

// hostNameKey holds the host-side veth name a NIC got at its last start,
// as LXD's volatile.DEV.host_name: filters, limits and the clean-up after
// a stop find the veth by it.
func hostNameKey(dev string) string { return "volatile." + dev + ".host_name" }

// vethName is the host-side name this lodged gives a NIC at a start:
// "veth" + a hash of its state directory, the instance and the device, so
// that two lodgeds on one host (a test, a migration, a cluster on one
// machine) never pick the same name for an instance of the same name.
func (d *Daemon) vethName(instance, dev string) string {
	sum := sha256.Sum256([]byte(d.cfg.Dir + "\x00" + instance + "/" + dev))
	return "veth" + hex.EncodeToString(sum[:])[:8]
}

// legacyVethName is the name lodge gave a NIC before it stored host names
// (instance and device only): a NIC started by such a lodged, still
// running after an upgrade, has it and no volatile key.
func legacyVethName(instance, dev string) string {
	sum := sha256.Sum256([]byte(instance + "/" + dev))
	return "veth" + hex.EncodeToString(sum[:])[:8]
}

// assignHostNames gives the host-side NICs of in that want picks this
// lodged's veth name in volatile.DEV.host_name; true if the config
// changed. A NIC with host_name set by the user keeps that.
func (d *Daemon) assignHostNames(ctx context.Context, in *db.Instance, want func(dev string, devc map[string]string) bool) bool {
	changed := false
	for dev, devc := range d.devicesOf(ctx, *in) {
		kind := api.DeviceKind(devc)
		if devc["type"] != "nic" || devc["host_name"] != "" || kind != "bridged" && kind != "network" && kind != "routed" {
			continue
		}
		if !want(dev, devc) {
			continue
		}
		if name := d.vethName(in.Name, dev); in.Config[hostNameKey(dev)] != name {
			if in.Config == nil {
				in.Config = map[string]string{}
			}
			in.Config[hostNameKey(dev)] = name
			changed = true
		}
	}
	return changed
}

// validateNICNetworks checks NICs against the networks: the network of
// network= exists; a static ipv4.address or ipv6.address (network=, or
// bridged on a managed network) is inside it and reserved by no other
// instance; a bridged NIC on a bridge lodged does not manage has an
// address only as the one its IP filter allows, and IP filtering there
// needs one (checkUnmanagedFiltering). A device as it was in prev is not
// checked again.
func (d *Daemon) validateNICNetworks(ctx context.Context, instance string, devs, prev map[string]map[string]string) error {
	names := make([]string, 0, len(devs))
	for n := range devs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, dev := range names {
		devc := devs[dev]
		if devc["type"] != "nic" || prev[dev] != nil && maps.Equal(devc, prev[dev]) {
			continue
		}
		name := devc["network"]
		if name == "" && devc["nictype"] == "bridged" {
			if _, err := d.db.GetNetwork(ctx, devc["parent"]); errors.Is(err, db.ErrNotFound) {
				if err := checkUnmanagedFiltering(dev, devc); err != nil {
					return err
				}
				continue
			}
			name = devc["parent"]
		}
		if name == "" {
			continue
		}
		n, err := d.db.GetNetwork(ctx, name)
		if errors.Is(err, db.ErrNotFound) {
			return errdefs.Invalidf("device %q: network %q not found (lodge network list shows the managed networks)", dev, name)
		}
		if err != nil {
			return err
		}
		if n.State != db.StateCreated {
			return errdefs.Invalidf("device %q: network %q is %s in the cluster, not made on every member yet: create it without --target first (lodge network create %s)", dev, name, n.State, name)
		}
		if err := d.checkReservation(ctx, instance, dev, devc, n, "ipv4"); err != nil {
			return err
		}
		if err := d.checkReservation(ctx, instance, dev, devc, n, "ipv6"); err != nil {
			return err
		}
	}
	return nil
}

// checkReservation checks a NIC's ipv4.address or ipv6.address on a
// managed network: a host address of its subnet, reserved by no other
// instance. none (with filtering: no address allowed) is no reservation.
func (d *Daemon) checkReservation(ctx context.Context, instance, dev string, devc map[string]string, n db.Network, fam string) error {
	key := fam + ".address"
	a := devc[key]
	if a == "" || a == "none" {
		return nil
	}
	var ip, brIP net.IP
	var subnet *net.IPNet
	if fam == "ipv4" {
		ip = net.ParseIP(a).To4()
		brIP, subnet, _ = network.ParseIPv4Address(n.Config[key])
	} else {
		if ip = net.ParseIP(a); ip.To4() != nil {
			ip = nil
		}
		brIP, subnet, _ = network.ParseIPv6Address(n.Config[key])
	}
	if ip == nil {
		return errdefs.Invalidf("device %q: %s %q is not an %s address", dev, key, a, strings.ToUpper(fam[:2])+fam[2:])
	}
	if subnet == nil || !subnet.Contains(ip) || ip.Equal(brIP) || ip.Equal(subnet.IP) {
		return errdefs.Invalidf("device %q: %s %s is not a free host address of network %q (%s=%s)", dev, key, a, n.Name, key, n.Config[key])
	}
	hosts, err := d.networkHosts(ctx, n.Name)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		have := h.Address
		if fam == "ipv6" {
			have = h.Address6
		}
		if h.Name != instance && have != "" && net.ParseIP(have).Equal(ip) {
			return errdefs.Invalidf("device %q: %s %s is already reserved for instance %q on network %q", dev, key, a, h.Name, n.Name)
		}
	}
	return nil
}

func (d *Daemon) needNetworks() error {
	if d.nets.drv == nil {
		return errdefs.Invalidf("managed networks are not available in this lodged")
	}
	return nil
}

func (d *Daemon) getNetwork(ctx context.Context, name string) (db.Network, error) {
	n, err := d.db.GetNetwork(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return n, errdefs.NotFoundf("network %q not found (lodge network list shows the managed networks)", name)
	}
	return n, err
}

// completeNetworkConfig validates a network's config and fills what LXD
// fills: ipv4.address=auto (or unset at create) becomes a free subnet with NAT.
func (d *Daemon) completeNetworkConfig(name string, cfg map[string]string, create bool) error {
	if err := network.ValidateConfig(cfg); err != nil {
		return errdefs.Invalidf("network %q: %v", name, err)
	}
	if a := cfg["ipv4.address"]; a == "auto" || create && a == "" {
		addr, err := d.nets.drv.FreeSubnet()
		if err != nil {
			return fmt.Errorf("network %q: %w", name, err)
		}
		cfg["ipv4.address"] = addr
		if cfg["ipv4.nat"] == "" {
			cfg["ipv4.nat"] = "true"
		}
	}
	if create && cfg["ipv6.address"] == "" {
		cfg["ipv6.address"] = "none"
	}
	if cfg["ipv6.address"] == "auto" {
		// As LXD: a unique local /64 of this host's, with NAT66 unless told.
		addr, err := d.nets.drv.FreeSubnetV6(name)
		if err != nil {
			return fmt.Errorf("network %q: %w", name, err)
		}
		cfg["ipv6.address"] = addr
		if cfg["ipv6.nat"] == "" {
			cfg["ipv6.nat"] = "true"
		}
	}
	if err := network.ValidateConfig(cfg); err != nil {
		return errdefs.Invalidf("network %q: %v", name, err)
	}
	return nil
}

// managedNIC resolves a NIC with network=NAME to a veth on that bridge with
// a stable host-side name.
func (d *Daemon) managedNIC(ctx context.Context, nic *instances.NIC, in db.Instance, dev string, devc map[string]string) error {
	instance := in.Name
	n, err := d.db.GetNetwork(ctx, devc["network"])
	if errors.Is(err, db.ErrNotFound) {
		return errdefs.Invalidf("instance %q: device %q: network %q not found; create it (lodge network create %s) or change the device", instance, dev, devc["network"], devc["network"])
	}
	if err != nil {
		return err
	}
	nic.Type, nic.Link = "veth", n.Name
	if nic.HostName == "" {
		nic.HostName = nicHostName(in.Name, in.Config, dev, devc)
	}
	if devc["mtu"] == "" && n.Config["bridge.mtu"] != "" {
		nic.MTU, _ = strconv.Atoi(n.Config["bridge.mtu"])
	}
	return nil
}

// releaseLeases frees the DHCP leases of a deleted instance's NICs on
// managed networks.
func (d *Daemon) releaseLeases(ctx context.Context, in db.Instance) {
	rel := d.nets.drv
	if rel == nil {
		return
	}
	byNet := map[string][]string{}
	for dev, devc := range d.devicesOf(ctx, in) {
		if devc["type"] != "nic" {
			continue
		}
		net := devc["network"]
		if net == "" && devc["nictype"] == "bridged" {
			net = devc["parent"]
		}
		hw := devc["hwaddr"]
		if hw == "" {
			hw = in.Config["volatile."+dev+".hwaddr"]
		}
		if net != "" && hw != "" {
			byNet[net] = append(byNet[net], hw)
		}
	}
	for name, macs := range byNet {
		n, err := d.db.GetNetwork(ctx, name)
		if err != nil {
			continue
		}
		hosts, err := d.networkHosts(ctx, name)
		if err == nil {
			err = rel.ReleaseLeases(ctx, network.Network{Name: n.Name, Config: n.Config, Hosts: hosts}, macs)
		}
		if err != nil {
			d.log.Warn("release DHCP leases", "instance", in.Name, "network", name, "err", err)
		}
	}
}

// NetworkUsers are the instances and profiles with a NIC on a network.
type NetworkUsers struct{ Instances, Profiles []string }

// Network is a managed network and what uses it.
type Network struct {
	db.Network
	UsedBy NetworkUsers
	// Locations: the members with a part of it (nil: standalone).
	Locations []string
}

// NetworkNames lists the managed networks.
func (d *Daemon) NetworkNames(ctx context.Context) ([]string, error) {
	nets, err := d.db.ListNetworks(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(nets))
	for _, n := range nets {
		names = append(names, n.Name)
	}
	return names, nil
}

// Networks lists the managed networks with their users.
func (d *Daemon) Networks(ctx context.Context) ([]Network, error) {
	nets, err := d.db.ListNetworks(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Network, 0, len(nets))
	for _, n := range nets {
		users, err := d.networkUsers(ctx, n.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, Network{Network: n, UsedBy: users})
	}
	return out, nil
}

// Network reads one managed network with its users.
func (d *Daemon) Network(ctx context.Context, name string) (Network, error) {
	n, err := d.getNetwork(ctx, name)
	if err != nil {
		return Network{}, err
	}
	users, err := d.networkUsers(ctx, n.Name)
	return Network{Network: n, UsedBy: users}, err
}

// CreateNetwork makes a managed bridge: the name must be free in the
// database and on the host; a failure on the host undoes the record.
func (d *Daemon) CreateNetwork(ctx context.Context, req api.NetworksPost) error {
	if err := d.needNetworks(); err != nil {
		return err
	}
	if err := network.ValidateName(req.Name); err != nil {
		return errdefs.Invalidf("%v", err)
	}
	if req.Type != "" && req.Type != "bridge" {
		return errdefs.Invalidf("network %q: type %q is not supported (lodge manages bridge networks; for macvlan use a NIC device with nictype=macvlan parent=IFACE)", req.Name, req.Type)
	}
	cfg := map[string]string{}
	for k, v := range req.Config {
		cfg[k] = v
	}
	if d.db.Clustered() {
		if err := d.completeNetworkConfig(req.Name, cfg, true); err != nil {
			return err
		}
		// Other members are asked: see clusterEntMu.
		d.clusterEntMu.Lock()
		defer d.clusterEntMu.Unlock()
		return d.createClusterNetwork(ctx, req, cfg)
	}
	d.nets.mu.Lock()
	defer d.nets.mu.Unlock()
	if _, err := d.db.GetNetwork(ctx, req.Name); err == nil {
		return errdefs.Existsf("network %q already exists", req.Name)
	}
	if own, err := d.nets.drv.Owner(ctx, req.Name); err != nil {
		return err
	} else if !own.Usable() {
		return errdefs.Conflictf("network %q: %s; pick another name", req.Name, own.Why)
	}
	if err := d.completeNetworkConfig(req.Name, cfg, true); err != nil {
		return err
	}
	row := db.Network{Name: req.Name, Type: "bridge", Description: req.Description, Config: cfg}
	if err := d.db.CreateNetwork(ctx, row); err != nil {
		return err
	}
	if err := d.ensureNetwork(ctx, row); err != nil {
		_ = d.nets.drv.Delete(context.WithoutCancel(ctx), row.Name)
		_ = d.db.DeleteNetwork(context.WithoutCancel(ctx), row.Name)
		return fmt.Errorf("network %q: %w", req.Name, err)
	}
	d.events.lifecycle("network-created", NetworkURL(req.Name), nil)
	return nil
}

// UpdateNetwork replaces (or with u.Patch merges) a network's config and
// description; a change the host refuses is undone in the database and
// on the host.
func (d *Daemon) UpdateNetwork(ctx context.Context, name string, req api.NetworkPut, u Update) error {
	if err := d.updateNetworkHere(ctx, name, req, u); err != nil {
		return err
	}
	return d.applyNetworkOnMembers(ctx, name)
}

func (d *Daemon) updateNetworkHere(ctx context.Context, name string, req api.NetworkPut, u Update) error {
	if err := d.needNetworks(); err != nil {
		return err
	}
	d.nets.mu.Lock()
	defer d.nets.mu.Unlock()
	n, err := d.getNetwork(ctx, name)
	if err != nil {
		return err
	}
	if err := u.check(n); err != nil {
		return err
	}
	cfg := map[string]string{}
	if u.Patch {
		for k, v := range n.Config {
			cfg[k] = v
		}
	}
	for k, v := range req.Config {
		cfg[k] = v
	}
	if err := d.completeNetworkConfig(n.Name, cfg, false); err != nil {
		return err
	}
	if err := d.checkForwardsFit(ctx, n, cfg); err != nil {
		return err
	}
	old := n
	n.Config = cfg
	if !u.Patch || req.Description != "" {
		n.Description = req.Description
	}
	if err := d.db.UpdateNetwork(ctx, n); err != nil {
		return err
	}
	if err := d.ensureNetwork(ctx, n); err != nil {
		// Put the old config back, in the DB and on the host.
		_ = d.db.UpdateNetwork(context.WithoutCancel(ctx), old)
		_ = d.ensureNetwork(context.WithoutCancel(ctx), old)
		return fmt.Errorf("network %q: %w; the previous config was restored", n.Name, err)
	}
	d.events.lifecycle("network-updated", NetworkURL(n.Name), nil)
	return nil
}

// DeleteNetwork removes a network no instance or profile has a NIC on.
func (d *Daemon) DeleteNetwork(ctx context.Context, name string) error {
	if err := d.needNetworks(); err != nil {
		return err
	}
	if d.db.Clustered() {
		// Other members are asked: see clusterEntMu.
		d.clusterEntMu.Lock()
		defer d.clusterEntMu.Unlock()
	} else {
		d.nets.mu.Lock()
		defer d.nets.mu.Unlock()
	}
	n, err := d.getNetwork(ctx, name)
	if err != nil {
		return err
	}
	users, err := d.networkUsers(ctx, n.Name)
	if err != nil {
		return err
	}
	if len(users.Instances)+len(users.Profiles) > 0 {
		var parts []string
		if len(users.Instances) > 0 {
			parts = append(parts, "instance(s) "+strings.Join(users.Instances, ", ")+" (lodge config device remove INSTANCE DEVICE, or delete them)")
		}
		if len(users.Profiles) > 0 {
			parts = append(parts, "profile(s) "+strings.Join(users.Profiles, ", ")+" (lodge profile device remove PROFILE DEVICE)")
		}
		return errdefs.Invalidf("network %q is in use by %s; remove their NICs on it first", n.Name, strings.Join(parts, " and "))
	}
	if d.db.Clustered() {
		return d.deleteClusterNetwork(ctx, n.Name)
	}
	if err := d.nets.drv.Delete(ctx, n.Name); err != nil {
		return err
	}
	if err := d.db.DeleteNetwork(ctx, n.Name); err != nil {
		return err
	}
	d.events.lifecycle("network-deleted", NetworkURL(n.Name), nil)
	return nil
}

// NetworkState reads a network's host interface.
func (d *Daemon) NetworkState(ctx context.Context, name string) (network.State, error) {
	if err := d.needNetworks(); err != nil {
		return network.State{}, err
	}
	n, err := d.getNetwork(ctx, name)
	if err != nil {
		return network.State{}, err
	}
	st, err := d.nets.drv.State(ctx, n.Name)
	if err != nil {
		return st, fmt.Errorf("network %q: %w; restarting lodged recreates it", n.Name, err)
	}
	return st, nil
}

// Lease is a DHCP lease on a network, named after the instance whose NIC
// holds it; Static says it is that NIC's reservation.
type Lease struct {
	network.Lease
	Static bool
}

// NetworkLeases lists a network's DHCP leases.
func (d *Daemon) NetworkLeases(ctx context.Context, name string) ([]Lease, error) {
	if err := d.needNetworks(); err != nil {
		return nil, err
	}
	n, err := d.getNetwork(ctx, name)
	if err != nil {
		return nil, err
	}
	leases, err := d.nets.drv.Leases(ctx, n.Name)
	if err != nil {
		return nil, err
	}
	hosts, err := d.networkHosts(ctx, n.Name)
	if err != nil {
		return nil, err
	}
	byMAC := map[string]network.Host{}
	for _, h := range hosts {
		byMAC[strings.ToLower(h.HWAddr)] = h
	}
	out := make([]Lease, 0, len(leases))
	for _, l := range leases {
		lease := Lease{Lease: l}
		if h, known := byMAC[strings.ToLower(l.HWAddr)]; known {
			lease.Hostname = h.Name
			lease.Static = h.Address == l.Address
		}
		out = append(out, lease)
	}
	return out, nil
}
