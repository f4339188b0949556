package server

import (
	"fmt"
	"net/http"
	"strconv"

	"lodge/server/daemon"
)

func configString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func (s *Server) serverPut(r *http.Request) (response, error)   { return s.updateServer(r, false) }
func (s *Server) serverPatch(r *http.Request) (response, error) { return s.updateServer(r, true) }

func (s *Server) updateServer(r *http.Request, patch bool) (response, error) {
	var req struct {
		Config map[string]any `json:"config"`
	}
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	cfg := make(map[string]string, len(req.Config))
	for k, v := range req.Config {
		cfg[k] = configString(v)
	}
	what := func(map[string]string) string { return "server config" }
	etagOf := func(cur map[string]string) any { return cur }
	return replyEmpty(), s.d.UpdateServerConfig(r.Context(), cfg, daemon.Update{Patch: patch, IfMatch: ifMatch(r, etagOf, what)})
}
