package server

import (
	"net/http"
	"sort"

	"lodge/api"
	"lodge/server/daemon"
)

func renderVolume(v daemon.Volume) api.StorageVolume {
	used := []string{}
	for _, u := range v.UsedBy {
		if v.Type == "image" {
			used = append(used, daemon.ImageURL(u))
		} else {
			used = append(used, daemon.InstanceURL(u))
		}
	}
	out := api.StorageVolume{Config: v.Config, Description: v.Description, Name: v.Name, Type: v.Type,
		UsedBy: used, Location: "none", ContentType: "filesystem"}
	if v.Type != "custom" {
		out.Config = map[string]string{}
	}
	return out
}

// volumesGet lists a pool's volumes: custom ones, instances and
// images (GET .../volumes), or one type (GET .../volumes/{type}).
func (s *Server) volumesGet(r *http.Request) (response, error) {
	pool := r.PathValue("name")
	vols, err := s.d.StorageVolumes(r.Context(), pool, r.PathValue("type"))
	if err != nil {
		return nil, err
	}
	if recursion(r) == 0 {
		urls := make([]string, 0, len(vols))
		for _, v := range vols {
			urls = append(urls, daemon.VolumeURL(pool, v.Type, v.Name))
		}
		sort.Strings(urls)
		return reply(urls), nil
	}
	out := make([]api.StorageVolume, 0, len(vols))
	for _, v := range vols {
		out = append(out, renderVolume(v))
	}
	return reply(out), nil
}

func (s *Server) volumeGet(r *http.Request) (response, error) {
	v, err := s.d.StorageVolume(r.Context(), r.PathValue("name"), r.PathValue("type"), r.PathValue("vol"))
	if err != nil {
		return nil, err
	}
	out := renderVolume(v)
	return replyETag(out, out.Config), nil
}

func (s *Server) volumesPost(r *http.Request) (response, error) {
	var req api.StorageVolumesPost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if t := r.PathValue("type"); t != "" {
		req.Type = t
	}
	pool := r.PathValue("name")
	if err := s.d.CreateStorageVolume(r.Context(), pool, req); err != nil {
		return nil, err
	}
	return replyCreated(daemon.VolumeURL(pool, "custom", req.Name)), nil
}

func (s *Server) volumeDelete(r *http.Request) (response, error) {
	return replyEmpty(), s.d.DeleteStorageVolume(r.Context(), r.PathValue("name"), r.PathValue("type"), r.PathValue("vol"))
}

func (s *Server) volumePut(r *http.Request) (response, error)   { return s.updateVolume(r, false) }
func (s *Server) volumePatch(r *http.Request) (response, error) { return s.updateVolume(r, true) }

// updateVolume changes a custom volume's description and user.* keys.
func (s *Server) updateVolume(r *http.Request, patch bool) (response, error) {
	var req api.StorageVolumePut
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	return replyEmpty(), s.d.UpdateStorageVolume(r.Context(), r.PathValue("name"), r.PathValue("type"), r.PathValue("vol"), req, daemon.Update{Patch: patch})
}
