package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"lodge/api"
	"lodge/errdefs"
	"lodge/idmap"
	"lodge/instances"
	"lodge/migration"
	"lodge/migration/pb"
	"lodge/server/db"
	"lodge/server/operations"
	"lodge/storage"
)

// Instances to and from other servers: LXD's migration API (issue 16).
// The source side answers POST /1.0/instances/{name} (or a snapshot's)
// with migration, the target side POST /1.0/instances with source type
// migration. Package migration holds the conversation (offer, answer,
// index header, rsync runs, verdict); the daemon gives it volumes and
// records, and the HTTP layer the two websockets (MigrationLink), since
// the daemon has no transport of its own.

// migrationIncompleteKey marks an instance whose volume an incoming
// migration is writing. Startup recovery deletes an instance that still
// carries it (a crash mid-transfer): a new one is half-made, a refreshed
// one a mix of two states.
const migrationIncompleteKey = "volatile.migration.incomplete"

// MigrationLink is how a migration reaches its peer, made by the HTTP
// layer: either the peer (or a client relaying for it) connects to this
// server's operation by the websocket secrets (Secrets and Connector
// set: the operation is a websocket one and shows them), or this server
// connects to the peer's operation (Secrets nil: Connect dials).
type MigrationLink struct {
	// Secrets are the websockets' secrets by name (control, fs).
	Secrets   map[string]string
	Connector operations.Connector
	// Connect returns the control and fs connections: the accepted ones
	// once both are up, or freshly dialed ones.
	Connect func(ctx context.Context) (control, fs migration.Conn, err error)
	// Close closes whatever Connect opened.
	Close func()
}

func (l MigrationLink) accepting() bool { return l.Secrets != nil }

// spec is the operation a migration runs in: a websocket operation
// showing the secrets when the peer connects to it, else a task.
func (l MigrationLink) spec(desc, name string) operations.Spec {
	spec := operationsSpec(desc, name)
	spec.MayCancel = true
	if l.accepting() {
		spec.Class = api.OperationClassWebsocket
		spec.Connector = l.Connector
		spec.Metadata = map[string]any{}
		for k, v := range l.Secrets {
			spec.Metadata[k] = v
		}
	}
	return spec
}

// criuError is LXD's refusal of a live migration, with what to do here.
func criuError(side string) error {
	//lint:ignore ST1005 LXD's wording, which its clients show
	return fmt.Errorf("Unable to perform container live migration. CRIU isn't installed on the %s server (lodge cannot move a running container's memory: copy it with --stateless, which copies the running container's files, or stop it first)", side)
}

// confineRsync: the migration's rsync runs chrooted in a mount namespace
// of its own (migration.RecvOptions.Confine), which needs root; lodged
// always is (cmd/lodged refuses otherwise), the daemon's tests may not be.
func confineRsync() bool { return os.Geteuid() == 0 }

// migrationTypes are what a pool sends and receives: btrfs send streams
// first on a btrfs pool (as LXD's btrfs pools), and rsync, compressed
// only when the pool's rsync.compression says so. LXD compresses by
// default; lodge does not, since compression halves the rate on the fast
// links between servers and on incompressible data (measured in the
// migration package: 264 MiB in 3.4 s plain, 7.2 s compressed).
func (d *Daemon) migrationTypes(ctx context.Context, poolName string) ([]migration.Type, string) {
	cfg := map[string]string{}
	if p, err := d.db.GetStoragePool(ctx, d.poolNameOr(poolName)); err == nil {
		cfg = p.Config
	}
	types := []migration.Type{migration.RsyncType(instances.IsTrue(cfg["rsync.compression"]))}
	if pool, err := d.pool(d.poolNameOr(poolName)); err == nil {
		if _, ok := pool.(streamPool); ok {
			types = append([]migration.Type{migration.BtrfsType()}, types...)
		}
	}
	return types, cfg["rsync.bwlimit"]
}

