package server

import (
	"net/http"

	"lodge/api"
	"lodge/server/daemon"
	"lodge/server/db"
)

func renderPool(p daemon.Pool) api.StoragePool {
	used := []string{}
	if p.UsedBy.DefaultProfile {
		used = append(used, daemon.ProfileURL("default"))
	}
	for _, n := range p.UsedBy.Instances {
		used = append(used, daemon.InstanceURL(n))
	}
	for _, v := range p.UsedBy.Volumes {
		used = append(used, daemon.VolumeURL(p.Name, "custom", v))
	}
	status := entityStatus(p.State)
	if status == "Created" && !p.Available {
		status = "Unavailable"
	}
	locs := p.Locations
	if locs == nil {
		locs = []string{"none"}
	}
	return api.StoragePool{
		StoragePoolPut: api.StoragePoolPut{Config: p.Config, Description: p.Description},
		Name:           p.Name, Driver: p.Driver, UsedBy: used, Status: status, Locations: locs,
	}
}

// entityStatus is a pool's or network's state as LXD shows it.
func entityStatus(state string) string {
	switch state {
	case db.StatePending:
		return "Pending"
	case db.StateErrored:
		return "Errored"
	}
	return "Created"
}

// memberView tells whether a request about a pool or network wants one
// member's view (its own keys and state): standalone, ?target=, or a
// member asking; else, in a cluster, the cluster's view, without the keys
// that differ per member (as LXD).
func (s *Server) memberView(r *http.Request) bool {
	return !s.d.Clustered() || fromMember(r) || r.URL.Query().Get("target") != ""
}

// poolView drops a pool's member-specific keys and, for a member's
// view, shows its own part's state.
func (s *Server) poolView(r *http.Request, p daemon.Pool) daemon.Pool {
	if !s.d.Clustered() {
		return p
	}
	p.Locations = s.d.PoolLocations(r.Context(), p.Name)
	if s.memberView(r) {
		if p.MemberState != "" {
			p.State = p.MemberState
		}
		return p
	}
	cfg := map[string]string{}
	for k, v := range p.Config {
		if !db.IsMemberPoolKey(k) {
			cfg[k] = v
		}
	}
	p.Config = cfg
	return p
}

func (s *Server) poolsGet(r *http.Request) (response, error) {
	list, err := s.d.StoragePools(r.Context(), recursion(r) > 0)
	if err != nil {
		return nil, err
	}
	if recursion(r) == 0 {
		urls := make([]string, 0, len(list))
		for _, p := range list {
			urls = append(urls, daemon.PoolURL(p.Name))
		}
		return reply(urls), nil
	}
	out := make([]api.StoragePool, 0, len(list))
	for _, p := range list {
		out = append(out, renderPool(s.poolView(r, p)))
	}
	return reply(out), nil
}

func (s *Server) poolGet(r *http.Request) (response, error) {
	p, err := s.d.StoragePool(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	out := renderPool(s.poolView(r, p))
	return replyETag(out, out.StoragePoolPut), nil
}

func (s *Server) poolsPost(r *http.Request) (response, error) {
	var req api.StoragePoolsPost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	var err error
	switch t := r.URL.Query().Get("target"); {
	case t != "":
		err = s.d.DefineStoragePool(r.Context(), req, t)
	case fromMember(r):
		// The member creating the pool on every member: this one's part.
		err = s.d.CreateStoragePoolHere(r.Context(), req.Name)
	default:
		err = s.d.CreateStoragePool(r.Context(), req)
	}
	if err != nil {
		return nil, err
	}
	return replyCreated(daemon.PoolURL(req.Name)), nil
}

func (s *Server) poolPut(r *http.Request) (response, error)   { return s.updatePool(r, false) }
func (s *Server) poolPatch(r *http.Request) (response, error) { return s.updatePool(r, true) }

func (s *Server) updatePool(r *http.Request, patch bool) (response, error) {
	var req api.StoragePoolPut
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	return replyEmpty(), s.d.UpdateStoragePool(r.Context(), r.PathValue("name"), req, daemon.Update{Patch: patch})
}

func (s *Server) poolDelete(r *http.Request) (response, error) {
	del := s.d.DeleteStoragePool
	if fromMember(r) {
		// The member deleting the pool everywhere: this one's part.
		del = s.d.RemoveStoragePoolHere
	}
	rem, err := del(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return reply(api.StoragePoolDeleted{Forgotten: rem.Forgotten, Left: rem.Left}), nil
}

func (s *Server) poolResources(r *http.Request) (response, error) {
	sp, err := s.d.StoragePoolSpace(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return reply(api.ResourcesStoragePool{
		Space:  api.ResourcesStoragePoolSpace{Total: sp.Total, Used: sp.Used},
		Inodes: api.ResourcesStoragePoolInodes{Total: sp.InodesTotal, Used: sp.InodesUsed},
	}), nil
}
