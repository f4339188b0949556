package server

import (
	"net/http"

	"lodge/api"
	"lodge/server/daemon"
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
	status := "Created"
	if !p.Available {
		status = "Unavailable"
	}
	return api.StoragePool{
		StoragePoolPut: api.StoragePoolPut{Config: p.Config, Description: p.Description},
		Name:           p.Name, Driver: p.Driver, UsedBy: used, Status: status, Locations: []string{"none"},
	}
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
		out = append(out, renderPool(p))
	}
	return reply(out), nil
}

func (s *Server) poolGet(r *http.Request) (response, error) {
	p, err := s.d.StoragePool(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	out := renderPool(p)
	return replyETag(out, out.StoragePoolPut), nil
}

func (s *Server) poolsPost(r *http.Request) (response, error) {
	var req api.StoragePoolsPost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if err := s.d.CreateStoragePool(r.Context(), req); err != nil {
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
	rem, err := s.d.DeleteStoragePool(r.Context(), r.PathValue("name"))
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