// streamPool is a pool whose volumes move as btrfs send streams
// (storage/btrfs).
type streamPool interface {
	adopter
	// SendView is a read-only subvolume of vol as it is now.
	SendView(ctx context.Context, vol storage.Volume) (string, func(), error)
	// NestedSubvolumes are those inside vol's, which a stream leaves out.
	NestedSubvolumes(ctx context.Context, vol storage.Volume) ([]string, error)
}

// withoutStreams drops the btrfs transport: a volume with subvolumes
// inside (a container's machinectl or docker) goes by rsync, since a
// send stream carries a volume's own subvolume only.
func withoutStreams(types []migration.Type) []migration.Type {
	return slices.DeleteFunc(slices.Clone(types), func(t migration.Type) bool { return t.FS == pb.MigrationFSType_BTRFS })
}

func (d *Daemon) poolNameOr(name string) string {
	if name == "" {
		return d.poolName
	}
	return name
}

// treeDir mounts vol and returns the directory holding its tree alone
// (rootfs/ and whatever metadata the volume carries), with what releases
// it: Path(vol), or the driver's view where its volume directories hold
// more (overlay).
func treeDir(ctx context.Context, pool storage.Driver, vol storage.Volume) (string, func(), error) {
	if v, ok := pool.(storage.TreeViewer); ok {
		return v.TreeView(ctx, vol)
	}
	if err := pool.Mount(ctx, vol); err != nil {
		return "", nil, err
	}
	return pool.Path(vol), func() {}, nil
}

// sourceVolumes sends an instance's volume and its snapshots' (or, for a
// snapshot as the source, that snapshot's alone).
type sourceVolumes struct {
	pool storage.Driver
	vol  storage.Volume // the instance's, or the snapshot's
}

func (s sourceVolumes) Path(ctx context.Context, snap string) (string, func(), error) {
	vol := s.vol
	if snap != "" {
		vol = vol.Snapshot(snap)
	}
	return treeDir(ctx, s.pool, vol)
}

// Subvolume implements migration.SubvolumeSender on a btrfs pool: a
// snapshot's subvolume (read-only already), or a read-only snapshot of
// the instance's volume made for the transfer.
func (s sourceVolumes) Subvolume(ctx context.Context, snap string) (string, func(), error) {
	b, ok := s.pool.(streamPool)
	if !ok {
		return "", nil, fmt.Errorf("volume %s: not on a btrfs pool", s.vol)
	}
	if snap != "" {
		return s.pool.Path(s.vol.Snapshot(snap)), func() {}, nil
	}
	return b.SendView(ctx, s.vol)
}

