package daemon

import (
	"context"
	"path/filepath"

	"lodge/network/proxy"
	"lodge/server/db"
)

// proxies supervises the forkproxy helpers of proxy devices (network/proxy).
func (d *Daemon) proxies() proxy.Supervisor {
	return proxy.Supervisor{Dir: filepath.Join(d.cfg.Dir, "devices"), Helper: d.nets.proxyHelper}
}

// syncProxies makes the forwarders of a running instance (init pid) match
// its proxy devices.
func (d *Daemon) syncProxies(ctx context.Context, in db.Instance, pid int) error {
	want := map[string]proxy.Forward{}
	for dev, devc := range d.devicesOf(ctx, in) {
		if devc["type"] == "proxy" {
			want[dev] = proxy.Forward{Listen: devc["listen"], Connect: devc["connect"]}
		}
	}
	return d.proxies().Sync(in.Name, pid, want)
}

// stopProxies ends every forwarder of an instance.
func (d *Daemon) stopProxies(instance string) { d.proxies().Stop(instance) }

// runningProxies syncs the forwarders of an instance if it runs.
func (d *Daemon) runningProxies(ctx context.Context, in db.Instance) error {
	st := d.liveState(ctx, in)
	if st.PID <= 0 || st.Status != "Running" && st.Status != "Frozen" {
		return nil
	}
	return d.syncProxies(ctx, in, st.PID)
}

// adoptProxies re-adopts (or restarts) the forwarders of running instances
// after a lodged restart.
func (d *Daemon) adoptProxies(ctx context.Context, v *instView) {
	expand := d.expander(ctx)
	for _, in := range v.list {
		if in.Phase != db.PhaseCreated {
			continue
		}
		has := false
		for _, dev := range expandedDevices(expand(in)) {
			has = has || dev["type"] == "proxy"
		}
		if !has && !d.proxies().Has(in.Name) {
			continue
		}
		if err := d.runningProxies(ctx, in); err != nil {
			d.log.Warn("proxy devices not restored", "instance", in.Name, "err", err)
		}
	}
}

// removeProxies stops an instance's forwarders and forgets their files.
func (d *Daemon) removeProxies(instance string) { d.proxies().Remove(instance) }
