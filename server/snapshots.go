package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"lodge/api"
	"lodge/errdefs"
	"lodge/server/db"
	"lodge/storage"
)

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
