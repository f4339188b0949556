package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"lodge/api"
	"lodge/backup"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
	"lodge/server/operations"
	"lodge/storage"
	"lodge/storage/pools"
)

// ImportOptions override what a backup says (LXD's X-LXD-name and
// X-LXD-pool headers).
type ImportOptions struct {
	Name string
	Pool string
}

// adopter is a pool that can take a received btrfs subvolume as a volume
// (storage/btrfs), for optimized backups.
type adopter interface {
	Adopt(ctx context.Context, vol storage.Volume, path string) error
}

// importedConfig is a backup's config as the new instance keeps it: the
// id map keys of the host that made it are dropped (this host allocates
// its own), as are its last power state and its uuid.
func importedConfig(cfg map[string]string) map[string]string {
	out := make(map[string]string, len(cfg))
	for k, v := range cfg {
		if strings.HasPrefix(k, "volatile.idmap.") || k == backup.LastStateIdmapKey || k == lastStateKey || k == "volatile.uuid" {
			continue
		}
		out[k] = v
	}
	return out
}

// ImportInstance makes an instance from a backup tarball read from r (the
// body of POST /1.0/instances as application/octet-stream), in LXD's
// layout, plain or btrfs-optimized. The index is read and checked first,
// the instance validated exactly as a new one (name, config, devices,
// profiles, networks, pool), its row inserted in phase creating, then the
// trees are extracted into an empty volume, each snapshot taken as its
// section ends. The body cannot be read after the reply, so the work is
// done before it: the operation returned has succeeded. Any failure
// removes what was made; a crash leaves a row in phase creating, which
// startup recovery removes with its volume.
func (d *Daemon) ImportInstance(ctx context.Context, r io.Reader, opt ImportOptions) (*operations.Op, error) {
	rd, err := backup.Open(ctx, r)
	if err != nil {
		return nil, importError("", err)
	}
	defer rd.Close()
	ix := rd.Index
	c := ix.Config.Container
	name := ix.Name
	if opt.Name != "" {
		name = opt.Name
	}
	if err := instances.ValidateName(name); err != nil {
		return nil, err
	}
	profiles := c.Profiles
	if profiles == nil {
		profiles = []string{"default"}
	}
	if err := d.checkProfilesExist(ctx, profiles); err != nil {
		return nil, err
	}
	poolName := opt.Pool
	if poolName == "" {
		if _, err := d.pool(ix.Pool); err == nil && ix.Pool != "" {
			poolName = ix.Pool
		} else {
			poolName = rootPool(d.mustExpand(ctx, db.Instance{Name: name, Profiles: profiles}).Devices, d.poolName)
		}
	}
	pool, err := d.pool(poolName)
	if err != nil {
		return nil, errdefs.Invalidf("instance %q: storage pool %q not found or not available (see `lodge storage list`)", name, poolName)
	}
	var adopt adopter
	if ix.IsOptimized() {
		a, ok := pool.(adopter)
		if !ok || pool.Info().Name != "btrfs" {
			return nil, errdefs.Invalidf("instance %q: an optimized backup (btrfs send streams) imports into a btrfs pool only, and pool %q is %s; import it with --storage naming a btrfs pool, or export it again without --optimized-storage", name, poolName, pool.Info().Name)
		}
		adopt = a
	}
	cfg := importedConfig(c.Config)
	userCfg := map[string]string{}
	for k, v := range cfg {
		if !strings.HasPrefix(k, "volatile.") {
			userCfg[k] = v
		}
	}
	devs := map[string]map[string]string{}
	for k, v := range c.Devices {
		devs[k] = v
	}
	keepRootSize(devs, poolName)
	if err := instances.ValidateConfig(userCfg); err != nil {
		return nil, err
	}
	if err := instances.ValidateDevices(devs, nil); err != nil {
		return nil, err
	}
	req := api.InstancesPost{Name: name, InstancePut: api.InstancePut{Config: userCfg, Devices: devs, Profiles: profiles}}
	if err := d.checkNewInstanceConfig(ctx, req); err != nil {
		return nil, err
	}
	if err := d.validateNICNetworks(ctx, name, devs, nil); err != nil {
		return nil, err
	}
	cfg["volatile.uuid"] = uuid.NewString()
	created := c.CreatedAt
	if created.IsZero() {
		created = time.Now().UTC()
	}
	row := db.Instance{
		Name: name, Type: "container", Architecture: c.Architecture, ImageFingerprint: cfg["volatile.base_image"], Pool: poolName,
		Phase: db.PhaseCreating, Ephemeral: c.Ephemeral, Description: c.Description, Config: cfg, Devices: devs, Profiles: profiles,
		CreatedAt: created,
	}
	if err := d.insertImported(ctx, row); err != nil {
		return nil, err
	}
	if err := d.importInstance(ctx, rd, row, pool, adopt); err != nil {
		return nil, importError(name, err)
	}
	op := d.ops.Start(operationsSpec("Restoring backup", name), func(context.Context, *operations.Op) error { return nil })
	return op, nil
}

