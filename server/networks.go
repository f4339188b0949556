package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/network"
	"lodge/server/db"
)

// DefaultNetworkName is the managed bridge lodged creates at its first start.
const DefaultNetworkName = "lodgebr0"

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
}

func networkURL(name string) string { return "/1.0/networks/" + url.PathEscape(name) }

// startNetworks creates the default network at the first start, then
// brings every network up (re-adopting running dnsmasqs after a restart).
func (d *Daemon) startNetworks(ctx context.Context) {
	d.adoptProxies(ctx)
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
	for _, n := range nets {
		if err := d.ensureNetwork(ctx, n); err != nil {
			d.log.Error("network not brought up", "network", n.Name, "err", err)
		}
	}
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
	addr, err := d.nets.drv.FreeSubnet()
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

// ensureNetwork hands a network and its hosts to the driver.
func (d *Daemon) ensureNetwork(ctx context.Context, n db.Network) error {
	hosts, err := d.networkHosts(ctx, n.Name)
	if err != nil {
		return err
	}
	return d.nets.drv.Ensure(ctx, network.Network{Name: n.Name, Config: n.Config, Hosts: hosts})
}

// syncNetworkHosts rewrites the DHCP reservations and names of every
// network after instances or their NICs changed.
func (d *Daemon) syncNetworkHosts(ctx context.Context) {
	if d.nets.drv == nil {
		return
	}
	d.nets.hostsMu.Lock()
	defer d.nets.hostsMu.Unlock()
	nets, err := d.db.ListNetworks(ctx)
	if err != nil {
		return
	}
	for _, n := range nets {
		hosts, err := d.networkHosts(ctx, n.Name)
		if err == nil {
			err = d.nets.drv.UpdateHosts(ctx, network.Network{Name: n.Name, Config: n.Config, Hosts: hosts})
		}
		if err != nil {
			d.log.Warn("update DHCP reservations", "network", n.Name, "err", err)
		}
	}
}

// nicOnNetwork tells whether an (expanded) device is a NIC on network name.
func nicOnNetwork(d map[string]string, name string) bool {
	return d["type"] == "nic" && (d["network"] == name || d["network"] == "" && d["nictype"] == "bridged" && d["parent"] == name)
}

// networkHosts lists the NICs on a network: MAC, instance name, reservation.
func (d *Daemon) networkHosts(ctx context.Context, name string) ([]network.Host, error) {
	all, err := d.db.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	var hosts []network.Host
	for _, in := range all {
		for dev, devc := range d.devicesOf(ctx, in) {
			if !nicOnNetwork(devc, name) {
				continue
			}
			hw := devc["hwaddr"]
			if hw == "" {
				hw = in.Config["volatile."+dev+".hwaddr"]
			}
			hosts = append(hosts, network.Host{HWAddr: hw, Name: in.Name, Address: devc["ipv4.address"]})
		}
	}
	return hosts, nil
}

// networkUsers names the instances with a NIC on a network.
func (d *Daemon) networkUsers(ctx context.Context, name string) ([]string, error) {
	all, err := d.db.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	users := []string{}
	for _, in := range all {
		for _, dev := range d.devicesOf(ctx, in) {
			if nicOnNetwork(dev, name) {
				users = append(users, instanceURL(in.Name))
				break
			}
		}
	}
	profiles, err := d.db.ListProfiles(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range profiles {
		for _, devc := range p.Devices {
			if nicOnNetwork(devc, name) {
				users = append(users, "/1.0/profiles/"+p.Name)
				break
			}
		}
	}
	return users, nil
}

// devicesOf is an instance's devices with its profiles applied.
func (d *Daemon) devicesOf(ctx context.Context, in db.Instance) map[string]map[string]string {
	return d.expandedDevices(d.mustExpand(ctx, in))
}

// fillNICVolatile gives every NIC of an instance a MAC kept in
// volatile.<dev>.hwaddr, so its DHCP lease and reservation follow it across
// restarts; it reports whether anything was added.
func (d *Daemon) fillNICVolatile(in *db.Instance) bool {
	changed := false
	for dev, devc := range d.devicesOf(context.Background(), *in) {
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

// vethName is a NIC's stable host-side name: "veth" + a hash of instance
// and device, so it is the same at every start and names its owner.
func vethName(instance, dev string) string {
	sum := sha256.Sum256([]byte(instance + "/" + dev))
	return "veth" + hex.EncodeToString(sum[:])[:8]
}

// validateNICNetworks checks NICs with a DHCP reservation or network=
// against the networks: the network exists (network=, or the parent of a
// bridged NIC with ipv4.address=), and a static ipv4.address is inside it
// and reserved by no other instance. A device as it was in prev is not
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
		name, a := devc["network"], devc["ipv4.address"]
		if name == "" && devc["nictype"] == "bridged" && a != "" {
			// A reservation needs lodged's dnsmasq: the bridge must be a managed network.
			if _, err := d.db.GetNetwork(ctx, devc["parent"]); errors.Is(err, db.ErrNotFound) {
				return errdefs.Invalidf("device %q: ipv4.address needs a lodge-managed network, and parent %q is not one (use network=NAME; lodge network list shows them)", dev, devc["parent"])
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
		if a == "" {
			continue
		}
		ip := net.ParseIP(a).To4()
		if ip == nil {
			return errdefs.Invalidf("device %q: ipv4.address %q is not an IPv4 address", dev, a)
		}
		brIP, subnet, _ := network.ParseIPv4Address(n.Config["ipv4.address"])
		if subnet == nil || !subnet.Contains(ip) || ip.Equal(brIP) || ip.Equal(subnet.IP) {
			return errdefs.Invalidf("device %q: ipv4.address %s is not a free host address of network %q (%s)", dev, a, n.Name, n.Config["ipv4.address"])
		}
		hosts, err := d.networkHosts(ctx, n.Name)
		if err != nil {
			return err
		}
		for _, h := range hosts {
			if h.Address == a && h.Name != instance {
				return errdefs.Invalidf("device %q: ipv4.address %s is already reserved for instance %q on network %q", dev, a, h.Name, n.Name)
			}
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

func (s *Server) renderNetwork(ctx context.Context, n db.Network) (api.Network, error) {
	users, err := s.d.networkUsers(ctx, n.Name)
	if err != nil {
		return api.Network{}, err
	}
	return api.Network{NetworkPut: api.NetworkPut{Config: n.Config, Description: n.Description}, Name: n.Name, Type: n.Type,
		UsedBy: users, Managed: true, Status: "Created", Locations: []string{"none"}}, nil
}

func networkETag(n api.Network) any { return []any{n.Config, n.Description} }

func (s *Server) handleNetworksGet(w http.ResponseWriter, r *http.Request) {
	nets, err := s.d.db.ListNetworks(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	if recursion(r) == 0 {
		urls := []string{}
		for _, n := range nets {
			urls = append(urls, networkURL(n.Name))
		}
		writeSync(w, urls)
		return
	}
	out := []api.Network{}
	for _, n := range nets {
		an, err := s.renderNetwork(r.Context(), n)
		if err != nil {
			writeError(w, err)
			return
		}
		out = append(out, an)
	}
	writeSync(w, out)
}

func (d *Daemon) getNetwork(ctx context.Context, name string) (db.Network, error) {
	n, err := d.db.GetNetwork(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return n, errdefs.NotFoundf("network %q not found (lodge network list shows the managed networks)", name)
	}
	return n, err
}

func (s *Server) handleNetworkGet(w http.ResponseWriter, r *http.Request) {
	n, err := s.d.getNetwork(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	an, err := s.renderNetwork(r.Context(), n)
	if err != nil {
		writeError(w, err)
		return
	}
	writeSyncETag(w, an, networkETag(an))
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
	return nil
}

func (s *Server) handleNetworksPost(w http.ResponseWriter, r *http.Request) {
	if err := s.d.needNetworks(); err != nil {
		writeError(w, err)
		return
	}
	var req api.NetworksPost
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := network.ValidateName(req.Name); err != nil {
		writeError(w, errdefs.Invalidf("%v", err))
		return
	}
	if req.Type != "" && req.Type != "bridge" {
		writeError(w, errdefs.Invalidf("network %q: type %q is not supported (lodge manages bridge networks; for macvlan use a NIC device with nictype=macvlan parent=IFACE)", req.Name, req.Type))
		return
	}
	cfg := map[string]string{}
	for k, v := range req.Config {
		cfg[k] = v
	}
	s.d.nets.mu.Lock()
	defer s.d.nets.mu.Unlock()
	if _, err := s.d.db.GetNetwork(r.Context(), req.Name); err == nil {
		writeError(w, errdefs.Existsf("network %q already exists", req.Name))
		return
	}
	if own, err := s.d.nets.drv.Owner(r.Context(), req.Name); err != nil {
		writeError(w, err)
		return
	} else if !own.Usable() {
		writeError(w, errdefs.Conflictf("network %q: %s; pick another name", req.Name, own.Why))
		return
	}
	if err := s.d.completeNetworkConfig(req.Name, cfg, true); err != nil {
		writeError(w, err)
		return
	}
	row := db.Network{Name: req.Name, Type: "bridge", Description: req.Description, Config: cfg}
	if err := s.d.db.CreateNetwork(r.Context(), row); err != nil {
		writeError(w, err)
		return
	}
	if err := s.d.ensureNetwork(r.Context(), row); err != nil {
		_ = s.d.nets.drv.Delete(context.WithoutCancel(r.Context()), row.Name)
		_ = s.d.db.DeleteNetwork(context.WithoutCancel(r.Context()), row.Name)
		writeError(w, fmt.Errorf("network %q: %w", req.Name, err))
		return
	}
	s.d.events.lifecycle("network-created", networkURL(req.Name), nil)
	writeSync(w, map[string]any{})
}

func (s *Server) handleNetworkPut(w http.ResponseWriter, r *http.Request) {
	s.updateNetwork(w, r, false)
}
func (s *Server) handleNetworkPatch(w http.ResponseWriter, r *http.Request) {
	s.updateNetwork(w, r, true)
}

func (s *Server) updateNetwork(w http.ResponseWriter, r *http.Request, patch bool) {
	if err := s.d.needNetworks(); err != nil {
		writeError(w, err)
		return
	}
	var req api.NetworkPut
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	s.d.nets.mu.Lock()
	defer s.d.nets.mu.Unlock()
	n, err := s.d.getNetwork(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	if m := r.Header.Get("If-Match"); m != "" {
		cur, err := s.renderNetwork(r.Context(), n)
		if err != nil {
			writeError(w, err)
			return
		}
		if strings.Trim(m, `"`) != etag(networkETag(cur)) {
			writeError(w, errdefs.Preconditionf("network %q changed since you read it (ETag mismatch); read it again and retry", n.Name))
			return
		}
	}
	cfg := map[string]string{}
	if patch {
		for k, v := range n.Config {
			cfg[k] = v
		}
	}
	for k, v := range req.Config {
		cfg[k] = v
	}
	if err := s.d.completeNetworkConfig(n.Name, cfg, false); err != nil {
		writeError(w, err)
		return
	}
	old := n
	n.Config = cfg
	if !patch || req.Description != "" {
		n.Description = req.Description
	}
	if err := s.d.db.UpdateNetwork(r.Context(), n); err != nil {
		writeError(w, err)
		return
	}
	if err := s.d.ensureNetwork(r.Context(), n); err != nil {
		// Put the old config back, in the DB and on the host.
		_ = s.d.db.UpdateNetwork(context.WithoutCancel(r.Context()), old)
		_ = s.d.ensureNetwork(context.WithoutCancel(r.Context()), old)
		writeError(w, fmt.Errorf("network %q: %w; the previous config was restored", n.Name, err))
		return
	}
	s.d.events.lifecycle("network-updated", networkURL(n.Name), nil)
	writeSync(w, map[string]any{})
}

func (s *Server) handleNetworkDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.d.needNetworks(); err != nil {
		writeError(w, err)
		return
	}
	s.d.nets.mu.Lock()
	defer s.d.nets.mu.Unlock()
	n, err := s.d.getNetwork(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	users, err := s.d.networkUsers(r.Context(), n.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(users) > 0 {
		var insts, profs []string
		for _, u := range users {
			if p, ok := strings.CutPrefix(u, "/1.0/profiles/"); ok {
				profs = append(profs, p)
			} else {
				insts = append(insts, strings.TrimPrefix(u, "/1.0/instances/"))
			}
		}
		var parts []string
		if len(insts) > 0 {
			parts = append(parts, "instance(s) "+strings.Join(insts, ", ")+" (lodge config device remove INSTANCE DEVICE, or delete them)")
		}
		if len(profs) > 0 {
			parts = append(parts, "profile(s) "+strings.Join(profs, ", ")+" (lodge profile device remove PROFILE DEVICE)")
		}
		writeError(w, errdefs.Invalidf("network %q is in use by %s; remove their NICs on it first", n.Name, strings.Join(parts, " and ")))
		return
	}
	if err := s.d.nets.drv.Delete(r.Context(), n.Name); err != nil {
		writeError(w, err)
		return
	}
	if err := s.d.db.DeleteNetwork(r.Context(), n.Name); err != nil {
		writeError(w, err)
		return
	}
	s.d.events.lifecycle("network-deleted", networkURL(n.Name), nil)
	writeSync(w, map[string]any{})
}

func (s *Server) handleNetworkState(w http.ResponseWriter, r *http.Request) {
	if err := s.d.needNetworks(); err != nil {
		writeError(w, err)
		return
	}
	n, err := s.d.getNetwork(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	st, err := s.d.nets.drv.State(r.Context(), n.Name)
	if err != nil {
		writeError(w, fmt.Errorf("network %q: %w; restarting lodged recreates it", n.Name, err))
		return
	}
	out := api.NetworkState{Addresses: []api.NetworkStateAddress{}, Hwaddr: st.HWAddr, Mtu: st.MTU, Type: "broadcast", State: "down",
		Counters: api.NetworkStateCounters{BytesReceived: int64(st.RxBytes), BytesSent: int64(st.TxBytes),
			PacketsReceived: int64(st.RxPackets), PacketsSent: int64(st.TxPackets)},
		Bridge: &api.NetworkStateBridge{ID: "8000." + strings.ReplaceAll(st.HWAddr, ":", ""), ForwardDelay: 1500, VLANDefault: 1,
			UpperDevices: append([]string{}, st.Ports...)}}
	if st.Up {
		out.State = "up"
	}
	for _, a := range st.Addresses {
		out.Addresses = append(out.Addresses, api.NetworkStateAddress{Family: a.Family, Address: a.Address, Netmask: strconv.Itoa(a.Prefix), Scope: a.Scope})
	}
	writeSync(w, out)
}

func (s *Server) handleNetworkLeases(w http.ResponseWriter, r *http.Request) {
	if err := s.d.needNetworks(); err != nil {
		writeError(w, err)
		return
	}
	n, err := s.d.getNetwork(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	leases, err := s.d.nets.drv.Leases(r.Context(), n.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	hosts, err := s.d.networkHosts(r.Context(), n.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	byMAC := map[string]network.Host{}
	for _, h := range hosts {
		byMAC[strings.ToLower(h.HWAddr)] = h
	}
	out := []api.NetworkLease{}
	for _, l := range leases {
		h, known := byMAC[strings.ToLower(l.HWAddr)]
		lease := api.NetworkLease{Hostname: l.Hostname, Hwaddr: l.HWAddr, Address: l.Address, Type: "dynamic", Location: "none"}
		if known {
			lease.Hostname = h.Name
			if h.Address == l.Address {
				lease.Type = "static"
			}
		}
		out = append(out, lease)
	}
	writeSync(w, out)
}

// managedNIC resolves a NIC with network=NAME to a veth on that bridge with
// a stable host-side name.
func (d *Daemon) managedNIC(nic *instances.NIC, instance, dev string, devc map[string]string) error {
	n, err := d.db.GetNetwork(context.Background(), devc["network"])
	if errors.Is(err, db.ErrNotFound) {
		return errdefs.Invalidf("instance %q: device %q: network %q not found; create it (lodge network create %s) or change the device", instance, dev, devc["network"], devc["network"])
	}
	if err != nil {
		return err
	}
	nic.Type, nic.Link = "veth", n.Name
	if nic.HostName == "" {
		nic.HostName = vethName(instance, dev)
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