// snapshotRecord is a snapshot as the migration offer carries it, with
// the map its files are shifted by on disk (LXD reads it on a restore).
func snapshotRecord(sn db.Snapshot, diskMap idmap.Set) api.InstanceSnapshot {
	cfg := map[string]string{}
	for k, v := range sn.Config {
		cfg[k] = v
	}
	if diskMap != nil {
		b, _ := json.Marshal(diskMap)
		cfg["volatile.last_state.idmap"] = string(b)
	}
	rec := api.InstanceSnapshot{
		Name: sn.Name, Architecture: sn.Architecture, Config: cfg, Devices: sn.Devices, Ephemeral: sn.Ephemeral,
		Profiles: nonNilStrings(sn.Profiles), Stateful: sn.Stateful, CreatedAt: sn.CreatedAt,
	}
	rec.ExpiresAt = sn.ExpiresAt
	if rec.Devices == nil {
		rec.Devices = map[string]map[string]string{}
	}
	return rec
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// MigrateInstance makes an instance (or, with snap, one of its snapshots)
// the source of a migration to another server: POST
// /1.0/instances/{name} with migration. Without a target the operation
// waits for the target (or a relaying client) to connect to its
// websockets; with one (push) the link has dialed the target's operation
// before this returns. A running instance moves only without CRIU: with
// live false (a stateless copy: its volume is sent twice, the second
// pass frozen), else LXD's CRIU error.
func (d *Daemon) MigrateInstance(ctx context.Context, name, snap string, req api.InstancePost, link MigrationLink) (*operations.Op, error) {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return nil, err
	}
	if in.Phase != db.PhaseCreated {
		return nil, errdefs.Conflictf("instance %q is still being created", name)
	}
	var sn *db.Snapshot
	if snap != "" {
		_, s, err := d.getSnapshot(ctx, name, snap)
		if err != nil {
			return nil, err
		}
		sn = &s
	}
	running := false
	if snap == "" {
		st := d.liveStatus(ctx, in)
		running = st == instances.StatusRunning || st == instances.StatusFrozen
	}
	if running && (req.Live == nil || *req.Live) {
		return nil, criuError("source")
	}
	if _, err := d.instancePool(in); err != nil {
		return nil, err
	}
	if !link.accepting() {
		// Push: LXD's source connects to the target inside the request,
		// so that the client learns at once whether it could.
		control, fs, err := link.Connect(ctx)
		if err != nil {
			link.Close()
			return nil, errdefs.Unavailablef("instance %q: connect to the migration target: %v", name, err)
		}
		link.Connect = func(context.Context) (migration.Conn, migration.Conn, error) { return control, fs, nil }
	}
	op := d.ops.Start(link.spec("Migrating instance", name), func(ctx context.Context, op *operations.Op) error {
		defer link.Close()
		control, fs, err := link.Connect(ctx)
		if err != nil {
			return err
		}
		unlock := d.instLocks.lock(name)
		defer unlock()
		args, err := d.sourceArgs(ctx, op, in, sn, req, running)
		if err != nil {
			return err
		}
		args.Control, args.FS = control, fs
		if err := migration.RunSource(ctx, args); err != nil {
			return fmt.Errorf("instance %q: migration: %w", name, err)
		}
		return nil
	})
	return op, nil
}

// sourceArgs describes the outgoing migration of in (or of snapshot sn).
func (d *Daemon) sourceArgs(ctx context.Context, op *operations.Op, in db.Instance, sn *db.Snapshot, req api.InstancePost, running bool) (migration.SourceArgs, error) {
	pool, err := d.instancePool(in)
	if err != nil {
		return migration.SourceArgs{}, err
	}
	base := storage.Volume{Kind: storage.KindContainer, Name: in.Name}
	vols := sourceVolumes{pool: pool, vol: base}
	label := in.Name
	if sn != nil {
		vols.vol, label = base.Snapshot(sn.Name), in.Name+"/"+sn.Name
	}
	diskMap := func(v sourceVolumes, snap string) (idmap.Set, error) {
		dir, done, err := v.Path(ctx, snap)
		if err != nil {
			return nil, err
		}
		defer done()
		return migration.SourceIdmap(dir)
	}
	onDisk, err := diskMap(vols, "")
	if err != nil {
		return migration.SourceArgs{}, fmt.Errorf("instance %q: read its volume's id map: %w", label, err)
	}
	types, bwlimit := d.migrationTypes(ctx, in.Pool)
	if b, ok := pool.(streamPool); ok {
		if nested, err := b.NestedSubvolumes(ctx, base); err != nil || len(nested) > 0 {
			types = withoutStreams(types)
		}
	}
	x, err := d.expand(ctx, in)
	if err != nil {
		return migration.SourceArgs{}, err
	}
	cfg, devices, profiles := in.Config, in.Devices, in.Profiles
	if sn != nil {
		cfg, devices, profiles = sn.Config, sn.Devices, sn.Profiles
	}
	status := api.Stopped
	if running {
		status = api.Running
	}
	index := &migration.BackupConfig{
		Container: &api.Instance{
			InstancePut: api.InstancePut{Architecture: in.Architecture, Config: cfg, Devices: devices, Ephemeral: in.Ephemeral,
				Profiles: nonNilStrings(profiles), Description: in.Description},
			CreatedAt: in.CreatedAt, ExpandedConfig: x.Config, ExpandedDevices: expandedDevices(x), Name: in.Name,
			Status: status.String(), StatusCode: status, LastUsedAt: in.LastUsedAt, Location: "none", Type: "container", Project: "default",
		},
		Pool:   &api.StoragePool{Name: d.poolNameOr(in.Pool), Driver: pool.Info().Name, Status: "Created", StoragePoolPut: api.StoragePoolPut{Config: map[string]string{}}},
		Volume: &api.StorageVolume{Name: in.Name, Type: "container", ContentType: "filesystem", Config: map[string]string{}},
	}
	if ps, err := d.profilesOf(ctx, profiles); err == nil {
		for _, p := range ps {
			index.Profiles = append(index.Profiles, &api.Profile{Name: p.Name, ProfilePut: api.ProfilePut{Config: p.Config, Description: p.Description, Devices: p.Devices}})
		}
	}
	var snaps []api.InstanceSnapshot
	if sn == nil && !req.InstanceOnly && !req.ContainerOnly {
		list, err := d.db.ListSnapshots(ctx, in.Name)
		if err != nil {
			return migration.SourceArgs{}, err
		}
		for _, s := range list {
			m, err := diskMap(vols, s.Name)
			if err != nil {
				return migration.SourceArgs{}, fmt.Errorf("instance %q: read snapshot %q's id map: %w", in.Name, s.Name, err)
			}
			rec := snapshotRecord(s, m)
			snaps = append(snaps, rec)
			index.Snapshots = append(index.Snapshots, &rec)
			var exp *time.Time
			if !s.ExpiresAt.IsZero() {
				e := s.ExpiresAt
				exp = &e
			}
			index.VolumeSnapshots = append(index.VolumeSnapshots, &migration.VolumeSnapshot{Name: s.Name, Config: map[string]string{}, ContentType: "filesystem", CreatedAt: s.CreatedAt, ExpiresAt: exp})
		}
	}
	args := migration.SourceArgs{
		Name: label, Types: types, Snapshots: snaps, Idmap: onDisk, Index: index, Running: running,
		AllowInconsistent: req.AllowInconsistent, BWLimit: bwlimit, Confine: confineRsync(), Volumes: vols,
		Progress: func(p migration.Progress) { op.SetMetadata("fs_progress", p.String()) },
	}
	if running {
		args.Freeze = func(ctx context.Context) (func(), error) { return d.freezeFor(ctx, in.Name) }
	}
	return args, nil
}

