package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"lodge/api"
	"lodge/errdefs"
	"lodge/server/db"
	"lodge/server/operations"
)

// Copying an instance held by another member of the cluster (issue 17):
// POST /1.0/instances with source type copy on the member the copy goes
// to (lxc copy c1 c2 --target m2, or the member placement picks, as LXD
// 5.0 places a copy without --target). As LXD's createFromCopy does, it
// becomes a migration pull from the source's member, on the path a move
// between members takes: MigrateInstance there (which only reads the
// source; a running one is sent stateless, its second pass frozen),
// receiveInstance here. Unlike a move the source stays, and the copy is
// a new instance: its own uuid and MAC addresses, LXD's copy template
// trigger. The copy's row is inserted before anything moves, marked
// incomplete, so that a failure on either side removes it with its
// volumes, and a crash of this member leaves it to startup recovery.

// copyFromMember makes row, a copy of srcName (or of its snapshot snap)
// held by member holder, on this member.
func (d *Daemon) copyFromMember(ctx context.Context, req api.InstancesPost, row db.Instance, holder Peer, srcName, snap string, instanceOnly bool) (*operations.Op, error) {
	from := srcName
	if snap != "" {
		from += "/" + snap
	}
	if holder.Offline {
		return nil, errdefs.Unavailablef("cluster member %s, which holds instance %q, is offline: %q cannot be copied until that member answers again (see lodge cluster list)", holder.Name, srcName, from)
	}
	if me, err := d.db.NodeByName(ctx, d.db.Location()); err == nil && me.State == db.NodeEvacuated {
		return nil, errdefs.Conflictf("cluster member %q is evacuated: copy %q to another member (--target), or restore this one first (lodge cluster restore %s)", me.Name, from, me.Name)
	}
	_, certPEM, _ := d.clusterCert()
	if certPEM == "" {
		return nil, fmt.Errorf("instance %q: copy from member %s: this member has no cluster certificate", row.Name, holder.Name)
	}
	row.Config[migrationIncompleteKey] = "true"
	if err := d.insertCopy(ctx, row, true); err != nil {
		return nil, err
	}
	bg := context.WithoutCancel(ctx)
	drop := func() {
		if err := d.db.DeleteInstance(bg, row.Name); err != nil {
			d.log.Warn("cluster copy: could not remove the copy's row", "instance", row.Name, "err", err)
		}
	}
	// The source's member serves the migration, as for any migration
	// source; it refuses there what it cannot send.
	path := instanceAPIPath(srcName)
	var body any
	if snap != "" {
		path += "/snapshots/" + url.PathEscape(snap)
		body = api.InstanceSnapshotPost{Name: row.Name, Migration: true}
	} else {
		live := false
		body = api.InstancePost{Name: row.Name, Migration: true, Live: &live, InstanceOnly: instanceOnly, ContainerOnly: instanceOnly}
	}
	md, srcWait, err := d.cl.transport.MemberAsync(ctx, holder.Address, "POST", path, body)
	if err != nil {
		drop()
		return nil, fmt.Errorf("instance %q: copy %q from member %s: %w", row.Name, from, holder.Name, err)
	}
	var sop api.Operation
	if err := json.Unmarshal(md, &sop); err != nil || sop.ID == "" {
		drop()
		return nil, fmt.Errorf("instance %q: copy %q from member %s: it answered no migration operation", row.Name, from, holder.Name)
	}
	cancelSource := func() {
		if _, err := d.cl.transport.MemberDo(bg, holder.Address, "DELETE", "/1.0/operations/"+url.PathEscape(sop.ID), nil); err != nil {
			d.log.Debug("cluster copy: cancel the source's operation", "member", holder.Name, "operation", sop.ID, "err", err)
		}
	}
	secrets := map[string]string{}
	for k, v := range sop.Metadata {
		if s, ok := v.(string); ok {
			secrets[k] = s
		}
	}
	link, err := d.cl.transport.DialMigration("https://"+holder.Address+"/1.0/operations/"+url.PathEscape(sop.ID), certPEM, secrets)
	if err != nil {
		cancelSource()
		drop()
		return nil, fmt.Errorf("instance %q: copy %q from member %s: %w", row.Name, from, holder.Name, err)
	}
	recv := api.InstancesPost{Name: row.Name, Source: api.InstanceSource{InstanceOnly: instanceOnly}}
	op := d.ops.Start(operationsSpec("Creating instance", row.Name), func(ctx context.Context, op *operations.Op) error {
		defer link.Close()
		if err := d.receiveInstance(ctx, op, row, false, recv, link); err != nil {
			cancelSource()
			// The source's own account of the failure, when it has one.
			if srcWait != nil {
				wctx, cancel := context.WithTimeout(bg, 5*time.Second)
				_, serr := srcWait(wctx)
				cancel()
				if serr != nil {
					err = fmt.Errorf("%w (member %s: %v)", err, holder.Name, serr)
				}
			}
			return fmt.Errorf("instance %q: copy %q from member %s: %w; nothing of the copy is left on %s and %q is unchanged: copy again", row.Name, from, holder.Name, err, d.db.Location(), srcName)
		}
		d.log.Info("instance copied from another member", "instance", row.Name, "source", from, "from", holder.Name)
		if req.Start {
			return d.startNew(ctx, row.Name)
		}
		return nil
	})
	return op, nil
}
