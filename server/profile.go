package server

import (
	"net/http"
	"runtime/pprof"
	"strconv"
	"time"

	"lodge/errdefs"
)

// profile serves Go's profiles of lodged itself (go tool pprof reads
// them), so a slow path on a host with many instances can be found on that
// host: GET /internal/pprof/profile?seconds=N is a CPU profile, any other
// name one of runtime/pprof's (heap, goroutine, allocs, block, mutex).
// Root-only, like the rest of the unix socket; not part of LXD's API.
func (s *Server) profile(r *http.Request) (response, error) {
	name := r.PathValue("name")
	if name != "profile" {
		p := pprof.Lookup(name)
		if p == nil {
			return nil, errdefs.NotFoundf("no profile %q: use profile (CPU), heap, goroutine, allocs, block or mutex", name)
		}
		return stream(func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/octet-stream")
			_ = p.WriteTo(w, 0)
		}), nil
	}
	secs := 10
	if v := r.URL.Query().Get("seconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 300 {
			return nil, errdefs.Invalidf("seconds=%q: give a whole number from 1 to 300", v)
		}
		secs = n
	}
	return stream(func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if err := pprof.StartCPUProfile(w); err != nil {
			// Another CPU profile is running; the headers are not sent yet.
			writeError(w, errdefs.Conflictf("a CPU profile is already running: %v", err))
			return
		}
		select {
		case <-time.After(time.Duration(secs) * time.Second):
		case <-r.Context().Done():
		}
		pprof.StopCPUProfile()
	}), nil
}
