package daemon

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
	"lodge/server/operations"
)

// Expanded is an instance with its profiles applied: each profile's
// config and devices in order, then its own on top (LXD's rule). Only the
// expander makes one (expandProfiles, through expand, expandWith,
// expander and mustExpand; TestExpandedOnlyFromTheExpander checks it), so
// what needs an instance as it runs (specFor, instanceMap, diskMounts)
// cannot be handed a stored row by mistake.
type Expanded struct{ db.Instance }

// expand returns in with its config and devices expanded.
func (d *Daemon) expand(ctx context.Context, in db.Instance) (Expanded, error) {
	return d.expandWith(ctx, in, nil)
}

// expandWith expands with some profiles replaced by a version not stored yet.
func (d *Daemon) expandWith(ctx context.Context, in db.Instance, override map[string]db.Profile) (Expanded, error) {
	profiles, err := d.profilesOf(ctx, in.Profiles)
	if err != nil {
		return Expanded{}, err
	}
	return expandProfiles(in, profiles, override), nil
}

// expander expands many instances with one read of the profiles (list
// with thousands of instances); an instance naming a missing profile gets
// its own config, as mustExpand gives it.
func (d *Daemon) expander(ctx context.Context) func(db.Instance) Expanded {
	all, err := d.db.ListProfiles(ctx)
	if err != nil {
		return func(in db.Instance) Expanded { return d.mustExpand(ctx, in) }
	}
	byName := make(map[string]db.Profile, len(all))
	for _, p := range all {
		byName[p.Name] = p
	}
	return func(in db.Instance) Expanded {
		profiles := make([]db.Profile, 0, len(in.Profiles))
		for _, n := range in.Profiles {
			p, ok := byName[n]
			if !ok {
				return expandProfiles(in, nil, nil)
			}
			profiles = append(profiles, p)
		}
		return expandProfiles(in, profiles, nil)
	}
}

// expandProfiles is LXD's rule: each profile in order, then the
// instance's own keys on top. It is the one maker of Expanded.
func expandProfiles(in db.Instance, profiles []db.Profile, override map[string]db.Profile) Expanded {
	cfg := map[string]string{}
	devs := map[string]map[string]string{}
	for _, p := range profiles {
		if o, ok := override[p.Name]; ok {
			p = o
		}
		maps.Copy(cfg, p.Config)
		maps.Copy(devs, p.Devices)
	}
	maps.Copy(cfg, in.Config)
	maps.Copy(devs, in.Devices)
	out := in
	out.Config, out.Devices = cfg, devs
	return Expanded{out}
}

// mustExpand is expand for paths that cannot fail the request on a broken
// profile reference: the instance's own config is used then.
func (d *Daemon) mustExpand(ctx context.Context, in db.Instance) Expanded {
	out, err := d.expand(ctx, in)
	if err != nil {
		d.log.Warn("expanding instance config", "instance", in.Name, "err", err)
		return expandProfiles(in, nil, nil)
	}
	return out
}

// applyConfig makes a changed instance definition take effect: the runtime
// config is re-rendered first, so liblxc checks raw.lxc and the limits
// before anything is stored, then store runs (the database write), then
// live keys reach a running container's cgroups at once. On failure
// nothing is changed.
func (d *Daemon) applyConfig(ctx context.Context, old, next db.Instance, store func() error) error {
	if next.Phase != db.PhaseCreated {
		return store()
	}
	oldX, err := d.expand(ctx, old)
	if err != nil {
		return err
	}
	newX, err := d.expand(ctx, next)
	if err != nil {
		return err
	}
	if err := d.checkAndDefine(ctx, oldX, newX); err != nil {
		return err
	}
	if err := store(); err != nil {
		if spec, err := d.specFor(ctx, oldX); err == nil {
			_ = d.inst.Define(context.WithoutCancel(ctx), spec)
		}
		return err
	}
	return d.applyLive(ctx, oldX, newX)
}

