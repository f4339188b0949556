package server

import (
	"fmt"
	"net/http"
	"strconv"

	"lodge/api"
	"lodge/instances"
	"lodge/server/daemon"
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

func renderInstance(in daemon.Instance) api.Instance {
	code := statusCode(in.State.Status)
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
		ExpandedConfig:  in.ExpandedConfig,
		ExpandedDevices: in.ExpandedDevices,
		Name:            in.Name,
		Status:          code.String(),
		StatusCode:      code,
		LastUsedAt:      in.LastUsedAt,
		Location:        locationOf(in.Location),
		Type:            "container",
		Project:         "default",
	}
}

// renderFull is an instance with its state and snapshots (recursion=2).
func renderFull(in daemon.Instance) api.InstanceFull {
	snaps := make([]any, 0, len(in.Snapshots))
	for _, sn := range in.Snapshots {
		snaps = append(snaps, renderSnapshot(sn))
	}
	return api.InstanceFull{Instance: renderInstance(in), State: renderState(in.State), Snapshots: snaps, Backups: []any{}}
}

// locationOf is the member an instance is on, "none" standalone.
func locationOf(l string) string {
	if l == "" {
		return "none"
	}
	return l
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

func (s *Server) instancesGet(r *http.Request) (response, error) {
	if p := queryParams(r); !p.Empty() {
		return s.instancesQuery(r, p)
	}
	local, err := s.localInstances(r)
	if err != nil {
		return nil, err
	}
	if !s.d.Clustered() || fromMember(r) || recursion(r) == 0 {
		// Names are in the database for every member: no need to ask.
		return reply(local), nil
	}
	return s.clusterInstances(r, local)
}

// localInstances is this server's instances at the request's recursion:
// URLs, instances, or instances with state and snapshots.
func (s *Server) localInstances(r *http.Request) (any, error) {
	if recursion(r) == 0 {
		names, err := s.d.InstanceNames(r.Context())
		if err != nil {
			return nil, err
		}
		urls := make([]string, 0, len(names))
		for _, n := range names {
			urls = append(urls, daemon.InstanceURL(n))
		}
		return urls, nil
	}
	list, err := s.d.Instances(r.Context(), recursion(r) > 1)
	if err != nil {
		return nil, err
	}
	if recursion(r) == 1 {
		out := make([]api.Instance, 0, len(list))
		for _, in := range list {
			out = append(out, renderInstance(in))
		}
		return out, nil
	}
	out := make([]api.InstanceFull, 0, len(list))
	for _, in := range list {
		out = append(out, renderFull(in))
	}
	return out, nil
}

func (s *Server) instanceGet(r *http.Request) (response, error) {
	in, err := s.d.Instance(r.Context(), r.PathValue("name"), recursion(r) > 0)
	if err != nil {
		return nil, err
	}
	if recursion(r) > 0 {
		return replyETag(renderFull(in), instanceETag(in.Instance)), nil
	}
	return replyETag(renderInstance(in), instanceETag(in.Instance)), nil
}

// instanceETag is over the writable fields an If-Match protects.
func instanceETag(in db.Instance) any {
	cfg := in.Config
	if cfg == nil {
		cfg = map[string]string{}
	}
	return []any{in.Architecture, cfg, in.Devices, in.Ephemeral, nonNil(in.Profiles), in.Description}
}

func (s *Server) instanceStateGet(r *http.Request) (response, error) {
	st, err := s.d.InstanceState(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return reply(renderState(st)), nil
}

func (s *Server) instancePut(r *http.Request) (response, error)   { return s.updateInstance(r, false) }
func (s *Server) instancePatch(r *http.Request) (response, error) { return s.updateInstance(r, true) }

func (s *Server) updateInstance(r *http.Request, patch bool) (response, error) {
	var req api.InstancePut
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	what := func(in db.Instance) string { return fmt.Sprintf("instance %q", in.Name) }
	op, err := s.d.UpdateInstance(r.Context(), r.PathValue("name"), req, daemon.Update{Patch: patch, IfMatch: ifMatch(r, instanceETag, what)})
	return replyAsync(op), err
}

func (s *Server) instanceDelete(r *http.Request) (response, error) {
	op, err := s.d.DeleteInstance(r.Context(), r.PathValue("name"))
	return replyAsync(op), err
}

func (s *Server) instanceStatePut(r *http.Request) (response, error) {
	var req api.InstanceStatePut
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	op, err := s.d.ChangeState(r.Context(), r.PathValue("name"), req)
	return replyAsync(op), err
}

// consoleLog serves the console log, of running and stopped instances.
func (s *Server) consoleLog(r *http.Request) (response, error) {
	log, err := s.d.ConsoleLog(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return stream(func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte(log))
	}), nil
}

func (s *Server) instancesPost(r *http.Request) (response, error) {
	if r.Header.Get("Content-Type") == "application/octet-stream" {
		return s.instancesImport(r)
	}
	var req api.InstancesPost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.Source.Type == "migration" {
		return s.instancesReceive(r, req)
	}
	op, err := s.d.CreateInstance(r.Context(), req)
	return replyAsync(op), err
}

// instancePost is POST /1.0/instances/{name}: rename, or move to another
// pool (with "pool"), of a stopped instance; with migration (and no
// pool) the instance as the source of a migration to another server.
func (s *Server) instancePost(r *http.Request) (response, error) {
	var req api.InstancePost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.Migration && req.Pool == "" {
		return s.instanceMigrate(r, r.PathValue("name"), "", req)
	}
	op, err := s.d.MoveInstance(r.Context(), r.PathValue("name"), req)
	return replyAsync(op), err
}

// instanceRebuild is POST /1.0/instances/{name}/rebuild: a fresh rootfs
// from an image, keeping the instance's config, devices and snapshots.
func (s *Server) instanceRebuild(r *http.Request) (response, error) {
	var req api.InstanceRebuildPost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	op, err := s.d.RebuildInstance(r.Context(), r.PathValue("name"), req)
	return replyAsync(op), err
}