// migratedConfig is the config a target keeps of what the client sent:
// LXD's id map keys and its last states describe the source's host, and
// the markers are the target's own.
func migratedConfig(cfg map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range cfg {
		switch {
		case strings.HasPrefix(k, "volatile.idmap."), strings.HasPrefix(k, "volatile.last_state."),
			k == migrationIncompleteKey, k == "volatile.apply_template":
			continue
		}
		out[k] = v
	}
	return out
}

// ReceiveInstance is the target of a migration: POST /1.0/instances with
// source type migration. The row is inserted (phase creating, marked
// incomplete) before it returns, so a duplicate name is refused at once;
// the operation connects (pull: dials the source's operation; push:
// waits for the source), receives the volumes through package migration
// and records the snapshots as they arrive. A failure removes all of it;
// a crash leaves the marker, and startup recovery removes the rest.
// With source.refresh an existing (stopped) instance is brought up to
// date instead: only what changed moves.
func (d *Daemon) ReceiveInstance(ctx context.Context, req api.InstancesPost, link MigrationLink) (*operations.Op, error) {
	if req.Source.ClusterMoveSourceName != "" {
		return d.receiveMove(ctx, req, link)
	}
	if err := instances.ValidateName(req.Name); err != nil {
		return nil, err
	}
	switch req.Type {
	case "", "container":
	default:
		return nil, errdefs.Invalidf("instance type %q is not supported: lodge runs containers only", req.Type)
	}
	if req.Source.Live || req.Stateful {
		return nil, criuError("destination")
	}
	existing, err := d.db.GetInstance(ctx, req.Name)
	switch {
	case err == nil && !req.Source.Refresh:
		return nil, errdefs.Existsf("instance %q already exists; pick another name, delete it first, or refresh it (--refresh)", req.Name)
	case err != nil && !errors.Is(err, db.ErrNotFound):
		return nil, err
	}
	refresh := err == nil
	var row db.Instance
	if refresh {
		if existing.Phase != db.PhaseCreated || existing.Config[migrationIncompleteKey] != "" {
			return nil, errdefs.Conflictf("instance %q is being created or received; wait for that to end", req.Name)
		}
		if st := d.liveStatus(ctx, existing); st != instances.StatusStopped {
			return nil, errdefs.Invalidf("instance %q is running; stop it before refreshing it", req.Name)
		}
		row = existing
	} else if row, err = d.newMigratedRow(ctx, req); err != nil {
		return nil, err
	}
	op := d.ops.Start(link.spec("Creating instance", req.Name), func(ctx context.Context, op *operations.Op) error {
		defer link.Close()
		return d.receiveInstance(ctx, op, row, refresh, req, link)
	})
	return op, nil
}

