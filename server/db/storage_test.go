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

func TestBackups(t *testing.T) {
	d, _ := openTest(t)
	ctx := context.Background()
	if _, err := d.CreateInstance(ctx, Instance{Name: "c1", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	b := Backup{Instance: "c1", Name: "backup0", CreatedAt: now, ExpiresAt: now.Add(time.Hour), InstanceOnly: true, Compression: "zstd"}
	if err := d.CreateBackup(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateBackup(ctx, b); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := d.CreateBackup(ctx, Backup{Instance: "nope", Name: "b", CreatedAt: now}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("of a missing instance: %v", err)
	}
	got, err := d.GetBackup(ctx, "c1", "backup0")
	if err != nil || !got.ExpiresAt.Equal(b.ExpiresAt) || !got.InstanceOnly || got.OptimizedStorage || got.Compression != "zstd" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if err := d.CreateBackup(ctx, Backup{Instance: "c1", Name: "b2", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := d.RenameBackup(ctx, "c1", "b2", "backup0"); !errors.Is(err, ErrExists) {
		t.Fatalf("rename onto another: %v", err)
	}
	if err := d.RenameBackup(ctx, "c1", "b2", "b3"); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteBackup(ctx, "c1", "b2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete the old name: %v", err)
	}
	if err := d.RenameInstance(ctx, "c1", "c2"); err != nil {
		t.Fatal(err)
	}
	if list, err := d.ListBackups(ctx, "c2"); err != nil || len(list) != 2 || list[0].Name != "backup0" || list[1].Name != "b3" || list[1].Instance != "c2" {
		t.Fatalf("list after the instance's rename: %+v %v", list, err)
	}
	if err := d.DeleteInstance(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	if list, err := d.ListBackups(ctx, ""); err != nil || len(list) != 0 {
		t.Fatalf("backups outlived their instance: %+v %v", list, err)
	}
}
