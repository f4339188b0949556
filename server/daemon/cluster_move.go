package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/migration"
	"lodge/server/db"
	"lodge/server/operations"
	"lodge/storage"
)

// Moving an instance between members of a cluster (issue 17): POST
// /1.0/instances/{name}?target=MEMBER with migration, what `lxc move c1
// --target m2` sends. The instance's record is the cluster's and stays;
// its volume (with its snapshots) moves with the migration between hosts
// (issue 16): the member that holds it is the source, the target pulls
// (POST /1.0/instances with source.cluster_move_source_name, as LXD's),
// over the members' mutual TLS. The target's last step, in one write,
// points the record at itself; only then does the source drop its volume
// and runtime config. Until that write the instance is whole on the
// source, and a failure on either side removes what the target made.

// evacuateOriginKey records, on an instance an evacuation moved away,
// the member it came from (LXD's key); restore brings it back there.
const evacuateOriginKey = "volatile.evacuate.origin"

// MoveToMember moves a stopped instance of this member to the member
// target, in an operation. link is the migration's source side, waiting
// for the target to connect (pull).
func (d *Daemon) MoveToMember(ctx context.Context, name, target string, req api.InstancePost, link MigrationLink) (*operations.Op, error) {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return nil, err
	}
	if !d.db.Clustered() {
		return nil, errdefs.Invalidf("this server is not clustered: there is no member %q to move instance %q to", target, name)
	}
	if req.Name != "" && req.Name != name {
		return nil, errdefs.Invalidf("instance %q: a move to another member keeps the name; rename it before or after (lodge move %s NEW)", name, name)
	}
	if req.Pool != "" {
		return nil, errdefs.Invalidf("instance %q: a move to another member keeps the pool; move it to another pool before or after", name)
	}
	peer, err := d.moveTarget(ctx, name, target)
	if err != nil {
		return nil, err
	}
	if err := d.movable(ctx, in, peer); err != nil {
		return nil, err
	}
	spec := operationsSpec("Migrating instance", name)
	spec.Connector = link.Connector
	op := d.ops.Start(spec, func(ctx context.Context, op *operations.Op) error {
		defer link.Close()
		return d.moveToMember(ctx, op, name, peer, link)
	})
	return op, nil
}

// MoveHere is a move asked of the target member (lxc move --target
// follows its operation on the target's events, as LXD's members share
// theirs): the instance's member moves it here, and this member's
// operation follows that one. Refusals come back as they are.
func (d *Daemon) MoveHere(ctx context.Context, name string, req api.InstancePost) (*operations.Op, error) {
	holder, remote, err := d.InstanceMember(ctx, name)
	if err != nil {
		return nil, err
	}
	if !remote {
		return nil, errdefs.Invalidf("instance %q is on member %q already", name, d.db.Location())
	}
	if holder.Offline {
		return nil, errdefs.Conflictf("cluster member %q, which holds instance %q, is offline: it cannot move until that member answers again", holder.Name, name)
	}
	_, wait, err := d.cl.transport.MemberAsync(ctx, holder.Address, "POST", instanceAPIPath(name)+"?target="+url.QueryEscape(d.db.Location()), req)
	if err != nil {
		return nil, err
	}
	op := d.ops.Start(operationsSpec("Migrating instance", name), func(ctx context.Context, op *operations.Op) error {
		if wait == nil {
			return nil
		}
		_, err := wait(ctx)
		return err
	})
	return op, nil
}

// MoveTargetHere tells whether a move of instance name to member target
// is for this member to follow: target is this member and the instance
// lives on another.
func (d *Daemon) MoveTargetHere(ctx context.Context, name, target string) bool {
	if !d.db.Clustered() || target != d.db.Location() {
		return false
	}
	_, remote, err := d.InstanceMember(ctx, name)
	return err == nil && remote
}

// moveTarget checks the member an instance of this member moves to.
func (d *Daemon) moveTarget(ctx context.Context, name, target string) (Peer, error) {
	if target == "" {
		return Peer{}, errdefs.Invalidf("instance %q: name the member to move it to (?target=MEMBER)", name)
	}
	peer, remote, err := d.MemberByName(ctx, target)
	if err != nil {
		return Peer{}, err
	}
	if !remote {
		return Peer{}, errdefs.Invalidf("instance %q is on member %q already", name, target)
	}
	if peer.Offline {
		return Peer{}, errdefs.Conflictf("cluster member %q is offline: instance %q cannot move there until it answers again (see lodge cluster list)", target, name)
	}
	if peer.Evacuated {
		return Peer{}, errdefs.Conflictf("cluster member %q is evacuated: instance %q cannot move there until it is restored (lodge cluster restore %s)", target, name, target)
	}
	return peer, nil
}