// newMigratedRow checks a migration's body as a create's and inserts the
// row it describes.
func (d *Daemon) newMigratedRow(ctx context.Context, req api.InstancesPost) (db.Instance, error) {
	if req.Profiles == nil {
		req.Profiles = []string{"default"}
	}
	cfg := migratedConfig(req.Config)
	if err := instances.ValidateConfig(cfg); err != nil {
		return db.Instance{}, err
	}
	devices := map[string]map[string]string{}
	for k, v := range req.Devices {
		devices[k] = v
	}
	poolName := rootPool(d.mustExpand(ctx, db.Instance{Name: req.Name, Profiles: req.Profiles, Devices: devices}).Devices, d.poolName)
	if _, err := d.pool(poolName); err != nil {
		return db.Instance{}, errdefs.Invalidf("instance %q: storage pool %q not found or not available (see `lodge storage list`)", req.Name, poolName)
	}
	keepRootSize(devices, poolName)
	if err := instances.ValidateDevices(devices, nil); err != nil {
		return db.Instance{}, err
	}
	// What a create checks, of the keys a user sets (volatile.* are the
	// source's, which a create would refuse).
	check := req
	check.Config, check.Devices = map[string]string{}, devices
	for k, v := range cfg {
		if !strings.HasPrefix(k, "volatile.") {
			check.Config[k] = v
		}
	}
	if err := d.checkNewInstanceConfig(ctx, check); err != nil {
		return db.Instance{}, err
	}
	if err := d.validateNICNetworks(ctx, req.Name, devices, nil); err != nil {
		return db.Instance{}, err
	}
	if cfg["volatile.uuid"] == "" {
		cfg["volatile.uuid"] = uuid.NewString()
	}
	for name, dev := range d.mustExpand(ctx, db.Instance{Name: req.Name, Profiles: req.Profiles, Devices: devices}).Devices {
		if dev["type"] == "nic" && dev["hwaddr"] == "" && cfg["volatile."+name+".hwaddr"] == "" {
			cfg["volatile."+name+".hwaddr"] = randomMAC()
		}
	}
	cfg[migrationIncompleteKey] = "true"
	fp := cfg["volatile.base_image"]
	if fp == "" {
		fp = req.Source.BaseImage
	}
	row := db.Instance{
		Name: req.Name, Type: "container", Architecture: req.Architecture, ImageFingerprint: fp, Pool: poolName,
		Phase: db.PhaseCreating, Ephemeral: req.Ephemeral, Description: req.Description, Config: cfg,
		Devices: devices, Profiles: req.Profiles, CreatedAt: time.Now().UTC(),
	}
	if row.Architecture == "" {
		row.Architecture = hostArchitecture()
	}
	// Under idmapMu, as an image create is, so that creates side by side
	// count each other's NICs.
	d.idmapMu.Lock()
	defer d.idmapMu.Unlock()
	if err := d.checkNetworkRoom(ctx, row); err != nil {
		return db.Instance{}, err
	}
	if err := d.allocateIsolated(ctx, row.Config, row.Profiles); err != nil {
		return db.Instance{}, err
	}
	if _, err := d.db.CreateInstance(ctx, row); err != nil {
		if errors.Is(err, db.ErrExists) {
			err = errdefs.Existsf("instance %q already exists; pick another name or delete it first", req.Name)
		}
		return db.Instance{}, err
	}
	return row, nil
}

