package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"lodge/api"
)

func TestStartupSnapshot(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	e.uploadImage(t, "busybox", "bb")
	_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"},"config":{"snapshots.schedule":"@startup, 0 3 * * *"}}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("create: %+v", op)
	}
	_, resp, _ = e.do(t, "PUT", "/1.0/instances/c1/state", `{"action":"start"}`)
	e.wait(t, resp)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if l, _ := e.s.d.db.ListSnapshots(ctx, "c1"); len(l) == 1 && l[0].Name == "snap0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no snapshot taken at startup")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestScheduledSnapshots(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	e.uploadImage(t, "busybox", "bb")
	if code, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"},"config":{"snapshots.schedule":"not cron"}}`); code != 400 || !strings.Contains(resp.Error, "snapshots.schedule") {
		t.Fatalf("bad schedule: %d %s", code, resp.Error)
	}
	_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"},"config":{"snapshots.schedule":"* * * * *","snapshots.expiry":"2M","snapshots.pattern":"auto%d"}}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("create: %+v", op)
	}
	now := time.Now().Truncate(time.Minute)
	// Stopped and snapshots.schedule.stopped unset: nothing.
	e.s.d.runSnapshotSchedule(ctx, now)
	if l, _ := e.s.d.db.ListSnapshots(ctx, "c1"); len(l) != 0 {
		t.Fatalf("snapshot of a stopped instance: %v", l)
	}
	_, resp, _ = e.do(t, "PUT", "/1.0/instances/c1/state", `{"action":"start"}`)
	e.wait(t, resp)
	e.s.d.runSnapshotSchedule(ctx, now)
	e.s.d.runSnapshotSchedule(ctx, now.Add(time.Minute))
	l, _ := e.s.d.db.ListSnapshots(ctx, "c1")
	if len(l) != 2 || l[0].Name != "auto0" || l[1].Name != "auto1" || !l[0].ExpiresAt.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("scheduled snapshots: %+v", l)
	}
	// Two minutes on, auto0 has expired and goes; auto1 (taken a minute later) stays.
	e.s.d.runSnapshotSchedule(ctx, now.Add(2*time.Minute))
	l, _ = e.s.d.db.ListSnapshots(ctx, "c1")
	names := []string{}
	for _, sn := range l {
		names = append(names, sn.Name)
	}
	if strings.Join(names, ",") != "auto1,auto2" {
		t.Fatalf("after expiry: %v", names)
	}
}
