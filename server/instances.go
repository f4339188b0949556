package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
)

func statusCode(st instances.Status) api.StatusCode {
	switch st {
	case instances.StatusRunning:
		return api.Running
	case instances.StatusFrozen:
		return api.Frozen
	case instances.StatusStarting:
		return api.Starting
	case instances.StatusStopping:
		return api.Stopping
	case instances.StatusError:
		return api.Error
	}
	return api.Stopped
}

func (s *Server) renderInstance(in db.Instance, st instances.State) api.Instance {
	return renderInstanceExpanded(in, s.d.mustExpand(context.Background(), in), st, s.d.expandedDevices)
}

// renderInstanceExpanded renders in with x, its expanded form.
func renderInstanceExpanded(in, x db.Instance, st instances.State, devices func(db.Instance) map[string]map[string]string) api.Instance {
	code := statusCode(st.Status)
	cfg := in.Config
	if cfg == nil {
		cfg = map[string]string{}
	}
	return api.Instance{
		InstancePut: api.InstancePut{
			Architecture: in.Architecture, Config: cfg, Devices: in.Devices, Ephemeral: in.Ephemeral,
			Profiles: nonNil(in.Profiles), Description: in.Description,
		},
		CreatedAt:       in.CreatedAt,
		ExpandedConfig:  x.Config,
		ExpandedDevices: devices(x),
		Name:            in.Name,
		Status:          code.String(),
		StatusCode:      code,
		LastUsedAt:      in.LastUsedAt,
		Location:        "none",
		Type:            "container",
		Project:         "default",
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func renderState(st instances.State) *api.InstanceState {
	code := statusCode(st.Status)
	out := &api.InstanceState{
		Status: code.String(), StatusCode: code, Pid: int64(st.PID), Processes: st.Processes,
		Memory:  api.InstanceStateMemory{Usage: st.MemoryUsed, UsagePeak: st.MemoryPeak, SwapUsage: st.SwapUsed},
		CPU:     api.InstanceStateCPU{Usage: st.CPUNanos},
		Disk:    map[string]api.InstanceStateDisk{},
		Network: map[string]api.InstanceStateNetwork{},
	}
	if code != api.Running && code != api.Frozen {
		out.Pid = 0
		out.Network = nil
	}
	for name, ifc := range st.Interfaces {
		n := api.InstanceStateNetwork{Hwaddr: ifc.HWAddr, HostName: ifc.HostName, Mtu: ifc.MTU, Type: ifc.Type, State: "down",
			Addresses: []api.InstanceStateNetworkAddress{}}
		if ifc.Up {
			n.State = "up"
		}
		for _, a := range ifc.Addresses {
			n.Addresses = append(n.Addresses, api.InstanceStateNetworkAddress{Family: a.Family, Address: a.Address,
				Netmask: strconv.Itoa(a.Prefix), Scope: a.Scope})
		}
		out.Network[name] = n
	}
	return out
}

func recursion(r *http.Request) int {
	n, _ := strconv.Atoi(r.URL.Query().Get("recursion"))
	return n
}

func (s *Server) handleInstancesGet(w http.ResponseWriter, r *http.Request) {
	if recursion(r) == 0 {
		names, err := s.d.db.ListInstanceNames(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		urls := make([]string, 0, len(names))
		for _, n := range names {
			urls = append(urls, instanceURL(n))
		}
		writeSync(w, urls)
		return
	}
	list, err := s.d.db.ListInstances(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	switch recursion(r) {
	case 1:
		sts := s.d.states(r.Context(), list)
		expand := s.d.expander(r.Context())
		out := make([]api.Instance, 0, len(list))
		for i, in := range list {
			out = append(out, renderInstanceExpanded(in, expand(in), sts[i], s.d.expandedDevices))
		}
		writeSync(w, out)
	default:
		sts := s.d.states(r.Context(), list)
		expand := s.d.expander(r.Context())
		snaps, _ := s.d.db.AllSnapshots(r.Context())
		out := make([]api.InstanceFull, 0, len(list))
		for i, in := range list {
			out = append(out, api.InstanceFull{Instance: renderInstanceExpanded(in, expand(in), sts[i], s.d.expandedDevices), State: renderState(sts[i]),
				Snapshots: s.snapshotsOf(r.Context(), in, snaps), Backups: []any{}})
		}
		writeSync(w, out)
	}
}

func (s *Server) handleInstanceGet(w http.ResponseWriter, r *http.Request) {
	in, err := s.d.getInstance(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	st := s.d.liveState(r.Context(), in)
	inst := s.renderInstance(in, st)
	if recursion(r) > 0 {
		writeSyncETag(w, api.InstanceFull{Instance: inst, State: renderState(st), Snapshots: s.snapshotsOf(r.Context(), in), Backups: []any{}}, etagFields(inst))
		return
	}
	writeSyncETag(w, inst, etagFields(inst))
}

// etagFields are the writable fields an If-Match protects.
func etagFields(inst api.Instance) any {
	return []any{inst.Architecture, inst.Config, inst.Devices, inst.Ephemeral, inst.Profiles, inst.Description}
}

func (s *Server) handleInstanceStateGet(w http.ResponseWriter, r *http.Request) {
	in, err := s.d.getInstance(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeSync(w, renderState(s.d.liveState(r.Context(), in)))
}

func (s *Server) handleInstancePut(w http.ResponseWriter, r *http.Request) {
	s.updateInstance(w, r, false)
}

func (s *Server) handleInstancePatch(w http.ResponseWriter, r *http.Request) {
	s.updateInstance(w, r, true)
}

func (s *Server) updateInstance(w http.ResponseWriter, r *http.Request, patch bool) {
	name := r.PathValue("name")
	in, err := s.d.getInstance(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	var req api.InstancePut
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Restore != "" {
		if req.Stateful {
			writeError(w, errdefs.Invalidf("instance %q: stateful restore needs CRIU, which is not available on this host", name))
			return
		}
		s.startRestore(w, r, in, req.Restore)
		return
	}
	if m := r.Header.Get("If-Match"); m != "" {
		cur := s.renderInstance(in, instances.State{})
		if strings.Trim(m, `"`) != etag(etagFields(cur)) {
			writeError(w, errdefs.Preconditionf("instance %q changed since you read it (ETag mismatch); read it again and retry", name))
			return
		}
	}
	newCfg := map[string]string{}
	newDev := map[string]map[string]string{}
	if patch {
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
	if err := validateConfig(newCfg); err != nil {
		writeError(w, err)
		return
	}
	// The root disk comes from the (implicit) default profile.
	keepRootSize(newDev, in.Pool)
	// What was in effect (profiles' devices included) is not checked again.
	prevDev := s.d.devicesOf(r.Context(), in)
	if err := validateDevices(newDev, prevDev); err != nil {
		writeError(w, err)
		return
	}
	if err := s.d.applyRootQuota(r.Context(), db.Instance{Name: in.Name, Pool: in.Pool, Phase: in.Phase, Devices: newDev}); err != nil {
		writeError(w, err)
		return
	}
	if err := s.d.validateNICNetworks(r.Context(), name, newDev, prevDev); err != nil {
		writeError(w, err)
		return
	}
	if req.Profiles != nil {
		if err := s.d.checkProfilesExist(r.Context(), req.Profiles); err != nil {
			writeError(w, err)
			return
		}
	}
	if err := refuseVolatileWrites(in.Config, newCfg); err != nil {
		writeError(w, err)
		return
	}
	unlock := s.d.instLocks.lock(name)
	defer unlock()
	old := in
	next := in
	next.Config, next.Devices = newCfg, newDev
	if !patch || req.Description != "" {
		next.Description = req.Description
	}
	if !patch {
		next.Ephemeral = req.Ephemeral
	}
	if req.Profiles != nil {
		next.Profiles = req.Profiles
	}
	s.d.fillNICVolatile(&next)
	if err := s.d.applyConfig(r.Context(), in, next, func() error { return s.d.db.UpdateInstance(r.Context(), next) }); err != nil {
		writeError(w, err)
		return
	}
	s.d.syncNetworkHosts(r.Context())
	s.d.events.lifecycle("instance-updated", instanceURL(name), nil)
	// NIC and proxy devices apply to a running instance at once (hotplug).
	op := s.d.ops.Start(operationsSpec("Updating instance", name), func(ctx context.Context, _ *opT) error { return s.d.applyLiveDevices(ctx, old, next) })
	writeAsync(w, op)
}

func (s *Server) handleInstanceDelete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	in, err := s.d.getInstance(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	if st := s.d.liveState(r.Context(), in); st.Status == instances.StatusRunning || st.Status == instances.StatusFrozen {
		writeError(w, errdefs.Invalidf("instance %q is running; stop it first (lodge stop %s) or delete with --force", name, name))
		return
	}
	op := s.d.ops.Start(operationsSpec("Deleting instance", name), func(ctx context.Context, _ *opT) error {
		return s.d.deleteInstance(ctx, name)
	})
	writeAsync(w, op)
}

func (s *Server) handleInstanceStatePut(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	in, err := s.d.getInstance(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	var req api.InstanceStatePut
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Stateful {
		writeError(w, errdefs.Invalidf("instance %q: stateful %s is not supported (CRIU does not work on this host)", name, req.Action))
		return
	}
	var desc string
	var fn func(ctx context.Context) error
	timeout := s.d.stopTimeout(in, req.Timeout)
	switch req.Action {
	case "start":
		desc, fn = "Starting instance", func(ctx context.Context) error { return s.d.startInstance(ctx, name) }
	case "stop":
		desc, fn = "Stopping instance", func(ctx context.Context) error { return s.d.stopInstance(ctx, name, timeout, req.Force) }
	case "restart":
		desc, fn = "Restarting instance", func(ctx context.Context) error {
			if err := s.d.stopInstance(ctx, name, timeout, req.Force); err != nil && !errors.Is(err, instances.ErrNotRunning) {
				return err
			}
			return s.d.startInstance(ctx, name)
		}
	case "freeze":
		desc, fn = "Freezing instance", func(ctx context.Context) error { return s.d.freezeInstance(ctx, name, true) }
	case "unfreeze":
		desc, fn = "Unfreezing instance", func(ctx context.Context) error { return s.d.freezeInstance(ctx, name, false) }
	default:
		writeError(w, errdefs.Invalidf("unknown action %q (use start, stop, restart, freeze or unfreeze)", req.Action))
		return
	}
	op := s.d.ops.Start(operationsSpec(desc, name), func(ctx context.Context, _ *opT) error { return fn(ctx) })
	writeAsync(w, op)
}

func (s *Server) handleConsoleLog(w http.ResponseWriter, r *http.Request) {
	in, err := s.d.getInstance(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	log, err := s.d.inst.ConsoleLog(r.Context(), in.Name, 1<<20)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write([]byte(log))
}
