package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"lodge/api"
	"lodge/backup"
	"lodge/errdefs"
	"lodge/idmap"
	"lodge/instances"
	"lodge/server/db"
	"lodge/server/operations"
	"lodge/storage"
)

// Instance backups (LXD's /1.0/instances/{name}/backups): a record per
// backup, and its tarball in DIR/backups/instances/NAME/BACKUP (directory
// 0700, file 0600, written under a temporary name and renamed when
// complete), made by the backup package from the instance's volume and
// its snapshots'. Backups follow their instance's rename, go with its
// delete, and expire. What a crash leaves (a temporary file, a record
// without its file or a file without its record) is swept at start.

// BackupURL is a backup's API path.
func BackupURL(inst, name string) string { return InstanceURL(inst) + "/backups/" + name }

// backupResource is a backup as LXD names it in an operation's resources:
// /1.0/backups/NAME, not its API path. Debian's lxc export takes the
// backup's name by trimming that prefix, so any other form makes it ask
// for a backup named after the whole path.
func backupResource(name string) string { return "/1.0/backups/" + name }

// backupsDir holds an instance's backup tarballs.
func (d *Daemon) backupsDir(inst string) string {
	return filepath.Join(d.cfg.Dir, "backups", "instances", inst)
}

func (d *Daemon) backupFile(inst, name string) string {
	return filepath.Join(d.backupsDir(inst), name)
}

func validateBackupName(name string) error {
	if !snapNameRE.MatchString(name) {
		return errdefs.Invalidf("backup name %q is not valid: use letters, digits, '.', '_' and '-', up to 63 characters", name)
	}
	return nil
}

func (d *Daemon) getBackup(ctx context.Context, inst, name string) (db.Backup, error) {
	if _, err := d.getInstance(ctx, inst); err != nil {
		return db.Backup{}, err
	}
	b, err := d.db.GetBackup(ctx, inst, name)
	if errors.Is(err, db.ErrNotFound) {
		err = errdefs.NotFoundf("backup %q of instance %q not found (see `lodge query /1.0/instances/%s/backups`)", name, inst, inst)
	}
	return b, err
}

// Backups lists an instance's backups, oldest first.
func (d *Daemon) Backups(ctx context.Context, inst string) ([]db.Backup, error) {
	if _, err := d.getInstance(ctx, inst); err != nil {
		return nil, err
	}
	return d.db.ListBackups(ctx, inst)
}

// Backup reads one backup's record.
func (d *Daemon) Backup(ctx context.Context, inst, name string) (db.Backup, error) {
	return d.getBackup(ctx, inst, name)
}

var backupNumRE = regexp.MustCompile(`^backup([0-9]+)$`)

// nextBackupName is LXD's default: backupN, one past the highest N.
func nextBackupName(list []db.Backup) string {
	next := 0
	for _, b := range list {
		if m := backupNumRE.FindStringSubmatch(b.Name); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n >= next {
				next = n + 1
			}
		}
	}
	return fmt.Sprintf("backup%d", next)
}

// CreateBackup records a backup and writes its tarball in an operation
// (whose resources name the backup, which lxc export reads). The name,
// the compression and the instance are checked first: a bad request
// makes nothing.
func (d *Daemon) CreateBackup(ctx context.Context, inst string, req api.InstanceBackupsPost) (*operations.Op, error) {
	in, err := d.getInstance(ctx, inst)
	if err != nil {
		return nil, err
	}
	if in.Phase != db.PhaseCreated {
		return nil, errdefs.Conflictf("instance %q is still being created", inst)
	}
	name := req.Name
	if name == "" {
		list, err := d.db.ListBackups(ctx, inst)
		if err != nil {
			return nil, err
		}
		name = nextBackupName(list)
	} else if err := validateBackupName(name); err != nil {
		return nil, err
	}
	comp := req.CompressionAlgorithm
	if comp == "" {
		comp = d.serverConfig(ctx, "backups.compression_algorithm")
	}
	if err := backup.CheckCompression(comp); err != nil {
		return nil, errdefs.Invalidf("compression_algorithm: %v", err)
	}
	pool, err := d.instancePool(in)
	if err != nil {
		return nil, err
	}
	row := db.Backup{
		Instance: inst, Name: name, CreatedAt: time.Now().UTC(), InstanceOnly: req.InstanceOnly || req.ContainerOnly,
		// As in LXD, an optimized backup of a pool that has no native
		// stream format is a plain tarball (and says so).
		OptimizedStorage: req.OptimizedStorage && pool.Info().Name == "btrfs",
		Compression:      comp,
	}
	if !req.ExpiresAt.IsZero() {
		row.ExpiresAt = req.ExpiresAt.UTC()
	}
	if err := d.db.CreateBackup(ctx, row); err != nil {
		if errors.Is(err, db.ErrExists) {
			return nil, errdefs.Existsf("backup %q of instance %q already exists; pick another name or delete it first", name, inst)
		}
		return nil, err
	}
	res := InstanceResources(inst)
	res["backups"] = []string{backupResource(name)}
	op := d.ops.Start(operations.Spec{Description: "Backing up instance", Resources: res}, func(ctx context.Context, op *operations.Op) error {
		if err := d.writeBackup(ctx, op, row); err != nil {
			_ = d.db.DeleteBackup(context.WithoutCancel(ctx), inst, name)
			return err
		}
		d.events.lifecycle("instance-backup-created", BackupURL(inst, name), nil)
		return nil
	})
	return op, nil
}

