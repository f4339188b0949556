package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"lodge/api"
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

func (s *Server) renderSnapshot(ctx context.Context, in db.Instance, sn db.Snapshot, withSize bool) api.InstanceSnapshot {
	out := api.InstanceSnapshot{
		InstanceSnapshotPut: api.InstanceSnapshotPut{ExpiresAt: sn.ExpiresAt},
		Architecture:        sn.Architecture, Config: sn.Config, CreatedAt: sn.CreatedAt, Devices: sn.Devices,
		Ephemeral: sn.Ephemeral, ExpandedConfig: sn.Config, ExpandedDevices: s.d.expandedDevices(db.Instance{Pool: in.Pool, Devices: sn.Devices}),
		LastUsedAt: time.Time{}, Name: sn.Name, Profiles: sn.Profiles, Stateful: sn.Stateful, Size: -1,
	}
	if withSize {
		if p, err := s.d.instancePool(in); err == nil {
			if n, err := p.Usage(ctx, storage.Volume{Kind: storage.KindContainer, Name: in.Name}.Snapshot(sn.Name)); err == nil {
				out.Size = n
			}
		}
	}
	return out
}

// snapshotsOf renders an instance's snapshots for recursion (no sizes: a
// size can mean walking a tree). all, if not nil, holds every instance's
// snapshots read at once.
func (s *Server) snapshotsOf(ctx context.Context, in db.Instance, all ...map[string][]db.Snapshot) []any {
	var list []db.Snapshot
	if len(all) > 0 && all[0] != nil {
		list = all[0][in.Name]
	} else {
		var err error
		if list, err = s.d.db.ListSnapshots(ctx, in.Name); err != nil {
			return []any{}
		}
	}
	out := make([]any, 0, len(list))
	for _, sn := range list {
		out = append(out, s.renderSnapshot(ctx, in, sn, false))
	}
	return out
}

