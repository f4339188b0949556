package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/network"
	"lodge/server/db"
	"lodge/storage/pools"
)

// Storage pools and networks in a cluster, as LXD makes them: a pool
// exists on every member under one name. `create --target M` records M's
// part, pending, with M's own keys (a pool's source, size); a create
// without --target then makes the pool on every member (this one first,
// then the others, each asked with the same POST, which a member serves
// as "make your part"), and the pool becomes created. If a member fails,
// the parts made are removed again and the pool stays pending (errored),
// as LXD leaves it. Unlike LXD, a create without any pending part makes
// the pool on every member with each one's defaults: lodge's drivers all
// have a default source per member. Every member must be online, because
// a member left out would lack the pool.

// allMembers lists every member, this one first; what is refused while one
// is offline (it would miss its part).
func (d *Daemon) allMembers(ctx context.Context, what string) ([]db.Node, error) {
	nodes, err := d.db.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	th := d.offlineThreshold(ctx)
	out := make([]db.Node, 0, len(nodes))
	for _, n := range nodes {
		if d.isOffline(n, th) {
			return nil, errdefs.Unavailablef("cluster member %s (%s) is offline, and %s is done on every member: bring it back, or remove it (lodge cluster remove --force %s)", n.Name, n.Address, what, n.Name)
		}
		if n.ID == d.db.NodeID() {
			out = append([]db.Node{n}, out...)
		} else {
			out = append(out, n)
		}
	}
	return out, nil
}

// notTargetable refuses --target on a standalone server.
func notTargetable(target string) error {
	return errdefs.Invalidf("this server is not clustered: there is no member %q to target; leave --target out", target)
}

// memberParts reads the members' parts of a pool or network, by member,
// and names the members (of nodes) that have none.
func memberParts(parts []db.MemberPart, nodes []db.Node) (map[int64]db.MemberPart, []string) {
	by := map[int64]db.MemberPart{}
	for _, p := range parts {
		by[p.NodeID] = p
	}
	var missing []string
	for _, n := range nodes {
		if _, ok := by[n.ID]; !ok {
			missing = append(missing, n.Name)
		}
	}
	return by, missing
}

// DefineStoragePool is POST /1.0/storage-pools?target=MEMBER: the pool's
// part on that member, pending, with its own keys only.
func (d *Daemon) DefineStoragePool(ctx context.Context, req api.StoragePoolsPost, target string) error {
	if !d.db.Clustered() {
		return notTargetable(target)
	}
	if err := instances.ValidateName(req.Name); err != nil {
		return errdefs.Invalidf("storage pool name %q is not valid: use letters, digits and hyphens, start with a letter", req.Name)
	}
	node, err := d.db.NodeByName(ctx, target)
	if err != nil {
		return err
	}
	for k := range req.Config {
		if !db.IsMemberPoolKey(k) {
			return errdefs.Invalidf("storage pool %q: %s is not a member-specific key: with --target give only a member's own keys (source, size); give the pool's other keys when you create it without --target", req.Name, k)
		}
	}
	if err := pools.Validate(req.Driver, req.Config); err != nil {
		return errdefs.Invalidf("storage pool %q: %v", req.Name, err)
	}
	d.poolsMu.Lock()
	defer d.poolsMu.Unlock()
	if p, err := d.db.GetStoragePool(ctx, req.Name); err == nil {
		if p.State == db.StateCreated {
			return errdefs.Existsf("storage pool %q already exists", req.Name)
		}
		if p.Driver != req.Driver {
			return errdefs.Invalidf("storage pool %q is pending with driver %s, not %s: give the same driver for every member (or delete the pending pool: lodge storage delete %s)", req.Name, p.Driver, req.Driver, req.Name)
		}
	} else if !errors.Is(err, db.ErrNotFound) {
		return err
	}
	return d.db.DefinePendingPool(ctx, req.Name, req.Driver, node.ID, req.Config)
}