func hostArchitecture() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "x86_64"
	}
	return unix.ByteSliceToString(u.Machine[:])
}

// receiveInstance is a migration target's operation.
func (d *Daemon) receiveInstance(ctx context.Context, op *operations.Op, row db.Instance, refresh bool, req api.InstancesPost, link MigrationLink) (err error) {
	unlock := d.instLocks.lock(row.Name)
	defer unlock()
	bg := context.WithoutCancel(ctx)
	rev := &revert{}
	tv := &targetVolumes{d: d, row: row, refresh: refresh, rev: rev, bg: bg}
	defer func() {
		tv.release()
		if err == nil {
			return
		}
		rev.fail()
		if refresh && tv.prepared {
			// Half refreshed: neither the old copy nor the new.
			if rerr := d.removeInstance(bg, tv.row); rerr != nil {
				d.log.Error("migration: could not delete a half-refreshed instance; delete it", "instance", row.Name, "err", rerr)
			}
			err = fmt.Errorf("%w (the instance was half refreshed and has been deleted: copy it again)", err)
		}
		d.log.Warn("incoming migration failed, rolled back", "instance", row.Name, "err", err)
	}()
	if !refresh {
		rev.add(func() { _ = d.db.DeleteInstance(bg, row.Name) })
	}
	control, fs, err := link.Connect(ctx)
	if err != nil {
		return err
	}
	pool, err := d.instancePool(row)
	if err != nil {
		return err
	}
	tv.pool, tv.vol = pool, storage.Volume{Kind: storage.KindContainer, Name: row.Name}
	x, err := d.expand(ctx, row)
	if err != nil {
		return err
	}
	m, err := d.instanceMap(x)
	if err != nil {
		return err
	}
	var existing []migration.SnapshotRef
	if refresh {
		list, err := d.db.ListSnapshots(ctx, row.Name)
		if err != nil {
			return err
		}
		for _, s := range list {
			existing = append(existing, migration.SnapshotRef{Name: s.Name, CreatedAt: s.CreatedAt})
		}
	}
	types, _ := d.migrationTypes(ctx, row.Pool)
	err = migration.RunTarget(ctx, migration.TargetArgs{
		Control: control, FS: fs, Name: row.Name, Types: types, Refresh: refresh, Existing: existing,
		InstanceOnly: req.Source.InstanceOnly || req.Source.ContainerOnly, Map: &m, Confine: confineRsync(),
		Limits: migrationLimits(pool), Volumes: tv,
		Progress: func(p migration.Progress) { op.SetMetadata("fs_progress", p.String()) },
	})
	if err != nil {
		//lint:ignore ST1005 LXD's wording, which its clients show
		return fmt.Errorf("Error transferring instance data: %w", err)
	}
	tv.release()
	if err := setHostname(tv.rootfs(), row.Name); err != nil {
		return fmt.Errorf("instance %q: set hostname: %w", row.Name, err)
	}
	// LXD's marks of a copy: the templates' copy trigger, and how the
	// files are shifted on disk now.
	row, err = d.db.GetInstance(ctx, row.Name)
	if err != nil {
		return err
	}
	delete(row.Config, migrationIncompleteKey)
	delete(row.Config, lastStateKey)
	row.Config["volatile.apply_template"] = "copy"
	if err := d.defineReceived(ctx, &row, m); err != nil {
		return err
	}
	if !refresh {
		rev.add(func() { _ = d.inst.Delete(bg, row.Name) })
	}
	if err := d.db.UpdateInstance(ctx, row); err != nil {
		return err
	}
	if !refresh {
		if err := d.db.SetInstancePhase(ctx, row.Name, db.PhaseCreated); err != nil {
			return err
		}
	}
	rev.success()
	d.syncNetworkHosts(ctx)
	if refresh {
		d.events.lifecycle("instance-updated", InstanceURL(row.Name), nil)
	} else {
		d.events.lifecycle("instance-created", InstanceURL(row.Name), nil)
	}
	return nil
}

