package server

import (
	"fmt"
	"net/http"

	"lodge/api"
	"lodge/server/daemon"
	"lodge/server/db"
)

// Network forwards: /1.0/networks/{name}/forwards[/{listen}] (LXD 5.0's).

func renderForward(f db.NetworkForward) api.NetworkForward {
	out := api.NetworkForward{ListenAddress: f.ListenAddress, Location: "none",
		NetworkForwardPut: api.NetworkForwardPut{Description: f.Description, Config: f.Config, Ports: []api.NetworkForwardPort{}}}
	for _, p := range f.Ports {
		out.Ports = append(out.Ports, api.NetworkForwardPort{Description: p.Description, Protocol: p.Protocol,
			ListenPort: p.ListenPort, TargetPort: p.TargetPort, TargetAddress: p.TargetAddress})
	}
	return out
}

func forwardETag(f db.NetworkForward) any { return renderForward(f).NetworkForwardPut }

func (s *Server) forwardsGet(r *http.Request) (response, error) {
	name := r.PathValue("name")
	fwds, err := s.d.NetworkForwards(r.Context(), name)
	if err != nil {
		return nil, err
	}
	if recursion(r) == 0 {
		urls := []string{}
		for _, f := range fwds {
			urls = append(urls, daemon.NetworkForwardURL(name, f.ListenAddress))
		}
		return reply(urls), nil
	}
	out := []api.NetworkForward{}
	for _, f := range fwds {
		out = append(out, renderForward(f))
	}
	return reply(out), nil
}

func (s *Server) forwardGet(r *http.Request) (response, error) {
	f, err := s.d.NetworkForward(r.Context(), r.PathValue("name"), r.PathValue("listen"))
	if err != nil {
		return nil, err
	}
	return replyETag(renderForward(f), forwardETag(f)), nil
}

func (s *Server) forwardsPost(r *http.Request) (response, error) {
	var req api.NetworkForwardsPost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	f, err := s.d.CreateNetworkForward(r.Context(), r.PathValue("name"), req)
	if err != nil {
		return nil, err
	}
	return replyCreated(daemon.NetworkForwardURL(f.Network, f.ListenAddress)), nil
}

func (s *Server) forwardPut(r *http.Request) (response, error)   { return s.updateForward(r, false) }
func (s *Server) forwardPatch(r *http.Request) (response, error) { return s.updateForward(r, true) }

func (s *Server) updateForward(r *http.Request, patch bool) (response, error) {
	var req api.NetworkForwardPut
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	err := s.d.UpdateNetworkForward(r.Context(), r.PathValue("name"), r.PathValue("listen"), req, daemon.Update{Patch: patch,
		IfMatch: ifMatch(r, forwardETag, func(f db.NetworkForward) string {
			return fmt.Sprintf("forward %s of network %q", f.ListenAddress, f.Network)
		})})
	return replyEmpty(), err
}

func (s *Server) forwardDelete(r *http.Request) (response, error) {
	return replyEmpty(), s.d.DeleteNetworkForward(r.Context(), r.PathValue("name"), r.PathValue("listen"))
}