// createClusterPool makes a pool on every member (see above).
func (d *Daemon) createClusterPool(ctx context.Context, req api.StoragePoolsPost) error {
	for k := range req.Config {
		if db.IsMemberPoolKey(k) {
			return errdefs.Invalidf("storage pool %q: %s is member-specific: set it for each member first (lodge storage create %s %s %s=VALUE --target MEMBER), then create the pool without --target and without %s", req.Name, k, req.Name, req.Driver, k, k)
		}
	}
	d.clusterEntMu.Lock()
	defer d.clusterEntMu.Unlock()
	nodes, err := d.allMembers(ctx, "creating a storage pool")
	if err != nil {
		return err
	}
	p, err := d.db.GetStoragePool(ctx, req.Name)
	direct := errors.Is(err, db.ErrNotFound)
	switch {
	case direct:
		for _, n := range nodes {
			if err := d.db.DefinePendingPool(ctx, req.Name, req.Driver, n.ID, nil); err != nil {
				_ = d.db.DeleteStoragePool(context.WithoutCancel(ctx), req.Name)
				return err
			}
		}
	case err != nil:
		return err
	case p.State == db.StateCreated:
		return errdefs.Existsf("storage pool %q already exists", req.Name)
	case p.Driver != req.Driver:
		return errdefs.Invalidf("storage pool %q is pending with driver %s, not %s: create it with driver %s", req.Name, p.Driver, req.Driver, p.Driver)
	}
	parts, err := d.db.PoolMembers(ctx, req.Name)
	if err != nil {
		return err
	}
	orig, missing := memberParts(parts, nodes)
	if len(missing) > 0 {
		return errdefs.Invalidf("storage pool %q is pending on some members but not defined on %s: run lodge storage create %s %s --target MEMBER for each of them first", req.Name, strings.Join(missing, ", "), req.Name, req.Driver)
	}
	if err := d.db.SetPoolDefinition(ctx, req.Name, req.Description, req.Config); err != nil {
		return err
	}
	failed, what, ferr := d.onEveryMember(ctx, "storage pool "+req.Name, nodes, func(n db.Node) error {
		if n.ID == d.db.NodeID() {
			return d.CreateStoragePoolHere(ctx, req.Name)
		}
		_, err := d.cl.transport.MemberDo(ctx, n.Address, "POST", "/1.0/storage-pools", api.StoragePoolsPost{Name: req.Name, Driver: req.Driver})
		return err
	}, func(bg context.Context, n db.Node) error {
		_, err := d.removePoolOn(bg, n, req.Name)
		return err
	})
	if ferr == nil {
		if err := d.db.SetPoolState(ctx, req.Name, db.StateCreated); err != nil {
			return err
		}
		d.events.lifecycle("storage-pool-created", PoolURL(req.Name), nil)
		return nil
	}
	bg := context.WithoutCancel(ctx)
	if direct {
		_ = d.db.DeleteStoragePool(bg, req.Name)
		return fmt.Errorf("storage pool %q could not be created on member %s: %w; %s, and not recorded", req.Name, failed.Name, ferr, what)
	}
	for _, pt := range orig {
		st := db.StatePending
		if pt.NodeID == failed.ID {
			st = db.StateErrored
		}
		_ = d.db.SetPoolMember(bg, req.Name, pt.NodeID, st, pt.Config)
	}
	_ = d.db.SetPoolState(bg, req.Name, db.StateErrored)
	return fmt.Errorf("storage pool %q could not be created on member %s: %w; %s, and the pool stays pending: fix the cause (or give %s's part again with --target %s), then run lodge storage create %s %s again", req.Name, failed.Name, ferr, what, failed.Name, failed.Name, req.Name, req.Driver)
}

// onEveryMember makes a pool's or network's part on each member in turn;
// at the first failure it removes the parts made (undo, not cancelled with
// ctx). It returns the member that failed, what became of the others (for
// the message) and the failure.
func (d *Daemon) onEveryMember(ctx context.Context, name string, nodes []db.Node, create func(db.Node) error, undo func(context.Context, db.Node) error) (db.Node, string, error) {
	var made []db.Node
	for _, n := range nodes {
		if err := create(n); err != nil {
			bg := context.WithoutCancel(ctx)
			var undone []string
			for _, m := range made {
				if uerr := undo(bg, m); uerr != nil {
					d.log.Error("cluster: could not undo a member's part", "name", name, "member", m.Name, "err", uerr)
					continue
				}
				undone = append(undone, m.Name)
			}
			what := "it was made on no member"
			if len(undone) > 0 {
				what = "it was removed again from " + strings.Join(undone, ", ")
			}
			return n, what, err
		}
		made = append(made, n)
	}
	return db.Node{}, "", nil
}

