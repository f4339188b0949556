package server

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
	"lodge/storage"
)

var snapNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func validateSnapshotName(name string) error {
	if !snapNameRE.MatchString(name) {
		return errdefs.Invalidf("snapshot name %q is not valid: use letters, digits, '.', '_' and '-', up to 63 characters", name)
	}
	return nil
}

func snapshotURL(inst, snap string) string { return instanceURL(inst) + "/snapshots/" + snap }

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
	d.events.lifecycle("instance-snapshot-created", snapshotURL(name, snap), nil)
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
	d.events.lifecycle("instance-snapshot-deleted", snapshotURL(name, snap), nil)
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
		if err := d.stopInstance(ctx, name, 0, true); err != nil && !errors.Is(err, instances.ErrNotRunning) {
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
	d.events.lifecycle("instance-restored", instanceURL(name), map[string]any{"snapshot": name + "/" + snap})
	if wasRunning {
		return d.startInstance(ctx, name)
	}
	return nil
}
