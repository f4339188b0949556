package server

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lodge/api"
	"lodge/storage"
	"lodge/storage/storagetest"
)

func TestStoragePoolsAPI(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	if err := e.d.Start(ctx); err != nil {
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
	p2 := e.poolAt(t, "p2")
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

// Pools and files lodge did not make: refused at create, forgotten at
// delete, never swept, never cleared to make room for a new volume.
func TestStoragePoolForeignFiles(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	if err := e.d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.uploadImage(t, "busybox", "bb")
	// The scenario: a source holding another tool's data.
	old := filepath.Join(t.TempDir(), "old")
	storagetest.Plant(t, filepath.Join(old, "containers", "web01", "data"))
	body := `{"name":"p2","driver":"dir","config":{"source":"` + old + `"}}`
	if code, resp, _ := e.do(t, "POST", "/1.0/storage-pools", body); code != 400 || !strings.Contains(resp.Error, "not empty (containers/)") {
		t.Fatalf("non-empty source: %d %s", code, resp.Error)
	}
	link := filepath.Join(t.TempDir(), "etc")
	os.Symlink("/etc", link)
	if code, resp, _ := e.do(t, "POST", "/1.0/storage-pools", `{"name":"p2","driver":"dir","config":{"source":"`+link+`"}}`); code != 400 || !strings.Contains(resp.Error, "resolves to /etc") {
		t.Fatalf("link to /etc: %d %s", code, resp.Error)
	}
	// Inside the default pool.
	if code, resp, _ := e.do(t, "POST", "/1.0/storage-pools", `{"name":"p2","driver":"dir","config":{"source":"`+filepath.Join(e.pool.Info().Root, "custom", "x")+`"}}`); code != 400 || !strings.Contains(resp.Error, "inside") {
		t.Fatalf("inside the default pool: %d %s", code, resp.Error)
	}
	if code, _, _ := e.do(t, "GET", "/1.0/storage-pools/p2", ""); code != 404 {
		t.Fatalf("a refused pool was recorded: %d", code)
	}

	// A pool made as an older lodge made it: a source elsewhere, no marker.
	src := filepath.Join(t.TempDir(), "p3")
	if code, resp, _ := e.do(t, "POST", "/1.0/storage-pools", `{"name":"p3","driver":"dir","config":{"source":"`+src+`"}}`); code != 200 {
		t.Fatalf("create: %d %s", code, resp.Error)
	}
	os.Remove(filepath.Join(src, storage.MarkerFile))
	storagetest.Plant(t, filepath.Join(src, "containers", "web01", "data"))
	storagetest.Plant(t, filepath.Join(src, "custom", "vol1", "data"))
	storagetest.Plant(t, filepath.Join(src, "images", ".tmp-theirs", "data"))
	// Recovery sweeps neither its "orphans" nor its "staging leftovers".
	e.d.Recover(ctx)
	storagetest.Intact(t, filepath.Join(src, "containers", "web01", "data"))
	storagetest.Intact(t, filepath.Join(src, "images", ".tmp-theirs", "data"))
	// A new instance or volume of the same name is refused, not made room for.
	_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"web01","source":{"type":"image","alias":"bb"},"devices":{"root":{"type":"disk","path":"/","pool":"p3"}}}`)
	if op := e.wait(t, resp); op.StatusCode == api.Success || !strings.Contains(op.Err, "no record of") {
		t.Fatalf("instance over a foreign volume: %+v", op)
	}
	if code, resp, _ := e.do(t, "POST", "/1.0/storage-pools/p3/volumes/custom", `{"name":"vol1","type":"custom"}`); code != 400 || !strings.Contains(resp.Error, "no record of") {
		t.Fatalf("custom volume over a foreign one: %d %s", code, resp.Error)
	}
	storagetest.Intact(t, filepath.Join(src, "containers", "web01", "data"))
	storagetest.Intact(t, filepath.Join(src, "custom", "vol1", "data"))
	// Deleting it forgets it and says so.
	code, resp, _ := e.do(t, "DELETE", "/1.0/storage-pools/p3", "")
	var del api.StoragePoolDeleted
	json.Unmarshal(resp.Metadata, &del)
	if code != 200 || !strings.Contains(del.Forgotten, "no lodge pool marker") {
		t.Fatalf("delete: %d %s %s", code, resp.Error, resp.Metadata)
	}
	if code, _, _ := e.do(t, "GET", "/1.0/storage-pools/p3", ""); code != 404 {
		t.Fatalf("forgotten pool still recorded: %d", code)
	}
	storagetest.Intact(t, filepath.Join(src, "containers", "web01", "data"))
	storagetest.Intact(t, filepath.Join(src, "custom", "vol1", "data"))
	storagetest.Intact(t, filepath.Join(src, "images", ".tmp-theirs", "data"))

	// A pool of lodge's: the image volume it unpacked goes (a record: the
	// image), a planted directory stays and is reported.
	src4 := filepath.Join(t.TempDir(), "p4")
	if code, resp, _ := e.do(t, "POST", "/1.0/storage-pools", `{"name":"p4","driver":"dir","config":{"source":"`+src4+`"}}`); code != 200 {
		t.Fatalf("create: %d %s", code, resp.Error)
	}
	_, resp, _ = e.do(t, "POST", "/1.0/instances", `{"name":"c4","source":{"type":"image","alias":"bb"},"devices":{"root":{"type":"disk","path":"/","pool":"p4"}}}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("create on p4: %+v", op)
	}
	_, resp, _ = e.do(t, "DELETE", "/1.0/instances/c4", "")
	e.wait(t, resp)
	storagetest.Plant(t, filepath.Join(src4, "containers", "web01", "data"))
	code, resp, _ = e.do(t, "DELETE", "/1.0/storage-pools/p4", "")
	del = api.StoragePoolDeleted{}
	json.Unmarshal(resp.Metadata, &del)
	if code != 200 || del.Forgotten != "" || len(del.Left) != 1 || !strings.Contains(del.Left[0], "web01") {
		t.Fatalf("delete p4: %d %s %s", code, resp.Error, resp.Metadata)
	}
	storagetest.Intact(t, filepath.Join(src4, "containers", "web01", "data"))
	if ents, _ := os.ReadDir(filepath.Join(src4, "images")); len(ents) != 0 {
		t.Fatalf("image volume left: %v", ents)
	}
}
