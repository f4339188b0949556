package server

import (
	"context"
	"sort"
	"strconv"
	"time"

	"lodge/instances"
	"lodge/server/db"
)

// autostart starts, once at daemon start, every stopped instance with
// boot.autostart=true: higher boot.autostart.priority first, waiting
// boot.autostart.delay seconds after each. It runs in the background so the
// API is up meanwhile.
func (s *Server) autostart(ctx context.Context) {
	list, err := s.db.ListInstances(ctx)
	if err != nil {
		s.log.Error("autostart: list instances", "err", err)
		return
	}
	var todo []db.Instance
	for _, in := range list {
		if in.Phase == db.PhaseCreated && instances.IsTrue(in.Config["boot.autostart"]) {
			todo = append(todo, in)
		}
	}
	prio := func(in db.Instance) int { n, _ := strconv.Atoi(in.Config["boot.autostart.priority"]); return n }
	sort.SliceStable(todo, func(i, j int) bool { return prio(todo[i]) > prio(todo[j]) })
	for _, in := range todo {
		if st := s.liveStatus(ctx, in); st != instances.StatusStopped {
			continue
		}
		s.log.Info("autostart", "instance", in.Name)
		if err := s.startInstance(ctx, in.Name); err != nil {
			s.log.Error("autostart failed", "instance", in.Name, "err", err)
			continue
		}
		if d, _ := strconv.Atoi(in.Config["boot.autostart.delay"]); d > 0 {
			select {
			case <-time.After(time.Duration(d) * time.Second):
			case <-ctx.Done():
				return
			}
		}
	}
}
