package server

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lodge/api"
	"lodge/storage"
)

// TestBackupsAPI: LXD's backup routes as lxc export and lxc import use
// them: create (the operation names the backup), list, get, export with
// its length, delete; import as application/octet-stream with X-LXD-name,
// and the statuses of bad requests.
func TestBackupsAPI(t *testing.T) {
	e := newTestEnv(t)
	e.uploadImage(t, "busybox", "bb")
	_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"}}`)
	e.wait(t, resp)
	os.WriteFile(filepath.Join(e.pool.Path(storage.Volume{Kind: storage.KindContainer, Name: "c1"}), "rootfs", "state"), []byte("mine"), 0o644)

	if code, resp, _ := e.do(t, "POST", "/1.0/instances/c1/backups", `{"compression_algorithm":"lz4"}`); code != 400 || !strings.Contains(resp.Error, "lz4") {
		t.Fatalf("bad compression: %d %s", code, resp.Error)
	}
	if code, _, _ := e.do(t, "POST", "/1.0/instances/nope/backups", `{}`); code != 404 {
		t.Fatalf("backup of a missing instance: %d", code)
	}
	code, resp, _ := e.do(t, "POST", "/1.0/instances/c1/backups", `{"name":"","expires_at":"2999-01-01T00:00:00Z","instance_only":true,"container_only":true,"optimized_storage":true,"compression_algorithm":"gzip"}`)
	if code != 202 {
		t.Fatalf("create: %d %s", code, resp.Error)
	}
	op := e.wait(t, resp)
	if op.StatusCode != api.Success || len(op.Resources["backups"]) != 1 || op.Resources["backups"][0] != "/1.0/backups/backup0" {
		// LXD's form, which Debian's lxc export trims to the name.
		t.Fatalf("create op: %+v", op)
	}
	if code, _, _ := e.do(t, "POST", "/1.0/instances/c1/backups", `{"name":"backup0"}`); code != 409 {
		t.Fatalf("duplicate: %d", code)
	}
	_, resp, _ = e.do(t, "GET", "/1.0/instances/c1/backups", "")
	if string(resp.Metadata) != `["/1.0/instances/c1/backups/backup0"]` {
		t.Fatalf("list: %s", resp.Metadata)
	}
	_, resp, _ = e.do(t, "GET", "/1.0/instances/c1/backups?recursion=1", "")
	var list []api.InstanceBackup
	json.Unmarshal(resp.Metadata, &list)
	// A dir pool has no optimized format: the backup says it is plain.
	if len(list) != 1 || list[0].Name != "backup0" || !list[0].InstanceOnly || !list[0].ContainerOnly || list[0].OptimizedStorage || list[0].ExpiresAt.Year() != 2999 {
		t.Fatalf("list recursion=1: %s", resp.Metadata)
	}
	if code, _, _ := e.do(t, "GET", "/1.0/instances/c1/backups/nope", ""); code != 404 {
		t.Fatalf("get missing: %d", code)
	}

	req := httptest.NewRequest("GET", "/1.0/instances/c1/backups/backup0/export", nil)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	tarball := w.Body.Bytes()
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/octet-stream" || w.Header().Get("Content-Length") == "" || len(tarball) < 100 {
		t.Fatalf("export: %d %v %d bytes", w.Code, w.Header(), len(tarball))
	}

	code, resp, _ = e.do(t, "POST", "/1.0/instances", string(tarball), "Content-Type", "application/octet-stream", "X-LXD-name", "c2", "X-LXD-pool", "default")
	if code != 202 {
		t.Fatalf("import: %d %s", code, resp.Error)
	}
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("import op: %+v", op)
	}
	if b, err := os.ReadFile(filepath.Join(e.pool.Path(storage.Volume{Kind: storage.KindContainer, Name: "c2"}), "rootfs", "state")); err != nil || string(b) != "mine" {
		t.Fatalf("imported file: %q %v", b, err)
	}
	if code, resp, _ := e.do(t, "POST", "/1.0/instances", string(tarball), "Content-Type", "application/octet-stream", "X-LXD-name", "c2"); code != 409 {
		t.Fatalf("import over c2: %d %s", code, resp.Error)
	}
	if code, resp, _ := e.do(t, "POST", "/1.0/instances", "not a tarball", "Content-Type", "application/octet-stream"); code != 400 {
		t.Fatalf("import of garbage: %d %s", code, resp.Error)
	}

	_, resp, _ = e.do(t, "POST", "/1.0/instances/c1/backups/backup0", `{"name":"renamed"}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("rename: %+v", op)
	}
	_, resp, _ = e.do(t, "DELETE", "/1.0/instances/c1/backups/renamed", "")
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("delete: %+v", op)
	}
	if code, _, _ := e.do(t, "GET", "/1.0/instances/c1/backups/renamed", ""); code != 404 {
		t.Fatalf("get deleted: %d", code)
	}
}
