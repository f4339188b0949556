package daemon

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
	"lodge/server/operations"
	"lodge/storage"
)

var snapNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func validateSnapshotName(name string) error {
	if !snapNameRE.MatchString(name) {
		return errdefs.Invalidf("snapshot name %q is not valid: use letters, digits, '.', '_' and '-', up to 63 characters", name)
	}
	return nil
}

func (d *Daemon) getSnapshot(ctx context.Context, inst, snap string) (db.Instance, db.Snapshot, error) {
	in, err := d.getInstance(ctx, inst)
	if err != nil {
		return in, db.Snapshot{}, err
	}
	sn, err := d.db.GetSnapshot(ctx, inst, snap)
	if errors.Is(err, db.ErrNotFound) {
		err = errdefs.NotFoundf("snapshot %q of instance %q not found (see `lodge info %s`)", snap, inst, inst)
	}
	return in, sn, err
}

// createSnapshot snapshots the volume (a running instance is frozen for
// the copy, so the snapshot is consistent), then records it.
func (d *Daemon) createSnapshot(ctx context.Context, name, snap string, expires time.Time) error {
	unlock := d.instLocks.lock(name)
	defer unlock()
	in, err := d.db.GetInstance(ctx, name)
	if err != nil {
		return err
	}
	pool, err := d.instancePool(in)
	if err != nil {
		return err
	}
	vol := storage.Volume{Kind: storage.KindContainer, Name: name}
	if d.liveStatus(ctx, in) == instances.StatusRunning {
		if thaw, err := d.freezeFor(ctx, name); err == nil {
			defer thaw()
		} else {
			d.log.Warn("snapshot: could not freeze the instance; snapshotting it running", "instance", name, "err", err)
		}
	}
	if err := pool.Snapshot(ctx, vol, snap); err != nil {
		if errors.Is(err, storage.ErrExists) {
			return errdefs.Existsf("snapshot %q of instance %q already exists on disk", snap, name)
		}
		return fmt.Errorf("instance %q: snapshot %q: %w", name, snap, err)
	}
	row := db.Snapshot{Instance: name, Name: snap, Architecture: in.Architecture, Ephemeral: in.Ephemeral,
		Config: in.Config, Devices: in.Devices, Profiles: in.Profiles, CreatedAt: time.Now().UTC(), ExpiresAt: expires}
	if err := d.db.CreateSnapshot(ctx, row); err != nil {
		_ = pool.Delete(context.WithoutCancel(ctx), vol.Snapshot(snap))
		return err
	}
	d.events.lifecycle("instance-snapshot-created", SnapshotURL(name, snap), nil)
	return nil
}

// deleteSnapshot removes the volume, then the row: a crash between leaves a
// row whose delete can be retried.
func (d *Daemon) deleteSnapshot(ctx context.Context, name, snap string) error {
	unlock := d.instLocks.lock(name)
	defer unlock()
	in, err := d.db.GetInstance(ctx, name)
	if err != nil {
		return err
	}
	pool, err := d.instancePool(in)
	if err != nil {
		return err
	}
	if err := pool.Delete(ctx, storage.Volume{Kind: storage.KindContainer, Name: name}.Snapshot(snap)); err != nil {
		return fmt.Errorf("instance %q: delete snapshot %q: %w", name, snap, err)
	}
	if err := d.db.DeleteSnapshot(ctx, name, snap); err != nil {
		return err
	}
	d.events.lifecycle("instance-snapshot-deleted", SnapshotURL(name, snap), nil)
	return nil
}

