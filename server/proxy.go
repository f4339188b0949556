package server

import (
	"context"
	"path/filepath"

	"lodge/network/proxy"
	"lodge/server/db"
)

// proxies supervises the forkproxy helpers of proxy devices (network/proxy).
func (s *Server) proxies() proxy.Supervisor {
	return proxy.Supervisor{Dir: filepath.Join(s.cfg.Dir, "devices"), Helper: s.nets.proxyHelper}
}

// syncProxies makes the forwarders of a running instance (init pid) match
// its proxy devices.
func (s *Server) syncProxies(in db.Instance, pid int) error {
	want := map[string]proxy.Forward{}
	for dev, d := range s.devicesOf(context.Background(), in) {
		if d["type"] == "proxy" {
			want[dev] = proxy.Forward{Listen: d["listen"], Connect: d["connect"]}
		}
	}
	return s.proxies().Sync(in.Name, pid, want)
}

// stopProxies ends every forwarder of an instance.
func (s *Server) stopProxies(instance string) { s.proxies().Stop(instance) }

// runningProxies syncs the forwarders of an instance if it runs.
func (s *Server) runningProxies(ctx context.Context, in db.Instance) error {
	st := s.liveState(ctx, in)
	if st.PID <= 0 || st.Status != "Running" && st.Status != "Frozen" {
		return nil
	}
	return s.syncProxies(in, st.PID)
}

// adoptProxies re-adopts (or restarts) the forwarders of running instances
// after a lodged restart.
func (s *Server) adoptProxies(ctx context.Context) {
	list, err := s.db.ListInstances(ctx)
	if err != nil {
		return
	}
	for _, in := range list {
		if in.Phase != db.PhaseCreated {
			continue
		}
		has := false
		for _, d := range s.devicesOf(ctx, in) {
			has = has || d["type"] == "proxy"
		}
		if !has && !s.proxies().Has(in.Name) {
			continue
		}
		if err := s.runningProxies(ctx, in); err != nil {
			s.log.Warn("proxy devices not restored", "instance", in.Name, "err", err)
		}
	}
}

// removeProxies stops an instance's forwarders and forgets their files.
func (s *Server) removeProxies(instance string) { s.proxies().Remove(instance) }
