package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
	"lodge/storage"
	"lodge/storage/pools"
	"lodge/trace"
)

// PoolManager creates, opens and destroys pools from their records
// (storage/pools in lodged; tests may pass their own).
type PoolManager interface {
	// Create refuses a source inside or around one of others.
	Create(ctx context.Context, name, driver string, cfg map[string]string, others []pools.Pool) (map[string]string, error)
	Open(ctx context.Context, name, driver string, cfg map[string]string) (storage.Driver, error)
	// Destroy removes the known volumes and what lodge made for the pool,
	// nothing else; a pool without this lodged's marker is only forgotten.
	Destroy(ctx context.Context, name, driver string, cfg map[string]string, known []storage.Volume) (pools.Removal, error)
	// Resize grows a loop-file pool in place.
	Resize(ctx context.Context, name, driver string, cfg map[string]string, size int64) error
	DefaultDriver() string
}

// poolSet holds the open pools by name.
type poolSet struct {
	mu sync.RWMutex
	m  map[string]storage.Driver
}

func (p *poolSet) get(name string) (storage.Driver, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	d, ok := p.m[name]
	return d, ok
}

func (p *poolSet) set(name string, d storage.Driver) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]storage.Driver{}
	}
	if d == nil {
		delete(p.m, name)
		return
	}
	p.m[name] = d
}

func (p *poolSet) all() map[string]storage.Driver {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make(map[string]storage.Driver, len(p.m))
	for k, v := range p.m {
		out[k] = v
	}
	return out
}

// pool returns an open pool by name.
func (d *Daemon) pool(name string) (storage.Driver, error) {
	if pd, ok := d.pools.get(name); ok {
		return pd, nil
	}
	return nil, errdefs.NotFoundf("storage pool %q not found or not available (see `lodge storage list` and lodged's log)", name)
}

// instancePool is the pool an instance's root volume lives on.
func (d *Daemon) instancePool(in db.Instance) (storage.Driver, error) {
	name := in.Pool
	if name == "" {
		name = d.poolName
	}
	return d.pool(name)
}

// instanceRootfs mounts the instance's volume if needed and returns its
// rootfs on the host (for file access to a stopped instance).
func (d *Daemon) instanceRootfs(ctx context.Context, in db.Instance) (string, error) {
	defer trace.Step(ctx, "pool: mount the rootfs")()
	p, err := d.instancePool(in)
	if err != nil {
		return "", err
	}
	vol := storage.Volume{Kind: storage.KindContainer, Name: in.Name}
	if err := p.Mount(ctx, vol); err != nil {
		return "", fmt.Errorf("instance %q: %w", in.Name, err)
	}
	return filepath.Join(p.Path(vol), "rootfs"), nil
}

// initPools opens every recorded pool (mounting loop files again) and, on
// first start, creates the default pool.
func (d *Daemon) initPools(ctx context.Context) error {
	rows, err := d.db.ListStoragePools(ctx)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		if err := d.createDefaultPool(ctx); err != nil {
			return err
		}
		if rows, err = d.db.ListStoragePools(ctx); err != nil {
			return err
		}
	}
	for _, p := range rows {
		if _, ok := d.pools.get(p.Name); ok {
			continue
		}
		if p.State != db.StateCreated || p.MemberState == db.StatePending || p.MemberState == db.StateErrored {
			// Pending: made on every member at once, later.
			continue
		}
		pd, err := d.poolMgr.Open(ctx, p.Name, p.Driver, p.Config)
		if err != nil {
			// Other pools and their instances keep working.
			d.log.Error("storage pool unavailable", "pool", p.Name, "driver", p.Driver, "err", err)
			continue
		}
		d.pools.set(p.Name, pd)
	}
	return nil
}

