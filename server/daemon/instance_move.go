package daemon

import (
	"context"
	"errors"
	"fmt"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
	"lodge/server/operations"
	"lodge/storage"
)

// renameInstance renames the volume (with snapshots), the row and the
// runtime config of a stopped instance.
func (d *Daemon) renameInstance(ctx context.Context, name, newName string) error {
	unlock := d.instLocks.lock(name)
	defer unlock()
	unlock2 := d.instLocks.lock(newName)
	defer unlock2()
	in, pool, err := d.stoppedInstance(ctx, name)
	if err != nil {
		return err
	}
	vol := storage.Volume{Kind: storage.KindContainer, Name: name}
	if err := pool.Rename(ctx, vol, newName); err != nil {
		return fmt.Errorf("instance %q: rename volume: %w", name, err)
	}
	if err := d.db.RenameInstance(ctx, name, newName); err != nil {
		_ = pool.Rename(context.WithoutCancel(ctx), storage.Volume{Kind: storage.KindContainer, Name: newName}, name)
		if errors.Is(err, db.ErrExists) {
			return errdefs.Existsf("instance %q already exists", newName)
		}
		return err
	}
	_ = d.inst.Delete(ctx, name)
	d.renameBackups(name, newName)
	d.guestRemove(name)
	was := in
	in.Name = newName
	// The reservations carry the name (dnsmasq answers it in DNS).
	d.syncInstanceHosts(ctx, d.instanceHosts(ctx, was), d.instanceHosts(ctx, in))
	// A pending rename trigger, a new cloud-init instance-id (or the
	// hostname, for an image without templates).
	if err := d.renamed(ctx, pool, &in); err != nil {
		return fmt.Errorf("instance %q renamed, but: %w", newName, err)
	}
	err = d.define(ctx, in)
	if err != nil {
		return fmt.Errorf("instance %q renamed, but defining its runtime config failed (start it to retry): %w", newName, err)
	}
	d.events.lifecycle("instance-renamed", InstanceURL(newName), map[string]any{"old_name": name})
	return nil
}

// moveInstancePool copies a stopped instance's volume to another pool,
// points the row at it, then deletes the old volume.
func (d *Daemon) moveInstancePool(ctx context.Context, op *operations.Op, name, poolName string) error {
	unlock := d.instLocks.lock(name)
	defer unlock()
	in, srcPool, err := d.stoppedInstance(ctx, name)
	if err != nil {
		return err
	}
	dstPool, err := d.pool(poolName)
	if err != nil {
		return err
	}
	vol := storage.Volume{Kind: storage.KindContainer, Name: name}
	if err := d.clearStale(ctx, poolName, dstPool, vol); err != nil {
		return err
	}
	moved := in
	moved.Pool = poolName
	snaps, err := d.db.ListSnapshots(ctx, name)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(snaps))
	for _, sn := range snaps {
		names = append(names, sn.Name)
	}
	if err := d.copyAcrossPools(ctx, op, srcPool, vol, dstPool, vol, moved, names); err != nil {
		_ = dstPool.Delete(context.WithoutCancel(ctx), vol)
		return err
	}
	if err := d.db.SetInstancePool(ctx, name, poolName); err != nil {
		_ = dstPool.Delete(context.WithoutCancel(ctx), vol)
		return err
	}
	if err := srcPool.Delete(ctx, vol); err != nil {
		d.log.Warn("move: old volume left behind", "instance", name, "pool", in.Pool, "err", err)
	}
	err = d.define(ctx, moved)
	if err != nil {
		return fmt.Errorf("instance %q moved, but defining its runtime config failed (start it to retry): %w", name, err)
	}
	d.events.lifecycle("instance-updated", InstanceURL(name), nil)
	return nil
}

// stoppedInstance reads an instance that must be stopped for what comes
// next (rename, pool move, rebuild) and the pool its volume is on.
func (d *Daemon) stoppedInstance(ctx context.Context, name string) (db.Instance, storage.Driver, error) {
	in, err := d.db.GetInstance(ctx, name)
	if err != nil {
		return in, nil, err
	}
	if st := d.liveStatus(ctx, in); st != instances.StatusStopped {
		return in, nil, errdefs.Invalidf("instance %q is running; stop it first", name)
	}
	pool, err := d.instancePool(in)
	return in, pool, err
}

// MoveInstance renames a stopped instance, or moves it to another pool
// (req.Pool), in an operation.
func (d *Daemon) MoveInstance(ctx context.Context, name string, req api.InstancePost) (*operations.Op, error) {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return nil, err
	}
	// "live" (LXD's client sets it) needs nothing here: the instance must be
	// stopped for a rename or move anyway.
	if req.Migration && req.Pool == "" {
		return nil, errdefs.Invalidf("instance %q: migration to another server is not supported; rename with {\"name\": NEW}", name)
	}
	if req.Name == "" {
		req.Name = name
	}
	if err := instances.ValidateName(req.Name); err != nil {
		return nil, err
	}
	if req.Pool != "" {
		dst, err := d.pool(req.Pool)
		if err != nil {
			return nil, errdefs.Invalidf("instance %q: storage pool %q not found or not available", name, req.Pool)
		}
		if _, ok := dst.(storage.Quotaer); !ok && in.Devices["root"]["size"] != "" {
			return nil, errdefs.Invalidf("instance %q has a root size limit, which the %s driver of pool %q cannot enforce; remove it first", name, dst.Info().Name, req.Pool)
		}
	}
	if req.Name == name && (req.Pool == "" || req.Pool == in.Pool) {
		return nil, errdefs.Invalidf("instance %q: nothing to do (same name and pool)", name)
	}
	if req.Name != name {
		if _, err := d.db.GetInstance(ctx, req.Name); err == nil {
			return nil, errdefs.Existsf("instance %q already exists; pick another name", req.Name)
		}
	}
	if st := d.liveStatus(ctx, in); st != instances.StatusStopped {
		return nil, errdefs.Invalidf("instance %q is running; stop it first (lodge stop %s)", name, name)
	}
	desc := "Renaming instance"
	if req.Pool != "" && req.Pool != in.Pool {
		desc = "Moving instance"
	}
	op := d.ops.Start(operationsSpec(desc, name), func(ctx context.Context, op *operations.Op) error {
		if req.Pool != "" && req.Pool != in.Pool {
			if err := d.moveInstancePool(ctx, op, name, req.Pool); err != nil {
				return err
			}
		}
		if req.Name != name {
			return d.renameInstance(ctx, name, req.Name)
		}
		return nil
	})
	return op, nil
}
