package server

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"lodge/api"
)

// Device writes that the registry refuses are a 400 and change nothing,
// on instances and on profiles; keys stored before they were refused keep
// working (the instance starts, other edits go through).
func TestDeviceKeysRefused(t *testing.T) {
	e := newTestEnv(t)
	e.uploadImage(t, "busybox", "bb")
	nic := `{"type":"nic","nictype":"bridged","parent":"lo"}`
	code, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"},"devices":{"eth0":`+nic+`}}`)
	if code != 202 || e.wait(t, resp).StatusCode != api.Success {
		t.Fatalf("create: %d %s", code, resp.Error)
	}
	if code, resp, _ := e.do(t, "POST", "/1.0/profiles", `{"name":"p1","devices":{"eth1":`+nic+`}}`); code != 200 {
		t.Fatalf("profile: %d %s", code, resp.Error)
	}
	ctx := context.Background()
	instBefore, _ := e.db.GetInstance(ctx, "c1")
	profBefore, _ := e.db.GetProfile(ctx, "p1")

	refused := []struct {
		what, dev, msg string
	}{
		{"vlan key", `{"type":"nic","nictype":"bridged","parent":"lo","vlan":"10"}`, `key "vlan" is not supported yet on nic devices`},
		{"unknown key", `{"type":"nic","nictype":"bridged","parent":"lo","nosuch.key":"1"}`, `key "nosuch.key" is not supported on nic devices (supported: `},
		{"queue", `{"type":"nic","nictype":"bridged","parent":"lo","queue.tx.length":"100"}`, `"queue.tx.length" is not supported yet`},
		{"nictype", `{"type":"nic","nictype":"ipvlan","parent":"lo"}`, "nictype=ipvlan is not supported yet"},
		{"bad value", `{"type":"nic","nictype":"bridged","parent":"lo","mtu":"12"}`, `key "mtu": invalid value "12"`},
		{"kind", `{"type":"nic","nictype":"macvlan","parent":"lo","host_name":"v1"}`, `"host_name" does not apply to nictype=macvlan NICs`},
		{"disk", `{"type":"disk","path":"/srv","source":"/tmp","propagation":"shared"}`, `key "propagation" is not supported yet on disk devices`},
		{"proxy", `{"type":"proxy","listen":"tcp:0.0.0.0:8080","connect":"tcp:127.0.0.1:80","bogus":"1"}`, `key "bogus" is not supported on proxy devices`},
		{"type", `{"type":"gpu"}`, `device type "gpu" is not supported yet`},
	}
	for _, tc := range refused {
		for _, w := range []struct{ method, path, body string }{
			{"PATCH", "/1.0/instances/c1", `{"devices":{"eth0":` + tc.dev + `}}`},
			{"PUT", "/1.0/instances/c1", `{"profiles":["default"],"devices":{"eth0":` + tc.dev + `}}`},
			{"PATCH", "/1.0/profiles/p1", `{"devices":{"eth1":` + tc.dev + `}}`},
			{"PUT", "/1.0/profiles/p1", `{"devices":{"eth1":` + tc.dev + `}}`},
			{"POST", "/1.0/profiles", `{"name":"p2","devices":{"eth1":` + tc.dev + `}}`},
			{"POST", "/1.0/instances", `{"name":"c2","source":{"type":"image","alias":"bb"},"devices":{"eth0":` + tc.dev + `}}`},
			{"POST", "/1.0/instances", `{"name":"c2","source":{"type":"copy","source":"c1"},"devices":{"eth0":` + tc.dev + `}}`},
		} {
			code, resp, _ := e.do(t, w.method, w.path, w.body)
			if code != 400 || !strings.Contains(resp.Error, tc.msg) || strings.Contains(resp.Error, "\n") {
				t.Errorf("%s: %s %s: %d %q, want 400 %q", tc.what, w.method, w.path, code, resp.Error, tc.msg)
			}
		}
	}
	e.d.WaitOperations()
	if got, _ := e.db.GetInstance(ctx, "c1"); !reflect.DeepEqual(got.Devices, instBefore.Devices) || !reflect.DeepEqual(got.Config, instBefore.Config) {
		t.Fatalf("instance changed: %v", got.Devices)
	}
	if got, _ := e.db.GetProfile(ctx, "p1"); !reflect.DeepEqual(got.Devices, profBefore.Devices) {
		t.Fatalf("profile changed: %v", got.Devices)
	}
	for _, gone := range []string{"/1.0/instances/c2", "/1.0/profiles/p2"} {
		if code, _, _ := e.do(t, "GET", gone, ""); code != 404 {
			t.Fatalf("%s was created: %d", gone, code)
		}
	}

	// Keys stored before lodge refused them (as an older lodged stored
	// them): the instance starts, and other edits go through.
	in := instBefore
	in.Devices = map[string]map[string]string{"eth0": {"type": "nic", "nictype": "bridged", "parent": "lo", "vlan": "10"}}
	if err := e.db.UpdateInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	p := profBefore
	p.Devices = map[string]map[string]string{"eth1": {"type": "nic", "nictype": "bridged", "parent": "lo", "queue.tx.length": "100"}}
	if err := e.db.UpdateProfile(ctx, p); err != nil {
		t.Fatal(err)
	}
	ok := func(method, path, body string) {
		t.Helper()
		code, resp, _ := e.do(t, method, path, body)
		if code == 202 {
			if op := e.wait(t, resp); op.StatusCode != api.Success {
				t.Fatalf("%s %s: %s", method, path, op.Err)
			}
		} else if code != 200 {
			t.Fatalf("%s %s: %d %s", method, path, code, resp.Error)
		}
	}
	ok("PATCH", "/1.0/instances/c1", `{"config":{"user.x":"1"},"profiles":["default","p1"]}`)
	ok("PATCH", "/1.0/instances/c1", `{"devices":{"eth0":{"type":"nic","nictype":"bridged","parent":"lo","vlan":"10","mtu":"1400"}}}`)
	ok("PATCH", "/1.0/profiles/p1", `{"config":{"user.y":"2"}}`)
	ok("PATCH", "/1.0/profiles/p1", `{"devices":{"eth1":{"type":"nic","nictype":"bridged","parent":"lo","queue.tx.length":"100","mtu":"1400"}}}`)
	// Overriding the profile's device in the instance keeps its key.
	ok("PATCH", "/1.0/instances/c1", `{"devices":{"eth1":{"type":"nic","nictype":"bridged","parent":"lo","queue.tx.length":"100","mtu":"1300"}}}`)
	ok("PUT", "/1.0/instances/c1/state", `{"action":"start"}`)
	// Changing the refused key itself is refused.
	if code, resp, _ := e.do(t, "PATCH", "/1.0/instances/c1", `{"devices":{"eth0":{"type":"nic","nictype":"bridged","parent":"lo","vlan":"11"}}}`); code != 400 {
		t.Fatalf("changed refused key: %d %s", code, resp.Error)
	}
	got, _ := e.db.GetInstance(ctx, "c1")
	if got.Devices["eth0"]["vlan"] != "10" || got.Devices["eth1"]["queue.tx.length"] != "100" || got.Devices["eth1"]["mtu"] != "1300" {
		t.Fatalf("devices: %v", got.Devices)
	}
	// A copy takes the source's devices as they are.
	ok("POST", "/1.0/instances", `{"name":"c3","source":{"type":"copy","source":"c1","instance_only":true}}`)
}