// restoreSnapshot stops a running instance (as LXD does), puts the
// snapshot's tree and configuration back, and starts it again.
func (d *Daemon) restoreSnapshot(ctx context.Context, name, snap string) error {
	in, err := d.db.GetInstance(ctx, name)
	if err != nil {
		return err
	}
	wasRunning := false
	if st := d.liveStatus(ctx, in); st == instances.StatusRunning || st == instances.StatusFrozen {
		wasRunning = true
		if st == instances.StatusFrozen {
			_ = d.inst.Unfreeze(ctx, name)
		}
		if err := d.stopInstance(ctx, name, StopOptions{Force: true}); err != nil && !errors.Is(err, instances.ErrNotRunning) {
			return fmt.Errorf("instance %q: stop before restore: %w", name, err)
		}
	}
	err = func() error {
		unlock := d.instLocks.lock(name)
		defer unlock()
		in, err := d.db.GetInstance(ctx, name)
		if err != nil {
			return err
		}
		sn, err := d.db.GetSnapshot(ctx, name, snap)
		if err != nil {
			return err
		}
		if st := d.liveStatus(ctx, in); st == instances.StatusRunning || st == instances.StatusFrozen {
			return errdefs.Conflictf("instance %q was started again during the restore; stop it and retry", name)
		}
		pool, err := d.instancePool(in)
		if err != nil {
			return err
		}
		vol := storage.Volume{Kind: storage.KindContainer, Name: name}
		if err := pool.Unmount(ctx, vol); err != nil {
			return err
		}
		if err := pool.Restore(ctx, vol, snap); err != nil {
			return fmt.Errorf("instance %q: restore snapshot %q: %w", name, snap, err)
		}
		// The configuration goes back too; volatile keys stay the instance's own.
		cfg := map[string]string{}
		for k, v := range sn.Config {
			if !strings.HasPrefix(k, "volatile.") {
				cfg[k] = v
			}
		}
		for k, v := range in.Config {
			if strings.HasPrefix(k, "volatile.") {
				cfg[k] = v
			}
		}
		in.Config, in.Devices, in.Profiles, in.Ephemeral = cfg, sn.Devices, sn.Profiles, sn.Ephemeral
		if sn.Architecture != "" {
			in.Architecture = sn.Architecture
		}
		return d.db.UpdateInstance(ctx, in)
	}()
	if err != nil {
		return err
	}
	d.events.lifecycle("instance-restored", InstanceURL(name), map[string]any{"snapshot": name + "/" + snap})
	if wasRunning {
		return d.startInstance(ctx, name)
	}
	return nil
}

// startRestore answers PUT /1.0/instances/{name} with {"restore": ...}.
func (d *Daemon) startRestore(ctx context.Context, in db.Instance, restore string) (*operations.Op, error) {
	snap := restore
	if p, sn, ok := strings.Cut(restore, "/"); ok {
		if p != in.Name {
			return nil, errdefs.Invalidf("instance %q: cannot restore snapshot %q of another instance", in.Name, restore)
		}
		snap = sn
	}
	if _, _, err := d.getSnapshot(ctx, in.Name, snap); err != nil {
		return nil, err
	}
	op := d.ops.Start(operationsSpec("Restoring snapshot", in.Name), func(ctx context.Context, _ *operations.Op) error {
		return d.restoreSnapshot(ctx, in.Name, snap)
	})
	return op, nil
}

// CreateSnapshot snapshots an instance in an operation (createSnapshot);
// without a name it gets LXD's next snapN.
func (d *Daemon) CreateSnapshot(ctx context.Context, name string, req api.InstanceSnapshotsPost) (*operations.Op, error) {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return nil, err
	}
	if req.Stateful {
		return nil, errdefs.Invalidf("instance %q: stateful snapshots need CRIU, which is not available on this host; take a stateless snapshot (without --stateful)", in.Name)
	}
	if in.Phase != db.PhaseCreated {
		return nil, errdefs.Conflictf("instance %q is still being created", in.Name)
	}
	if req.Name == "" {
		// LXD's default pattern.
		list, _ := d.db.ListSnapshots(ctx, in.Name)
		taken := map[string]bool{}
		for _, sn := range list {
			taken[sn.Name] = true
		}
		for i := 0; ; i++ {
			if n := fmt.Sprintf("snap%d", i); !taken[n] {
				req.Name = n
				break
			}
		}
	}
	if err := validateSnapshotName(req.Name); err != nil {
		return nil, err
	}
	if _, err := d.db.GetSnapshot(ctx, in.Name, req.Name); err == nil {
		return nil, errdefs.Existsf("snapshot %q of instance %q already exists", req.Name, in.Name)
	}
	var expires time.Time
	if req.ExpiresAt != nil {
		expires = *req.ExpiresAt
	}
	op := d.ops.Start(operationsSpec("Snapshotting instance", in.Name), func(ctx context.Context, _ *operations.Op) error {
		return d.createSnapshot(ctx, in.Name, req.Name, expires)
	})
	return op, nil
}

// DeleteSnapshot deletes a snapshot in an operation (deleteSnapshot).
func (d *Daemon) DeleteSnapshot(ctx context.Context, name, snap string) (*operations.Op, error) {
	in, sn, err := d.getSnapshot(ctx, name, snap)
	if err != nil {
		return nil, err
	}
	op := d.ops.Start(operationsSpec("Deleting snapshot", in.Name), func(ctx context.Context, _ *operations.Op) error {
		return d.deleteSnapshot(ctx, in.Name, sn.Name)
	})
	return op, nil
}