// writeBackup writes a recorded backup's tarball: to a temporary file in
// the instance's backup directory, synced, then renamed into place.
func (d *Daemon) writeBackup(ctx context.Context, op *operations.Op, b db.Backup) (err error) {
	unlock := d.instLocks.lock(b.Instance)
	defer unlock()
	in, err := d.db.GetInstance(ctx, b.Instance)
	if err != nil {
		return fmt.Errorf("instance %q: %w", b.Instance, err)
	}
	if _, err := d.db.GetBackup(ctx, b.Instance, b.Name); err != nil {
		return fmt.Errorf("instance %q changed while its backup %q waited (renamed or deleted): %w", b.Instance, b.Name, err)
	}
	pool, err := d.instancePool(in)
	if err != nil {
		return err
	}
	vol := storage.Volume{Kind: storage.KindContainer, Name: in.Name}
	if _, err := os.Stat(filepath.Join(pool.Path(vol), idmap.ShiftMarker)); err == nil {
		return errdefs.Conflictf("instance %q: a change of its id map was cut short; start it once to finish it, then back it up", in.Name)
	}
	if err := pool.Mount(ctx, vol); err != nil {
		return fmt.Errorf("instance %q: %w", in.Name, err)
	}
	var snaps []db.Snapshot
	if !b.InstanceOnly {
		if snaps, err = d.db.ListSnapshots(ctx, in.Name); err != nil {
			return err
		}
	}
	ix, err := d.backupIndex(ctx, in, pool, snaps)
	if err != nil {
		return err
	}
	dir := d.backupsDir(in.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("backup %q of instance %q: %w", b.Name, in.Name, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-"+b.Name+"-")
	if err != nil {
		return fmt.Errorf("backup %q of instance %q: %w", b.Name, in.Name, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	rootfs := filepath.Join(pool.Path(vol), "rootfs")
	m, err := idmap.Current(rootfs)
	if err != nil {
		return fmt.Errorf("instance %q: %w", in.Name, err)
	}
	// Each snapshot's tree must be owned as the instance's is: the index
	// records one map for all of them.
	snapRootfs := func(s db.Snapshot) (string, error) {
		sv := vol.Snapshot(s.Name)
		if err := pool.Mount(ctx, sv); err != nil {
			return "", fmt.Errorf("instance %q: snapshot %q: %w", in.Name, s.Name, err)
		}
		r := filepath.Join(pool.Path(sv), "rootfs")
		sm, err := idmap.Current(r)
		if err != nil {
			return "", fmt.Errorf("instance %q: snapshot %q: %w", in.Name, s.Name, err)
		}
		if sm != m {
			return "", errdefs.Invalidf("instance %q: snapshot %q is owned by another id map than the instance (security.privileged or security.idmap.* changed since it was taken); back up with --instance-only, or delete the snapshot", in.Name, s.Name)
		}
		return r, nil
	}
	if b.OptimizedStorage {
		tmp, err := os.MkdirTemp(filepath.Join(pool.Info().Root, string(storage.KindContainer)), ".tmp-backup-")
		if err != nil {
			return fmt.Errorf("backup %q of instance %q: %w", b.Name, in.Name, err)
		}
		defer os.Remove(tmp)
		src := backup.OptimizedSource{Index: ix, Volume: pool.Path(vol), Map: m, TempDir: tmp, Compression: b.Compression}
		for _, s := range snaps {
			if _, err := snapRootfs(s); err != nil {
				return err
			}
			src.Snapshots = append(src.Snapshots, backup.OptimizedSection{Name: s.Name, Subvolume: pool.Path(vol.Snapshot(s.Name))})
		}
		op.SetMetadata("create_backup_progress", "Sending btrfs streams")
		if _, err := backup.WriteOptimized(ctx, f, src); err != nil {
			return fmt.Errorf("backup %q of instance %q: %w", b.Name, in.Name, err)
		}
	} else {
		src := backup.Source{Index: ix, Map: m, Compression: b.Compression, Progress: progressReporter(op, "create_backup_progress")}
		for _, s := range snaps {
			r, err := snapRootfs(s)
			if err != nil {
				return err
			}
			src.Snapshots = append(src.Snapshots, backup.Section{Name: s.Name, Rootfs: r})
		}
		src.Rootfs = rootfs
		if pool.Info().Name == "btrfs" && d.liveStatus(ctx, in) == instances.StatusRunning {
			// A running instance is read from a snapshot taken frozen, so
			// that the tarball is one moment of it. A crash leaves the
			// snapshot without a record, which recovery sweeps.
			snap, err := d.tempSnapshot(ctx, pool, vol)
			if err != nil {
				return err
			}
			defer func() { _ = pool.Delete(context.WithoutCancel(ctx), vol.Snapshot(snap)) }()
			src.Rootfs = filepath.Join(pool.Path(vol.Snapshot(snap)), "rootfs")
		}
		if _, err := backup.Write(ctx, f, src); err != nil {
			return fmt.Errorf("backup %q of instance %q: %w", b.Name, in.Name, err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("backup %q of instance %q: %w", b.Name, in.Name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup %q of instance %q: %w", b.Name, in.Name, err)
	}
	if err := os.Rename(f.Name(), d.backupFile(in.Name, b.Name)); err != nil {
		return fmt.Errorf("backup %q of instance %q: %w", b.Name, in.Name, err)
	}
	return nil
}

// tempSnapshot snapshots a running instance's volume, frozen for the
// moment it takes, under a name no user snapshot has.
func (d *Daemon) tempSnapshot(ctx context.Context, pool storage.Driver, vol storage.Volume) (string, error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	snap := "lodge-backup-" + hex.EncodeToString(b)
	if thaw, err := d.freezeFor(ctx, vol.Name); err == nil {
		defer thaw()
	} else {
		d.log.Warn("backup: could not freeze the instance; snapshotting it running", "instance", vol.Name, "err", err)
	}
	if err := pool.Snapshot(ctx, vol, snap); err != nil {
		return "", fmt.Errorf("instance %q: snapshot for the backup: %w", vol.Name, err)
	}
	return snap, nil
}

// progressReporter sets an operation's progress key at most twice a
// second (the writer reports after every file).
func progressReporter(op *operations.Op, key string) func(int64) {
	var mu sync.Mutex
	var last time.Time
	return func(n int64) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < 500*time.Millisecond {
			return
		}
		last = time.Now()
		op.SetMetadata(key, fmt.Sprintf("%.1fMB", float64(n)/1e6))
	}
}

// backupIndex describes an instance for its backup as LXD's backup.yaml
// does: the instance with its expanded config and devices, its snapshots,
// its pool, its volume and its profiles.
func (d *Daemon) backupIndex(ctx context.Context, in db.Instance, pool storage.Driver, snaps []db.Snapshot) (*backup.Index, error) {
	x := d.mustExpand(ctx, in)
	poolName := in.Pool
	if poolName == "" {
		poolName = d.poolName
	}
	c := &api.Instance{
		InstancePut: api.InstancePut{Architecture: in.Architecture, Config: maps.Clone(in.Config), Devices: in.Devices, Ephemeral: in.Ephemeral,
			Profiles: in.Profiles, Description: in.Description},
		CreatedAt: in.CreatedAt, ExpandedConfig: maps.Clone(x.Config), ExpandedDevices: expandedDevices(x), Name: in.Name,
		Status: api.Stopped.String(), StatusCode: api.Stopped, LastUsedAt: in.LastUsedAt, Location: "none", Type: "container", Project: "default",
	}
	bp := &backup.Pool{Name: poolName, Driver: pool.Info().Name, Config: map[string]string{}, UsedBy: []string{}, Status: "Created", Locations: []string{"none"}}
	if p, err := d.db.GetStoragePool(ctx, poolName); err == nil {
		bp.Config, bp.Description = p.Config, p.Description
	}
	ix := &backup.Index{Name: in.Name, Backend: pool.Info().Name, Pool: poolName, Config: &backup.Config{
		Container: c, Pool: bp,
		Volume: &backup.Volume{Name: in.Name, Type: "container", ContentType: "filesystem", Config: map[string]string{}, UsedBy: []string{},
			Location: "none", Project: "default", CreatedAt: in.CreatedAt},
	}}
	profiles, err := d.profilesOf(ctx, in.Profiles)
	if err != nil {
		return nil, err
	}
	for _, p := range profiles {
		ix.Config.Profiles = append(ix.Config.Profiles, &backup.Profile{Name: p.Name, Description: p.Description, Config: p.Config, Devices: p.Devices, UsedBy: []string{}})
	}
	for _, s := range snaps {
		ix.Config.Snapshots = append(ix.Config.Snapshots, &api.InstanceSnapshot{
			InstanceSnapshotPut: api.InstanceSnapshotPut{ExpiresAt: s.ExpiresAt},
			Architecture:        s.Architecture, Config: maps.Clone(s.Config), CreatedAt: s.CreatedAt, Devices: s.Devices,
			Ephemeral: s.Ephemeral, Name: s.Name, Profiles: s.Profiles, Stateful: s.Stateful,
		})
	}
	return ix, nil
}

// OpenBackup opens a backup's tarball for export.
func (d *Daemon) OpenBackup(ctx context.Context, inst, name string) (*os.File, error) {
	if _, err := d.getBackup(ctx, inst, name); err != nil {
		return nil, err
	}
	f, err := os.Open(d.backupFile(inst, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errdefs.NotFoundf("backup %q of instance %q is still being written", name, inst)
	}
	return f, err
}

// RenameBackup renames a backup (its record, then its file) in an operation.
func (d *Daemon) RenameBackup(ctx context.Context, inst, name string, req api.InstanceBackupPost) (*operations.Op, error) {
	if _, err := d.getBackup(ctx, inst, name); err != nil {
		return nil, err
	}
	if err := validateBackupName(req.Name); err != nil {
		return nil, err
	}
	if _, err := d.db.GetBackup(ctx, inst, req.Name); err == nil {
		return nil, errdefs.Existsf("backup %q of instance %q already exists", req.Name, inst)
	}
	res := InstanceResources(inst)
	res["backups"] = []string{backupResource(name)}
	op := d.ops.Start(operations.Spec{Description: "Renaming instance backup", Resources: res}, func(ctx context.Context, _ *operations.Op) error {
		unlock := d.instLocks.lock(inst)
		defer unlock()
		if err := d.db.RenameBackup(ctx, inst, name, req.Name); err != nil {
			if errors.Is(err, db.ErrExists) {
				return errdefs.Existsf("backup %q of instance %q already exists", req.Name, inst)
			}
			return err
		}
		if err := os.Rename(d.backupFile(inst, name), d.backupFile(inst, req.Name)); err != nil {
			_ = d.db.RenameBackup(context.WithoutCancel(ctx), inst, req.Name, name)
			return fmt.Errorf("backup %q of instance %q: rename: %w", name, inst, err)
		}
		d.events.lifecycle("instance-backup-renamed", BackupURL(inst, req.Name), map[string]any{"old_name": name})
		return nil
	})
	return op, nil
}

// DeleteBackup deletes a backup in an operation.
func (d *Daemon) DeleteBackup(ctx context.Context, inst, name string) (*operations.Op, error) {
	if _, err := d.getBackup(ctx, inst, name); err != nil {
		return nil, err
	}
	res := InstanceResources(inst)
	res["backups"] = []string{backupResource(name)}
	op := d.ops.Start(operations.Spec{Description: "Deleting instance backup", Resources: res}, func(ctx context.Context, _ *operations.Op) error {
		unlock := d.instLocks.lock(inst)
		defer unlock()
		return d.deleteBackup(ctx, inst, name)
	})
	return op, nil
}

// deleteBackup removes the record, then the file (a crash between leaves
// a file the start's sweep removes); the caller holds the instance's lock.
func (d *Daemon) deleteBackup(ctx context.Context, inst, name string) error {
	if err := d.db.DeleteBackup(ctx, inst, name); err != nil {
		return err
	}
	if err := os.Remove(d.backupFile(inst, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		d.log.Warn("backup: could not remove a deleted backup's file", "instance", inst, "backup", name, "err", err)
	}
	d.events.lifecycle("instance-backup-deleted", BackupURL(inst, name), nil)
	return nil
}

// renameBackups moves an instance's backup files with it; the caller
// holds both names' locks.
func (d *Daemon) renameBackups(name, newName string) {
	if err := os.Rename(d.backupsDir(name), d.backupsDir(newName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		d.log.Warn("backup: could not move a renamed instance's backups; they are swept at the next start", "instance", newName, "err", err)
	}
}

// removeBackups removes a deleted instance's backup files.
func (d *Daemon) removeBackups(name string) {
	if err := os.RemoveAll(d.backupsDir(name)); err != nil {
		d.log.Warn("backup: could not remove a deleted instance's backups", "instance", name, "err", err)
	}
}

// pruneBackups deletes the backups whose expires_at has passed.
func (d *Daemon) pruneBackups(ctx context.Context) {
	list, err := d.db.ListBackups(ctx, "")
	if err != nil {
		d.log.Warn("backup expiry: list backups", "err", err)
		return
	}
	now := time.Now()
	for _, b := range list {
		if b.ExpiresAt.IsZero() || b.ExpiresAt.After(now) {
			continue
		}
		unlock := d.instLocks.lock(b.Instance)
		if err := d.deleteBackup(ctx, b.Instance, b.Name); err != nil && !errors.Is(err, db.ErrNotFound) {
			d.log.Warn("backup expiry: delete", "instance", b.Instance, "backup", b.Name, "err", err)
		} else if err == nil {
			d.log.Info("expired backup deleted", "instance", b.Instance, "backup", b.Name)
		}
		unlock()
	}
}

// backupTasks deletes expired backups at start and every hour.
func (d *Daemon) backupTasks(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		d.pruneBackups(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepBackups reconciles backup files with their records at start, when
// no backup is being written: temporary files and files or directories
// without a record go, records without a file go.
func (d *Daemon) sweepBackups(ctx context.Context) {
	list, err := d.db.ListBackups(ctx, "")
	if err != nil {
		return
	}
	insts, err := d.db.ListInstanceNames(ctx)
	if err != nil {
		return
	}
	known := map[string]bool{}
	for _, b := range list {
		known[b.Instance+"/"+b.Name] = true
		if _, err := os.Stat(d.backupFile(b.Instance, b.Name)); errors.Is(err, os.ErrNotExist) {
			d.log.Warn("recovery: removing the record of a backup whose file is missing (a crash while it was written)", "instance", b.Instance, "backup", b.Name)
			_ = d.db.DeleteBackup(ctx, b.Instance, b.Name)
		}
	}
	exists := map[string]bool{}
	for _, n := range insts {
		exists[n] = true
	}
	root := filepath.Join(d.cfg.Dir, "backups", "instances")
	dirs, _ := os.ReadDir(root)
	for _, dir := range dirs {
		if !exists[dir.Name()] {
			d.log.Warn("recovery: removing the backups of an instance that no longer exists", "instance", dir.Name())
			os.RemoveAll(filepath.Join(root, dir.Name()))
			continue
		}
		files, _ := os.ReadDir(filepath.Join(root, dir.Name()))
		for _, f := range files {
			if strings.HasPrefix(f.Name(), ".tmp-") || !known[dir.Name()+"/"+f.Name()] {
				d.log.Warn("recovery: removing a backup file without a record", "instance", dir.Name(), "file", f.Name())
				os.RemoveAll(filepath.Join(root, dir.Name(), f.Name()))
			}
		}
	}
}
