package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"lodge/api"
	"lodge/errdefs"
	"lodge/idmap"
	"lodge/instances"
	"lodge/server/db"
	"lodge/storage"
	"lodge/storage/pools"
	"lodge/trace"
)

// volumeUsers lists the instances with a disk device on a custom volume.
func (d *Daemon) volumeUsers(ctx context.Context, pool, name string) []string {
	list, _ := d.db.ListInstances(ctx)
	var out []string
	for _, in := range list {
		for _, dev := range in.Devices {
			if dev["type"] == "disk" && dev["pool"] == pool && dev["source"] == name {
				out = append(out, in.Name)
				break
			}
		}
	}
	return out
}

func (d *Daemon) findVolume(ctx context.Context, pool, typ, name string) (db.StorageVolume, error) {
	if typ != "custom" {
		return db.StorageVolume{}, errdefs.NotFoundf("storage volume %s/%s on pool %q: only custom volumes are addressed here", typ, name, pool)
	}
	vols, err := d.db.ListStorageVolumes(ctx, pool)
	if err != nil {
		return db.StorageVolume{}, err
	}
	for _, v := range vols {
		if v.Name == name {
			return v, nil
		}
	}
	return db.StorageVolume{}, errdefs.NotFoundf("storage volume %q not found on pool %q (see `lodge storage volume list %s`)", name, pool, pool)
}

