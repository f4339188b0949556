package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"lodge/instances"
	"lodge/server/db"
	"lodge/storage"
)

// Recover reconciles the database with the runtime after a start: rows a
// crash left in phase "creating" are rolled back; running containers need
// nothing, since their status is always read live from liblxc.
func (s *Server) Recover(ctx context.Context) {
	for _, p := range s.pools.all() {
		if c, ok := p.(interface{ Cleanup() }); ok {
			c.Cleanup()
		}
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
			if p, err := s.instancePool(in); err == nil {
				_ = p.Delete(ctx, storage.Volume{Kind: storage.KindContainer, Name: in.Name})
			}
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

// stopAllInstances stops every running instance in parallel (lodged shutdown).
func (s *Server) stopAllInstances() {
	ctx := context.Background()
	list, err := s.db.ListInstances(ctx)
	if err != nil {
		s.log.Error("shutdown: list instances", "err", err)
		return
	}
	var wg sync.WaitGroup
	for _, in := range list {
		wg.Add(1)
		go func(in db.Instance) {
			defer wg.Done()
			err := s.stopInstance(ctx, in.Name, s.stopTimeout(in, 0), false)
			if err != nil && !errors.Is(err, instances.ErrNotRunning) {
				s.log.Warn("shutdown: stop instance", "instance", in.Name, "err", err)
			}
		}(in)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		s.log.Error("shutdown: instances still stopping after 5 minutes")
	}
}
