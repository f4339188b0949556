package server

import (
	"testing"
)

// The post-stop hook's route answers at once: 200 for an instance, 404
// for a name lodged does not know (the check itself is the daemon's).
func TestOnStopRoute(t *testing.T) {
	e := newTestEnv(t)
	e.uploadImage(t, "busybox", "bb")
	_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"}}`)
	e.wait(t, resp)
	if code, _, _ := e.do(t, "POST", "/internal/instances/c1/onstop", ""); code != 200 {
		t.Fatalf("onstop: %d", code)
	}
	if code, _, _ := e.do(t, "POST", "/internal/instances/nosuch/onstop", ""); code != 404 {
		t.Fatalf("onstop of an unknown instance: %d, want 404", code)
	}
}
