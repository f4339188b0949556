package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"lodge/api"
	"lodge/errdefs"
)

func TestStartupSnapshot(t *testing.T) {
	e := newDaemonEnv(t)
	ctx := context.Background()
	e.image(t, "busybox", "bb")
	e.launch(t, "c1", map[string]string{"snapshots.schedule": "@startup, 0 3 * * *"}, true)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if l, _ := e.db.ListSnapshots(ctx, "c1"); len(l) == 1 && l[0].Name == "snap0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no snapshot taken at startup")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestScheduledSnapshots(t *testing.T) {
	e := newDaemonEnv(t)
	ctx := context.Background()
	e.image(t, "busybox", "bb")
	_, err := e.d.CreateInstance(ctx, api.InstancesPost{InstancePut: api.InstancePut{Config: map[string]string{"snapshots.schedule": "not cron"}},
		Name: "c1", Source: api.InstanceSource{Type: "image", Alias: "bb"}})
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "snapshots.schedule") {
		t.Fatalf("bad schedule: %v", err)
	}
	e.launch(t, "c1", map[string]string{"snapshots.schedule": "* * * * *", "snapshots.expiry": "2M", "snapshots.pattern": "auto%d"}, false)
	now := time.Now().Truncate(time.Minute)
	// Stopped and snapshots.schedule.stopped unset: nothing.
	e.d.runSnapshotSchedule(ctx, now)
	if l, _ := e.db.ListSnapshots(ctx, "c1"); len(l) != 0 {
		t.Fatalf("snapshot of a stopped instance: %v", l)
	}
	e.ok(t)(e.d.ChangeState(ctx, "c1", api.InstanceStatePut{Action: "start"}))
	e.d.runSnapshotSchedule(ctx, now)
	e.d.runSnapshotSchedule(ctx, now.Add(time.Minute))
	l, _ := e.db.ListSnapshots(ctx, "c1")
	if len(l) != 2 || l[0].Name != "auto0" || l[1].Name != "auto1" || !l[0].ExpiresAt.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("scheduled snapshots: %+v", l)
	}
	// Two minutes on, auto0 has expired and goes; auto1 (taken a minute later) stays.
	e.d.runSnapshotSchedule(ctx, now.Add(2*time.Minute))
	l, _ = e.db.ListSnapshots(ctx, "c1")
	names := []string{}
	for _, sn := range l {
		names = append(names, sn.Name)
	}
	if strings.Join(names, ",") != "auto1,auto2" {
		t.Fatalf("after expiry: %v", names)
	}
}
