package server

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"lodge/api"
	"lodge/errdefs"
	"lodge/server/db"
	"lodge/server/operations"
)

// handleOperationsGet lists, oldest first, the operations in memory and the
// ended ones only the database still has (from before a restart, or older
// than the registry keeps).
func (s *Server) handleOperationsGet(w http.ResponseWriter, r *http.Request) {
	var all []api.Operation
	live := map[string]bool{}
	for _, op := range s.d.ops.List() {
		all = append(all, op.Render())
		live[op.ID()] = true
	}
	stored, err := s.d.db.ListOperations(r.Context())
	if err != nil {
		writeError(w, fmt.Errorf("list operations: %w", err))
		return
	}
	for _, o := range stored {
		if !live[o.ID] {
			all = append(all, fromDBOp(o))
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].CreatedAt.Before(all[j].CreatedAt) })
	if recursion(r) > 0 {
		out := map[string][]api.Operation{}
		for _, o := range all {
			key := statusKey(o.StatusCode)
			out[key] = append(out[key], o)
		}
		writeSync(w, out)
		return
	}
	out := map[string][]string{}
	for _, o := range all {
		key := statusKey(o.StatusCode)
		out[key] = append(out[key], "/1.0/operations/"+o.ID)
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

// getOp finds the operation named in the request: live (op set) or, once
// the registry has forgotten it or after a restart, its record (op nil).
// Records are of ended operations: the start marks failed those a previous
// lodged left running.
func (s *Server) getOp(w http.ResponseWriter, r *http.Request) (*opT, api.Operation, bool) {
	id := r.PathValue("id")
	if op, ok := s.d.ops.Get(id); ok {
		return op, op.Render(), true
	}
	row, err := s.d.db.GetOperation(r.Context(), id)
	switch {
	case errors.Is(err, db.ErrNotFound):
		writeError(w, errdefs.NotFoundf("operation %q not found (ended operations are kept for %d hours, at most the last %d)", id, int(opRetention.Hours()), opKeepEnded))
		return nil, api.Operation{}, false
	case err != nil:
		writeError(w, fmt.Errorf("operation %s: %w", id, err))
		return nil, api.Operation{}, false
	}
	return nil, fromDBOp(row), true
}

func (s *Server) handleOperationGet(w http.ResponseWriter, r *http.Request) {
	if _, o, ok := s.getOp(w, r); ok {
		writeSync(w, o)
	}
}

func (s *Server) handleOperationDelete(w http.ResponseWriter, r *http.Request) {
	op, o, ok := s.getOp(w, r)
	if !ok {
		return
	}
	if op == nil {
		// Only a record: nothing in this lodged runs it.
		writeError(w, operations.EndedError(o.ID, o.StatusCode))
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
	op, o, ok := s.getOp(w, r)
	if !ok {
		return
	}
	if op == nil { // a record has ended: nothing to wait for
		writeSync(w, o)
		return
	}
	var timeout <-chan time.Time
	if t := r.URL.Query().Get("timeout"); t != "" {
		n, err := strconv.ParseFloat(t, 64)
		if err != nil {
			writeError(w, errdefs.Invalidf("timeout %q is not a number of seconds", t))
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
	op, o, ok := s.getOp(w, r)
	if !ok {
		return
	}
	if op == nil {
		writeError(w, errdefs.Invalidf("operation %s already ended (%s): its websockets are closed; start a new one", o.ID, o.Status))
		return
	}
	secret := r.URL.Query().Get("secret")
	if secret == "" {
		writeError(w, errdefs.Invalidf("missing secret"))
		return
	}
	if err := op.Connect(secret, w, r); err != nil {
		writeError(w, err)
	}
}