// diskMounts turns an instance's disk devices into mounts for its spec.
func (d *Daemon) diskMounts(in Expanded) ([]instances.Mount, error) {
	names := make([]string, 0, len(in.Devices))
	for n := range in.Devices {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []instances.Mount
	for _, n := range names {
		dev := in.Devices[n]
		if dev["type"] != "disk" || dev["path"] == "/" || dev["path"] == "" {
			continue
		}
		src := dev["source"]
		if dev["pool"] != "" {
			p, err := d.pool(dev["pool"])
			if err != nil {
				return nil, fmt.Errorf("device %q: %w", n, err)
			}
			vol := storage.Volume{Kind: storage.KindCustom, Name: src}
			if !p.Exists(vol) {
				return nil, errdefs.Invalidf("device %q: storage volume %q not found on pool %q (lodge storage volume create %s %s)", n, src, dev["pool"], dev["pool"], src)
			}
			src = p.Path(vol)
			// A custom volume belongs to the container's root: its tree
			// is shifted to the instance's id map (once; again only if
			// an instance with another map uses it).
			m, err := d.instanceMap(in)
			if err != nil {
				return nil, err
			}
			cur, err := idmap.Current(src)
			if err != nil {
				return nil, fmt.Errorf("device %q: %w", n, err)
			}
			if err := idmap.Shift(src, cur, m); err != nil {
				return nil, fmt.Errorf("device %q: shift storage volume %q to the instance's ids: %w", n, dev["source"], err)
			}
		}
		fi, err := os.Stat(src)
		if err != nil {
			if dev["required"] == "false" {
				continue
			}
			return nil, errdefs.Invalidf("device %q: source %q: %v", n, dev["source"], err)
		}
		mnt := instances.Mount{Source: src, Path: dev["path"], ReadOnly: dev["readonly"] == "true", IsFile: !fi.IsDir()}
		if instances.IsTrue(dev["shift"]) {
			m, err := d.instanceMap(in)
			if err != nil {
				return nil, err
			}
			mnt.Shift = !m.IsIdentity()
		}
		out = append(out, mnt)
	}
	return out, nil
}

// keepRootSize drops a root disk device that only restates the default
// (the default profile provides it) and keeps one that sets a size, on the
// instance's own pool.
func keepRootSize(devs map[string]map[string]string, pool string) {
	root, ok := devs["root"]
	if !ok {
		return
	}
	if root["size"] == "" {
		delete(devs, "root")
		return
	}
	devs["root"] = map[string]string{"type": "disk", "path": "/", "pool": pool, "size": root["size"]}
}

// applyRootQuota sets the root volume's size limit (root device size=), or
// clears it, where the pool's driver can.
func (d *Daemon) applyRootQuota(ctx context.Context, in db.Instance) error {
	defer trace.Step(ctx, "pool: root quota")()
	size := in.Devices["root"]["size"]
	if in.Phase != db.PhaseCreated && size == "" {
		return nil
	}
	p, err := d.instancePool(in)
	if err != nil {
		return err
	}
	q, ok := p.(storage.Quotaer)
	if !ok {
		if size != "" {
			return errdefs.Invalidf("instance %q: root size=%s: the %s driver cannot limit a volume's size; use a btrfs pool", in.Name, size, p.Info().Name)
		}
		return nil
	}
	var n int64
	if size != "" {
		if n, err = pools.ParseSize(size); err != nil {
			return errdefs.Invalidf("instance %q: root size: %v", in.Name, err)
		}
	}
	vol := storage.Volume{Kind: storage.KindContainer, Name: in.Name}
	if !p.Exists(vol) {
		return nil // being created: applied at the first start
	}
	if err := q.SetQuota(ctx, vol, n); err != nil {
		return fmt.Errorf("instance %q: root size: %w", in.Name, err)
	}
	return nil
}

// Volume is a volume on a pool as the API lists it: a custom volume (its
// record), an instance's (Type "container") or an image's; UsedBy names
// the instances using it (or, for an image volume, the image).
type Volume struct {
	Type string
	db.StorageVolume
	UsedBy []string
}

// StorageVolumes lists a pool's volumes: custom ones, instances' and
// images' (typ ""), or those of one type.
func (d *Daemon) StorageVolumes(ctx context.Context, pool, typ string) ([]Volume, error) {
	p, err := d.getPoolRow(ctx, pool)
	if err != nil {
		return nil, err
	}
	var out []Volume
	if typ == "" || typ == "custom" {
		vols, err := d.db.ListStorageVolumes(ctx, p.Name)
		if err != nil {
			return nil, err
		}
		for _, v := range vols {
			out = append(out, Volume{Type: "custom", StorageVolume: v, UsedBy: d.volumeUsers(ctx, v.Pool, v.Name)})
		}
	}
	if typ == "" || typ == "container" {
		names, _ := d.db.PoolUsers(ctx, p.Name)
		for _, n := range names {
			out = append(out, Volume{Type: "container", StorageVolume: db.StorageVolume{Pool: p.Name, Name: n}, UsedBy: []string{n}})
		}
	}
	if typ == "" || typ == "image" {
		if drv, ok := d.pools.get(p.Name); ok {
			vols, _ := drv.Volumes(storage.KindImage)
			for _, v := range vols {
				out = append(out, Volume{Type: "image", StorageVolume: db.StorageVolume{Pool: p.Name, Name: v.Name}, UsedBy: []string{v.Name}})
			}
		}
	}
	return out, nil
}

// StorageVolume reads a custom volume and the instances using it.
func (d *Daemon) StorageVolume(ctx context.Context, pool, typ, name string) (Volume, error) {
	v, err := d.findVolume(ctx, pool, typ, name)
	if err != nil {
		return Volume{}, err
	}
	return Volume{Type: "custom", StorageVolume: v, UsedBy: d.volumeUsers(ctx, v.Pool, v.Name)}, nil
}

// CreateStorageVolume makes a custom volume: the record first (a
// duplicate is refused before anything is made), then the volume.
func (d *Daemon) CreateStorageVolume(ctx context.Context, pool string, req api.StorageVolumesPost) error {
	p, err := d.getPoolRow(ctx, pool)
	if err != nil {
		return err
	}
	if req.Type == "" {
		req.Type = "custom"
	}
	if req.Type != "custom" {
		return errdefs.Invalidf("storage volume %q: only custom volumes can be created (type %q)", req.Name, req.Type)
	}
	if req.ContentType != "" && req.ContentType != "filesystem" {
		return errdefs.Invalidf("storage volume %q: content type %q is not supported (filesystem only)", req.Name, req.ContentType)
	}
	if err := instances.ValidateName(req.Name); err != nil {
		return errdefs.Invalidf("storage volume name %q is not valid: use letters, digits and hyphens, start with a letter", req.Name)
	}
	for k := range req.Config {
		if !strings.HasPrefix(k, "user.") {
			return errdefs.Invalidf("storage volume %q: config key %q is not supported (only user.*)", req.Name, k)
		}
	}
	drv, err := d.pool(p.Name)
	if err != nil {
		return err
	}
	vol := storage.Volume{Kind: storage.KindCustom, Name: req.Name}
	if err := d.db.CreateStorageVolume(ctx, db.StorageVolume{Pool: p.Name, Name: req.Name, Description: req.Description, Config: req.Config, CreatedAt: time.Now().UTC()}); err != nil {
		if errors.Is(err, db.ErrExists) {
			err = errdefs.Existsf("storage volume %q already exists on pool %q", req.Name, p.Name)
		}
		return err
	}
	err = d.clearStale(ctx, p.Name, drv, vol) // left by a crash; the row is new
	if err == nil {
		err = drv.CreateVolume(ctx, vol)
	}
	if err != nil {
		_ = d.db.DeleteStorageVolume(context.WithoutCancel(ctx), p.Name, req.Name)
		return fmt.Errorf("storage volume %q on pool %q: %w", req.Name, p.Name, err)
	}
	d.events.lifecycle("storage-volume-created", VolumeURL(p.Name, "custom", req.Name), nil)
	return nil
}

// DeleteStorageVolume removes a custom volume no instance uses.
func (d *Daemon) DeleteStorageVolume(ctx context.Context, pool, typ, name string) error {
	v, err := d.findVolume(ctx, pool, typ, name)
	if err != nil {
		return err
	}
	if users := d.volumeUsers(ctx, pool, v.Name); len(users) > 0 {
		return errdefs.Invalidf("storage volume %q is used by instances %s; remove their disk devices first", v.Name, strings.Join(users, ", "))
	}
	drv, err := d.pool(pool)
	if err != nil {
		return err
	}
	if err := drv.Delete(ctx, storage.Volume{Kind: storage.KindCustom, Name: v.Name}); err != nil {
		return fmt.Errorf("storage volume %q: %w", v.Name, err)
	}
	if err := d.db.DeleteStorageVolume(ctx, pool, v.Name); err != nil {
		return err
	}
	d.events.lifecycle("storage-volume-deleted", VolumeURL(pool, "custom", v.Name), nil)
	return nil
}

// UpdateStorageVolume changes a custom volume's description and user.* keys.
func (d *Daemon) UpdateStorageVolume(ctx context.Context, pool, typ, name string, req api.StorageVolumePut, u Update) error {
	v, err := d.findVolume(ctx, pool, typ, name)
	if err != nil {
		return err
	}
	if err := u.check(v); err != nil {
		return err
	}
	cfg := map[string]string{}
	if u.Patch {
		for k, val := range v.Config {
			cfg[k] = val
		}
	}
	for k, val := range req.Config {
		if !strings.HasPrefix(k, "user.") {
			return errdefs.Invalidf("storage volume %q: config key %q is not supported (only user.*)", v.Name, k)
		}
		if val == "" {
			delete(cfg, k)
			continue
		}
		cfg[k] = val
	}
	v.Config = cfg
	if !u.Patch || req.Description != "" {
		v.Description = req.Description
	}
	if err := d.db.UpdateStorageVolume(ctx, v); err != nil {
		return err
	}
	d.events.lifecycle("storage-volume-updated", VolumeURL(v.Pool, "custom", v.Name), nil)
	return nil
}