// checkAndDefine validates an expanded change and writes the new runtime
// config (checked by liblxc); it changes nothing if it fails.
func (d *Daemon) checkAndDefine(ctx context.Context, oldX, newX Expanded) error {
	if err := d.inst.CheckLimits(newX.Config); err != nil {
		return err
	}
	if err := d.checkIDMapChange(ctx, oldX, newX); err != nil {
		return err
	}
	spec, err := d.specFor(ctx, newX)
	if err != nil {
		return err
	}
	if err := d.inst.Define(ctx, spec); err != nil {
		return err
	}
	return nil
}

// applyLive writes changed limits into a running instance's cgroups.
func (d *Daemon) applyLive(ctx context.Context, oldX, newX Expanded) error {
	st := d.liveStatus(ctx, newX.Instance)
	if st != instances.StatusRunning && st != instances.StatusFrozen {
		return nil
	}
	if limitsChanged(oldX.Config, newX.Config) {
		if err := d.inst.UpdateLimits(ctx, newX.Name, newX.Config); err != nil {
			return fmt.Errorf("instance %q: the config is saved but applying the limits to the running instance failed (they apply at its next start): %w", newX.Name, err)
		}
	}
	// NIC filters, isolation and bandwidth limits (a profile's too).
	if err := d.storeNICReservations(ctx, &newX); err != nil {
		return err
	}
	if err := d.applyLiveNICs(ctx, oldX, newX); err != nil {
		return fmt.Errorf("instance %q: the config is saved but applying it to the running instance's NICs failed (it applies at its next start): %w", newX.Name, err)
	}
	return nil
}

func limitsChanged(a, b map[string]string) bool {
	for k := range instances.Keys {
		if len(k) > 7 && k[:7] == "limits." && a[k] != b[k] {
			return true
		}
	}
	return false
}

// refuseVolatileWrites refuses a client's change to volatile.* keys: they
// are lodged's own record (MAC addresses, last power state, id maps).
func refuseVolatileWrites(old, next map[string]string) error {
	for k, v := range next {
		if strings.HasPrefix(k, "volatile.") && old[k] != v {
			return errdefs.Invalidf("config key %q: volatile.* keys are lodged's own and cannot be set", k)
		}
	}
	for k := range old {
		if _, ok := next[k]; strings.HasPrefix(k, "volatile.") && !ok {
			return errdefs.Invalidf("config key %q: volatile.* keys are lodged's own and cannot be removed", k)
		}
	}
	return nil
}

// StoppedInstances tells, after Run returned, whether it stopped every
// instance (lodged shutdown) rather than leaving them running.
func (d *Daemon) StoppedInstances() bool { return d.stoppedAll }

// checkNewInstanceConfig refuses, before anything is made, a create whose
// profiles are unknown, that sets volatile.* keys, or whose expanded config
// the runtime cannot apply.
func (d *Daemon) checkNewInstanceConfig(ctx context.Context, req api.InstancesPost) error {
	for k := range req.Config {
		if strings.HasPrefix(k, "volatile.") {
			return errdefs.Invalidf("config key %q: volatile.* keys are lodged's own and cannot be set", k)
		}
	}
	if err := d.checkProfilesExist(ctx, req.Profiles); err != nil {
		return err
	}
	x, err := d.expand(ctx, db.Instance{Name: req.Name, Config: req.Config, Devices: req.Devices, Profiles: req.Profiles})
	if err != nil {
		return err
	}
	if root, ok := x.Devices["root"]; !ok || root["type"] != "disk" || root["path"] != "/" {
		return errdefs.Invalidf("instance %q: no root disk device: use the default profile (-p default) or one with a root disk", req.Name)
	}
	if err := d.inst.CheckLimits(x.Config); err != nil {
		return err
	}
	return nil
}