// A reservation on a bridged NIC needs lodged's dnsmasq behind the parent.
func TestBridgedReservationNeedsManagedParent(t *testing.T) {
	e := newTestEnv(t)
	e.uploadImage(t, "busybox", "bb")
	code, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"},"devices":{"eth0":{"type":"nic","nictype":"bridged","parent":"lo","ipv4.address":"10.0.0.5"}}}`)
	if code != 400 || !strings.Contains(resp.Error, `parent "lo" is not one`) {
		t.Fatalf("%d %s", code, resp.Error)
	}
	e.d.WaitOperations()
	if list, _ := e.db.ListInstances(context.Background()); len(list) != 0 {
		t.Fatalf("created: %+v", list)
	}
}

func TestDeviceKeysMetadata(t *testing.T) {
	e := newTestEnv(t)
	code, resp, _ := e.do(t, "GET", "/1.0/metadata/configuration", "")
	var md api.ConfigMetadata
	if err := json.Unmarshal(resp.Metadata, &md); code != 200 || err != nil {
		t.Fatalf("%d %v", code, err)
	}
	nic := md.Devices["nic"]
	names := map[string]api.ConfigKey{}
	for _, k := range nic.Keys {
		names[k.Name] = k
	}
	if k := names["ipv4.address"]; k.ShortDesc == "" || strings.Join(k.AppliesTo, ",") != "bridged,network,routed" || !k.LiveUpdate {
		t.Fatalf("ipv4.address: %+v", k)
	}
	if _, ok := names["vlan"]; ok || !strings.Contains(strings.Join(nic.NotYet, ","), "vlan") {
		t.Fatalf("not yet: %+v", nic)
	}
	if len(md.Devices) != 3 || len(md.Devices["disk"].Keys) == 0 || len(md.Devices["proxy"].Keys) == 0 || len(md.DeviceTypesNotYet) == 0 || len(md.Instance.Keys) == 0 {
		t.Fatalf("metadata: %+v", md)
	}
}
