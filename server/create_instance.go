package server

import (
	"net/http"

	"lodge/api"
)

func (s *Server) instancesPost(r *http.Request) (response, error) {
	var req api.InstancesPost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	op, err := s.d.CreateInstance(r.Context(), req)
	return replyAsync(op), err
}