// migrationLimits bound what a target accepts into pool: no volume
// bigger than its free space, and a run stops when less than 1% of it
// (64 MiB to 512 MiB) stays free, so a source cannot fill the host.
func migrationLimits(pool storage.Driver) migration.Limits {
	var st unix.Statfs_t
	if unix.Statfs(pool.Info().Root, &st) != nil {
		return migration.Limits{}
	}
	free := int64(st.Bavail) * st.Bsize
	minFree := min(max(st.Blocks*uint64(st.Bsize)/100, 64<<20), 512<<20)
	return migration.Limits{MaxVolumeBytes: free, MinFree: minFree}
}

// targetVolumes receives into a new (or, refreshing, the existing)
// container volume: every tree arrives in the instance's volume, and each
// snapshot is taken of it once its tree is there, with its record.
type targetVolumes struct {
	d       *Daemon
	pool    storage.Driver
	vol     storage.Volume
	row     db.Instance
	refresh bool
	// move: a move between members; the snapshots' records exist.
	move     bool
	rev      *revert
	bg       context.Context
	prepared bool
	dir      string
	done     func()
	// recvDir holds the btrfs streams received (migration.SubvolumeReceiver).
	recvDir string
}

func (v *targetVolumes) rootfs() string { return v.pool.Path(v.vol) + "/rootfs" }

func (v *targetVolumes) release() {
	if v.done != nil {
		v.done()
		v.done, v.dir = nil, ""
	}
	if v.recvDir != "" {
		if err := storage.RemoveBeneath(filepath.Dir(v.recvDir), filepath.Base(v.recvDir)); err != nil {
			v.d.log.Warn("migration: could not remove the receive directory", "dir", v.recvDir, "err", err)
		}
		v.recvDir = ""
	}
}

// Prepare implements migration.TargetVolumes.
func (v *targetVolumes) Prepare(ctx context.Context, t *migration.Transfer) error {
	v.d.log.Info("migration: receiving", "instance", v.row.Name, "transport", strings.ToLower(t.FS.String()), "snapshots", len(t.Snapshots), "refresh", v.refresh)
	for _, s := range t.Snapshots {
		if err := validateSnapshotName(s.Name); err != nil {
			return fmt.Errorf("the source's snapshot %q: %w", s.Name, err)
		}
	}
	if v.refresh {
		// From here on the instance is neither the old copy nor the new.
		v.prepared = true
		v.row.Config[migrationIncompleteKey] = "true"
		if err := v.d.db.UpdateInstance(ctx, v.row); err != nil {
			return err
		}
		for _, n := range t.Delete {
			if err := v.pool.Delete(ctx, v.vol.Snapshot(n)); err != nil {
				return fmt.Errorf("instance %q: delete snapshot %q that differs from the source's: %w", v.row.Name, n, err)
			}
			if err := v.d.db.DeleteSnapshot(ctx, v.row.Name, n); err != nil && !errors.Is(err, db.ErrNotFound) {
				return err
			}
		}
		if !v.pool.Exists(v.vol) {
			return fmt.Errorf("instance %q has no volume to refresh", v.row.Name)
		}
		return nil
	}
	if err := v.d.clearStale(ctx, v.row.Pool, v.pool, v.vol); err != nil {
		return err
	}
	if t.FS == pb.MigrationFSType_BTRFS {
		// The received subvolumes become the volumes (PlaceSubvolume).
		return nil
	}
	if err := v.pool.CreateEmptyContainer(ctx, v.vol); err != nil {
		return fmt.Errorf("instance %q: create its volume: %w", v.row.Name, err)
	}
	v.rev.add(func() { _ = v.pool.Delete(v.bg, v.vol) })
	return nil
}