// CreateStoragePoolHere makes this member's part of a cluster pool (a
// member's POST during a create on every member).
func (d *Daemon) CreateStoragePoolHere(ctx context.Context, name string) error {
	if !d.db.Clustered() {
		return errdefs.Invalidf("this server is not clustered")
	}
	d.poolsMu.Lock()
	defer d.poolsMu.Unlock()
	return d.createPoolHere(ctx, name)
}

// createPoolHere makes, opens and records this member's part of a pool
// from its definition (the pool's keys with this member's own); callers
// hold poolsMu.
func (d *Daemon) createPoolHere(ctx context.Context, name string) error {
	p, err := d.getPoolRow(ctx, name)
	if err != nil {
		return err
	}
	if _, open := d.pools.get(name); open && p.MemberState == db.StateCreated {
		return nil
	}
	rows, err := d.db.ListStoragePools(ctx)
	if err != nil {
		return err
	}
	others := make([]pools.Pool, 0, len(rows))
	for _, o := range rows {
		if o.Name != name && o.MemberState == db.StateCreated {
			others = append(others, pools.Pool{Name: o.Name, Driver: o.Driver, Config: o.Config})
		}
	}
	cfg, err := d.poolMgr.Create(ctx, p.Name, p.Driver, p.Config, others)
	if err != nil {
		return errdefs.Invalidf("on member %s: %v", d.db.Location(), err)
	}
	drv, err := d.poolMgr.Open(ctx, p.Name, p.Driver, cfg)
	if err == nil {
		err = d.db.SetPoolMember(ctx, p.Name, d.db.NodeID(), db.StateCreated, cfg)
	}
	if err != nil {
		_, _ = d.poolMgr.Destroy(context.WithoutCancel(ctx), p.Name, p.Driver, cfg, nil)
		return fmt.Errorf("on member %s: %w", d.db.Location(), err)
	}
	d.pools.set(p.Name, drv)
	return nil
}

// removePoolOn removes a member's part of a pool.
func (d *Daemon) removePoolOn(ctx context.Context, n db.Node, name string) (pools.Removal, error) {
	if n.ID == d.db.NodeID() {
		return d.RemoveStoragePoolHere(ctx, name)
	}
	_, err := d.cl.transport.MemberDo(ctx, n.Address, "DELETE", "/1.0/storage-pools/"+url.PathEscape(name), nil)
	return pools.Removal{}, err
}

// RemoveStoragePoolHere removes this member's part of a cluster pool (a
// member's DELETE during a delete on every member, or an undo).
func (d *Daemon) RemoveStoragePoolHere(ctx context.Context, name string) (pools.Removal, error) {
	if !d.db.Clustered() {
		return pools.Removal{}, errdefs.Invalidf("this server is not clustered")
	}
	d.poolsMu.Lock()
	defer d.poolsMu.Unlock()
	return d.removePoolHere(ctx, name)
}

// removePoolHere destroys this member's part of a pool (only what lodge's
// records name there, as a standalone delete) and marks it pending; a
// part never made is left alone. Callers hold poolsMu.
func (d *Daemon) removePoolHere(ctx context.Context, name string) (pools.Removal, error) {
	p, err := d.db.GetStoragePool(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return pools.Removal{}, nil
	}
	if err != nil {
		return pools.Removal{}, err
	}
	if p.MemberState != db.StateCreated {
		d.pools.set(name, nil)
		return pools.Removal{}, nil
	}
	known, err := d.knownImageVolumes(ctx)
	if err != nil {
		return pools.Removal{}, err
	}
	rem, err := d.poolMgr.Destroy(ctx, p.Name, p.Driver, p.Config, known)
	if err != nil {
		return rem, fmt.Errorf("on member %s: %w", d.db.Location(), err)
	}
	d.pools.set(p.Name, nil)
	if rem.Forgotten != "" {
		d.log.Warn("storage pool forgotten on this member: its files are left untouched", "pool", p.Name, "source", p.Config["source"], "why", rem.Forgotten)
	}
	if len(rem.Left) > 0 {
		d.log.Warn("storage pool removed on this member; directories holding what lodge has no record of were left", "pool", p.Name, "left", strings.Join(rem.Left, "; "))
	}
	return rem, d.db.SetPoolMember(ctx, p.Name, d.db.NodeID(), db.StatePending, nil)
}