func (d *Daemon) createDefaultPool(ctx context.Context) error {
	name := d.poolName
	if pd, ok := d.pools.get(name); ok {
		// A pool handed in by the caller (tests): record it.
		return d.db.CreateStoragePool(ctx, db.StoragePool{Name: name, Driver: pd.Info().Name, Config: map[string]string{"source": pd.Info().Source}})
	}
	// A state directory from before pools were recorded has a dir pool here.
	legacy := filepath.Join(d.cfg.Dir, "storage-pools", name)
	driver := d.poolMgr.DefaultDriver()
	cfg := map[string]string{}
	if ents, err := os.ReadDir(filepath.Join(legacy, "containers")); err == nil && len(ents) > 0 {
		driver, cfg["source"] = "dir", legacy
	} else if ents, err := os.ReadDir(filepath.Join(legacy, "images")); err == nil && len(ents) > 0 {
		driver, cfg["source"] = "dir", legacy
	} else {
		if driver == "btrfs" {
			// The state directory is on btrfs: subvolumes go right there,
			// no loop file.
			if err := os.MkdirAll(legacy, 0o711); err != nil {
				return err
			}
			cfg["source"] = legacy
		}
		cfg, err = d.poolMgr.Create(ctx, name, driver, cfg, nil)
		if err != nil {
			return fmt.Errorf("create the default storage pool (%s): %w", driver, err)
		}
	}
	d.log.Info("default storage pool", "pool", name, "driver", driver, "source", cfg["source"])
	return d.db.CreateStoragePool(ctx, db.StoragePool{Name: name, Driver: driver, Description: "Default storage pool", Config: cfg})
}

func (d *Daemon) getPoolRow(ctx context.Context, name string) (db.StoragePool, error) {
	p, err := d.db.GetStoragePool(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return p, errdefs.NotFoundf("storage pool %q not found (see `lodge storage list`)", name)
	}
	return p, err
}

// poolOwned tells whether pool carries this lodged's marker: only then
// may lodge delete what it finds there without a record (volumes a crash
// left, staging directories).
func (d *Daemon) poolOwned(name string, pool storage.Driver) error {
	return storage.CheckMarker(pool.Info().Root, d.cfg.Dir, name)
}

// clearStale removes a volume found where a new one goes, whose record is
// new: a crash's leftover, in a pool lodge owns. In a pool without this
// lodged's marker the directory may be another tool's: refused.
func (d *Daemon) clearStale(ctx context.Context, poolName string, pool storage.Driver, vol storage.Volume) error {
	defer trace.Step(ctx, "pool: clear a stale volume")()
	if poolName == "" {
		poolName = d.poolName
	}
	if !pool.Exists(vol) {
		return nil
	}
	if err := d.poolOwned(poolName, pool); err != nil {
		return errdefs.Invalidf("storage pool %q already has %s at %s, which lodge has no record of, and will not delete it: %v; move it away or pick another name", poolName, vol, pool.Path(vol), err)
	}
	d.log.Warn("removing a volume an interrupted operation left", "pool", poolName, "volume", vol.String())
	return pool.Delete(ctx, vol)
}

// rootfsPath is where an instance's rootfs is on the host, without
// mounting it (for a running instance, whose volume is mounted).
func (d *Daemon) rootfsPath(in db.Instance) string {
	p, err := d.instancePool(in)
	if err != nil {
		return ""
	}
	return filepath.Join(p.Path(storage.Volume{Kind: storage.KindContainer, Name: in.Name}), "rootfs")
}

// defaultPoolDriver names the default pool's driver for GET /1.0.
func (d *Daemon) defaultPoolDriver() string {
	if pd, ok := d.pools.get(d.poolName); ok {
		return pd.Info().Name
	}
	return ""
}

// PoolUsers are what uses a storage pool: the default profile's root disk
// (the default pool), instances and custom volumes, by name.
type PoolUsers struct {
	DefaultProfile     bool
	Instances, Volumes []string
}

// Pool is a storage pool's record, what uses it, and whether it is open.
type Pool struct {
	db.StoragePool
	UsedBy PoolUsers
	// Locations: the members with a part of it (nil: standalone).
	Locations []string
	Available bool
}

func (d *Daemon) poolInfo(ctx context.Context, p db.StoragePool) Pool {
	out := Pool{StoragePool: p, UsedBy: PoolUsers{DefaultProfile: p.Name == d.poolName}}
	out.UsedBy.Instances, _ = d.db.PoolUsers(ctx, p.Name)
	vols, _ := d.db.ListStorageVolumes(ctx, p.Name)
	for _, v := range vols {
		out.UsedBy.Volumes = append(out.UsedBy.Volumes, v.Name)
	}
	_, out.Available = d.pools.get(p.Name)
	return out
}

// StoragePools lists the pools, with their users if withUsers.
func (d *Daemon) StoragePools(ctx context.Context, withUsers bool) ([]Pool, error) {
	rows, err := d.db.ListStoragePools(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Pool, 0, len(rows))
	for _, p := range rows {
		if withUsers {
			out = append(out, d.poolInfo(ctx, p))
		} else {
			out = append(out, Pool{StoragePool: p})
		}
	}
	return out, nil
}

