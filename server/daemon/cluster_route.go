package daemon

import (
	"context"
	"errors"
	"sort"

	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
)

// Where requests go in a cluster: the member an instance or operation
// lives on, the member a new instance is placed on, and the members a
// list asks.

// Peer is another member as routing sees it.
type Peer struct {
	Name    string
	Address string
	// Offline: no heartbeat within cluster.offline_threshold (or evacuated
	// for placement's sake: see Evacuated).
	Offline   bool
	Evacuated bool
}

// Peers lists the other members (none standalone).
func (d *Daemon) Peers(ctx context.Context) ([]Peer, error) {
	if !d.db.Clustered() {
		return nil, nil
	}
	nodes, err := d.db.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	th := d.offlineThreshold(ctx)
	out := make([]Peer, 0, len(nodes))
	for _, n := range nodes {
		if n.ID == d.db.NodeID() {
			continue
		}
		out = append(out, Peer{Name: n.Name, Address: n.Address, Offline: d.isOffline(n, th), Evacuated: n.State == db.NodeEvacuated})
	}
	return out, nil
}

// InstanceMember is the member an instance lives on: remote is false when
// it is this one (or standalone, or the instance is unknown: the local
// handler answers that).
func (d *Daemon) InstanceMember(ctx context.Context, name string) (p Peer, remote bool, err error) {
	if !d.db.Clustered() {
		return Peer{}, false, nil
	}
	n, err := d.db.InstanceNode(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return Peer{}, false, nil
	}
	if err != nil {
		return Peer{}, false, err
	}
	if n.ID == d.db.NodeID() {
		return Peer{}, false, nil
	}
	return d.peerOf(ctx, n), true, nil
}

func (d *Daemon) peerOf(ctx context.Context, n db.Node) Peer {
	return Peer{Name: n.Name, Address: n.Address, Offline: d.isOffline(n, d.offlineThreshold(ctx)), Evacuated: n.State == db.NodeEvacuated}
}

// MemberByName is a member for ?target=NAME (remote false: this one).
func (d *Daemon) MemberByName(ctx context.Context, name string) (Peer, bool, error) {
	if !d.db.Clustered() {
		return Peer{}, false, errdefs.Invalidf("this server is not clustered: there is no member %q to target", name)
	}
	if name == d.db.Location() {
		return Peer{}, false, nil
	}
	n, err := d.db.NodeByName(ctx, name)
	if err != nil {
		return Peer{}, false, err
	}
	return d.peerOf(ctx, n), true, nil
}

// OperationMember is the member that runs an operation this one does not
// know (remote false: this one, or unknown).
func (d *Daemon) OperationMember(ctx context.Context, id string) (Peer, bool, error) {
	if !d.db.Clustered() {
		return Peer{}, false, nil
	}
	if _, ok := d.ops.Get(id); ok {
		return Peer{}, false, nil
	}
	row, err := d.db.GetOperation(ctx, id)
	if err != nil || row.Location == d.db.Location() || row.Location == "none" {
		return Peer{}, false, nil
	}
	n, err := d.db.NodeByName(ctx, row.Location)
	if err != nil {
		return Peer{}, false, nil
	}
	return d.peerOf(ctx, n), true, nil
}

// PlaceInstance picks the member a new instance goes to when the request
// names none: the online member, not evacuated, with the fewest instances
// (LXD's rule; ties go to the first by name). remote is false when it is
// this one.
func (d *Daemon) PlaceInstance(ctx context.Context) (Peer, bool, error) {
	if !d.db.Clustered() {
		return Peer{}, false, nil
	}
	nodes, err := d.db.Nodes(ctx)
	if err != nil {
		return Peer{}, false, err
	}
	counts, err := d.db.NodeInstanceCounts(ctx)
	if err != nil {
		return Peer{}, false, err
	}
	th := d.offlineThreshold(ctx)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	var best *db.Node
	for i := range nodes {
		n := &nodes[i]
		if d.isOffline(*n, th) || n.State != db.NodeCreated {
			continue
		}
		if best == nil || counts[n.ID] < counts[best.ID] {
			best = n
		}
	}
	if best == nil {
		return Peer{}, false, errdefs.Unavailablef("no cluster member can take a new instance: every member is offline, evacuated or still joining")
	}
	if best.ID == d.db.NodeID() {
		return Peer{}, false, nil
	}
	return d.peerOf(ctx, *best), true, nil
}

// UnreachableInstances are a member's instances as the database has them,
// for a list when the member does not answer: in Error state, so that the
// list says they cannot be reached rather than waiting for them.
func (d *Daemon) UnreachableInstances(ctx context.Context, member string) ([]Instance, error) {
	n, err := d.db.NodeByName(ctx, member)
	if err != nil {
		return nil, err
	}
	list, err := d.db.ListInstancesOn(ctx, n.ID)
	if err != nil {
		return nil, err
	}
	expand := d.expander(ctx)
	out := make([]Instance, 0, len(list))
	for _, in := range list {
		info := d.instanceInfo(in, expand(in), instances.State{Status: instances.StatusError})
		info.Location = member
		out = append(out, info)
	}
	return out, nil
}