// UpdateInstance replaces (or with u.Patch merges) an instance's config,
// devices, profiles and description, checked in full before anything is
// stored (applyConfig); NIC and proxy changes reach a running instance in
// the operation. A PUT with "restore" restores a snapshot instead.
func (d *Daemon) UpdateInstance(ctx context.Context, name string, req api.InstancePut, u Update) (*operations.Op, error) {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return nil, err
	}
	if req.Restore != "" {
		if req.Stateful {
			return nil, errdefs.Invalidf("instance %q: stateful restore needs CRIU, which is not available on this host", name)
		}
		return d.startRestore(ctx, in, req.Restore)
	}
	// The row is read again under the instance's lock: a start, a create
	// finishing or a guest's ready report may have written it since, and
	// writing back the copy read before would undo what they stored.
	unlock := d.instLocks.lock(name)
	defer unlock()
	if in, err = d.getInstance(ctx, name); err != nil {
		return nil, err
	}
	if err := u.check(in); err != nil {
		return nil, err
	}
	newCfg := map[string]string{}
	newDev := map[string]map[string]string{}
	if u.Patch {
		for k, v := range in.Config {
			newCfg[k] = v
		}
		for k, v := range in.Devices {
			newDev[k] = v
		}
	} else {
		// Daemon-owned volatile keys survive a PUT that leaves them out.
		for k, v := range in.Config {
			if strings.HasPrefix(k, "volatile.") {
				newCfg[k] = v
			}
		}
	}
	for k, v := range req.Config {
		newCfg[k] = v
	}
	for k, v := range req.Devices {
		newDev[k] = v
	}
	if err := instances.ValidateConfig(newCfg); err != nil {
		return nil, err
	}
	// The root disk comes from the (implicit) default profile.
	keepRootSize(newDev, in.Pool)
	// What was in effect (profiles' devices included) is not checked again.
	prevDev := d.devicesOf(ctx, in)
	if err := instances.ValidateDevices(newDev, prevDev); err != nil {
		return nil, err
	}
	if err := d.applyRootQuota(ctx, db.Instance{Name: in.Name, Pool: in.Pool, Phase: in.Phase, Devices: newDev}); err != nil {
		return nil, err
	}
	if err := d.validateNICNetworks(ctx, name, newDev, prevDev); err != nil {
		return nil, err
	}
	if req.Profiles != nil {
		if err := d.checkProfilesExist(ctx, req.Profiles); err != nil {
			return nil, err
		}
	}
	if err := refuseVolatileWrites(in.Config, newCfg); err != nil {
		return nil, err
	}
	old := in
	next := in
	next.Config, next.Devices = newCfg, newDev
	if !u.Patch || req.Description != "" {
		next.Description = req.Description
	}
	if !u.Patch {
		next.Ephemeral = req.Ephemeral
	}
	if req.Profiles != nil {
		next.Profiles = req.Profiles
	}
	d.fillNICVolatile(ctx, &next)
	// A NIC plugged into a running instance now gets its veth name now;
	// the others keep theirs until the next start.
	d.assignHostNames(ctx, &next, func(dev string, devc map[string]string) bool {
		return prevDev[dev] == nil || nicLinkKey(prevDev[dev]) != nicLinkKey(devc)
	})
	if err := d.reserveForUpdate(ctx, &next); err != nil {
		return nil, err
	}
	releaseIDs, err := d.reconcileIsolation(ctx, &next)
	if err != nil {
		return nil, err
	}
	defer releaseIDs()
	oldX, newX := d.renewCloudInitID(ctx, in, &next)
	if err := d.applyConfig(ctx, in, next, func() error { return d.db.UpdateInstance(ctx, next) }); err != nil {
		return nil, err
	}
	d.guestUpdated(ctx, oldX, newX)
	d.syncInstanceHosts(ctx, d.instanceHosts(ctx, old), d.instanceHosts(ctx, next))
	d.events.lifecycle("instance-updated", InstanceURL(name), nil)
	// NIC and proxy devices apply to a running instance at once (hotplug).
	op := d.ops.Start(operationsSpec("Updating instance", name), func(ctx context.Context, _ *operations.Op) error { return d.applyLiveDevices(ctx, old, next) })
	return op, nil
}