// StoragePool reads one pool with its users.
func (d *Daemon) StoragePool(ctx context.Context, name string) (Pool, error) {
	p, err := d.getPoolRow(ctx, name)
	if err != nil {
		return Pool{}, err
	}
	return d.poolInfo(ctx, p), nil
}

// CreateStoragePool makes a pool (storage/pools refuses a source that is
// not lodge's to take), opens and records it; a failure after the make
// destroys it again.
func (d *Daemon) CreateStoragePool(ctx context.Context, req api.StoragePoolsPost) error {
	if err := instances.ValidateName(req.Name); err != nil {
		return errdefs.Invalidf("storage pool name %q is not valid: use letters, digits and hyphens, start with a letter", req.Name)
	}
	if err := pools.Validate(req.Driver, req.Config); err != nil {
		return errdefs.Invalidf("storage pool %q: %v", req.Name, err)
	}
	if d.db.Clustered() {
		return d.createClusterPool(ctx, req)
	}
	d.poolsMu.Lock()
	defer d.poolsMu.Unlock()
	if _, err := d.db.GetStoragePool(ctx, req.Name); err == nil {
		return errdefs.Existsf("storage pool %q already exists", req.Name)
	}
	rows, err := d.db.ListStoragePools(ctx)
	if err != nil {
		return err
	}
	others := make([]pools.Pool, 0, len(rows))
	for _, p := range rows {
		others = append(others, pools.Pool{Name: p.Name, Driver: p.Driver, Config: p.Config})
	}
	cfg, err := d.poolMgr.Create(ctx, req.Name, req.Driver, req.Config, others)
	if err != nil {
		return errdefs.Invalidf("%v", err)
	}
	drv, err := d.poolMgr.Open(ctx, req.Name, req.Driver, cfg)
	if err == nil {
		err = d.db.CreateStoragePool(ctx, db.StoragePool{Name: req.Name, Driver: req.Driver, Description: req.Description, Config: cfg})
	}
	if err != nil {
		_, _ = d.poolMgr.Destroy(context.WithoutCancel(ctx), req.Name, req.Driver, cfg, nil)
		return fmt.Errorf("storage pool %q: %w", req.Name, err)
	}
	d.pools.set(req.Name, drv)
	d.events.lifecycle("storage-pool-created", PoolURL(req.Name), nil)
	return nil
}

// UpdateStoragePool changes a pool's description, user keys and how its
// migrations run (rsync.*); what
// decides where the data lives (source) is fixed at creation, and a
// loop-file pool's size may only grow.
func (d *Daemon) UpdateStoragePool(ctx context.Context, name string, req api.StoragePoolPut, u Update) error {
	p, err := d.getPoolRow(ctx, name)
	if err != nil {
		return err
	}
	if err := u.check(p); err != nil {
		return err
	}
	newCfg := map[string]string{}
	if u.Patch {
		for k, v := range p.Config {
			newCfg[k] = v
		}
	} else {
		for k, v := range p.Config {
			if !strings.HasPrefix(k, "user.") {
				newCfg[k] = v
			}
		}
	}
	for k, v := range req.Config {
		newCfg[k] = v
	}
	if err := pools.Validate(p.Driver, newCfg); err != nil {
		return errdefs.Invalidf("storage pool %q: %v", p.Name, err)
	}
	var keys []string
	for k := range newCfg {
		keys = append(keys, k)
	}
	for k := range p.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if newCfg["size"] != p.Config["size"] && newCfg["size"] != "" {
		// A loop-file pool grows in place.
		n, err := pools.ParseSize(newCfg["size"])
		if err != nil {
			return errdefs.Invalidf("storage pool %q: size cannot be changed", p.Name)
		}
		if err := d.poolMgr.Resize(ctx, p.Name, p.Driver, p.Config, n); err != nil {
			return errdefs.Invalidf("%v", err)
		}
		p.Config["size"] = newCfg["size"]
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "user.") && !strings.HasPrefix(k, "rsync.") && newCfg[k] != p.Config[k] {
			return errdefs.Invalidf("storage pool %q: %s cannot be changed after creation (it is %q)", p.Name, k, p.Config[k])
		}
	}
	for k, v := range newCfg {
		if v == "" {
			delete(newCfg, k)
		}
	}
	p.Config = newCfg
	if !u.Patch || req.Description != "" {
		p.Description = req.Description
	}
	if err := d.db.UpdateStoragePool(ctx, p); err != nil {
		return err
	}
	d.events.lifecycle("storage-pool-updated", PoolURL(p.Name), nil)
	return nil
}