// movable checks that in, a row of this member, can move now: created,
// stopped, without backups (their files are this member's).
func (d *Daemon) movable(ctx context.Context, in db.Instance, to Peer) error {
	n, err := d.db.InstanceNode(ctx, in.Name)
	if err != nil {
		return err
	}
	if n.ID != d.db.NodeID() {
		return errdefs.Conflictf("instance %q is on member %q, not on %q: ask again (the request goes to its member)", in.Name, n.Name, d.db.Location())
	}
	if in.Phase != db.PhaseCreated {
		return errdefs.Conflictf("instance %q is still being created", in.Name)
	}
	if st := d.liveStatus(ctx, in); st != instances.StatusStopped {
		return errdefs.Invalidf("instance %q is %s: stop it before moving it to member %q (lodge stop %s); a running instance would need live migration, which lodge does not do (lodge cluster evacuate stops, moves and starts instances)",
			in.Name, st, to.Name, in.Name)
	}
	if bs, err := d.db.ListBackups(ctx, in.Name); err != nil {
		return err
	} else if len(bs) > 0 {
		return errdefs.Conflictf("instance %q has %d backups, whose files stay on member %q: export them (lodge export) and delete them before moving it", in.Name, len(bs), d.db.Location())
	}
	return nil
}

// moveToMember is the source's side of a move: it asks the target to
// pull, sends the volumes, and once the target has taken the instance
// over drops its own copy.
func (d *Daemon) moveToMember(ctx context.Context, op *operations.Op, name string, peer Peer, link MigrationLink) error {
	unlock := d.instLocks.lock(name)
	defer unlock()
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return err
	}
	if err := d.movable(ctx, in, peer); err != nil {
		return err
	}
	pool, err := d.instancePool(in)
	if err != nil {
		return err
	}
	args, err := d.sourceArgs(ctx, op, in, nil, api.InstancePost{}, false)
	if err != nil {
		return err
	}
	_, certPEM, _ := d.clusterCert()
	recv := api.InstancesPost{
		Name: name, Type: "container",
		Source: api.InstanceSource{Type: "migration", Mode: "pull", Certificate: certPEM, Websockets: link.Secrets,
			Operation: "https://" + d.db.ClusterAddress() + op.URL(), ClusterMoveSourceName: name},
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan error, 1)
	go func() {
		_, err := d.cl.transport.MemberDo(cctx, peer.Address, "POST", "/1.0/instances?target="+url.QueryEscape(peer.Name), recv)
		if err != nil {
			cancel(err)
		}
		done <- err
	}()
	control, fs, err := link.Connect(cctx)
	if err != nil {
		link.Close()
		if terr := <-done; terr != nil {
			err = terr
		}
		return fmt.Errorf("instance %q: move to member %q: %w (the instance stays on %q)", name, peer.Name, err, d.db.Location())
	}
	args.Control, args.FS = control, fs
	serr := migration.RunSource(ctx, args)
	if serr != nil {
		link.Close()
	}
	terr := <-done
	// The record says where the instance is: on the target only if the
	// target committed, whatever either side reported.
	n, nerr := d.db.InstanceNode(context.WithoutCancel(ctx), name)
	if nerr != nil || n.ID == d.db.NodeID() {
		err := errors.Join(terr, serr, nerr)
		if err == nil {
			err = errors.New("the target did not take it over")
		}
		return fmt.Errorf("instance %q: move to member %q: %w (the instance stays on %q)", name, peer.Name, err, d.db.Location())
	}
	if terr != nil || serr != nil {
		d.log.Warn("cluster move: the target took the instance over, but reported", "instance", name, "target", peer.Name, "err", errors.Join(terr, serr))
	}
	d.dropMoved(context.WithoutCancel(ctx), in, pool)
	d.log.Info("instance moved to another member", "instance", name, "to", peer.Name)
	d.events.lifecycle("instance-updated", InstanceURL(name), map[string]any{"location": peer.Name})
	return nil
}

