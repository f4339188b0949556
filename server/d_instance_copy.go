package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
	"lodge/storage"
)

// copyInstance makes the copy's volumes, snapshot rows and runtime config;
// a failure removes all of it (and a crash leaves a "creating" row that
// startup recovery removes with its volumes).
func (d *Daemon) copyInstance(ctx context.Context, op *opT, row db.Instance, srcName, snap string, instanceOnly, start bool) (err error) {
	unlock := d.instLocks.lock(row.Name)
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	rev := &revert{}
	defer func() {
		if err != nil {
			rev.fail()
			d.log.Warn("instance copy failed, rolled back", "instance", row.Name, "err", err)
		}
	}()
	bg := context.WithoutCancel(ctx)
	rev.add(func() { _ = d.db.DeleteInstance(bg, row.Name) })

	src, err := d.db.GetInstance(ctx, srcName)
	if err != nil {
		return err
	}
	srcPool, err := d.instancePool(src)
	if err != nil {
		return err
	}
	dstPool, err := d.instancePool(row)
	if err != nil {
		return err
	}
	srcVol := storage.Volume{Kind: storage.KindContainer, Name: srcName}
	if snap != "" {
		srcVol = srcVol.Snapshot(snap)
	}
	dstVol := storage.Volume{Kind: storage.KindContainer, Name: row.Name}
	if err := d.clearStale(ctx, row.Pool, dstPool, dstVol); err != nil {
		return err
	}
	rev.add(func() { _ = dstPool.Delete(bg, dstVol) })
	var snaps []db.Snapshot
	if !instanceOnly {
		if snaps, err = d.db.ListSnapshots(ctx, srcName); err != nil {
			return err
		}
	}
	op.SetMetadata("create_instance_from_image_unpack_progress", "Copying instance")
	sameDriver := srcPool == dstPool
	for _, sn := range snaps {
		if !sameDriver {
			break // copyAcrossPools replays them
		}
		if err := dstPool.Clone(ctx, storage.Volume{Kind: storage.KindContainer, Name: srcName}.Snapshot(sn.Name), dstVol.Snapshot(sn.Name)); err != nil {
			return fmt.Errorf("instance %q: copy snapshot %q: %w", row.Name, sn.Name, err)
		}
	}
	// A running source is frozen while its tree is copied, so the copy is consistent.
	if snap == "" && d.liveStatus(ctx, src) == instances.StatusRunning {
		if thaw, err := d.freezeFor(ctx, srcName); err == nil {
			defer thaw()
		}
	}
	if sameDriver {
		if err := dstPool.Clone(ctx, srcVol, dstVol); err != nil {
			return fmt.Errorf("instance %q: copy from %s: %w", row.Name, srcVol.Name, err)
		}
	} else {
		names := make([]string, 0, len(snaps))
		for _, sn := range snaps {
			names = append(names, sn.Name)
		}
		if err := d.copyAcrossPools(ctx, op, srcPool, srcVol, dstPool, dstVol, row, names); err != nil {
			return err
		}
	}
	if err := dstPool.Mount(ctx, dstVol); err != nil {
		return fmt.Errorf("instance %q: %w", row.Name, err)
	}
	if err := setHostname(filepath.Join(dstPool.Path(dstVol), "rootfs"), row.Name); err != nil {
		return fmt.Errorf("instance %q: set hostname: %w", row.Name, err)
	}
	for _, sn := range snaps {
		sn.Instance = row.Name
		if err := d.db.CreateSnapshot(ctx, sn); err != nil {
			return err
		}
	}
	spec, err := d.specFor(row)
	if err != nil {
		return err
	}
	if err := d.inst.Define(ctx, spec); err != nil {
		return fmt.Errorf("instance %q: %w", row.Name, err)
	}
	rev.add(func() { _ = d.inst.Delete(bg, row.Name) })
	if err := d.db.SetInstancePhase(ctx, row.Name, db.PhaseCreated); err != nil {
		return err
	}
	rev.success()
	d.events.lifecycle("instance-created", instanceURL(row.Name), nil)
	if start {
		unlock()
		locked = false
		return d.startInstance(ctx, row.Name)
	}
	return nil
}

// copyAcrossPools makes dst on another pool: a clone of the image there
// (cheap on btrfs and overlay), then rsync brings the differences over. The
// source's snapshots (oldest first) are replayed the same way, each
// snapshotted on the destination before the next, so they share what they
// can there too.
func (d *Daemon) copyAcrossPools(ctx context.Context, op *opT, srcPool storage.Driver, srcVol storage.Volume, dstPool storage.Driver, dstVol storage.Volume, row db.Instance, snaps []string) error {
	fp := row.ImageFingerprint
	if _, err := os.Stat(d.images.Path(fp)); fp == "" || err != nil {
		return errdefs.Invalidf("instance %q: the source's image %s is no longer in the image store, so it cannot be copied to another pool; copy it within pool %q", row.Name, short(fp), row.Pool)
	}
	if err := d.ensureImageVolume(ctx, op, dstPool, row.Pool, fp); err != nil {
		return err
	}
	if err := dstPool.Clone(ctx, storage.Volume{Kind: storage.KindImage, Name: fp}, dstVol); err != nil {
		return fmt.Errorf("instance %q: create rootfs: %w", row.Name, err)
	}
	if err := dstPool.Mount(ctx, dstVol); err != nil {
		return err
	}
	sync := func(from storage.Volume) error {
		if err := srcPool.Mount(ctx, from); err != nil {
			return err
		}
		src := filepath.Join(srcPool.Path(from), "rootfs") + "/"
		dst := filepath.Join(dstPool.Path(dstVol), "rootfs") + "/"
		// Files are compared to the nanosecond: a same-size change made in
		// the same second as a snapshot must not be skipped.
		out, err := storage.Command(ctx, "rsync", "-aHAX", "--numeric-ids", "--delete", "--modify-window=-1", src, dst).CombinedOutput()
		if err != nil {
			return fmt.Errorf("instance %q: copy %s to pool %q: rsync: %v: %s", row.Name, from.Name, row.Pool, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	base, _ := srcVol.Split()
	for _, sn := range snaps {
		if err := sync(base.Snapshot(sn)); err != nil {
			return err
		}
		if err := dstPool.Snapshot(ctx, dstVol, sn); err != nil {
			return fmt.Errorf("instance %q: snapshot %q on pool %q: %w", row.Name, sn, row.Pool, err)
		}
	}
	return sync(srcVol)
}