// deleteClusterPool removes a pool nothing uses from every member (the
// others first, then this one), then its record; callers hold
// clusterEntMu and checked the users. A member that fails stops it: the pool is
// errored, and a delete again finishes it (the parts removed are
// skipped).
func (d *Daemon) deleteClusterPool(ctx context.Context, name string) (pools.Removal, error) {
	vols, err := d.db.PoolVolumesEverywhere(ctx, name)
	if err != nil {
		return pools.Removal{}, err
	}
	if len(vols) > 0 {
		return pools.Removal{}, errdefs.Invalidf("storage pool %q still has custom volumes (%s); delete them first (lodge storage volume delete %s NAME, on the member that holds each)", name, strings.Join(vols, ", "), name)
	}
	nodes, err := d.allMembers(ctx, "deleting a storage pool")
	if err != nil {
		return pools.Removal{}, err
	}
	nodes = append(nodes[1:], nodes[0])
	var rem pools.Removal
	var done []string
	for _, n := range nodes {
		r, err := d.removePoolOn(ctx, n, name)
		if err != nil {
			_ = d.db.SetPoolState(context.WithoutCancel(ctx), name, db.StateErrored)
			return pools.Removal{}, fmt.Errorf("storage pool %q could not be removed on member %s: %w; removed on: %s; fix the cause, then delete it again", name, n.Name, err, orNone(done))
		}
		if n.ID == d.db.NodeID() {
			rem = r
		}
		done = append(done, n.Name)
	}
	if err := d.db.DeleteStoragePool(ctx, name); err != nil {
		return rem, err
	}
	d.events.lifecycle("storage-pool-deleted", PoolURL(name), nil)
	return rem, nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// PoolLocations names the members that have a part of a pool (standalone:
// "none", as LXD).
func (d *Daemon) PoolLocations(ctx context.Context, name string) []string {
	if !d.db.Clustered() {
		return []string{"none"}
	}
	parts, _ := d.db.PoolMembers(ctx, name)
	out := []string{}
	for _, p := range parts {
		out = append(out, p.Node)
	}
	sort.Strings(out)
	return out
}

// NetworkLocations names the members that have a part of a network.
func (d *Daemon) NetworkLocations(ctx context.Context, name string) []string {
	if !d.db.Clustered() {
		return []string{"none"}
	}
	parts, _ := d.db.NetworkMembers(ctx, name)
	out := []string{}
	for _, p := range parts {
		out = append(out, p.Node)
	}
	sort.Strings(out)
	return out
}

// networkUp tells whether a network is to be up on this member: created,
// and this member's part not pending (a network from before members'
// parts were recorded has none, and is up).
func networkUp(n db.Network) bool {
	return n.State == db.StateCreated && n.MemberState != db.StatePending && n.MemberState != db.StateErrored
}

// DefineNetwork is POST /1.0/networks?target=MEMBER: the network's part on
// that member, pending. lodge's bridges have no member-specific keys
// (LXD's bridge.external_interfaces is not supported), so no config is
// taken with --target.
func (d *Daemon) DefineNetwork(ctx context.Context, req api.NetworksPost, target string) error {
	if !d.db.Clustered() {
		return notTargetable(target)
	}
	if err := d.needNetworks(); err != nil {
		return err
	}
	if err := network.ValidateName(req.Name); err != nil {
		return errdefs.Invalidf("%v", err)
	}
	if req.Type != "" && req.Type != "bridge" {
		return errdefs.Invalidf("network %q: type %q is not supported (lodge manages bridge networks)", req.Name, req.Type)
	}
	node, err := d.db.NodeByName(ctx, target)
	if err != nil {
		return err
	}
	for k := range req.Config {
		return errdefs.Invalidf("network %q: %s is not a member-specific key (lodge's bridges have none): give the network's config when you create it without --target", req.Name, k)
	}
	d.nets.mu.Lock()
	defer d.nets.mu.Unlock()
	if n, err := d.db.GetNetwork(ctx, req.Name); err == nil && n.State == db.StateCreated {
		return errdefs.Existsf("network %q already exists", req.Name)
	} else if err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	return d.db.DefinePendingNetwork(ctx, req.Name, "bridge", node.ID)
}

// createClusterNetwork makes a network on every member, as
// createClusterPool a pool: each member gets its own bridge of that name
// with the network's config (its addresses and DHCP ranges); callers hold
// clusterEntMu and completed cfg.
func (d *Daemon) createClusterNetwork(ctx context.Context, req api.NetworksPost, cfg map[string]string) error {
	nodes, err := d.allMembers(ctx, "creating a network")
	if err != nil {
		return err
	}
	n, err := d.db.GetNetwork(ctx, req.Name)
	direct := errors.Is(err, db.ErrNotFound)
	switch {
	case direct:
		for _, m := range nodes {
			if err := d.db.DefinePendingNetwork(ctx, req.Name, "bridge", m.ID); err != nil {
				_ = d.db.DeleteNetwork(context.WithoutCancel(ctx), req.Name)
				return err
			}
		}
	case err != nil:
		return err
	case n.State == db.StateCreated:
		return errdefs.Existsf("network %q already exists", req.Name)
	}
	parts, err := d.db.NetworkMembers(ctx, req.Name)
	if err != nil {
		return err
	}
	orig, missing := memberParts(parts, nodes)
	if len(missing) > 0 {
		return errdefs.Invalidf("network %q is pending on some members but not defined on %s: run lodge network create %s --target MEMBER for each of them first", req.Name, strings.Join(missing, ", "), req.Name)
	}
	if err := d.db.SetNetworkDefinition(ctx, req.Name, req.Description, cfg); err != nil {
		return err
	}
	failed, what, ferr := d.onEveryMember(ctx, "network "+req.Name, nodes, func(m db.Node) error {
		if m.ID == d.db.NodeID() {
			return d.CreateNetworkHere(ctx, req.Name)
		}
		_, err := d.cl.transport.MemberDo(ctx, m.Address, "POST", "/1.0/networks", api.NetworksPost{Name: req.Name, Type: "bridge"})
		return err
	}, func(bg context.Context, m db.Node) error { return d.removeNetworkOn(bg, m, req.Name) })
	if ferr == nil {
		if err := d.db.SetNetworkState(ctx, req.Name, db.StateCreated); err != nil {
			return err
		}
		d.events.lifecycle("network-created", NetworkURL(req.Name), nil)
		return nil
	}
	bg := context.WithoutCancel(ctx)
	if direct {
		_ = d.db.DeleteNetwork(bg, req.Name)
		return fmt.Errorf("network %q could not be created on member %s: %w; %s, and not recorded", req.Name, failed.Name, ferr, what)
	}
	for _, pt := range orig {
		st := db.StatePending
		if pt.NodeID == failed.ID {
			st = db.StateErrored
		}
		_ = d.db.SetNetworkMember(bg, req.Name, pt.NodeID, st)
	}
	_ = d.db.SetNetworkState(bg, req.Name, db.StateErrored)
	return fmt.Errorf("network %q could not be created on member %s: %w; %s, and the network stays pending: fix the cause, then run lodge network create %s again", req.Name, failed.Name, ferr, what, req.Name)
}

// CreateNetworkHere brings up this member's part of a cluster network (a
// member's POST during a create on every member).
func (d *Daemon) CreateNetworkHere(ctx context.Context, name string) error {
	if !d.db.Clustered() {
		return errdefs.Invalidf("this server is not clustered")
	}
	if err := d.needNetworks(); err != nil {
		return err
	}
	d.nets.mu.Lock()
	defer d.nets.mu.Unlock()
	return d.createNetworkHere(ctx, name)
}

// createNetworkHere brings up this member's bridge of a network: the name
// must be free on this host. Callers hold nets.mu.
func (d *Daemon) createNetworkHere(ctx context.Context, name string) error {
	n, err := d.getNetwork(ctx, name)
	if err != nil {
		return err
	}
	if n.MemberState != db.StateCreated {
		if own, err := d.nets.drv.Owner(ctx, name); err != nil {
			return err
		} else if !own.Usable() {
			return errdefs.Conflictf("on member %s: %s; pick another name", d.db.Location(), own.Why)
		}
	}
	if err := d.ensureNetwork(ctx, n); err != nil {
		_ = d.nets.drv.Delete(context.WithoutCancel(ctx), name)
		return fmt.Errorf("on member %s: %w", d.db.Location(), err)
	}
	return d.db.SetNetworkMember(ctx, name, d.db.NodeID(), db.StateCreated)
}

func (d *Daemon) removeNetworkOn(ctx context.Context, m db.Node, name string) error {
	if m.ID == d.db.NodeID() {
		return d.RemoveNetworkHere(ctx, name)
	}
	_, err := d.cl.transport.MemberDo(ctx, m.Address, "DELETE", "/1.0/networks/"+url.PathEscape(name), nil)
	return err
}

// RemoveNetworkHere takes down this member's part of a cluster network.
func (d *Daemon) RemoveNetworkHere(ctx context.Context, name string) error {
	if !d.db.Clustered() {
		return errdefs.Invalidf("this server is not clustered")
	}
	if err := d.needNetworks(); err != nil {
		return err
	}
	d.nets.mu.Lock()
	defer d.nets.mu.Unlock()
	return d.removeNetworkHere(ctx, name)
}

// removeNetworkHere deletes this member's bridge of a network and marks
// its part pending; a part never made is left alone. Callers hold nets.mu.
func (d *Daemon) removeNetworkHere(ctx context.Context, name string) error {
	n, err := d.db.GetNetwork(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if n.MemberState != db.StateCreated && !(n.MemberState == "" && n.State == db.StateCreated) {
		return nil
	}
	if err := d.nets.drv.Delete(ctx, name); err != nil {
		return fmt.Errorf("on member %s: %w", d.db.Location(), err)
	}
	return d.db.SetNetworkMember(ctx, name, d.db.NodeID(), db.StatePending)
}

// deleteClusterNetwork removes a network nothing uses from every member,
// then its record; callers hold clusterEntMu and checked the users.
func (d *Daemon) deleteClusterNetwork(ctx context.Context, name string) error {
	nodes, err := d.allMembers(ctx, "deleting a network")
	if err != nil {
		return err
	}
	nodes = append(nodes[1:], nodes[0])
	var done []string
	for _, m := range nodes {
		if err := d.removeNetworkOn(ctx, m, name); err != nil {
			_ = d.db.SetNetworkState(context.WithoutCancel(ctx), name, db.StateErrored)
			return fmt.Errorf("network %q could not be removed on member %s: %w; removed on: %s; fix the cause, then delete it again", name, m.Name, err, orNone(done))
		}
		done = append(done, m.Name)
	}
	if err := d.db.DeleteNetwork(ctx, name); err != nil {
		return err
	}
	d.events.lifecycle("network-deleted", NetworkURL(name), nil)
	return nil
}

// applyNetworkOnMembers has every other online member bring its bridge
// of a network to the network's config, just changed here (each asked
// with PUT, which a member serves as "apply the recorded config"). An
// offline member applies it when it starts again.
func (d *Daemon) applyNetworkOnMembers(ctx context.Context, name string) error {
	peers, err := d.Peers(ctx)
	if err != nil {
		return err
	}
	var failed []string
	for _, p := range peers {
		if p.Offline {
			continue
		}
		if _, err := d.cl.transport.MemberDo(ctx, p.Address, "PUT", "/1.0/networks/"+url.PathEscape(name), api.NetworkPut{}); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", p.Name, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("network %q: the config is changed, but these members could not apply it: %s; set it again, or restart lodged there (it applies the config when it starts)", name, strings.Join(failed, "; "))
	}
	return nil
}

// ApplyNetworkHere brings this member's bridge of a network to the
// network's recorded config (a member's PUT after it changed it).
func (d *Daemon) ApplyNetworkHere(ctx context.Context, name string) error {
	if !d.db.Clustered() {
		return errdefs.Invalidf("this server is not clustered")
	}
	if err := d.needNetworks(); err != nil {
		return err
	}
	d.nets.mu.Lock()
	defer d.nets.mu.Unlock()
	n, err := d.getNetwork(ctx, name)
	if err != nil || !networkUp(n) {
		return err
	}
	if err := d.ensureNetwork(ctx, n); err != nil {
		return fmt.Errorf("on member %s: %w", d.db.Location(), err)
	}
	return nil
}
