package db

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestStoragePoolsAndSnapshots(t *testing.T) {
	d, _ := openTest(t)
	ctx := context.Background()
	if err := d.CreateStoragePool(ctx, StoragePool{Name: "p1", Driver: "dir", Config: map[string]string{"source": "/x"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateStoragePool(ctx, StoragePool{Name: "p1", Driver: "dir"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate pool: %v", err)
	}
	p, err := d.GetStoragePool(ctx, "p1")
	if err != nil || p.Config["source"] != "/x" || p.Driver != "dir" {
		t.Fatalf("get: %+v %v", p, err)
	}
	p.Description = "d"
	if err := d.UpdateStoragePool(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateInstance(ctx, Instance{Name: "c1", Pool: "p1", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if u, _ := d.PoolUsers(ctx, "p1"); len(u) != 1 || u[0] != "c1" {
		t.Fatalf("users: %v", u)
	}
	now := time.Now().UTC()
	if err := d.CreateSnapshot(ctx, Snapshot{Instance: "c1", Name: "s1", CreatedAt: now, Config: map[string]string{"a": "b"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateSnapshot(ctx, Snapshot{Instance: "c1", Name: "s1", CreatedAt: now}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate snapshot: %v", err)
	}
	if err := d.CreateSnapshot(ctx, Snapshot{Instance: "nope", Name: "s1", CreatedAt: now}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("snapshot of missing instance: %v", err)
	}
	if all, err := d.AllSnapshots(ctx); err != nil || len(all["c1"]) != 1 || all["c1"][0].Name != "s1" {
		t.Fatalf("all snapshots: %v %v", all, err)
	}
	if err := d.RenameInstance(ctx, "c1", "c2"); err != nil {
		t.Fatal(err)
	}
	if err := d.RenameSnapshot(ctx, "c2", "s1", "s2"); err != nil {
		t.Fatal(err)
	}
	s, err := d.GetSnapshot(ctx, "c2", "s2")
	if err != nil || s.Config["a"] != "b" || !s.CreatedAt.Equal(now) {
		t.Fatalf("snapshot: %+v %v", s, err)
	}
	if err := d.DeleteInstance(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	if l, _ := d.ListSnapshots(ctx, "c2"); len(l) != 0 {
		t.Fatalf("snapshots outlived their instance: %v", l)
	}
	if err := d.DeleteStoragePool(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
}