// dropMoved removes what this member kept of an instance that now lives
// on another: its runtime config, its volume with its snapshots, its
// DHCP reservations and leases here.
func (d *Daemon) dropMoved(ctx context.Context, in db.Instance, pool storage.Driver) {
	if err := d.inst.Delete(ctx, in.Name); err != nil && !errors.Is(err, instances.ErrNotFound) {
		d.log.Warn("cluster move: runtime config left behind", "instance", in.Name, "err", err)
	}
	if err := pool.Delete(ctx, storage.Volume{Kind: storage.KindContainer, Name: in.Name}); err != nil {
		d.log.Warn("cluster move: volume left behind on the source member; delete it by hand", "instance", in.Name, "err", err)
	}
	d.syncInstanceHosts(ctx, d.instanceHosts(ctx, in), nil)
	d.releaseLeases(ctx, in)
	d.removeProxies(in.Name)
	d.guestRemove(in.Name)
}

// receiveMove is the target's side of a move between members: POST
// /1.0/instances with source.cluster_move_source_name, from the member
// that holds the instance.
func (d *Daemon) receiveMove(ctx context.Context, req api.InstancesPost, link MigrationLink) (*operations.Op, error) {
	name := req.Source.ClusterMoveSourceName
	if !d.db.Clustered() {
		return nil, errdefs.Invalidf("this server is not clustered")
	}
	if req.Name != "" && req.Name != name {
		return nil, errdefs.Invalidf("instance %q: a move between members keeps the name", name)
	}
	row, err := d.getInstance(ctx, name)
	if err != nil {
		return nil, err
	}
	from, err := d.db.InstanceNode(ctx, name)
	if err != nil {
		return nil, err
	}
	if from.ID == d.db.NodeID() {
		return nil, errdefs.Invalidf("instance %q is on member %q already", name, from.Name)
	}
	if row.Phase != db.PhaseCreated {
		return nil, errdefs.Conflictf("instance %q is still being created", name)
	}
	if me, err := d.db.NodeByName(ctx, d.db.Location()); err == nil && me.State == db.NodeEvacuated {
		return nil, errdefs.Conflictf("cluster member %q is evacuated: instance %q cannot move here until it is restored", me.Name, name)
	}
	if _, err := d.instancePool(row); err != nil {
		return nil, errdefs.Invalidf("instance %q: its storage pool %q is not available on member %q: %v", name, row.Pool, d.db.Location(), err)
	}
	op := d.ops.Start(link.spec("Receiving instance", name), func(ctx context.Context, op *operations.Op) error {
		defer link.Close()
		return d.receiveMoveRun(ctx, op, row, from, link)
	})
	return op, nil
}

func (d *Daemon) receiveMoveRun(ctx context.Context, op *operations.Op, row db.Instance, from db.Node, link MigrationLink) (err error) {
	name := row.Name
	unlock := d.instLocks.lock(name)
	defer unlock()
	bg := context.WithoutCancel(ctx)
	rev := &revert{}
	tv := &targetVolumes{d: d, row: row, rev: rev, bg: bg, move: true}
	defer func() {
		tv.release()
		if err != nil {
			rev.fail()
			d.log.Warn("incoming cluster move failed, rolled back", "instance", name, "from", from.Name, "err", err)
		}
	}()
	control, fs, err := link.Connect(ctx)
	if err != nil {
		return err
	}
	pool, err := d.instancePool(row)
	if err != nil {
		return err
	}
	tv.pool, tv.vol = pool, storage.Volume{Kind: storage.KindContainer, Name: name}
	x, err := d.expand(ctx, row)
	if err != nil {
		return err
	}
	m, err := d.instanceMap(x)
	if err != nil {
		return err
	}
	types, _ := d.migrationTypes(ctx, row.Pool)
	err = migration.RunTarget(ctx, migration.TargetArgs{
		Control: control, FS: fs, Name: name, Types: types, Map: &m, Confine: confineRsync(),
		Limits: migrationLimits(pool), Volumes: tv,
		Progress: func(p migration.Progress) { op.SetMetadata("fs_progress", p.String()) },
	})
	if err != nil {
		//lint:ignore ST1005 LXD's wording, which its clients show
		return fmt.Errorf("Error transferring instance data: %w", err)
	}
	tv.release()
	row, err = d.db.GetInstance(ctx, name)
	if err != nil {
		return err
	}
	if err := d.defineReceived(ctx, &row, m); err != nil {
		return err
	}
	rev.add(func() { _ = d.inst.Delete(bg, name) })
	if err := d.db.MoveInstanceNode(ctx, name, from.ID, d.db.NodeID(), row.Config); err != nil {
		if errors.Is(err, db.ErrNotFound) {
			return errdefs.Conflictf("instance %q left member %q meanwhile (moved or deleted)", name, from.Name)
		}
		return err
	}
	rev.success()
	d.syncNetworkHosts(ctx)
	return nil
}
