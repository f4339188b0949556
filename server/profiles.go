package server

import (
	"fmt"
	"net/http"

	"lodge/api"
	"lodge/server/daemon"
	"lodge/server/db"
)

func renderProfile(p daemon.Profile) api.Profile {
	out := api.Profile{ProfilePut: api.ProfilePut{Config: p.Config, Description: p.Description, Devices: p.Devices},
		Name: p.Name, UsedBy: []string{}}
	for _, u := range p.UsedBy {
		out.UsedBy = append(out.UsedBy, daemon.InstanceURL(u))
	}
	return out
}

func profileETag(p db.Profile) any { return []any{p.Config, p.Description, p.Devices} }

func (s *Server) profilesGet(r *http.Request) (response, error) {
	list, err := s.d.Profiles(r.Context(), recursion(r) > 0)
	if err != nil {
		return nil, err
	}
	if recursion(r) == 0 {
		urls := []string{}
		for _, p := range list {
			urls = append(urls, daemon.ProfileURL(p.Name))
		}
		return reply(urls), nil
	}
	out := []api.Profile{}
	for _, p := range list {
		out = append(out, renderProfile(p))
	}
	return reply(out), nil
}

func (s *Server) profilesPost(r *http.Request) (response, error) {
	var req api.ProfilesPost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if err := s.d.CreateProfile(r.Context(), req); err != nil {
		return nil, err
	}
	return replyCreated(daemon.ProfileURL(req.Name)), nil
}

func (s *Server) profileGet(r *http.Request) (response, error) {
	p, err := s.d.Profile(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return replyETag(renderProfile(p), profileETag(p.Profile)), nil
}

func (s *Server) profilePut(r *http.Request) (response, error)   { return s.updateProfile(r, false) }
func (s *Server) profilePatch(r *http.Request) (response, error) { return s.updateProfile(r, true) }

func (s *Server) updateProfile(r *http.Request, patch bool) (response, error) {
	var req api.ProfilePut
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	err := s.d.UpdateProfile(r.Context(), r.PathValue("name"), req, daemon.Update{Patch: patch,
		IfMatch: ifMatch(r, profileETag, func(p db.Profile) string { return fmt.Sprintf("profile %q", p.Name) })})
	return replyEmpty(), err
}

// profilePost renames a profile.
func (s *Server) profilePost(r *http.Request) (response, error) {
	var req api.ProfilePost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if err := s.d.RenameProfile(r.Context(), r.PathValue("name"), req.Name); err != nil {
		return nil, err
	}
	return replyCreated(daemon.ProfileURL(req.Name)), nil
}

func (s *Server) profileDelete(r *http.Request) (response, error) {
	return replyEmpty(), s.d.DeleteProfile(r.Context(), r.PathValue("name"))
}
