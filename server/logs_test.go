package server

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestLogsAPI: the instance logs LXD's client reads (lxc info --show-log
// asks for lxc.log): listed, read, and the two lodge keeps refused on
// delete; unknown files and instances are 404s.
func TestLogsAPI(t *testing.T) {
	e := newTestEnv(t)
	e.uploadImage(t, "busybox", "bb")
	_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"}}`)
	e.wait(t, resp)
	if code, resp, _ := e.do(t, "GET", "/1.0/instances/c1/logs", ""); code != 200 || string(resp.Metadata) != `["/1.0/instances/c1/logs/lxc.conf"]` {
		t.Fatalf("list: %d %s", code, resp.Metadata)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, httptest.NewRequest("GET", "/1.0/instances/c1/logs/lxc.conf", nil))
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("get: %d %v", w.Code, w.Header())
	}
	for path, want := range map[string]int{
		"GET /1.0/instances/c1/logs/nope.log":    404,
		"GET /1.0/instances/c9/logs":             404,
		"GET /1.0/instances/c9/logs/lxc.log":     404,
		"DELETE /1.0/instances/c1/logs/lxc.log":  400,
		"DELETE /1.0/instances/c1/logs/lxc.conf": 400,
		"DELETE /1.0/instances/c1/logs/x.log":    404,
	} {
		method, p, _ := strings.Cut(path, " ")
		if code, resp, _ := e.do(t, method, p, ""); code != want {
			t.Errorf("%s: %d %s, want %d", path, code, resp.Error, want)
		}
	}
	// The console log keeps its own route.
	w = httptest.NewRecorder()
	e.h.ServeHTTP(w, httptest.NewRequest("GET", "/1.0/instances/c1/logs/console.log", nil))
	if w.Code != 200 {
		t.Fatalf("console.log: %d", w.Code)
	}
}
