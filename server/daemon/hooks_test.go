package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"lodge/api"
	"lodge/errdefs"
)

// The post-stop hook's report: an instance that stopped by itself is
// recorded stopped; one still (or again) running, or stopped while lodged
// shuts down with the host, keeps RUNNING.
func TestOnStopRecordsPowerOffs(t *testing.T) {
	e := newDaemonEnv(t)
	ctx := context.Background()
	e.image(t, "busybox", "bb")
	for _, n := range []string{"off", "up", "host"} {
		e.launch(t, n, nil, true)
	}
	power := func(n string) string {
		in, err := e.db.GetInstance(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		return in.Config[lastStateKey]
	}
	events, unsubscribe := e.d.SubscribeEvents(map[string]bool{"lifecycle": true})
	defer unsubscribe()
	if err := e.drv.Stop(ctx, "off", 0, true); err != nil { // poweroff inside
		t.Fatal(err)
	}
	for _, n := range []string{"off", "up"} {
		if err := e.d.NoteStopped(ctx, n); err != nil {
			t.Fatalf("onstop %s: %v", n, err)
		}
	}
	if err := e.d.NoteStopped(ctx, "nosuch"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("onstop of an unknown instance: %v, want not found", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for power("off") != "STOPPED" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := power("off"); got != "STOPPED" {
		t.Fatalf("off: %s=%q, want STOPPED", lastStateKey, got)
	}
	// Watchers hear of it as of any stop, once.
	if got := lifecycleEvents(events); len(got) != 1 || got[0] != "instance-stopped /1.0/instances/off" {
		t.Fatalf("lifecycle events after a poweroff inside: %q, want one instance-stopped of off", got)
	}
	e.d.noteStoppedByItself("up") // still running: a restart's stop
	e.d.ShutdownInstances()       // the host is going down
	if err := e.drv.Stop(ctx, "host", 0, true); err != nil {
		t.Fatal(err)
	}
	e.d.noteStoppedByItself("host")
	for _, n := range []string{"up", "host"} {
		if got := power(n); got != "RUNNING" {
			t.Errorf("%s: %s=%q, want RUNNING", n, lastStateKey, got)
		}
	}
	if got := lifecycleEvents(events); len(got) != 0 {
		t.Errorf("lifecycle events for stops the hook must not report: %q", got)
	}
}

// lifecycleEvents drains the lifecycle events received so far, as
// "ACTION SOURCE".
func lifecycleEvents(ch <-chan []byte) []string {
	var out []string
	for {
		select {
		case b := <-ch:
			var ev api.Event
			var lc api.EventLifecycle
			if json.Unmarshal(b, &ev) == nil && json.Unmarshal(ev.Metadata, &lc) == nil {
				out = append(out, lc.Action+" "+lc.Source)
			}
		case <-time.After(100 * time.Millisecond):
			return out
		}
	}
}