// RenameSnapshot renames a snapshot's volume and record in an operation.
func (d *Daemon) RenameSnapshot(ctx context.Context, name, snap string, req api.InstanceSnapshotPost) (*operations.Op, error) {
	in, sn, err := d.getSnapshot(ctx, name, snap)
	if err != nil {
		return nil, err
	}
	if req.Migration {
		return nil, errdefs.Invalidf("snapshot %q: migration is not supported; copy it with lodge copy %s/%s NEW", sn.Name, in.Name, sn.Name)
	}
	if err := validateSnapshotName(req.Name); err != nil {
		return nil, err
	}
	if _, err := d.db.GetSnapshot(ctx, in.Name, req.Name); err == nil {
		return nil, errdefs.Existsf("snapshot %q of instance %q already exists", req.Name, in.Name)
	}
	op := d.ops.Start(operationsSpec("Renaming snapshot", in.Name), func(ctx context.Context, _ *operations.Op) error {
		unlock := d.instLocks.lock(in.Name)
		defer unlock()
		pool, err := d.instancePool(in)
		if err != nil {
			return err
		}
		vol := storage.Volume{Kind: storage.KindContainer, Name: in.Name}
		if err := pool.Rename(ctx, vol.Snapshot(sn.Name), in.Name+"/"+req.Name); err != nil {
			return fmt.Errorf("instance %q: rename snapshot %q: %w", in.Name, sn.Name, err)
		}
		if err := d.db.RenameSnapshot(ctx, in.Name, sn.Name, req.Name); err != nil {
			_ = pool.Rename(context.WithoutCancel(ctx), vol.Snapshot(req.Name), in.Name+"/"+sn.Name)
			return err
		}
		d.events.lifecycle("instance-snapshot-renamed", SnapshotURL(in.Name, req.Name), map[string]any{"old_name": sn.Name})
		return nil
	})
	return op, nil
}

// UpdateSnapshot changes a snapshot's expiry (its only writable field).
func (d *Daemon) UpdateSnapshot(ctx context.Context, name, snap string, req api.InstanceSnapshotPut) (*operations.Op, error) {
	in, sn, err := d.getSnapshot(ctx, name, snap)
	if err != nil {
		return nil, err
	}
	if err := d.db.SetSnapshotExpiry(ctx, in.Name, sn.Name, req.ExpiresAt); err != nil {
		return nil, err
	}
	d.events.lifecycle("instance-snapshot-updated", SnapshotURL(in.Name, sn.Name), nil)
	op := d.ops.Start(operationsSpec("Updating snapshot", in.Name), func(ctx context.Context, _ *operations.Op) error { return nil })
	return op, nil
}

// snapshotInfo is sn of in as the API shows it; its size is read only if
// withSize (it can mean walking a tree).
func (d *Daemon) snapshotInfo(ctx context.Context, in db.Instance, sn db.Snapshot, withSize bool) Snapshot {
	out := Snapshot{Snapshot: sn, ExpandedDevices: poolDevices(in.Pool, sn.Devices), Size: -1}
	if withSize {
		if p, err := d.instancePool(in); err == nil {
			if n, err := p.Usage(ctx, storage.Volume{Kind: storage.KindContainer, Name: in.Name}.Snapshot(sn.Name)); err == nil {
				out.Size = n
			}
		}
	}
	return out
}

func (d *Daemon) snapshotsOf(ctx context.Context, in db.Instance, list []db.Snapshot, withSize bool) []Snapshot {
	out := make([]Snapshot, 0, len(list))
	for _, sn := range list {
		out = append(out, d.snapshotInfo(ctx, in, sn, withSize))
	}
	return out
}

// Snapshots lists an instance's snapshots with their sizes.
func (d *Daemon) Snapshots(ctx context.Context, name string) ([]Snapshot, error) {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return nil, err
	}
	list, err := d.db.ListSnapshots(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	return d.snapshotsOf(ctx, in, list, true), nil
}

// Snapshot reads one snapshot with its size.
func (d *Daemon) Snapshot(ctx context.Context, name, snap string) (Snapshot, error) {
	in, sn, err := d.getSnapshot(ctx, name, snap)
	if err != nil {
		return Snapshot{}, err
	}
	return d.snapshotInfo(ctx, in, sn, true), nil
}
