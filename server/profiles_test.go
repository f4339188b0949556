package server

import (
	"encoding/json"
	"strings"
	"testing"

	"lodge/api"
	"lodge/instances"
)

func TestProfilesAPI(t *testing.T) {
	e := newTestEnv(t)
	e.uploadImage(t, "busybox", "bb")

	code, resp, _ := e.do(t, "POST", "/1.0/profiles", `{"name":"small","config":{"limits.memory":"256MiB","user.a":"p"}}`)
	if code != 200 {
		t.Fatalf("create: %d %s", code, resp.Error)
	}
	for _, bad := range []string{`{"name":"x/y"}`, `{"name":"b","config":{"bogus":"1"}}`, `{"name":"c","config":{"volatile.x":"1"}}`,
		`{"name":"d","devices":{"root":{"type":"disk","path":"/"}}}`} {
		if code, _, _ := e.do(t, "POST", "/1.0/profiles", bad); code != 400 {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
	if code, _, _ := e.do(t, "POST", "/1.0/profiles", `{"name":"small"}`); code != 409 {
		t.Errorf("duplicate: %d", code)
	}
	code, resp, _ = e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"},"profiles":["default","small"],"config":{"user.a":"own"}}`)
	if code != 202 {
		t.Fatalf("create instance: %d %s", code, resp.Error)
	}
	e.wait(t, resp)
	_, resp, _ = e.do(t, "GET", "/1.0/instances/c1", "")
	var inst api.Instance
	json.Unmarshal(resp.Metadata, &inst)
	if inst.ExpandedConfig["limits.memory"] != "256MiB" || inst.ExpandedConfig["user.a"] != "own" || inst.ExpandedDevices["root"]["pool"] != "default" ||
		inst.Config["limits.memory"] != "" {
		t.Fatalf("expanded: %+v", inst)
	}
	_, resp, hdr := e.do(t, "GET", "/1.0/profiles/small", "")
	var p api.Profile
	json.Unmarshal(resp.Metadata, &p)
	if len(p.UsedBy) != 1 || p.UsedBy[0] != "/1.0/instances/c1" {
		t.Fatalf("used_by: %+v", p)
	}
	// PUT with the ETag; a stale ETag is refused.
	if code, resp, _ := e.do(t, "PUT", "/1.0/profiles/small", `{"config":{"limits.memory":"512MiB"}}`, "If-Match", hdr.Get("Etag")); code != 200 {
		t.Fatalf("put: %d %s", code, resp.Error)
	}
	if code, _, _ := e.do(t, "PUT", "/1.0/profiles/small", `{"config":{}}`, "If-Match", hdr.Get("Etag")); code != 412 {
		t.Fatalf("stale etag: %d", code)
	}
	_, resp, _ = e.do(t, "GET", "/1.0/instances/c1", "")
	json.Unmarshal(resp.Metadata, &inst)
	if inst.ExpandedConfig["limits.memory"] != "512MiB" || inst.ExpandedConfig["user.a"] != "own" {
		t.Fatalf("after profile put: %+v", inst.ExpandedConfig)
	}
	code, resp, _ = e.do(t, "DELETE", "/1.0/profiles/small", "")
	if code != 400 || !strings.Contains(resp.Error, "c1") {
		t.Fatalf("delete in use: %d %s", code, resp.Error)
	}
	if code, _, _ := e.do(t, "POST", "/1.0/profiles/default", `{"name":"x"}`); code != 400 {
		t.Fatalf("rename default: %d", code)
	}
	if code, resp, _ := e.do(t, "POST", "/1.0/profiles/small", `{"name":"big"}`); code != 200 {
		t.Fatalf("rename: %d %s", code, resp.Error)
	}
	_, resp, _ = e.do(t, "GET", "/1.0/instances/c1", "")
	json.Unmarshal(resp.Metadata, &inst)
	if len(inst.Profiles) != 2 || inst.Profiles[1] != "big" {
		t.Fatalf("profiles after rename: %v", inst.Profiles)
	}
	if code, _, _ := e.do(t, "PATCH", "/1.0/instances/c1", `{"profiles":["default","nope"]}`); code != 400 {
		t.Fatalf("unknown profile on an instance: %d", code)
	}
	if code, _, _ := e.do(t, "PATCH", "/1.0/instances/c1", `{"config":{"volatile.uuid":"x"}}`); code != 400 {
		t.Fatalf("volatile write: %d", code)
	}
	_, resp, _ = e.do(t, "GET", "/1.0/profiles?recursion=1", "")
	var list []api.Profile
	json.Unmarshal(resp.Metadata, &list)
	if len(list) != 2 || list[0].Name != "big" || list[1].Name != "default" {
		t.Fatalf("list: %+v", list)
	}
}

// A change the runtime refuses (liblxc's parser, through Define) is a 400
// and leaves the stored config as it was; so does one to a profile.
func TestConfigChangeRefusedByRuntime(t *testing.T) {
	e := newTestEnv(t)
	e.uploadImage(t, "busybox", "bb")
	code, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"}}`)
	if code != 202 {
		t.Fatalf("create: %d %s", code, resp.Error)
	}
	e.wait(t, resp)
	e.drv.FailDefine = instances.Invalidf("liblxc refused the generated config (check raw.lxc)")
	code, resp, _ = e.do(t, "PATCH", "/1.0/instances/c1", `{"config":{"raw.lxc":"lxc.bogus = 1"}}`)
	if code != 400 || !strings.Contains(resp.Error, "raw.lxc") {
		t.Fatalf("refused change: %d %s", code, resp.Error)
	}
	code, resp, _ = e.do(t, "PATCH", "/1.0/profiles/default", `{"config":{"raw.lxc":"lxc.bogus = 1"}}`)
	if code != 400 || !strings.Contains(resp.Error, "c1") {
		t.Fatalf("refused profile change: %d %s", code, resp.Error)
	}
	e.drv.FailDefine = nil
	_, resp, _ = e.do(t, "GET", "/1.0/instances/c1", "")
	var inst api.Instance
	json.Unmarshal(resp.Metadata, &inst)
	if _, ok := inst.ExpandedConfig["raw.lxc"]; ok {
		t.Fatalf("a refused change was stored: %v", inst.ExpandedConfig)
	}
}