// DeleteStoragePool removes a pool nothing uses: storage/pools deletes
// only the volumes lodge's records name there, and only forgets a pool
// without this lodged's marker; the Removal says what it left.
func (d *Daemon) DeleteStoragePool(ctx context.Context, name string) (pools.Removal, error) {
	p, err := d.getPoolRow(ctx, name)
	if err != nil {
		return pools.Removal{}, err
	}
	if d.db.Clustered() {
		// Other members are asked: see clusterEntMu.
		d.clusterEntMu.Lock()
		defer d.clusterEntMu.Unlock()
	} else {
		d.poolsMu.Lock()
		defer d.poolsMu.Unlock()
	}
	if p.Name == d.poolName {
		return pools.Removal{}, errdefs.Invalidf("storage pool %q is the default profile's root disk pool; it cannot be deleted", p.Name)
	}
	users, err := d.db.PoolUsers(ctx, p.Name)
	if err != nil {
		return pools.Removal{}, err
	}
	if len(users) > 0 {
		return pools.Removal{}, errdefs.Invalidf("storage pool %q is in use by instances %s; delete or move them first", p.Name, strings.Join(users, ", "))
	}
	if vols, _ := d.db.ListStorageVolumes(ctx, p.Name); len(vols) > 0 {
		return pools.Removal{}, errdefs.Invalidf("storage pool %q still has custom volumes (%s first); delete them with lodge storage volume delete %s NAME", p.Name, vols[0].Name, p.Name)
	}
	if d.db.Clustered() {
		return d.deleteClusterPool(ctx, p.Name)
	}
	// The volumes lodge's records name on this pool: with no instance and
	// no custom volume left, the image volumes unpacked from known images.
	known, err := d.knownImageVolumes(ctx)
	if err != nil {
		return pools.Removal{}, err
	}
	rem, err := d.poolMgr.Destroy(ctx, p.Name, p.Driver, p.Config, known)
	if err != nil {
		return pools.Removal{}, fmt.Errorf("storage pool %q: %w", p.Name, err)
	}
	d.pools.set(p.Name, nil)
	if err := d.db.DeleteStoragePool(ctx, p.Name); err != nil {
		return pools.Removal{}, err
	}
	if rem.Forgotten != "" {
		d.log.Warn("storage pool forgotten: its record is removed, its files are left untouched", "pool", p.Name, "source", p.Config["source"], "why", rem.Forgotten)
	}
	if len(rem.Left) > 0 {
		d.log.Warn("storage pool deleted; directories holding what lodge has no record of were left", "pool", p.Name, "left", strings.Join(rem.Left, "; "))
	}
	d.events.lifecycle("storage-pool-deleted", PoolURL(p.Name), nil)
	return rem, nil
}

// PoolSpace is the space and inodes of the filesystem a pool is on.
type PoolSpace struct {
	Total, Used             uint64
	InodesTotal, InodesUsed uint64
}

// StoragePoolSpace reads the space of the filesystem a pool is on.
func (d *Daemon) StoragePoolSpace(ctx context.Context, name string) (PoolSpace, error) {
	p, err := d.getPoolRow(ctx, name)
	if err != nil {
		return PoolSpace{}, err
	}
	drv, err := d.pool(p.Name)
	if err != nil {
		return PoolSpace{}, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(drv.Path(storage.Volume{Kind: storage.KindContainer, Name: "x"})), &st); err != nil {
		return PoolSpace{}, fmt.Errorf("storage pool %q: %w", p.Name, err)
	}
	bs := uint64(st.Bsize)
	return PoolSpace{Total: st.Blocks * bs, Used: (st.Blocks - st.Bfree) * bs, InodesTotal: st.Files, InodesUsed: st.Files - st.Ffree}, nil
}

// StoragePoolOpen returns the open pool of that name on this member.
func (d *Daemon) StoragePoolOpen(name string) (storage.Driver, bool) { return d.pools.get(name) }

// knownImageVolumes are the image volumes lodge's records name: those of
// every known image, the only volumes a pool's delete may find and remove.
func (d *Daemon) knownImageVolumes(ctx context.Context) ([]storage.Volume, error) {
	imgs, err := d.db.ListImages(ctx)
	if err != nil {
		return nil, err
	}
	known := make([]storage.Volume, 0, len(imgs))
	for _, im := range imgs {
		known = append(known, storage.Volume{Kind: storage.KindImage, Name: im.Fingerprint})
	}
	return known, nil
}
