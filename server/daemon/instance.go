package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
	"lodge/server/operations"
	"lodge/trace"
)

// expandedDevices is x's devices, never nil, with the root disk naming
// the pool the instance's volume is on (poolDevices).
func expandedDevices(x Expanded) map[string]map[string]string { return poolDevices(x.Pool, x.Devices) }

// poolDevices is devs, never nil; the root disk names pool, the truth for
// where the instance's volume is.
func poolDevices(pool string, devs map[string]map[string]string) map[string]map[string]string {
	out := make(map[string]map[string]string, len(devs))
	for k, dev := range devs {
		if pool != "" && dev["type"] == "disk" && dev["path"] == "/" {
			c := make(map[string]string, len(dev))
			for dk, dv := range dev {
				c[dk] = dv
			}
			c["pool"] = pool
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
func (d *Daemon) stopTimeout(ctx context.Context, in db.Instance, req int) time.Duration {
	if req > 0 {
		return time.Duration(req) * time.Second
	}
	x := d.mustExpand(ctx, in)
	if v, err := strconv.Atoi(x.Config["boot.host_shutdown_timeout"]); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return 30 * time.Second
}

func (d *Daemon) startInstance(ctx context.Context, name string) error {
	defer trace.Step(ctx, "start "+name)()
	endLock := trace.Step(ctx, "wait for the instance's lock")
	unlock := d.instLocks.lock(name)
	endLock()
	defer unlock()
	in, err := d.db.GetInstance(ctx, name)
	if err != nil {
		return err
	}
	if in.Phase != db.PhaseCreated {
		return errdefs.Conflictf("instance %q is still being created", name)
	}
	endState := trace.Step(ctx, "live state")
	st := d.liveStatus(ctx, in)
	endState()
	switch st {
	case instances.StatusRunning:
		return errdefs.Invalidf("instance %q is already running", name)
	case instances.StatusFrozen:
		return errdefs.Invalidf("instance %q is paused; resume it with lodge resume %s", name, name)
	}
	before := in
	before.Config = maps.Clone(in.Config)
	// Every start names the host-side veths anew (assignHostNames): an
	// instance renamed or copied since gets a name of its own.
	if nics, names := d.fillNICVolatile(ctx, &in), d.assignHostNames(ctx, &in, func(string, map[string]string) bool { return true }); nics || names {
		if err := d.db.UpdateInstance(ctx, in); err != nil {
			return err
		}
		d.syncInstanceHosts(ctx, d.instanceHosts(ctx, before), d.instanceHosts(ctx, in))
	}
	x, err := d.expand(ctx, in)
	if err != nil {
		return err
	}
	if err := d.storeNICReservations(ctx, &x); err != nil {
		return err
	}
	// Instances made before lodge shifted images get their rootfs shifted once.
	if err := d.ensureRootfsMap(ctx, in); err != nil {
		return err
	}
	spec, err := d.specFor(ctx, x)
	if err != nil {
		return err
	}
	// Image templates, before init runs (instance_templates.go).
	if err := d.renderTemplates(ctx, x, spec.Rootfs); err != nil {
		return err
	}
	// The runtime config is regenerated at every start so config changes apply.
	if err := d.inst.Define(ctx, spec); err != nil {
		return fmt.Errorf("instance %q: %w", name, err)
	}
	if err := d.guestListen(x); err != nil {
		return err
	}
	// NIC filters and routed parents are in place before the NICs exist.
	if err := d.nicsBeforeStart(ctx, x); err != nil {
		d.guestClose(name)
		return err
	}
	if err := d.inst.Start(ctx, name); err != nil {
		d.nicsStopped(context.WithoutCancel(ctx), x)
		d.guestClose(name)
		return err
	}
	endAfter := trace.Step(ctx, "after the start: NICs, proxies, records, events")
	defer endAfter()
	err = d.nicsAfterStart(ctx, x)
	if err == nil {
		err = d.runningProxies(ctx, in)
	}
	if err != nil {
		// A start whose NICs or port forwards fail is a failed start, as in LXD.
		_ = d.inst.Stop(context.WithoutCancel(ctx), name, 0, true)
		d.stopProxies(name)
		d.nicsStopped(context.WithoutCancel(ctx), x)
		d.guestClose(name)
		return err
	}
	d.recordPower(ctx, name, "RUNNING")
	now := time.Now().UTC()
	_ = d.db.TouchInstance(ctx, name, now)
	_ = d.db.TouchImage(ctx, in.ImageFingerprint, now)
	d.events.lifecycle("instance-started", InstanceURL(name), nil)
	d.startupSnapshot(ctx, in)
	return nil
}

// StopOptions say how an instance stops.
type StopOptions struct {
	// Timeout is how long its init gets to shut down cleanly before it is
	// killed (stopTimeout picks it).
	Timeout time.Duration
	// Force kills it at once.
	Force bool
	// KeepLastState leaves volatile.last_state.power RUNNING, as for a
	// host shutdown, so that it comes back at the next start; a user's
	// stop records STOPPED.
	KeepLastState bool
}

// stopInstance stops a running (or frozen) instance.
func (d *Daemon) stopInstance(ctx context.Context, name string, opt StopOptions) error {
	unlock := d.instLocks.lock(name)
	defer unlock()
	in, err := d.db.GetInstance(ctx, name)
	if err != nil {
		return err
	}
	st := d.liveStatus(ctx, in)
	if st != instances.StatusRunning && st != instances.StatusFrozen {
		return fmt.Errorf("instance %q is not running: %w", name, instances.ErrNotRunning)
	}
	if err := d.inst.Stop(ctx, name, opt.Timeout, opt.Force); err != nil {
		return err
	}
	if !opt.KeepLastState {
		d.recordPower(ctx, name, "STOPPED")
	}
	d.stopProxies(name)
	d.nicsStopped(ctx, d.mustExpand(ctx, in))
	d.guestClose(name)
	d.events.lifecycle("instance-stopped", InstanceURL(name), nil)
	return nil
}

func (d *Daemon) freezeInstance(ctx context.Context, name string, freeze bool) error {
	unlock := d.instLocks.lock(name)
	defer unlock()
	in, err := d.db.GetInstance(ctx, name)
	if err != nil {
		return err
	}
	st := d.liveStatus(ctx, in)
	if freeze {
		if st != instances.StatusRunning {
			return errdefs.Invalidf("instance %q is not running (%s)", name, st)
		}
		if err := d.inst.Freeze(ctx, name); err != nil {
			return err
		}
		d.events.lifecycle("instance-paused", InstanceURL(name), nil)
		return nil
	}
	if st != instances.StatusFrozen {
		return errdefs.Invalidf("instance %q is not paused (%s)", name, st)
	}
	if err := d.inst.Unfreeze(ctx, name); err != nil {
		return err
	}
	d.events.lifecycle("instance-resumed", InstanceURL(name), nil)
	return nil
}

// ChangeState starts, stops, restarts, freezes or unfreezes an instance
// in an operation.
func (d *Daemon) ChangeState(ctx context.Context, name string, req api.InstanceStatePut) (*operations.Op, error) {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return nil, err
	}
	if req.Stateful {
		return nil, errdefs.Invalidf("instance %q: stateful %s is not supported (CRIU does not work on this host)", name, req.Action)
	}
	var desc string
	var fn func(ctx context.Context) error
	timeout := d.stopTimeout(ctx, in, req.Timeout)
	switch req.Action {
	case "start":
		desc, fn = "Starting instance", func(ctx context.Context) error { return d.startInstance(ctx, name) }
	case "stop":
		desc, fn = "Stopping instance", func(ctx context.Context) error {
			if err := d.stopInstance(ctx, name, StopOptions{Timeout: timeout, Force: req.Force}); err != nil {
				return err
			}
			d.deleteEphemeral(ctx, name)
			return nil
		}
	case "restart":
		desc, fn = "Restarting instance", func(ctx context.Context) error {
			if err := d.stopInstance(ctx, name, StopOptions{Timeout: timeout, Force: req.Force}); err != nil && !errors.Is(err, instances.ErrNotRunning) {
				return err
			}
			return d.startInstance(ctx, name)
		}
	case "freeze":
		desc, fn = "Freezing instance", func(ctx context.Context) error { return d.freezeInstance(ctx, name, true) }
	case "unfreeze":
		desc, fn = "Unfreezing instance", func(ctx context.Context) error { return d.freezeInstance(ctx, name, false) }
	default:
		return nil, errdefs.Invalidf("unknown action %q (use start, stop, restart, freeze or unfreeze)", req.Action)
	}
	spec := operationsSpec(desc, name)
	spec.Trace = trace.From(ctx)
	op := d.ops.Start(spec, func(ctx context.Context, _ *operations.Op) error { return fn(ctx) })
	return op, nil
}

// Instance is an instance as the API shows it: its row, its config and
// devices with its profiles applied, its live state and, when asked for,
// its snapshots.
type Instance struct {
	db.Instance
	ExpandedConfig  map[string]string
	ExpandedDevices map[string]map[string]string
	State           instances.State
	Snapshots       []Snapshot
	// Location is the cluster member it lives on ("none" standalone).
	Location string
}

// Snapshot is a snapshot as the API shows it: its row, its devices with
// the root disk on its instance's pool, and its size (-1 if not read).
type Snapshot struct {
	db.Snapshot
	ExpandedDevices map[string]map[string]string
	Size            int64
}

func (d *Daemon) instanceInfo(in db.Instance, x Expanded, st instances.State) Instance {
	devs := expandedDevices(x)
	return Instance{Instance: in, ExpandedConfig: x.Config, ExpandedDevices: devs, State: withHostNames(x.Name, x.Config, devs, st), Location: d.db.Location()}
}

// withHostNames names the host side of st's veths that the driver left
// unnamed (a list) from the instance's NICs (devs, its expanded devices):
// host_name, else volatile.DEV.host_name in cfg (nicHostName), as LXD
// reports them.
func withHostNames(name string, cfg map[string]string, devs map[string]map[string]string, st instances.State) instances.State {
	var ifs map[string]instances.Interface
	for dev, devc := range devs {
		if devc["type"] != "nic" {
			continue
		}
		ifname := devc["name"]
		if ifname == "" {
			ifname = dev
		}
		ifc, ok := st.Interfaces[ifname]
		if !ok || !ifc.Veth || ifc.HostName != "" {
			continue
		}
		if ifs == nil {
			ifs = maps.Clone(st.Interfaces)
		}
		ifc.HostName = nicHostName(name, cfg, dev, devc)
		ifs[ifname] = ifc
	}
	if ifs != nil {
		st.Interfaces = ifs
	}
	return st
}

// InstanceNames lists the instances' names.
func (d *Daemon) InstanceNames(ctx context.Context) ([]string, error) {
	return d.db.ListInstanceNames(ctx)
}

// Instances lists every instance with its live state (read at once, so
// that list stays fast with thousands), and its snapshots if withSnapshots.
func (d *Daemon) Instances(ctx context.Context, withSnapshots bool) ([]Instance, error) {
	list, err := d.db.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	sts := d.states(ctx, list)
	expand := d.expander(ctx)
	var snaps map[string][]db.Snapshot
	if withSnapshots {
		snaps, _ = d.db.AllSnapshots(ctx)
	}
	out := make([]Instance, 0, len(list))
	for i, in := range list {
		info := d.instanceInfo(in, expand(in), sts[i])
		if withSnapshots {
			list := snaps[in.Name]
			if snaps == nil { // the one read failed: one read per instance
				list, _ = d.db.ListSnapshots(ctx, in.Name)
			}
			info.Snapshots = d.snapshotsOf(ctx, in, list, false)
		}
		out = append(out, info)
	}
	return out, nil
}

// Instance reads one instance with its live state, and its snapshots if
// withSnapshots.
func (d *Daemon) Instance(ctx context.Context, name string, withSnapshots bool) (Instance, error) {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return Instance{}, err
	}
	info := d.instanceInfo(in, d.mustExpand(ctx, in), d.liveState(ctx, in))
	if withSnapshots {
		list, err := d.db.ListSnapshots(ctx, in.Name)
		if err == nil {
			info.Snapshots = d.snapshotsOf(ctx, in, list, false)
		}
	}
	return info, nil
}

// InstanceState reads an instance's live state.
func (d *Daemon) InstanceState(ctx context.Context, name string) (instances.State, error) {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return instances.State{}, err
	}
	return d.liveState(ctx, in), nil
}

// ConsoleLog is the tail of an instance's console log.
func (d *Daemon) ConsoleLog(ctx context.Context, name string) (string, error) {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return "", err
	}
	return d.inst.ConsoleLog(ctx, in.Name, 1<<20)
}

// ClearConsoleLog empties an instance's console log.
func (d *Daemon) ClearConsoleLog(ctx context.Context, name string) error {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return err
	}
	return d.inst.ClearConsoleLog(ctx, in.Name)
}
