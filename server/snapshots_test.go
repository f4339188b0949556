package server

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lodge/api"
	"lodge/storage"
)

func TestSnapshotsRestore(t *testing.T) {
	e := newTestEnv(t)
	e.uploadImage(t, "busybox", "bb")
	_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"},"config":{"user.v":"1"}}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("create: %+v", op)
	}
	vol := storage.Volume{Kind: storage.KindContainer, Name: "c1"}
	file := filepath.Join(e.pool.Path(vol), "rootfs", "state")
	os.WriteFile(file, []byte("one"), 0o644)

	if code, resp, _ := e.do(t, "POST", "/1.0/instances/c1/snapshots", `{"name":"s1","stateful":true}`); code != 400 || !strings.Contains(resp.Error, "CRIU") {
		t.Fatalf("stateful: %d %s", code, resp.Error)
	}
	if code, _, _ := e.do(t, "POST", "/1.0/instances/c1/snapshots", `{"name":"a/b"}`); code != 400 {
		t.Fatalf("bad name: %d", code)
	}
	code, resp, _ := e.do(t, "POST", "/1.0/instances/c1/snapshots", `{"name":"s1","stateful":false,"expires_at":null}`)
	if code != 202 {
		t.Fatalf("snapshot: %d %s", code, resp.Error)
	}
	if op := e.wait(t, resp); op.StatusCode != api.Success || op.Description != "Snapshotting instance" {
		t.Fatalf("snapshot op: %+v", op)
	}
	if code, _, _ := e.do(t, "POST", "/1.0/instances/c1/snapshots", `{"name":"s1"}`); code != 409 {
		t.Fatalf("duplicate: %d", code)
	}
	// An unnamed snapshot gets LXD's snap0.
	_, resp, _ = e.do(t, "POST", "/1.0/instances/c1/snapshots", `{}`)
	e.wait(t, resp)
	_, resp, _ = e.do(t, "GET", "/1.0/instances/c1/snapshots", "")
	if string(resp.Metadata) != `["/1.0/instances/c1/snapshots/s1","/1.0/instances/c1/snapshots/snap0"]` {
		t.Fatalf("list: %s", resp.Metadata)
	}
	_, resp, _ = e.do(t, "GET", "/1.0/instances/c1/snapshots/s1", "")
	var sn api.InstanceSnapshot
	json.Unmarshal(resp.Metadata, &sn)
	if sn.Name != "s1" || sn.CreatedAt.IsZero() || sn.Config["user.v"] != "1" || sn.Size < 0 {
		t.Fatalf("get: %s", resp.Metadata)
	}
	_, resp, _ = e.do(t, "GET", "/1.0/instances/c1?recursion=1", "")
	var full api.InstanceFull
	json.Unmarshal(resp.Metadata, &full)
	if len(full.Snapshots) != 2 {
		t.Fatalf("instance snapshots: %s", resp.Metadata)
	}

	// Change the tree and config, start, then restore: stopped, restored, started.
	os.WriteFile(file, []byte("two"), 0o644)
	_, resp, _ = e.do(t, "PATCH", "/1.0/instances/c1", `{"config":{"user.v":"2"}}`)
	e.wait(t, resp)
	_, resp, _ = e.do(t, "PUT", "/1.0/instances/c1/state", `{"action":"start"}`)
	e.wait(t, resp)
	if code, _, _ := e.do(t, "PUT", "/1.0/instances/c1", `{"restore":"c1/nope"}`); code != 404 {
		t.Fatalf("restore missing: %d", code)
	}
	code, resp, _ = e.do(t, "PUT", "/1.0/instances/c1", `{"architecture":"","config":null,"devices":null,"ephemeral":false,"profiles":null,"restore":"c1/s1","stateful":false,"description":""}`)
	if code != 202 {
		t.Fatalf("restore: %d %s", code, resp.Error)
	}
	if op := e.wait(t, resp); op.StatusCode != api.Success || op.Description != "Restoring snapshot" {
		t.Fatalf("restore op: %+v", op)
	}
	if b, _ := os.ReadFile(file); string(b) != "one" {
		t.Fatalf("file after restore: %q", b)
	}
	_, resp, _ = e.do(t, "GET", "/1.0/instances/c1", "")
	var inst api.Instance
	json.Unmarshal(resp.Metadata, &inst)
	if inst.Config["user.v"] != "1" || inst.Status != "Running" {
		t.Fatalf("after restore: %s %v", inst.Status, inst.Config)
	}
	// The short form ("s1") works as well.
	_, resp, _ = e.do(t, "PUT", "/1.0/instances/c1", `{"restore":"s1"}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("restore short: %+v", op)
	}

	// Expiry can be set and cleared.
	_, resp, _ = e.do(t, "PUT", "/1.0/instances/c1/snapshots/s1", `{"expires_at":"2030-01-02T03:04:05Z"}`)
	e.wait(t, resp)
	_, resp, _ = e.do(t, "GET", "/1.0/instances/c1/snapshots/s1", "")
	json.Unmarshal(resp.Metadata, &sn)
	if sn.ExpiresAt.Year() != 2030 {
		t.Fatalf("expiry: %s", resp.Metadata)
	}

	// Rename and delete.
	_, resp, _ = e.do(t, "POST", "/1.0/instances/c1/snapshots/s1", `{"name":"s2"}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("rename: %+v", op)
	}
	if !e.pool.Exists(vol.Snapshot("s2")) || e.pool.Exists(vol.Snapshot("s1")) {
		t.Fatal("rename did not move the volume")
	}
	_, resp, _ = e.do(t, "DELETE", "/1.0/instances/c1/snapshots/snap0", "")
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("delete: %+v", op)
	}
	if code, _, _ := e.do(t, "GET", "/1.0/instances/c1/snapshots/snap0", ""); code != 404 {
		t.Fatalf("deleted snapshot: %d", code)
	}
	// Deleting the instance takes its snapshots along.
	_, resp, _ = e.do(t, "PUT", "/1.0/instances/c1/state", `{"action":"stop","force":true}`)
	e.wait(t, resp)
	_, resp, _ = e.do(t, "DELETE", "/1.0/instances/c1", "")
	e.wait(t, resp)
	if e.pool.Exists(vol.Snapshot("s2")) {
		t.Fatal("snapshot volume outlived its instance")
	}
}
