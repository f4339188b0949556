package server

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// The profile route: a named profile is served; an unknown name is a 404
// and a bad seconds= a 400, each saying what to ask for instead.
func TestProfileRoute(t *testing.T) {
	e := newTestEnv(t)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, httptest.NewRequest("GET", "/internal/pprof/goroutine", nil))
	if w.Code != 200 || w.Body.Len() == 0 {
		t.Fatalf("goroutine profile: %d, %d bytes", w.Code, w.Body.Len())
	}
	for path, want := range map[string]int{
		"/internal/pprof/nope":                   404,
		"/internal/pprof/profile?seconds=0":      400,
		"/internal/pprof/profile?seconds=x":      400,
		"/internal/pprof/profile?seconds=100000": 400,
	} {
		code, resp, _ := e.do(t, "GET", path, "")
		if code != want || !strings.Contains(resp.Error, "profile") && !strings.Contains(resp.Error, "seconds") {
			t.Errorf("%s: %d %q, want %d", path, code, resp.Error, want)
		}
	}
}