func (s *Server) handleSnapshotsGet(w http.ResponseWriter, r *http.Request) {
	in, err := s.d.getInstance(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	list, err := s.d.db.ListSnapshots(r.Context(), in.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	if recursion(r) == 0 {
		urls := make([]string, 0, len(list))
		for _, sn := range list {
			urls = append(urls, snapshotURL(in.Name, sn.Name))
		}
		writeSync(w, urls)
		return
	}
	out := make([]api.InstanceSnapshot, 0, len(list))
	for _, sn := range list {
		out = append(out, s.renderSnapshot(r.Context(), in, sn, true))
	}
	writeSync(w, out)
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

func (s *Server) handleSnapshotGet(w http.ResponseWriter, r *http.Request) {
	in, sn, err := s.d.getSnapshot(r.Context(), r.PathValue("name"), r.PathValue("snap"))
	if err != nil {
		writeError(w, err)
		return
	}
	out := s.renderSnapshot(r.Context(), in, sn, true)
	writeSyncETag(w, out, out.ExpiresAt)
}

func (s *Server) handleSnapshotsPost(w http.ResponseWriter, r *http.Request) {
	in, err := s.d.getInstance(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	var req api.InstanceSnapshotsPost
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Stateful {
		writeError(w, errdefs.Invalidf("instance %q: stateful snapshots need CRIU, which is not available on this host; take a stateless snapshot (without --stateful)", in.Name))
		return
	}
	if in.Phase != db.PhaseCreated {
		writeError(w, errdefs.Conflictf("instance %q is still being created", in.Name))
		return
	}
	if req.Name == "" {
		// LXD's default pattern.
		list, _ := s.d.db.ListSnapshots(r.Context(), in.Name)
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
		writeError(w, err)
		return
	}
	if _, err := s.d.db.GetSnapshot(r.Context(), in.Name, req.Name); err == nil {
		writeError(w, errdefs.Existsf("snapshot %q of instance %q already exists", req.Name, in.Name))
		return
	}
	var expires time.Time
	if req.ExpiresAt != nil {
		expires = *req.ExpiresAt
	}
	op := s.d.ops.Start(operationsSpec("Snapshotting instance", in.Name), func(ctx context.Context, _ *opT) error {
		return s.d.createSnapshot(ctx, in.Name, req.Name, expires)
	})
	writeAsync(w, op)
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

func (s *Server) handleSnapshotDelete(w http.ResponseWriter, r *http.Request) {
	in, sn, err := s.d.getSnapshot(r.Context(), r.PathValue("name"), r.PathValue("snap"))
	if err != nil {
		writeError(w, err)
		return
	}
	op := s.d.ops.Start(operationsSpec("Deleting snapshot", in.Name), func(ctx context.Context, _ *opT) error {
		return s.d.deleteSnapshot(ctx, in.Name, sn.Name)
	})
	writeAsync(w, op)
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

func (s *Server) handleSnapshotPost(w http.ResponseWriter, r *http.Request) {
	in, sn, err := s.d.getSnapshot(r.Context(), r.PathValue("name"), r.PathValue("snap"))
	if err != nil {
		writeError(w, err)
		return
	}
	var req api.InstanceSnapshotPost
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Migration {
		writeError(w, errdefs.Invalidf("snapshot %q: migration is not supported; copy it with lodge copy %s/%s NEW", sn.Name, in.Name, sn.Name))
		return
	}
	if err := validateSnapshotName(req.Name); err != nil {
		writeError(w, err)
		return
	}
	if _, err := s.d.db.GetSnapshot(r.Context(), in.Name, req.Name); err == nil {
		writeError(w, errdefs.Existsf("snapshot %q of instance %q already exists", req.Name, in.Name))
		return
	}
	op := s.d.ops.Start(operationsSpec("Renaming snapshot", in.Name), func(ctx context.Context, _ *opT) error {
		unlock := s.d.instLocks.lock(in.Name)
		defer unlock()
		pool, err := s.d.instancePool(in)
		if err != nil {
			return err
		}
		vol := storage.Volume{Kind: storage.KindContainer, Name: in.Name}
		if err := pool.Rename(ctx, vol.Snapshot(sn.Name), in.Name+"/"+req.Name); err != nil {
			return fmt.Errorf("instance %q: rename snapshot %q: %w", in.Name, sn.Name, err)
		}
		if err := s.d.db.RenameSnapshot(ctx, in.Name, sn.Name, req.Name); err != nil {
			_ = pool.Rename(context.WithoutCancel(ctx), vol.Snapshot(req.Name), in.Name+"/"+sn.Name)
			return err
		}
		s.d.events.lifecycle("instance-snapshot-renamed", snapshotURL(in.Name, req.Name), map[string]any{"old_name": sn.Name})
		return nil
	})
	writeAsync(w, op)
}

// handleSnapshotPut changes a snapshot's expiry (its only writable field).
func (s *Server) handleSnapshotPut(w http.ResponseWriter, r *http.Request) {
	in, sn, err := s.d.getSnapshot(r.Context(), r.PathValue("name"), r.PathValue("snap"))
	if err != nil {
		writeError(w, err)
		return
	}
	var req api.InstanceSnapshotPut
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := s.d.db.SetSnapshotExpiry(r.Context(), in.Name, sn.Name, req.ExpiresAt); err != nil {
		writeError(w, err)
		return
	}
	s.d.events.lifecycle("instance-snapshot-updated", snapshotURL(in.Name, sn.Name), nil)
	op := s.d.ops.Start(operationsSpec("Updating snapshot", in.Name), func(ctx context.Context, _ *opT) error { return nil })
	writeAsync(w, op)
}

// startRestore answers PUT /1.0/instances/{name} with {"restore": ...}.
func (s *Server) startRestore(w http.ResponseWriter, r *http.Request, in db.Instance, restore string) {
	snap := restore
	if p, sn, ok := strings.Cut(restore, "/"); ok {
		if p != in.Name {
			writeError(w, errdefs.Invalidf("instance %q: cannot restore snapshot %q of another instance", in.Name, restore))
			return
		}
		snap = sn
	}
	if _, _, err := s.d.getSnapshot(r.Context(), in.Name, snap); err != nil {
		writeError(w, err)
		return
	}
	op := s.d.ops.Start(operationsSpec("Restoring snapshot", in.Name), func(ctx context.Context, _ *opT) error {
		return s.d.restoreSnapshot(ctx, in.Name, snap)
	})
	writeAsync(w, op)
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
