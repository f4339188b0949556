package server

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"lodge/api"
)

// An instance created on one member for another (?target=) lives there;
// every member lists it with its location; requests about it and its
// operation are forwarded from the member that got them.
func TestClusterForwarding(t *testing.T) {
	ms := newTestCluster(t, 2)
	deadline := time.Now().Add(30 * time.Second)
	for {
		l := members(t, ms[0])
		if len(l) == 2 && l[1].Status == "Online" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("m2 never online: %+v", l)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The same image on both: m2 stores its own files.
	ms[0].uploadImage(t, "busybox", "bb")
	ms[1].uploadImage(t, "busybox", "")
	code, r, _ := ms[0].do(t, "POST", "/1.0/instances?target=m2", `{"name":"c1","source":{"type":"image","alias":"bb"}}`)
	if code != 202 {
		t.Fatalf("create on m2: %d %s", code, r.Error)
	}
	if op := ms[0].wait(t, r); op.StatusCode != api.Success {
		t.Fatalf("create on m2: %s", op.Err)
	}
	ctx := context.Background()
	names := func(m *clusterMember) []string {
		l, _ := m.d.Instances(ctx, false)
		var out []string
		for _, in := range l {
			out = append(out, in.Name)
		}
		return out
	}
	on1, on2 := names(ms[0]), names(ms[1])
	if slices.Contains(on1, "c1") || !slices.Contains(on2, "c1") {
		t.Fatalf("c1 on m1 %v, on m2 %v; want m2 only", on1, on2)
	}
	for _, m := range ms {
		code, r, _ := m.do(t, "GET", "/1.0/instances?recursion=1", "")
		var list []api.Instance
		json.Unmarshal(r.Metadata, &list)
		if code != 200 || len(list) != 1 || list[0].Name != "c1" || list[0].Location != "m2" {
			t.Fatalf("list on %s: %d %+v", m.name, code, list)
		}
		code, r, _ = m.do(t, "GET", "/1.0/instances", "")
		var urls []string
		json.Unmarshal(r.Metadata, &urls)
		if code != 200 || len(urls) != 1 || urls[0] != "/1.0/instances/c1" {
			t.Fatalf("URL list on %s: %d %v", m.name, code, urls)
		}
	}
	// A change made through m1 is made on m2.
	code, r, _ = ms[0].do(t, "PATCH", "/1.0/instances/c1", `{"config":{"user.via":"m1"}}`)
	if code != 202 {
		t.Fatalf("patch through m1: %d %s", code, r.Error)
	}
	if op := ms[0].wait(t, r); op.StatusCode != api.Success {
		t.Fatalf("patch through m1: %s", op.Err)
	}
	in, err := ms[1].d.Instance(ctx, "c1", false)
	if err != nil || in.Config["user.via"] != "m1" {
		t.Fatalf("c1 on m2 after the patch: %v %v", in.Config, err)
	}
	// No such member: refused, nothing made.
	code, r, _ = ms[0].do(t, "POST", "/1.0/instances?target=m9", `{"name":"c2","source":{"type":"image","alias":"bb"}}`)
	if code != 404 || !strings.Contains(r.Error, "m9") {
		t.Fatalf("create on m9: %d %s", code, r.Error)
	}
}

// A standalone server refuses ?target=, as LXD does, and makes nothing.
func TestTargetStandaloneRefused(t *testing.T) {
	e := newTestEnv(t)
	e.uploadImage(t, "busybox", "bb")
	code, r, _ := e.do(t, "POST", "/1.0/instances?target=m2", `{"name":"c1","source":{"type":"image","alias":"bb"}}`)
	if code != 400 || !strings.Contains(r.Error, "not clustered") {
		t.Fatalf("create with a target: %d %s", code, r.Error)
	}
	if code, _, _ := e.do(t, "GET", "/1.0/instances/c1", ""); code != 404 {
		t.Fatalf("c1 was made: %d", code)
	}
}

func TestMemberURLKeepsQuery(t *testing.T) {
	if got := memberURL("10.0.0.2:8443", "/1.0/instances?recursion=2"); got != "https://10.0.0.2:8443/1.0/instances?recursion=2" {
		t.Fatalf("memberURL: %s", got)
	}
}
