package server

import (
	"net/http"
	"os"
	"runtime"
)

// handleStats reports what leak and fault tests (make stress) compare
// before and after a load: goroutines, open fds, running operations, and
// whether the database passes SQLite's own checks. Root-only like the
// rest of the unix socket; not part of LXD's API.
func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	fds := -1
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		fds = len(ents)
	}
	integrity := "ok"
	if err := s.db.IntegrityCheck(r.Context()); err != nil {
		integrity = err.Error()
	}
	running := 0
	for _, o := range s.ops.List() {
		select {
		case <-o.Done():
		default:
			running++
		}
	}
	writeSync(w, map[string]any{
		"goroutines":         runtime.NumGoroutine(),
		"fds":                fds,
		"operations_running": running,
		"db_integrity":       integrity,
	})
}
