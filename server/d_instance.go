package server

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
)

func instanceURL(name string) string { return "/1.0/instances/" + name }

func instanceResources(name string) map[string][]string {
	return map[string][]string{"instances": {instanceURL(name)}, "containers": {"/1.0/containers/" + name}}
}

// expandedDevices is x's expanded devices, never nil. The root disk names
// the pool the instance's volume is on: x.Pool is the truth for that.
func (d *Daemon) expandedDevices(x db.Instance) map[string]map[string]string {
	out := make(map[string]map[string]string, len(x.Devices))
	for k, dev := range x.Devices {
		if x.Pool != "" && dev["type"] == "disk" && dev["path"] == "/" {
			c := make(map[string]string, len(dev))
			for dk, dv := range dev {
				c[dk] = dv
			}
			c["pool"] = x.Pool
			dev = c
		}
		out[k] = dev
	}
	return out
}

// liveState reads an instance's state from the runtime. A row still being
// created has no runtime config yet and reads as stopped.
func (d *Daemon) liveState(ctx context.Context, in db.Instance) instances.State {
	if in.Phase != db.PhaseCreated {
		return instances.State{Status: instances.StatusStopped}
	}
	st, err := d.inst.State(ctx, in.Name)
	if err != nil {
		if !errors.Is(err, instances.ErrNotFound) {
			d.log.Warn("reading instance state", "instance", in.Name, "err", err)
		}
		return instances.State{Status: instances.StatusError}
	}
	return st
}

// liveStatus is liveState without the resource and network reads, for
// paths that only need to know whether the instance runs.
func (d *Daemon) liveStatus(ctx context.Context, in db.Instance) instances.Status {
	if in.Phase == db.PhaseCreated {
		st, err := d.inst.Status(ctx, in.Name)
		if err == nil {
			return st
		}
	}
	return d.liveState(ctx, in).Status
}

// states reads live states for many instances at once (the driver's
// States), so that list stays fast with thousands of instances.
func (d *Daemon) states(ctx context.Context, list []db.Instance) []instances.State {
	out := make([]instances.State, len(list))
	names := make([]string, 0, len(list))
	for _, in := range list {
		if in.Phase == db.PhaseCreated {
			names = append(names, in.Name)
		}
	}
	got := d.inst.States(ctx, names)
	for i, in := range list {
		st, ok := got[in.Name]
		switch {
		case in.Phase != db.PhaseCreated:
			st = instances.State{Status: instances.StatusStopped}
		case !ok:
			st = instances.State{Status: instances.StatusError}
		}
		out[i] = st
	}
	return out
}

func (d *Daemon) getInstance(ctx context.Context, name string) (db.Instance, error) {
	if err := instances.ValidateName(name); err != nil {
		return db.Instance{}, errdefs.NotFoundf("instance %q not found", name)
	}
	in, err := d.db.GetInstance(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return in, errdefs.NotFoundf("instance %q not found (see `lodge list`)", name)
	}
	return in, err
}

// stopTimeout picks a graceful-stop timeout: the request's, else the
// instance's boot.host_shutdown_timeout, else 30 s.
func (d *Daemon) stopTimeout(in db.Instance, req int) time.Duration {
	if req > 0 {
		return time.Duration(req) * time.Second
	}
	in = d.mustExpand(context.Background(), in)
	if v, err := strconv.Atoi(in.Config["boot.host_shutdown_timeout"]); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return 30 * time.Second
}

func (d *Daemon) startInstance(ctx context.Context, name string) error {
	unlock := d.instLocks.lock(name)
	defer unlock()
	in, err := d.db.GetInstance(ctx, name)
	if err != nil {
		return err
	}
	if in.Phase != db.PhaseCreated {
		return errdefs.Conflictf("instance %q is still being created", name)
	}
	st := d.liveState(ctx, in)
	switch st.Status {
	case instances.StatusRunning:
		return errdefs.Invalidf("instance %q is already running", name)
	case instances.StatusFrozen:
		return errdefs.Invalidf("instance %q is paused; resume it with lodge resume %s", name, name)
	}
	if d.fillNICVolatile(&in) {
		if err := d.db.UpdateInstance(ctx, in); err != nil {
			return err
		}
		d.syncNetworkHosts(ctx)
	}
	x, err := d.expand(ctx, in)
	if err != nil {
		return err
	}
	// Instances made before lodge shifted images get their rootfs shifted once.
	if err := d.ensureRootfsMap(in); err != nil {
		return err
	}
	spec, err := d.specFor(x)
	if err != nil {
		return err
	}
	// The runtime config is regenerated at every start so config changes apply.
	if err := d.inst.Define(ctx, spec); err != nil {
		return fmt.Errorf("instance %q: %w", name, err)
	}
	if err := d.inst.Start(ctx, name); err != nil {
		return err
	}
	if err := d.runningProxies(ctx, in); err != nil {
		// A start whose port forwards fail is a failed start, as in LXD.
		_ = d.inst.Stop(context.WithoutCancel(ctx), name, 0, true)
		d.stopProxies(name)
		return err
	}
	d.recordPower(ctx, name, "RUNNING")
	now := time.Now().UTC()
	_ = d.db.TouchInstance(ctx, name, now)
	_ = d.db.TouchImage(ctx, in.ImageFingerprint, now)
	d.events.lifecycle("instance-started", instanceURL(name), nil)
	d.startupSnapshot(ctx, in)
	return nil
}

func (d *Daemon) stopInstance(ctx context.Context, name string, timeout time.Duration, force bool) error {
	return d.stopInstanceOpt(ctx, name, timeout, force, true)
}

// stopInstanceOpt stops an instance; record marks it as stopped by a user
// (volatile.last_state.power=STOPPED), which a host shutdown does not.
func (d *Daemon) stopInstanceOpt(ctx context.Context, name string, timeout time.Duration, force, record bool) error {
	unlock := d.instLocks.lock(name)
	defer unlock()
	in, err := d.db.GetInstance(ctx, name)
	if err != nil {
		return err
	}
	st := d.liveState(ctx, in)
	if st.Status != instances.StatusRunning && st.Status != instances.StatusFrozen {
		return fmt.Errorf("instance %q is not running: %w", name, instances.ErrNotRunning)
	}
	if err := d.inst.Stop(ctx, name, timeout, force); err != nil {
		return err
	}
	if record {
		d.recordPower(ctx, name, "STOPPED")
	}
	d.stopProxies(name)
	d.events.lifecycle("instance-stopped", instanceURL(name), nil)
	return nil
}

func (d *Daemon) freezeInstance(ctx context.Context, name string, freeze bool) error {
	unlock := d.instLocks.lock(name)
	defer unlock()
	in, err := d.db.GetInstance(ctx, name)
	if err != nil {
		return err
	}
	st := d.liveState(ctx, in)
	if freeze {
		if st.Status != instances.StatusRunning {
			return errdefs.Invalidf("instance %q is not running (%s)", name, st.Status)
		}
		if err := d.inst.Freeze(ctx, name); err != nil {
			return err
		}
		d.events.lifecycle("instance-paused", instanceURL(name), nil)
		return nil
	}
	if st.Status != instances.StatusFrozen {
		return errdefs.Invalidf("instance %q is not paused (%s)", name, st.Status)
	}
	if err := d.inst.Unfreeze(ctx, name); err != nil {
		return err
	}
	d.events.lifecycle("instance-resumed", instanceURL(name), nil)
	return nil
}
