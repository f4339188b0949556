package remotestest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// Server serves a Fixture over HTTP: the truncated file is cut in the
// middle (its Content-Length promises the whole), the stalled file stops
// sending half-way until the test ends. It counts requests per path.
type Server struct {
	*httptest.Server
	mu    sync.Mutex
	count map[string]int
	// Gate, if set, holds every rootfs download until it is closed.
	Gate chan struct{}
}

// Serve starts the server; it is closed when the test ends.
func Serve(t testing.TB, f *Fixture) *Server {
	s := &Server{count: map[string]int{}}
	stop := make(chan struct{})
	files := http.FileServer(http.Dir(f.Dir))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.count[r.URL.Path]++
		gate := s.Gate
		s.mu.Unlock()
		switch r.URL.Path {
		case f.TruncatedPath, f.StalledPath:
			b, err := os.ReadFile(filepath.Join(f.Dir, r.URL.Path))
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.Write(b[:len(b)/2])
			w.(http.Flusher).Flush()
			if r.URL.Path == f.StalledPath {
				select {
				case <-stop:
				case <-r.Context().Done():
				}
			}
			// Returning short of Content-Length makes net/http drop the connection.
			return
		}
		if gate != nil && filepath.Ext(r.URL.Path) == ".squashfs" {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { close(stop); s.Close() })
	return s
}

// Count returns how many requests asked for path.
func (s *Server) Count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count[path]
}
