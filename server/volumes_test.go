package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"lodge/api"
)

func TestCustomVolumesAndDiskDevices(t *testing.T) {
	e := newTestEnv(t)
	if err := e.d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.uploadImage(t, "busybox", "bb")
	if code, resp, _ := e.do(t, "POST", "/1.0/storage-pools/default/volumes/custom", `{"name":"data","type":"custom","config":{}}`); code != 200 {
		t.Fatalf("create volume: %d %s", code, resp.Error)
	}
	if code, _, _ := e.do(t, "POST", "/1.0/storage-pools/default/volumes/custom", `{"name":"data"}`); code != 409 {
		t.Fatalf("duplicate volume: %d", code)
	}
	if code, _, _ := e.do(t, "POST", "/1.0/storage-pools/default/volumes/custom", `{"name":"x","config":{"size":"1GiB"}}`); code != 400 {
		t.Fatalf("unsupported key: %d", code)
	}
	// Bad disk devices are refused before anything changes.
	for _, dev := range []string{
		`{"d":{"type":"disk","path":"/srv"}}`,
		`{"d":{"type":"disk","path":"srv","source":"/tmp"}}`,
		`{"d":{"type":"disk","path":"/","source":"/tmp"}}`,
		`{"d":{"type":"disk","path":"/srv","source":"/does/not/exist"}}`,
		`{"d":{"type":"disk","path":"/srv","source":"/tmp","shift":"maybe"}}`,
	} {
		if code, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c9","source":{"type":"image","alias":"bb"},"devices":`+dev+`}`); code != 400 {
			t.Fatalf("bad device %s accepted: %d %s", dev, code, resp.Error)
		}
	}
	_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"},"devices":{"data":{"type":"disk","pool":"default","source":"data","path":"/srv/data"},"share":{"type":"disk","source":"/tmp","path":"/mnt/tmp","readonly":"true"}}}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("create with disks: %+v", op)
	}
	_, resp, _ = e.do(t, "GET", "/1.0/storage-pools/default/volumes/custom/data", "")
	var v api.StorageVolume
	json.Unmarshal(resp.Metadata, &v)
	if len(v.UsedBy) != 1 || v.UsedBy[0] != "/1.0/instances/c1" {
		t.Fatalf("used_by: %s", resp.Metadata)
	}
	if code, resp, _ := e.do(t, "PATCH", "/1.0/storage-pools/default/volumes/custom/data", `{"config":{"user.k":"v"},"description":"d"}`); code != 200 {
		t.Fatalf("patch volume: %d %s", code, resp.Error)
	}
	if code, _, _ := e.do(t, "PATCH", "/1.0/storage-pools/default/volumes/custom/data", `{"config":{"size":"1GiB"}}`); code != 400 {
		t.Fatalf("patch volume size: %d", code)
	}
	_, resp, _ = e.do(t, "GET", "/1.0/storage-pools/default/volumes/custom/data", "")
	json.Unmarshal(resp.Metadata, &v)
	if v.Config["user.k"] != "v" || v.Description != "d" {
		t.Fatalf("after patch: %s", resp.Metadata)
	}
	if code, resp, _ := e.do(t, "DELETE", "/1.0/storage-pools/default/volumes/custom/data", ""); code != 400 || !strings.Contains(resp.Error, "c1") {
		t.Fatalf("delete in use: %d %s", code, resp.Error)
	}
	// What the runtime was given when the devices were added.
	spec, ok := e.drv.Spec("c1")
	mounts := spec.Mounts
	if !ok || len(mounts) != 2 || mounts[0].Path != "/srv/data" || !strings.HasSuffix(mounts[0].Source, "/custom/data") || !mounts[1].ReadOnly {
		t.Fatalf("mounts: %+v %v", mounts, ok)
	}
	_, resp, _ = e.do(t, "DELETE", "/1.0/instances/c1", "")
	e.wait(t, resp)
	if code, resp, _ := e.do(t, "DELETE", "/1.0/storage-pools/default/volumes/custom/data", ""); code != 200 {
		t.Fatalf("delete: %d %s", code, resp.Error)
	}
	if code, _, _ := e.do(t, "GET", "/1.0/storage-pools/default/volumes/custom/data", ""); code != 404 {
		t.Fatalf("after delete: %d", code)
	}
}
