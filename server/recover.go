package server

import (
	"context"

	"lodge/instances"
	"lodge/server/db"
	"lodge/storage"
)

// Recover reconciles the database with the runtime after a start: rows a
// crash left in phase "creating" are rolled back; running containers need
// nothing, since their status is always read live from liblxc.
func (s *Server) Recover(ctx context.Context) {
	if c, ok := s.pool.(interface{ Cleanup() }); ok {
		c.Cleanup()
	}
	list, err := s.db.ListInstances(ctx)
	if err != nil {
		s.log.Error("recovery: list instances", "err", err)
		return
	}
	known := map[string]bool{}
	running := 0
	for _, in := range list {
		known[in.Name] = true
		if in.Phase == db.PhaseCreating {
			s.log.Warn("recovery: removing instance left half-created by a crash", "instance", in.Name)
			_ = s.inst.Delete(ctx, in.Name)
			_ = s.pool.Delete(ctx, storage.Volume{Kind: storage.KindContainer, Name: in.Name})
			_ = s.db.DeleteInstance(ctx, in.Name)
			continue
		}
		if st, err := s.inst.State(ctx, in.Name); err == nil && st.Status == instances.StatusRunning {
			running++
		}
	}
	names, err := s.inst.List(ctx)
	if err == nil {
		for _, n := range names {
			if !known[n] {
				s.log.Warn("recovery: runtime has a container lodge has no record of; leaving it alone", "container", n)
			}
		}
	}
	s.log.Info("recovery done", "instances", len(list), "running", running)
}