// Dir implements migration.TargetVolumes: every tree goes into the
// instance's volume (LXD sends each snapshot's whole tree).
func (v *targetVolumes) Dir(ctx context.Context, snap string) (string, error) {
	if v.dir == "" {
		dir, done, err := treeDir(ctx, v.pool, v.vol)
		if err != nil {
			return "", fmt.Errorf("instance %q: %w", v.row.Name, err)
		}
		v.dir, v.done = dir, done
	}
	return v.dir, nil
}

// ReceiveDir implements migration.SubvolumeReceiver: a staging directory
// among the pool's container volumes, which the pool's cleanup removes
// after a crash.
func (v *targetVolumes) ReceiveDir(ctx context.Context) (string, error) {
	if v.recvDir == "" {
		dir, err := os.MkdirTemp(filepath.Join(v.pool.Info().Root, string(storage.KindContainer)), ".tmp-migrate-")
		if err != nil {
			return "", fmt.Errorf("instance %q: %w", v.row.Name, err)
		}
		v.recvDir = dir
	}
	return v.recvDir, nil
}

// PlaceSubvolume implements migration.SubvolumeReceiver.
func (v *targetVolumes) PlaceSubvolume(ctx context.Context, s *api.InstanceSnapshot, dir string) error {
	b, ok := v.pool.(streamPool)
	if !ok {
		return fmt.Errorf("instance %q: pool %s takes no btrfs streams", v.row.Name, v.pool.Info().Name)
	}
	if s == nil {
		if err := b.Adopt(ctx, v.vol, dir); err != nil {
			return fmt.Errorf("instance %q: %w", v.row.Name, err)
		}
		v.rev.add(func() { _ = v.pool.Delete(v.bg, v.vol) })
		return os.Chmod(v.pool.Path(v.vol), 0o700)
	}
	if err := b.Adopt(ctx, v.vol.Snapshot(s.Name), dir); err != nil {
		return fmt.Errorf("instance %q: %w", v.row.Name, err)
	}
	return v.snapshotMade(ctx, *s)
}

// Snapshot implements migration.TargetVolumes.
func (v *targetVolumes) Snapshot(ctx context.Context, s api.InstanceSnapshot) error {
	if err := v.pool.Snapshot(ctx, v.vol, s.Name); err != nil {
		return err
	}
	return v.snapshotMade(ctx, s)
}

// snapshotMade records snapshot s, whose volume exists now.
func (v *targetVolumes) snapshotMade(ctx context.Context, s api.InstanceSnapshot) error {
	v.rev.add(func() { _ = v.pool.Delete(v.bg, v.vol.Snapshot(s.Name)) })
	if v.move {
		return nil
	}
	created := s.CreatedAt
	if created.IsZero() {
		created = time.Now().UTC()
	}
	arch := s.Architecture
	if arch == "" {
		arch = v.row.Architecture
	}
	row := db.Snapshot{Instance: v.row.Name, Name: s.Name, Architecture: arch, Ephemeral: s.Ephemeral,
		Config: migratedConfig(s.Config), Devices: s.Devices, Profiles: nonNilStrings(s.Profiles), CreatedAt: created.UTC(), ExpiresAt: s.ExpiresAt}
	if err := v.d.db.CreateSnapshot(ctx, row); err != nil {
		return err
	}
	v.rev.add(func() { _ = v.d.db.DeleteSnapshot(v.bg, v.row.Name, s.Name) })
	return nil
}

// defineReceived records in row's config how the received files are
// shifted on disk (volatile.last_state.idmap, as LXD keeps it) and writes
// its runtime config: the end of a migration's or a cluster move's
// receive; the caller stores the row.
func (d *Daemon) defineReceived(ctx context.Context, row *db.Instance, m idmap.Map) error {
	diskMap, _ := json.Marshal(idmap.SetOf(m))
	row.Config["volatile.last_state.idmap"] = string(diskMap)
	x, err := d.expand(ctx, *row)
	if err != nil {
		return err
	}
	spec, err := d.specFor(ctx, x)
	if err != nil {
		return err
	}
	if err := d.inst.Define(ctx, spec); err != nil {
		return fmt.Errorf("instance %q: %w", row.Name, err)
	}
	return nil
}
