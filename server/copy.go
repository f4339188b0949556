package server

import (
	"net/http"

	"lodge/api"
)

// instancePost is POST /1.0/instances/{name}: rename, or move to another
// pool (with "pool"). The instance must be stopped.
func (s *Server) instancePost(r *http.Request) (response, error) {
	var req api.InstancePost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	op, err := s.d.MoveInstance(r.Context(), r.PathValue("name"), req)
	return replyAsync(op), err
}
