package server

import (
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// handleStats reports what leak and fault tests (make stress) compare
// before and after a load: goroutines, open fds, running operations, and
// whether the database passes SQLite's own checks. Root-only like the
// rest of the unix socket; not part of LXD's API.
func (s *Server) stats(r *http.Request) (response, error) {
	fds, kinds := openFDs()
	st := s.d.Stats(r.Context())
	// Go's own heap, so a growing RSS can be told apart from memory C
	// (liblxc) holds.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return reply(map[string]any{
		"go_heap_inuse":      ms.HeapInuse,
		"go_heap_sys":        ms.HeapSys,
		"go_heap_released":   ms.HeapReleased,
		"go_sys":             ms.Sys,
		"goroutines":         runtime.NumGoroutine(),
		"fds":                fds,
		"fd_kinds":           kinds,
		"operations_running": st.OperationsRunning,
		"db_integrity":       st.DBIntegrity,
	}), nil
}

// openFDs counts this process's open fds, and sorts them by what they are
// open on (socket, pipe, an anon inode's kind, or a file's path with
// digits folded), so a leak check can say what leaked.
func openFDs() (int, map[string]int) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1, nil
	}
	kinds := map[string]int{}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // the fd ReadDir itself used, closed since
		}
		kinds[fdKind(target)]++
	}
	return len(ents), kinds
}

func fdKind(target string) string {
	switch {
	case strings.HasPrefix(target, "socket:"):
		return "socket"
	case strings.HasPrefix(target, "pipe:"):
		return "pipe"
	case strings.HasPrefix(target, "anon_inode:"):
		return strings.Trim(strings.TrimPrefix(target, "anon_inode:"), "[]")
	}
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '#'
		}
		return r
	}, target)
}
