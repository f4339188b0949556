package server

import (
	"net/http"
	"strconv"
	"time"

	"lodge/api"
	"lodge/errdefs"
)

// operationsGet lists the operations by status (Daemon.Operations: in
// a cluster, every member's). Another member asking gets this member's
// own, those in memory (LXD's local operations).
func (s *Server) operationsGet(r *http.Request) (response, error) {
	var all []api.Operation
	if fromMember(r) {
		all = s.d.OwnOperations()
	} else {
		var err error
		if all, err = s.d.Operations(r.Context()); err != nil {
			return nil, err
		}
	}
	if recursion(r) > 0 {
		out := map[string][]api.Operation{}
		for _, o := range all {
			key := statusKey(o.StatusCode)
			out[key] = append(out[key], o)
		}
		return reply(out), nil
	}
	out := map[string][]string{}
	for _, o := range all {
		key := statusKey(o.StatusCode)
		out[key] = append(out[key], "/1.0/operations/"+o.ID)
	}
	return reply(out), nil
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

func (s *Server) operationGet(r *http.Request) (response, error) {
	_, o, err := s.d.Operation(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return reply(o), nil
}

func (s *Server) operationDelete(r *http.Request) (response, error) {
	return replyEmpty(), s.d.CancelOperation(r.Context(), r.PathValue("id"))
}

// operationWait blocks until the operation ends or ?timeout= seconds
// pass (-1 or absent: no limit).
func (s *Server) operationWait(r *http.Request) (response, error) {
	op, o, err := s.d.Operation(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if op == nil { // a record has ended: nothing to wait for
		return reply(o), nil
	}
	op.Trace().Mark("the client waits for the end (GET .../wait)")
	var timeout <-chan time.Time
	if t := r.URL.Query().Get("timeout"); t != "" {
		n, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return nil, errdefs.Invalidf("timeout %q is not a number of seconds", t)
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
		return nil, nil
	}
	return reply(op.Render()), nil
}

// operationWebsocket connects a websocket of a running operation (an
// exec's stdio, a console, a migration's control and fs) by its secret.
// Untrusted HTTPS clients may too: the secret is the credential (a
// migration's peer has no certificate of ours), as in LXD.
func (s *Server) operationWebsocket(r *http.Request) (response, error) {
	op, o, err := s.d.Operation(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if op == nil || o.StatusCode.IsFinal() {
		return nil, errdefs.Invalidf("operation %s already ended (%s): its websockets are closed; start a new one", o.ID, o.Status)
	}
	secret := r.URL.Query().Get("secret")
	if secret == "" {
		return nil, errdefs.Invalidf("missing secret")
	}
	return stream(func(w http.ResponseWriter) {
		defer op.Trace().Begin("a websocket connects")()
		if err := op.Connect(secret, w, r); err != nil {
			writeError(w, err)
		}
	}), nil
}
