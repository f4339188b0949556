package server

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lodge/api"
	"lodge/instances/fake"
	"lodge/server/db"
	"lodge/storage"
	"lodge/storage/dir"
)

func TestStoragePoolsAPI(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	if err := e.s.initPools(ctx); err != nil {
		t.Fatal(err)
	}
	e.uploadImage(t, "busybox", "bb")
	code, resp, _ := e.do(t, "GET", "/1.0/storage-pools?recursion=1", "")
	var list []api.StoragePool
	json.Unmarshal(resp.Metadata, &list)
	if code != 200 || len(list) != 1 || list[0].Name != "default" || list[0].Driver != "dir" || list[0].Status != "Created" {
		t.Fatalf("list: %d %s", code, resp.Metadata)
	}
	for _, bad := range []string{`{"name":"p2","driver":"zfs"}`, `{"name":"p2","driver":"dir","config":{"size":"1GiB"}}`, `{"name":"-x","driver":"dir"}`} {
		if code, resp, _ := e.do(t, "POST", "/1.0/storage-pools", bad); code != 400 {
			t.Fatalf("bad create %s: %d %s", bad, code, resp.Error)
		}
	}
	if code, resp, _ := e.do(t, "POST", "/1.0/storage-pools", `{"name":"p2","driver":"dir","description":"second"}`); code != 200 {
		t.Fatalf("create: %d %s", code, resp.Error)
	}
	if code, _, _ := e.do(t, "POST", "/1.0/storage-pools", `{"name":"p2","driver":"dir"}`); code != 409 {
		t.Fatalf("duplicate: %d", code)
	}
	code, resp, _ = e.do(t, "GET", "/1.0/storage-pools/p2", "")
	var p api.StoragePool
	json.Unmarshal(resp.Metadata, &p)
	if code != 200 || p.Description != "second" || p.Config["source"] == "" || len(p.UsedBy) != 0 {
		t.Fatalf("get: %d %s", code, resp.Metadata)
	}
	if code, resp, _ := e.do(t, "PATCH", "/1.0/storage-pools/p2", `{"config":{"source":"/elsewhere"}}`); code != 400 || !strings.Contains(resp.Error, "cannot be changed") {
		t.Fatalf("source change: %d %s", code, resp.Error)
	}
	if code, resp, _ := e.do(t, "PATCH", "/1.0/storage-pools/p2", `{"config":{"user.k":"v"}}`); code != 200 {
		t.Fatalf("patch: %d %s", code, resp.Error)
	}
	// An instance on p2 (lodge launch -s p2).
	_, resp, _ = e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"},"devices":{"root":{"type":"disk","path":"/","pool":"p2"}}}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("create on p2: %+v", op)
	}
	p2, _ := e.s.pool("p2")
	if !p2.Exists(storage.Volume{Kind: storage.KindContainer, Name: "c1"}) || e.pool.Exists(storage.Volume{Kind: storage.KindContainer, Name: "c1"}) {
		t.Fatal("instance not on p2")
	}
	_, resp, _ = e.do(t, "GET", "/1.0/instances/c1", "")
	var inst api.Instance
	json.Unmarshal(resp.Metadata, &inst)
	if inst.ExpandedDevices["root"]["pool"] != "p2" {
		t.Fatalf("root device: %v", inst.ExpandedDevices["root"])
	}
	if code, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c2","source":{"type":"image","alias":"bb"},"devices":{"root":{"type":"disk","path":"/","pool":"nope"}}}`); code != 400 || !strings.Contains(resp.Error, "nope") {
		t.Fatalf("unknown pool: %d %s", code, resp.Error)
	}
	if code, resp, _ := e.do(t, "DELETE", "/1.0/storage-pools/p2", ""); code != 400 || !strings.Contains(resp.Error, "c1") {
		t.Fatalf("delete in use: %d %s", code, resp.Error)
	}
	_, resp, _ = e.do(t, "DELETE", "/1.0/instances/c1", "")
	e.wait(t, resp)
	if code, resp, _ := e.do(t, "DELETE", "/1.0/storage-pools/p2", ""); code != 200 {
		t.Fatalf("delete: %d %s", code, resp.Error)
	}
	if code, _, _ := e.do(t, "GET", "/1.0/storage-pools/p2", ""); code != 404 {
		t.Fatalf("after delete: %d", code)
	}
	if code, _, _ := e.do(t, "DELETE", "/1.0/storage-pools/default", ""); code != 400 {
		t.Fatalf("delete default: %d", code)
	}
	if code, resp, _ := e.do(t, "GET", "/1.0/storage-pools/default/resources", ""); code != 200 || !strings.Contains(string(resp.Metadata), "total") {
		t.Fatalf("resources: %d %s", code, resp.Metadata)
	}
}

// fakePools records what the server asks of its pool manager.
type fakePools struct {
	def     string
	created map[string]map[string]string
}

func (f *fakePools) Create(ctx context.Context, name, driver string, cfg map[string]string) (map[string]string, error) {
	f.created[name+":"+driver] = cfg
	return cfg, nil
}
func (f *fakePools) Open(ctx context.Context, name, driver string, cfg map[string]string) (storage.Driver, error) {
	return dir.New(cfg["source"])
}
func (f *fakePools) Destroy(ctx context.Context, name, driver string, cfg map[string]string) error {
	return nil
}
func (f *fakePools) DefaultDriver() string { return f.def }

func TestDefaultPoolChoice(t *testing.T) {
	for _, def := range []string{"btrfs", "overlay"} {
		tmp := t.TempDir()
		d, err := db.Open(context.Background(), filepath.Join(tmp, "db", "lodge.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		fp := &fakePools{def: def, created: map[string]map[string]string{}}
		s := New(Config{Dir: tmp}, Deps{DB: d, Instances: fake.New(), Pools: fp})
		if err := s.initPools(context.Background()); err != nil {
			t.Fatal(err)
		}
		row, err := d.GetStoragePool(context.Background(), "default")
		if err != nil || row.Driver != def {
			t.Fatalf("%s: default pool %+v %v", def, row, err)
		}
		cfg, ok := fp.created["default:"+def]
		if !ok {
			t.Fatalf("%s: not created: %v", def, fp.created)
		}
		// On btrfs the subvolumes go in the state directory itself, no loop file.
		if def == "btrfs" && cfg["source"] != filepath.Join(tmp, "storage-pools", "default") {
			t.Fatalf("btrfs default source %q", cfg["source"])
		}
		s.cancel()
	}
	// A state directory from before pools were recorded keeps its dir pool.
	tmp := t.TempDir()
	os.MkdirAll(filepath.Join(tmp, "storage-pools", "default", "containers", "old1"), 0o700)
	d, _ := db.Open(context.Background(), filepath.Join(tmp, "db", "lodge.db"))
	defer d.Close()
	s := New(Config{Dir: tmp}, Deps{DB: d, Instances: fake.New(), Pools: &fakePools{def: "overlay", created: map[string]map[string]string{}}})
	if err := s.initPools(context.Background()); err != nil {
		t.Fatal(err)
	}
	if row, _ := d.GetStoragePool(context.Background(), "default"); row.Driver != "dir" {
		t.Fatalf("legacy pool: %+v", row)
	}
	s.cancel()
}
