package server

import (
	"net/http"

	"lodge/api"
)

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
