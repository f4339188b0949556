package server

import (
	"net/http"
	"time"

	"lodge/api"
	"lodge/server/daemon"
)

func renderSnapshot(sn daemon.Snapshot) api.InstanceSnapshot {
	return api.InstanceSnapshot{
		InstanceSnapshotPut: api.InstanceSnapshotPut{ExpiresAt: sn.ExpiresAt},
		Architecture:        sn.Architecture, Config: sn.Config, CreatedAt: sn.CreatedAt, Devices: sn.Devices,
		Ephemeral: sn.Ephemeral, ExpandedConfig: sn.Config, ExpandedDevices: sn.ExpandedDevices,
		LastUsedAt: time.Time{}, Name: sn.Name, Profiles: sn.Profiles, Stateful: sn.Stateful, Size: sn.Size,
	}
}

func (s *Server) snapshotsGet(r *http.Request) (response, error) {
	name := r.PathValue("name")
	list, err := s.d.Snapshots(r.Context(), name)
	if err != nil {
		return nil, err
	}
	if recursion(r) == 0 {
		urls := make([]string, 0, len(list))
		for _, sn := range list {
			urls = append(urls, daemon.SnapshotURL(name, sn.Name))
		}
		return reply(urls), nil
	}
	out := make([]api.InstanceSnapshot, 0, len(list))
	for _, sn := range list {
		out = append(out, renderSnapshot(sn))
	}
	return reply(out), nil
}

func (s *Server) snapshotGet(r *http.Request) (response, error) {
	sn, err := s.d.Snapshot(r.Context(), r.PathValue("name"), r.PathValue("snap"))
	if err != nil {
		return nil, err
	}
	out := renderSnapshot(sn)
	return replyETag(out, out.ExpiresAt), nil
}

func (s *Server) snapshotsPost(r *http.Request) (response, error) {
	var req api.InstanceSnapshotsPost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	op, err := s.d.CreateSnapshot(r.Context(), r.PathValue("name"), req)
	return replyAsync(op), err
}

func (s *Server) snapshotDelete(r *http.Request) (response, error) {
	op, err := s.d.DeleteSnapshot(r.Context(), r.PathValue("name"), r.PathValue("snap"))
	return replyAsync(op), err
}

// snapshotPost renames a snapshot, or with migration makes it the source
// of a migration (a new instance on another server).
func (s *Server) snapshotPost(r *http.Request) (response, error) {
	var req api.InstanceSnapshotPost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.Migration {
		live := false
		return s.instanceMigrate(r, r.PathValue("name"), r.PathValue("snap"), api.InstancePost{Migration: true, Live: &live, Target: req.Target})
	}
	op, err := s.d.RenameSnapshot(r.Context(), r.PathValue("name"), r.PathValue("snap"), req)
	return replyAsync(op), err
}

// snapshotPut changes a snapshot's expiry (its only writable field).
func (s *Server) snapshotPut(r *http.Request) (response, error) {
	var req api.InstanceSnapshotPut
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	op, err := s.d.UpdateSnapshot(r.Context(), r.PathValue("name"), r.PathValue("snap"), req)
	return replyAsync(op), err
}
