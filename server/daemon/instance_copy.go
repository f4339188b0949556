package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"lodge/api"
	"lodge/errdefs"
	"lodge/images/templates"
	"lodge/instances"
	"lodge/server/db"
	"lodge/server/operations"
	"lodge/storage"
)

// copyInstance makes the copy's volumes, snapshot rows and runtime config;
// a failure removes all of it (and a crash leaves a "creating" row that
// startup recovery removes with its volumes).
func (d *Daemon) copyInstance(ctx context.Context, op *operations.Op, row db.Instance, srcName, snap string, instanceOnly, start bool) (err error) {
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
	// The source's templates (an overlay clone carries only the rootfs).
	if err := d.prepareTemplates(ctx, dstPool, dstVol, row.Name, row.ImageFingerprint, srcPool.Path(srcVol),
		srcPool.Path(storage.Volume{Kind: storage.KindContainer, Name: srcName}), imageVolumeDir(dstPool, row.ImageFingerprint)); err != nil {
		return err
	}
	for _, sn := range snaps {
		sn.Instance = row.Name
		if err := d.db.CreateSnapshot(ctx, sn); err != nil {
			return err
		}
	}
	x, err := d.expand(ctx, row)
	if err != nil {
		return err
	}
	if err := d.defineCreated(ctx, rev, x); err != nil {
		return err
	}
	rev.success()
	d.events.lifecycle("instance-created", InstanceURL(row.Name), nil)
	if start {
		unlock()
		locked = false
		return d.startNew(ctx, row.Name)
	}
	return nil
}

// copyAcrossPools makes dst on another pool: a clone of the image there
// (cheap on btrfs and overlay), then rsync brings the differences over. The
// source's snapshots (oldest first) are replayed the same way, each
// snapshotted on the destination before the next, so they share what they
// can there too.
func (d *Daemon) copyAcrossPools(ctx context.Context, op *operations.Op, srcPool storage.Driver, srcVol storage.Volume, dstPool storage.Driver, dstVol storage.Volume, row db.Instance, snaps []string) error {
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

// createCopy is CreateInstance for source type copy: a new instance from
// another one or from a snapshot ("c1/snap"), on the same or another
// pool, with the source's snapshots unless instance_only.
func (d *Daemon) createCopy(ctx context.Context, req api.InstancesPost) (*operations.Op, error) {
	srcName, snap, _ := strings.Cut(req.Source.Source, "/")
	if srcName == "" {
		return nil, errdefs.Invalidf("instance %q: copy needs source.source (an instance or instance/snapshot)", req.Name)
	}
	src, err := d.getInstance(ctx, srcName)
	if err != nil {
		return nil, err
	}
	if src.Phase != db.PhaseCreated {
		return nil, errdefs.Conflictf("instance %q is still being created", srcName)
	}
	srcCfg, srcDev, srcProfiles := src.Config, src.Devices, src.Profiles
	if snap != "" {
		_, sn, err := d.getSnapshot(ctx, srcName, snap)
		if err != nil {
			return nil, err
		}
		srcCfg, srcDev, srcProfiles = sn.Config, sn.Devices, sn.Profiles
	}
	// source.live is what LXD's client sets for a running source; a local
	// copy freezes the source instead, as LXD does for containers.
	if req.Stateful {
		return nil, errdefs.Invalidf("instance %q: stateful copies need CRIU, which is not available on this host", req.Name)
	}
	if req.Source.Refresh {
		return nil, errdefs.Invalidf("instance %q: refreshing an existing copy is not supported yet", req.Name)
	}
	poolName := src.Pool
	if root, ok := req.Devices["root"]; ok && root["pool"] != "" {
		poolName = root["pool"]
	}
	if _, err := d.pool(poolName); err != nil {
		return nil, errdefs.Invalidf("instance %q: storage pool %q not found or not available (see `lodge storage list`)", req.Name, poolName)
	}
	instanceOnly := req.Source.InstanceOnly || req.Source.ContainerOnly || snap != ""
	cfg := map[string]string{}
	base := req.Config
	if len(base) == 0 {
		base = srcCfg
	}
	for k, v := range base {
		// The copy is a new instance: its own uuid and MAC addresses.
		if !strings.HasPrefix(k, "volatile.") || k == "volatile.base_image" {
			cfg[k] = v
		}
	}
	if err := instances.ValidateConfig(cfg); err != nil {
		return nil, err
	}
	devices := req.Devices
	if len(devices) == 0 || (len(devices) == 1 && devices["root"] != nil) {
		devices = map[string]map[string]string{}
		for k, v := range srcDev {
			devices[k] = v
		}
	}
	delete(devices, "root")
	// The source's devices as they are (keys stored before lodge refused
	// them included) are not checked again; changes to them are.
	if err := instances.ValidateDevices(devices, expandedDevices(d.mustExpand(ctx, db.Instance{Name: srcName, Profiles: srcProfiles, Devices: srcDev}))); err != nil {
		return nil, err
	}
	cfg["volatile.uuid"] = uuid.NewString()
	newInstanceKeys(cfg, srcCfg[templates.ApplyKey], templates.Copy)
	for name, d := range devices {
		if d["type"] == "nic" && d["hwaddr"] == "" {
			cfg["volatile."+name+".hwaddr"] = randomMAC()
		}
	}
	row := db.Instance{
		Name: req.Name, Type: "container", Architecture: src.Architecture, ImageFingerprint: src.ImageFingerprint, Pool: poolName,
		Phase: db.PhaseCreating, Ephemeral: req.Ephemeral, Description: req.Description, Config: cfg,
		Devices: devices, Profiles: srcProfiles, CreatedAt: time.Now().UTC(),
	}
	holder, remote, err := d.InstanceMember(ctx, srcName)
	if err != nil {
		return nil, err
	}
	if remote {
		return d.copyFromMember(ctx, req, row, holder, srcName, snap, instanceOnly)
	}
	if err := d.insertCopy(ctx, row, false); err != nil {
		return nil, err
	}
	op := d.ops.Start(operationsSpec("Creating instance", req.Name), func(ctx context.Context, op *operations.Op) error {
		return d.copyInstance(ctx, op, row, srcName, snap, instanceOnly, req.Start)
	})
	return op, nil
}

// insertCopy inserts a copy's row (phase creating), checked under
// idmapMu as an image create is, so that creates side by side count
// each other's NICs; isolated gives it its isolated id range now (a
// received volume is shifted to it as it arrives).
func (d *Daemon) insertCopy(ctx context.Context, row db.Instance, isolated bool) error {
	d.idmapMu.Lock()
	defer d.idmapMu.Unlock()
	if err := d.checkNetworkRoom(ctx, row); err != nil {
		return err
	}
	if isolated {
		if err := d.allocateIsolated(ctx, row.Config, row.Profiles); err != nil {
			return err
		}
	}
	if _, err := d.db.CreateInstance(ctx, row); err != nil {
		if errors.Is(err, db.ErrExists) {
			err = errdefs.Existsf("instance %q already exists; pick another name or delete it first", row.Name)
		}
		return err
	}
	return nil
}
