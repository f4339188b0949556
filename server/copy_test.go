package server

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"lodge/api"
	"lodge/storage"
)

func TestCopyRenameMove(t *testing.T) {
	e := newTestEnv(t)
	if err := e.d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.uploadImage(t, "busybox", "bb")
	_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"},"config":{"user.v":"1"}}`)
	e.wait(t, resp)
	vol := func(n string) storage.Volume { return storage.Volume{Kind: storage.KindContainer, Name: n} }
	os.WriteFile(filepath.Join(e.pool.Path(vol("c1")), "rootfs", "state"), []byte("one"), 0o644)
	_, resp, _ = e.do(t, "POST", "/1.0/instances/c1/snapshots", `{"name":"s1"}`)
	e.wait(t, resp)
	os.WriteFile(filepath.Join(e.pool.Path(vol("c1")), "rootfs", "state"), []byte("two"), 0o644)
	read := func(p storage.Driver, n string) string {
		b, _ := os.ReadFile(filepath.Join(p.Path(vol(n)), "rootfs", "state"))
		return string(b)
	}

	// Copy with snapshots (the upstream client's body).
	_, resp, _ = e.do(t, "POST", "/1.0/instances", `{"name":"c2","source":{"type":"copy","source":"c1","base-image":"x","instance_only":false},"config":{"user.v":"1","volatile.uuid":"keep-not"},"type":"container"}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("copy: %+v", op)
	}
	if read(e.pool, "c2") != "two" || !e.pool.Exists(vol("c2").Snapshot("s1")) || !e.drv.Defined("c2") {
		t.Fatal("copy content, snapshot or runtime config missing")
	}
	c1, _ := e.db.GetInstance(context.Background(), "c1")
	c2, _ := e.db.GetInstance(context.Background(), "c2")
	if c2.Config["volatile.uuid"] == c1.Config["volatile.uuid"] || c2.Config["volatile.uuid"] == "keep-not" || c2.Config["user.v"] != "1" {
		t.Fatalf("copy config: %v", c2.Config)
	}
	if l, _ := e.db.ListSnapshots(context.Background(), "c2"); len(l) != 1 {
		t.Fatalf("copy snapshot rows: %v", l)
	}
	// From a snapshot; instance only.
	_, resp, _ = e.do(t, "POST", "/1.0/instances", `{"name":"c3","source":{"type":"copy","source":"c1/s1"}}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("copy of snapshot: %+v", op)
	}
	if read(e.pool, "c3") != "one" || e.pool.Exists(vol("c3").Snapshot("s1")) {
		t.Fatal("copy of snapshot: wrong content or snapshots copied")
	}
	if code, _, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c3","source":{"type":"copy","source":"c1"}}`); code != 409 {
		t.Fatalf("copy onto existing: %d", code)
	}
	if code, _, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c9","source":{"type":"copy","source":"nope"}}`); code != 404 {
		t.Fatalf("copy of missing: %d", code)
	}
	// To another pool, snapshots replayed there.
	if code, resp, _ := e.do(t, "POST", "/1.0/storage-pools", `{"name":"p2","driver":"dir"}`); code != 200 {
		t.Fatalf("pool: %s", resp.Error)
	}
	_, resp, _ = e.do(t, "POST", "/1.0/instances", `{"name":"c4","source":{"type":"copy","source":"c1"},"devices":{"root":{"type":"disk","path":"/","pool":"p2"}}}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("cross-pool copy: %+v", op)
	}
	p2 := e.poolAt(t, "p2")
	if read(p2, "c4") != "two" || read(p2, "c4/s1") != "one" {
		t.Fatalf("cross-pool copy content: %q %q", read(p2, "c4"), read(p2, "c4/s1"))
	}

	// Rename (with snapshots), refused while running.
	_, resp, _ = e.do(t, "PUT", "/1.0/instances/c2/state", `{"action":"start"}`)
	e.wait(t, resp)
	if code, _, _ := e.do(t, "POST", "/1.0/instances/c2", `{"name":"c5"}`); code != 400 {
		t.Fatalf("rename running: %d", code)
	}
	_, resp, _ = e.do(t, "PUT", "/1.0/instances/c2/state", `{"action":"stop","force":true}`)
	e.wait(t, resp)
	if code, _, _ := e.do(t, "POST", "/1.0/instances/c2", `{"name":"c3"}`); code != 409 {
		t.Fatalf("rename onto existing: %d", code)
	}
	_, resp, _ = e.do(t, "POST", "/1.0/instances/c2", `{"name":"c5","migration":false}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("rename: %+v", op)
	}
	if read(e.pool, "c5") != "two" || !e.pool.Exists(vol("c5").Snapshot("s1")) || e.pool.Exists(vol("c2")) || !e.drv.Defined("c5") || e.drv.Defined("c2") {
		t.Fatal("rename did not move volume, snapshots and runtime config")
	}
	if _, err := e.d.Snapshot(context.Background(), "c5", "s1"); err != nil {
		t.Fatal(err)
	}
	// Move c5 (with its snapshot) to p2.
	_, resp, _ = e.do(t, "POST", "/1.0/instances/c5", `{"name":"c5","migration":true,"pool":"p2"}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("move with snapshots: %+v", op)
	}
	if read(p2, "c5") != "two" || read(p2, "c5/s1") != "one" || e.pool.Exists(vol("c5")) || e.pool.Exists(vol("c5").Snapshot("s1")) {
		t.Fatal("move with snapshots: volumes not moved")
	}
	// Move c3 to p2.
	_, resp, _ = e.do(t, "POST", "/1.0/instances/c3", `{"name":"c3","migration":true,"pool":"p2"}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("move: %+v", op)
	}
	if read(p2, "c3") != "one" || e.pool.Exists(vol("c3")) {
		t.Fatal("move: volume not moved")
	}
	if in, _ := e.db.GetInstance(context.Background(), "c3"); in.Pool != "p2" {
		t.Fatalf("move: row pool %q", in.Pool)
	}
}

