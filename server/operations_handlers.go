package server

import (
	"net/http"
	"strconv"
	"time"

	"lodge/api"
)

func (s *Server) handleOperationsGet(w http.ResponseWriter, r *http.Request) {
	ops := s.ops.List()
	if recursion(r) > 0 {
		out := map[string][]api.Operation{}
		for _, op := range ops {
			o := op.Render()
			key := statusKey(o.StatusCode)
			out[key] = append(out[key], o)
		}
		writeSync(w, out)
		return
	}
	out := map[string][]string{}
	for _, op := range ops {
		o := op.Render()
		key := statusKey(o.StatusCode)
		out[key] = append(out[key], op.URL())
	}
	writeSync(w, out)
}

func statusKey(c api.StatusCode) string {
	switch c {
	case api.Success:
		return "success"
	case api.Failure, api.Cancelled:
		return "failure"
	}
	return "running"
}

func (s *Server) getOp(w http.ResponseWriter, r *http.Request) (*opT, bool) {
	op, ok := s.ops.Get(r.PathValue("id"))
	if !ok {
		writeError(w, notFound("operation %q not found (operations are kept for a few minutes after they end)", r.PathValue("id")))
	}
	return op, ok
}

func (s *Server) handleOperationGet(w http.ResponseWriter, r *http.Request) {
	if op, ok := s.getOp(w, r); ok {
		writeSync(w, op.Render())
	}
}

func (s *Server) handleOperationDelete(w http.ResponseWriter, r *http.Request) {
	op, ok := s.getOp(w, r)
	if !ok {
		return
	}
	if err := op.Cancel(); err != nil {
		writeError(w, err)
		return
	}
	writeSync(w, map[string]any{})
}

// handleOperationWait blocks until the operation ends or ?timeout= seconds
// pass (-1 or absent: no limit).
func (s *Server) handleOperationWait(w http.ResponseWriter, r *http.Request) {
	op, ok := s.getOp(w, r)
	if !ok {
		return
	}
	var timeout <-chan time.Time
	if t := r.URL.Query().Get("timeout"); t != "" {
		n, err := strconv.ParseFloat(t, 64)
		if err != nil {
			writeError(w, badRequest("timeout %q is not a number of seconds", t))
			return
		}
		if n >= 0 {
			timer := time.NewTimer(time.Duration(n * float64(time.Second)))
			defer timer.Stop()
			timeout = timer.C
		}
	}
	select {
	case <-op.Done():
	case <-timeout:
	case <-r.Context().Done():
		return
	}
	writeSync(w, op.Render())
}

func (s *Server) handleOperationWebsocket(w http.ResponseWriter, r *http.Request) {
	op, ok := s.getOp(w, r)
	if !ok {
		return
	}
	secret := r.URL.Query().Get("secret")
	if secret == "" {
		writeError(w, badRequest("missing secret"))
		return
	}
	if err := op.Connect(secret, w, r); err != nil {
		writeError(w, err)
	}
}
