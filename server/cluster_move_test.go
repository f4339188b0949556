package server

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lodge/api"
	"lodge/storage"
)

// waitMembersOnline waits until m lists n members, all Online.
func waitMembersOnline(t *testing.T, m *clusterMember, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l := members(t, m)
		online := 0
		for _, x := range l {
			if x.Status == "Online" {
				online++
			}
		}
		if len(l) == n && online == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members never all online: %+v", l)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// doOp sends a request that answers with an operation and waits for it.
func (m *clusterMember) doOp(t *testing.T, method, path, body string) api.Operation {
	t.Helper()
	code, r, _ := m.do(t, method, path, body)
	if code != 202 {
		t.Fatalf("%s %s on %s: %d %s", method, path, m.name, code, r.Error)
	}
	return m.wait(t, r)
}

func (m *clusterMember) mustOp(t *testing.T, method, path, body string) {
	t.Helper()
	if op := m.doOp(t, method, path, body); op.StatusCode != api.Success {
		t.Fatalf("%s %s on %s: %s", method, path, m.name, op.Err)
	}
}

// locations is every instance's member and status, as m lists them.
func (m *clusterMember) locations(t *testing.T) map[string]string {
	t.Helper()
	code, r, _ := m.do(t, "GET", "/1.0/instances?recursion=1", "")
	if code != 200 {
		t.Fatalf("list on %s: %d %s", m.name, code, r.Error)
	}
	var list []api.Instance
	json.Unmarshal(r.Metadata, &list)
	out := map[string]string{}
	for _, in := range list {
		out[in.Name] = in.Location + " " + in.Status
	}
	return out
}

func (m *clusterMember) volume(name string) string {
	return m.pool.Path(storage.Volume{Kind: storage.KindContainer, Name: name})
}

// A stopped instance moves to another member with its files and
// snapshots (POST /1.0/instances/NAME?target=MEMBER with migration, what
// lxc move --target sends): listed there, its volume there and gone from
// the source, startable. Moves to the member it is on, to no member, and
// of a running instance are refused and change nothing.
func TestClusterMoveInstance(t *testing.T) {
	ms := newTestCluster(t, 2)
	waitMembersOnline(t, ms[0], 2)
	ms[0].uploadImage(t, "busybox", "bb")
	ms[1].uploadImage(t, "busybox", "")
	ms[0].mustOp(t, "POST", "/1.0/instances?target=m1", `{"name":"c1","source":{"type":"image","alias":"bb"}}`)
	if err := os.WriteFile(filepath.Join(ms[0].volume("c1"), "rootfs", "hello"), []byte("from m1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ms[0].mustOp(t, "POST", "/1.0/instances/c1/snapshots", `{"name":"s0"}`)

	for _, c := range []struct {
		path string
		code int
		want string
	}{
		{"/1.0/instances/c1?target=m1", 400, "already"},
		{"/1.0/instances/c1?target=m9", 404, "m9"},
	} {
		code, r, _ := ms[1].do(t, "POST", c.path, `{"migration":true}`)
		if code != c.code || !strings.Contains(r.Error, c.want) {
			t.Fatalf("POST %s: %d %s, want %d (%s)", c.path, code, r.Error, c.code, c.want)
		}
	}
	ms[0].mustOp(t, "PUT", "/1.0/instances/c1/state", `{"action":"start"}`)
	code, r, _ := ms[1].do(t, "POST", "/1.0/instances/c1?target=m2", `{"migration":true,"live":true}`)
	if code != 400 || !strings.Contains(r.Error, "stop it") {
		t.Fatalf("move of a running instance: %d %s", code, r.Error)
	}
	if got := ms[0].locations(t)["c1"]; got != "m1 Running" {
		t.Fatalf("c1 after the refusals: %q", got)
	}
	ms[0].mustOp(t, "PUT", "/1.0/instances/c1/state", `{"action":"stop"}`)

	// Asked on m2, done by m1 (the request goes to the instance's member).
	ms[1].mustOp(t, "POST", "/1.0/instances/c1?target=m2", `{"name":"c1","migration":true,"live":true}`)
	for _, m := range ms {
		if got := m.locations(t)["c1"]; got != "m2 Stopped" {
			t.Fatalf("c1 listed on %s as %q, want m2 Stopped", m.name, got)
		}
	}
	if b, err := os.ReadFile(filepath.Join(ms[1].volume("c1"), "rootfs", "hello")); err != nil || string(b) != "from m1\n" {
		t.Fatalf("c1's file on m2: %q %v", b, err)
	}
	if _, err := os.Stat(ms[0].volume("c1")); !os.IsNotExist(err) {
		t.Fatalf("c1's volume still on m1: %v", err)
	}
	if !ms[1].pool.Exists(storage.Volume{Kind: storage.KindContainer, Name: "c1"}.Snapshot("s0")) {
		t.Fatal("snapshot s0's volume is not on m2")
	}
	code, r, _ = ms[0].do(t, "GET", "/1.0/instances/c1/snapshots", "")
	if code != 200 || !strings.Contains(string(r.Metadata), "/1.0/instances/c1/snapshots/s0") {
		t.Fatalf("c1's snapshots: %d %s", code, r.Metadata)
	}
	ctx := context.Background()
	if l, _ := ms[0].d.Instances(ctx, false); len(l) != 0 {
		t.Fatalf("m1 still has instances: %+v", l)
	}
	ms[0].mustOp(t, "PUT", "/1.0/instances/c1/state", `{"action":"start"}`)
	if got := ms[1].locations(t)["c1"]; got != "m2 Running" {
		t.Fatalf("c1 after its start on m2: %q", got)
	}
	// Only members send cluster_move_source_name.
	code, r, _ = ms[0].do(t, "POST", "/1.0/instances?target=m1", `{"name":"c1","source":{"type":"migration","mode":"pull","cluster_move_source_name":"c1"}}`)
	if code != 403 {
		t.Fatalf("cluster_move_source_name from a client: %d %s", code, r.Error)
	}
}

// Evacuating a member moves its instances to the other (the running one
// runs there), marks it EVACUATED and keeps new instances off it; restore
// brings them back, the running one running, and marks it ONLINE. An
// unknown member and the last member standing are refused; a restore
// runs again while an instance is still away.
func TestClusterEvacuateRestore(t *testing.T) {
	ms := newTestCluster(t, 2)
	waitMembersOnline(t, ms[0], 2)
	ms[0].uploadImage(t, "busybox", "bb")
	ms[1].uploadImage(t, "busybox", "")
	ms[0].mustOp(t, "POST", "/1.0/instances?target=m2", `{"name":"run","source":{"type":"image","alias":"bb"}}`)
	ms[0].mustOp(t, "POST", "/1.0/instances?target=m2", `{"name":"idle","source":{"type":"image","alias":"bb"}}`)
	ms[0].mustOp(t, "PUT", "/1.0/instances/run/state", `{"action":"start"}`)

	code, r, _ := ms[0].do(t, "POST", "/1.0/cluster/members/m9/state", `{"action":"evacuate"}`)
	if code != 404 {
		t.Fatalf("evacuate m9: %d %s", code, r.Error)
	}
	// Malformed requests are 400s that change nothing.
	for _, body := range []string{`{"action":"vacate"}`, `{"action":"evacuate","mode":"teleport"}`, `{"action":`} {
		if code, r, _ := ms[0].do(t, "POST", "/1.0/cluster/members/m2/state", body); code != 400 {
			t.Fatalf("%s: %d %s, want 400", body, code, r.Error)
		}
	}
	if got := ms[1].locations(t); got["run"] != "m2 Running" || got["idle"] != "m2 Stopped" {
		t.Fatalf("after refused requests: %v", got)
	}
	ms[0].mustOp(t, "POST", "/1.0/cluster/members/m2/state", `{"action":"evacuate"}`)
	want := map[string]string{"run": "m1 Running", "idle": "m1 Stopped"}
	if got := ms[1].locations(t); got["run"] != want["run"] || got["idle"] != want["idle"] {
		t.Fatalf("after evacuate: %v, want %v", got, want)
	}
	for _, m := range members(t, ms[0]) {
		if m.ServerName == "m2" && m.Status != "Evacuated" {
			t.Fatalf("m2 after evacuate: %+v", m)
		}
	}
	in, err := ms[0].d.Instance(context.Background(), "run", false)
	if err != nil || in.Config["volatile.evacuate.origin"] != "m2" {
		t.Fatalf("run's origin: %v %v", in.Config, err)
	}
	// The last member standing cannot go.
	code, r, _ = ms[1].do(t, "POST", "/1.0/cluster/members/m1/state", `{"action":"evacuate"}`)
	if code != 409 || !strings.Contains(r.Error, "no other member") {
		t.Fatalf("evacuate the last member: %d %s", code, r.Error)
	}
	// New instances and moves keep off it.
	ms[1].mustOp(t, "POST", "/1.0/instances", `{"name":"new","source":{"type":"image","alias":"bb"}}`)
	if got := ms[0].locations(t)["new"]; !strings.HasPrefix(got, "m1 ") {
		t.Fatalf("new placed with m2 evacuated: %q", got)
	}
	code, r, _ = ms[0].do(t, "POST", "/1.0/instances/new?target=m2", `{"migration":true}`)
	if code != 409 || !strings.Contains(r.Error, "evacuated") {
		t.Fatalf("move to the evacuated member: %d %s", code, r.Error)
	}

	ms[1].mustOp(t, "POST", "/1.0/cluster/members/m2/state", `{"action":"restore"}`)
	got := ms[0].locations(t)
	if got["run"] != "m2 Running" || got["idle"] != "m2 Stopped" || !strings.HasPrefix(got["new"], "m1 ") {
		t.Fatalf("after restore: %v", got)
	}
	for _, m := range members(t, ms[0]) {
		if m.Status != "Online" {
			t.Fatalf("after restore: %+v", m)
		}
	}
	in, _ = ms[0].d.Instance(context.Background(), "run", false)
	if _, ok := in.Config["volatile.evacuate.origin"]; ok {
		t.Fatalf("run keeps its origin after restore: %v", in.Config)
	}
	// A restore that left an instance away runs again on the online
	// member; with none left, restore is refused.
	if err := ms[0].db.SetInstanceConfigKey(context.Background(), "new", "volatile.evacuate.origin", "m2"); err != nil {
		t.Fatal(err)
	}
	ms[0].mustOp(t, "POST", "/1.0/cluster/members/m2/state", `{"action":"restore"}`)
	if got := ms[1].locations(t)["new"]; got != "m2 Stopped" {
		t.Fatalf("new after a second restore: %q", got)
	}
	code, r, _ = ms[0].do(t, "POST", "/1.0/cluster/members/m2/state", `{"action":"restore"}`)
	if code != 400 || !strings.Contains(r.Error, "not evacuated") {
		t.Fatalf("restore of an online member: %d %s", code, r.Error)
	}
}

// cluster.evacuate=stop keeps an instance on its member, stopped, and
// restore starts it again; the others move. Live migration is refused.
func TestClusterEvacuateStopMode(t *testing.T) {
	ms := newTestCluster(t, 2)
	waitMembersOnline(t, ms[0], 2)
	ms[0].uploadImage(t, "busybox", "bb")
	ms[1].uploadImage(t, "busybox", "")
	ms[0].mustOp(t, "POST", "/1.0/instances?target=m2", `{"name":"keep","config":{"cluster.evacuate":"stop"},"source":{"type":"image","alias":"bb"}}`)
	ms[0].mustOp(t, "POST", "/1.0/instances?target=m2", `{"name":"go","source":{"type":"image","alias":"bb"}}`)
	ms[0].mustOp(t, "PUT", "/1.0/instances/keep/state", `{"action":"start"}`)
	ms[0].mustOp(t, "PUT", "/1.0/instances/go/state", `{"action":"start"}`)
	code, r, _ := ms[0].do(t, "POST", "/1.0/cluster/members/m2/state", `{"action":"evacuate","mode":"live-migrate"}`)
	if code != 400 {
		t.Fatalf("live-migrate evacuation: %d %s", code, r.Error)
	}
	ms[0].mustOp(t, "POST", "/1.0/cluster/members/m2/state", `{"action":"evacuate"}`)
	if got := ms[0].locations(t); got["keep"] != "m2 Stopped" || got["go"] != "m1 Running" {
		t.Fatalf("after evacuate: %v", got)
	}
	ms[0].mustOp(t, "POST", "/1.0/cluster/members/m2/state", `{"action":"restore"}`)
	if got := ms[0].locations(t); got["keep"] != "m2 Running" || got["go"] != "m2 Running" {
		t.Fatalf("after restore: %v", got)
	}
}
