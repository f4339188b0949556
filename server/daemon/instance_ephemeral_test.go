package daemon

import (
	"context"
	"errors"
	"testing"
	"time"

	"lodge/api"
	"lodge/server/db"
	"lodge/storage"
)

func (e *daemonEnv) launchEphemeral(t *testing.T, name string, start bool) {
	t.Helper()
	e.ok(t)(e.d.CreateInstance(context.Background(), api.InstancesPost{InstancePut: api.InstancePut{Ephemeral: true}, Name: name, Start: start,
		Source: api.InstanceSource{Type: "image", Alias: "bb"}}))
}

func (e *daemonEnv) exists(name string) bool {
	_, err := e.db.GetInstance(context.Background(), name)
	return !errors.Is(err, db.ErrNotFound)
}

// TestEphemeralDeletedWhenStopped: an ephemeral instance goes when a user
// stops it, not when it restarts; a copy of it can be kept.
func TestEphemeralDeletedWhenStopped(t *testing.T) {
	e := backupEnv(t)
	ctx := context.Background()
	e.launchEphemeral(t, "e1", true)
	e.launch(t, "keep", nil, true)
	e.ok(t)(e.d.ChangeState(ctx, "e1", api.InstanceStatePut{Action: "restart", Force: true}))
	if !e.exists("e1") {
		t.Fatal("a restart deleted the ephemeral instance")
	}
	e.ok(t)(e.d.CreateInstance(ctx, api.InstancesPost{Name: "e1copy", Source: api.InstanceSource{Type: "copy", Source: "e1"}}))
	e.ok(t)(e.d.ChangeState(ctx, "e1", api.InstanceStatePut{Action: "stop", Force: true}))
	e.ok(t)(e.d.ChangeState(ctx, "keep", api.InstanceStatePut{Action: "stop", Force: true}))
	if e.exists("e1") || e.drv.Defined("e1") || e.pool.Exists(volumeOf("e1")) {
		t.Fatal("the stopped ephemeral instance is still there")
	}
	if !e.exists("keep") || !e.exists("e1copy") || e.mustInstance(t, "e1copy").Ephemeral {
		t.Fatal("a non-ephemeral instance (or copy) was deleted, or the copy stayed ephemeral")
	}
}

// TestEphemeralPowerOffAndShutdown: one that powers off by itself goes
// (the post-stop hook), as do those lodged stops with the host; at start,
// one found stopped that was running goes, one never started stays.
func TestEphemeralPowerOffAndShutdown(t *testing.T) {
	e := backupEnv(t)
	ctx := context.Background()
	e.launchEphemeral(t, "off", true)
	e.launchEphemeral(t, "host", true)
	e.launchEphemeral(t, "crashed", true)
	e.launchEphemeral(t, "never", false)
	e.launch(t, "plain", nil, true)
	if err := e.drv.Stop(ctx, "off", 0, true); err != nil { // poweroff inside
		t.Fatal(err)
	}
	if err := e.d.NoteStopped(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.exists("off") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if e.exists("off") {
		t.Fatal("an ephemeral instance that powered off is still there")
	}
	// The host crashed while "crashed" ran: its next start finds it stopped.
	if err := e.drv.Stop(ctx, "crashed", 0, true); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	e.d.Recover(ctx)
	if e.exists("crashed") || !e.exists("never") || !e.exists("host") {
		t.Fatalf("after recovery: crashed %v never %v host %v", e.exists("crashed"), e.exists("never"), e.exists("host"))
	}
	e.d.ShutdownInstances()
	e.d.StopInstances(ctx)
	if e.exists("host") || !e.exists("plain") || !e.exists("never") {
		t.Fatalf("after the host's shutdown: host %v plain %v never %v", e.exists("host"), e.exists("plain"), e.exists("never"))
	}
	if e.mustInstance(t, "plain").Config[lastStateKey] != "RUNNING" {
		t.Fatal("the shutdown lost the plain instance's last state")
	}
}

func volumeOf(name string) storage.Volume {
	return storage.Volume{Kind: storage.KindContainer, Name: name}
}
