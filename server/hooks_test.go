package server

import (
	"context"
	"testing"
	"time"
)

// The post-stop hook's report: an instance that stopped by itself is
// recorded stopped; one still (or again) running, or stopped while lodged
// shuts down with the host, keeps RUNNING.
func TestOnStopRecordsPowerOffs(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	e.uploadImage(t, "busybox", "bb")
	for _, n := range []string{"off", "up", "host"} {
		_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"`+n+`","source":{"type":"image","alias":"bb"},"start":true}`)
		e.wait(t, resp)
	}
	power := func(n string) string {
		in, err := e.s.d.db.GetInstance(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		return in.Config[lastStateKey]
	}
	if err := e.drv.Stop(ctx, "off", 0, true); err != nil { // poweroff inside
		t.Fatal(err)
	}
	for _, n := range []string{"off", "up"} {
		if code, _, _ := e.do(t, "POST", "/internal/instances/"+n+"/onstop", ""); code != 200 {
			t.Fatalf("onstop %s: %d", n, code)
		}
	}
	if code, _, _ := e.do(t, "POST", "/internal/instances/nosuch/onstop", ""); code != 404 {
		t.Fatalf("onstop of an unknown instance: %d, want 404", code)
	}
	deadline := time.Now().Add(5 * time.Second)
	for power("off") != "STOPPED" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := power("off"); got != "STOPPED" {
		t.Fatalf("off: %s=%q, want STOPPED", lastStateKey, got)
	}
	e.s.d.noteStoppedByItself("up") // still running: a restart's stop
	e.s.d.ShutdownInstances()       // the host is going down
	if err := e.drv.Stop(ctx, "host", 0, true); err != nil {
		t.Fatal(err)
	}
	e.s.d.noteStoppedByItself("host")
	for _, n := range []string{"up", "host"} {
		if got := power(n); got != "RUNNING" {
			t.Errorf("%s: %s=%q, want RUNNING", n, lastStateKey, got)
		}
	}
}