func TestRecoverSweepsOrphanVolumes(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	e.uploadImage(t, "busybox", "bb")
	_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"}}`)
	e.wait(t, resp)
	_, resp, _ = e.do(t, "POST", "/1.0/instances/c1/snapshots", `{"name":"s1"}`)
	e.wait(t, resp)
	vol := func(n string) storage.Volume { return storage.Volume{Kind: storage.KindContainer, Name: n} }
	// What crashes leave: a volume without a row, a snapshot without a row.
	if err := e.pool.Clone(ctx, vol("c1"), vol("ghost")); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.Snapshot(ctx, vol("c1"), "ghostsnap"); err != nil {
		t.Fatal(err)
	}
	e.d.Recover(ctx)
	if e.pool.Exists(vol("ghost")) || e.pool.Exists(vol("c1").Snapshot("ghostsnap")) {
		t.Fatal("orphan volumes left")
	}
	if !e.pool.Exists(vol("c1")) || !e.pool.Exists(vol("c1").Snapshot("s1")) {
		t.Fatal("recorded volumes removed")
	}
}

func TestRebuild(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	e.uploadImage(t, "busybox", "bb")
	fp2 := e.uploadImage(t, "alpine", "al")
	_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"},"config":{"user.keep":"1"}}`)
	e.wait(t, resp)
	vol := storage.Volume{Kind: storage.KindContainer, Name: "c1"}
	os.WriteFile(filepath.Join(e.pool.Path(vol), "rootfs", "state"), []byte("old"), 0o644)
	_, resp, _ = e.do(t, "POST", "/1.0/instances/c1/snapshots", `{"name":"s1"}`)
	e.wait(t, resp)
	_, resp, _ = e.do(t, "PUT", "/1.0/instances/c1/state", `{"action":"start"}`)
	e.wait(t, resp)
	if code, _, _ := e.do(t, "POST", "/1.0/instances/c1/rebuild", `{"source":{"type":"image","alias":"al"}}`); code != 400 {
		t.Fatalf("rebuild running: %d", code)
	}
	_, resp, _ = e.do(t, "PUT", "/1.0/instances/c1/state", `{"action":"stop","force":true}`)
	e.wait(t, resp)
	if code, _, _ := e.do(t, "POST", "/1.0/instances/c1/rebuild", `{"source":{"type":"image","alias":"nope"}}`); code != 404 {
		t.Fatalf("rebuild from a missing image: %d", code)
	}
	_, resp, _ = e.do(t, "POST", "/1.0/instances/c1/rebuild", `{"source":{"type":"image","alias":"al"}}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("rebuild: %+v", op)
	}
	if _, err := os.Stat(filepath.Join(e.pool.Path(vol), "rootfs", "state")); !os.IsNotExist(err) {
		t.Fatal("rebuild kept the old tree")
	}
	if !e.pool.Exists(vol.Snapshot("s1")) {
		t.Fatal("rebuild dropped the snapshot")
	}
	in, _ := e.db.GetInstance(ctx, "c1")
	if in.ImageFingerprint != fp2 || in.Config["volatile.base_image"] != fp2 || in.Config["image.os"] != "alpine" || in.Config["user.keep"] != "1" {
		t.Fatalf("after rebuild: %s %v", in.ImageFingerprint, in.Config)
	}
}