// insertImported allocates an isolated id range if the instance asks for
// one and inserts its row (phase creating); a duplicate name is a 409.
func (d *Daemon) insertImported(ctx context.Context, row db.Instance) error {
	d.idmapMu.Lock()
	defer d.idmapMu.Unlock()
	if err := d.allocateIsolated(ctx, row.Config, row.Profiles); err != nil {
		return err
	}
	if _, err := d.db.CreateInstance(ctx, row); err != nil {
		if errors.Is(err, db.ErrExists) {
			return errdefs.Existsf("instance %q already exists; import under another name (lodge import FILE NAME) or delete it first", row.Name)
		}
		return err
	}
	return nil
}

// importError gives a backup's refusal its kind: what the tarball holds
// is a 400, more data than the pool has room for a 507.
func importError(name string, err error) error {
	what := "import"
	if name != "" {
		what = fmt.Sprintf("instance %q: import", name)
	}
	switch {
	case errdefs.KindOf(err) != nil:
		return err
	case errors.Is(err, backup.ErrInvalid):
		return errdefs.Wrap(errdefs.ErrInvalid, fmt.Errorf("%s: %w", what, err))
	case errors.Is(err, backup.ErrTooBig):
		return fmt.Errorf("%s: %w (%w)", what, err, syscall.ENOSPC)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// importInstance extracts the backup into a new volume and defines the
// instance; a failure removes the volume, its snapshots, the runtime
// config and the row.
func (d *Daemon) importInstance(ctx context.Context, rd *backup.Reader, row db.Instance, pool storage.Driver, adopt adopter) (err error) {
	unlock := d.instLocks.lock(row.Name)
	defer unlock()
	vol := storage.Volume{Kind: storage.KindContainer, Name: row.Name}
	bg := context.WithoutCancel(ctx)
	rev := &revert{}
	defer func() {
		if err != nil {
			rev.fail()
			d.log.Warn("instance import failed, rolled back", "instance", row.Name, "err", err)
		}
	}()
	rev.add(func() { _ = d.db.DeleteInstance(bg, row.Name) })
	if err := d.clearStale(ctx, row.Pool, pool, vol); err != nil {
		return err
	}
	x, err := d.expand(ctx, row)
	if err != nil {
		return err
	}
	m, err := d.instanceMap(x)
	if err != nil {
		return err
	}
	opt := backup.Options{Map: m}
	if size := x.Devices["root"]["size"]; size != "" {
		if opt.MaxBytes, err = pools.ParseSize(size); err != nil {
			return errdefs.Invalidf("instance %q: root size: %v", row.Name, err)
		}
	}
	rev.add(func() { _ = pool.Delete(bg, vol) })
	t := &importTarget{ctx: ctx, d: d, pool: pool, vol: vol, row: row, ix: rd.Index, adopt: adopt}
	if adopt != nil {
		_, err = rd.ExtractOptimized(t, opt)
		if t.recvDir != "" {
			if rerr := storage.RemoveBeneath(filepath.Dir(t.recvDir), filepath.Base(t.recvDir)); rerr != nil {
				d.log.Warn("import: could not remove the receive directory", "dir", t.recvDir, "err", rerr)
			}
		}
		if err == nil && !pool.Exists(vol) {
			err = errdefs.Invalidf("backup: the tarball has no stream for the instance")
		}
	} else {
		if err := pool.CreateEmptyContainer(ctx, vol); err != nil {
			return fmt.Errorf("instance %q: %w", row.Name, err)
		}
		_, err = rd.Extract(t, opt)
	}
	if err != nil {
		return err
	}
	if err := d.ensureRootfsMap(ctx, row); err != nil {
		return err
	}
	if err := d.defineCreated(ctx, rev, x); err != nil {
		return err
	}
	rev.success()
	d.syncNetworkHosts(ctx)
	d.events.lifecycle("instance-created", InstanceURL(row.Name), nil)
	return nil
}

// importTarget is where a backup's sections go: the new instance's volume
// (its rootfs emptied after each snapshot is taken from it), or for an
// optimized backup the received subvolumes adopted as its volume and
// snapshots.
type importTarget struct {
	ctx     context.Context
	d       *Daemon
	pool    storage.Driver
	vol     storage.Volume
	row     db.Instance
	ix      *backup.Index
	adopt   adopter
	recvDir string
}

func (t *importTarget) rootfs() string { return filepath.Join(t.pool.Path(t.vol), "rootfs") }

// Begin implements backup.Target.
func (t *importTarget) Begin(snap string) (string, error) {
	if err := t.pool.Mount(t.ctx, t.vol); err != nil {
		return "", fmt.Errorf("instance %q: %w", t.row.Name, err)
	}
	return t.rootfs(), nil
}

// End implements backup.Target: a snapshot's section becomes a snapshot
// of the volume, recorded with the backup's config for it, and the
// rootfs is emptied for the next section.
func (t *importTarget) End(snap string) error {
	if snap == "" {
		return nil
	}
	if err := t.pool.Snapshot(t.ctx, t.vol, snap); err != nil {
		return fmt.Errorf("instance %q: snapshot %q: %w", t.row.Name, snap, err)
	}
	if err := t.recordSnapshot(snap); err != nil {
		return err
	}
	ents, err := os.ReadDir(t.rootfs())
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := storage.RemoveBeneath(t.rootfs(), e.Name()); err != nil {
			return fmt.Errorf("instance %q: empty the rootfs after snapshot %q: %w", t.row.Name, snap, err)
		}
	}
	return nil
}

func (t *importTarget) recordSnapshot(snap string) error {
	sc := t.ix.SnapshotConfig(snap)
	if sc == nil {
		return errdefs.Invalidf("backup: snapshot %q has no config in backup/index.yaml", snap)
	}
	created := sc.CreatedAt
	if created.IsZero() {
		created = time.Now().UTC()
	}
	row := db.Snapshot{Instance: t.row.Name, Name: snap, Architecture: sc.Architecture, Ephemeral: sc.Ephemeral, Stateful: false,
		Config: importedConfig(sc.Config), Devices: sc.Devices, Profiles: sc.Profiles, CreatedAt: created, ExpiresAt: sc.ExpiresAt}
	if err := t.d.db.CreateSnapshot(t.ctx, row); err != nil {
		return fmt.Errorf("instance %q: record snapshot %q: %w", t.row.Name, snap, err)
	}
	return nil
}

// ReceiveDir implements backup.OptimizedTarget: a staging directory on the
// pool's filesystem (recovery removes one a crash left).
func (t *importTarget) ReceiveDir() (string, error) {
	dir, err := os.MkdirTemp(filepath.Join(t.pool.Info().Root, string(storage.KindContainer)), ".tmp-import-")
	if err != nil {
		return "", fmt.Errorf("instance %q: %w", t.row.Name, err)
	}
	t.recvDir = dir
	return dir, nil
}

// Received implements backup.OptimizedTarget.
func (t *importTarget) Received(snap, subvol string) error {
	v := t.vol
	if snap != "" {
		v = t.vol.Snapshot(snap)
	}
	if err := t.adopt.Adopt(t.ctx, v, subvol); err != nil {
		return fmt.Errorf("instance %q: %w", t.row.Name, err)
	}
	if snap == "" {
		return os.Chmod(t.pool.Path(v), 0o700)
	}
	return t.recordSnapshot(snap)
}
