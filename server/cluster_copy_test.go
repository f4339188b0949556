package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lodge/storage"
)

// A copy whose source is on another member (POST /1.0/instances with
// source type copy and ?target=, what lxc copy c1 c2 --target m2 sends)
// pulls it from there: the copy is on the target with the files and the
// snapshots (none with instance_only), a new identity, startable; the
// source is where it was, unchanged. A snapshot copies too, a running
// source is copied stateless (as lxc sends it: live), and a copy without
// a target goes where placement puts it and works there too. A copy that
// fails on the source's side leaves nothing on the target.
func TestClusterCopyInstance(t *testing.T) {
	ms := newTestCluster(t, 2)
	waitMembersOnline(t, ms[0], 2)
	ms[0].uploadImage(t, "busybox", "bb")
	ms[1].uploadImage(t, "busybox", "")
	ms[0].mustOp(t, "POST", "/1.0/instances?target=m1", `{"name":"c1","source":{"type":"image","alias":"bb"}}`)
	hello := filepath.Join(ms[0].volume("c1"), "rootfs", "hello")
	if err := os.WriteFile(hello, []byte("from m1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ms[0].mustOp(t, "POST", "/1.0/instances/c1/snapshots", `{"name":"s0"}`)
	if err := os.WriteFile(hello, []byte("after s0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	file := func(m *clusterMember, name string) string {
		b, _ := os.ReadFile(filepath.Join(m.volume(name), "rootfs", "hello"))
		return string(b)
	}
	snaps := func(m *clusterMember, name string) string {
		t.Helper()
		code, r, _ := m.do(t, "GET", "/1.0/instances/"+name+"/snapshots", "")
		if code != 200 {
			t.Fatalf("%s's snapshots: %d %s", name, code, r.Error)
		}
		return string(r.Metadata)
	}

	// Asked on m1, which holds the source: forwarded to m2, which pulls.
	ms[0].mustOp(t, "POST", "/1.0/instances?target=m2", `{"name":"c2","source":{"type":"copy","source":"c1"}}`)
	for _, m := range ms {
		if got := m.locations(t); got["c2"] != "m2 Stopped" || got["c1"] != "m1 Stopped" {
			t.Fatalf("listed on %s: %v", m.name, got)
		}
	}
	if got := file(ms[1], "c2"); got != "after s0\n" {
		t.Fatalf("c2's file on m2: %q", got)
	}
	if got := file(ms[0], "c1"); got != "after s0\n" {
		t.Fatalf("c1's file on m1 after the copy: %q", got)
	}
	if !ms[1].pool.Exists(storage.Volume{Kind: storage.KindContainer, Name: "c2"}.Snapshot("s0")) || !strings.Contains(snaps(ms[0], "c2"), "/1.0/instances/c2/snapshots/s0") {
		t.Fatalf("c2's snapshot s0: %s", snaps(ms[0], "c2"))
	}
	if !strings.Contains(snaps(ms[1], "c1"), "/1.0/instances/c1/snapshots/s0") {
		t.Fatalf("c1 lost its snapshot: %s", snaps(ms[1], "c1"))
	}
	c1, err := ms[0].d.Instance(ctx, "c1", false)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ms[1].d.Instance(ctx, "c2", false)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Config["volatile.uuid"] == "" || c2.Config["volatile.uuid"] == c1.Config["volatile.uuid"] || c2.Config["volatile.migration.incomplete"] != "" {
		t.Fatalf("c2's config: %v (c1's: %v)", c2.Config, c1.Config)
	}
	ms[0].mustOp(t, "PUT", "/1.0/instances/c2/state", `{"action":"start"}`)
	if got := ms[0].locations(t)["c2"]; got != "m2 Running" {
		t.Fatalf("c2 after its start: %q", got)
	}

	// Without its snapshots; a snapshot; a running source, as lxc sends
	// it (live), copied stateless.
	ms[1].mustOp(t, "POST", "/1.0/instances?target=m2", `{"name":"c3","source":{"type":"copy","source":"c1","instance_only":true}}`)
	if got := snaps(ms[1], "c3"); strings.Contains(got, "s0") || file(ms[1], "c3") != "after s0\n" {
		t.Fatalf("instance-only copy: snapshots %s, file %q", got, file(ms[1], "c3"))
	}
	ms[1].mustOp(t, "POST", "/1.0/instances?target=m2", `{"name":"c4","source":{"type":"copy","source":"c1/s0"}}`)
	if got := file(ms[1], "c4"); got != "from m1\n" {
		t.Fatalf("copy of c1/s0: %q", got)
	}
	ms[0].mustOp(t, "PUT", "/1.0/instances/c1/state", `{"action":"start"}`)
	ms[1].mustOp(t, "POST", "/1.0/instances?target=m2", `{"name":"c5","source":{"type":"copy","source":"c1","live":true}}`)
	if got := ms[1].locations(t); got["c5"] != "m2 Stopped" || got["c1"] != "m1 Running" || file(ms[1], "c5") != "after s0\n" {
		t.Fatalf("copy of a running source: %v, file %q", got, file(ms[1], "c5"))
	}
	ms[0].mustOp(t, "PUT", "/1.0/instances/c1/state", `{"action":"stop"}`)

	// Without a target: where placement puts it (LXD 5.0's rule), here
	// m1, which has fewer instances than m2, which holds the source.
	ms[1].mustOp(t, "POST", "/1.0/instances", `{"name":"c6","source":{"type":"copy","source":"c3"}}`)
	if got := ms[0].locations(t)["c6"]; got != "m1 Stopped" || file(ms[0], "c6") != "after s0\n" {
		t.Fatalf("c6, a copy of c3 (on m2) placed by the cluster: %q, file %q", got, file(ms[0], "c6"))
	}

	// The source's member cannot read its volume: the copy fails, and
	// nothing of it stays on m2.
	ms[0].mustOp(t, "POST", "/1.0/instances?target=m1", `{"name":"broken","source":{"type":"image","alias":"bb"}}`)
	if err := os.RemoveAll(ms[0].volume("broken")); err != nil {
		t.Fatal(err)
	}
	op := ms[1].doOp(t, "POST", "/1.0/instances?target=m2", `{"name":"c7","source":{"type":"copy","source":"broken"}}`)
	t.Logf("the failed copy: %s", op.Err)
	if op.StatusCode == 200 || !strings.Contains(op.Err, "m1") {
		t.Fatalf("copy of an unreadable source: %s %q", op.Status, op.Err)
	}
	if _, ok := ms[0].locations(t)["c7"]; ok {
		t.Fatal("c7 is listed after its copy failed")
	}
	if ms[1].pool.Exists(storage.Volume{Kind: storage.KindContainer, Name: "c7"}) {
		t.Fatal("c7's volume stayed on m2")
	}
	// A name taken, an unknown source: refused at once.
	for _, body := range []string{`{"name":"c2","source":{"type":"copy","source":"c1"}}`, `{"name":"c8","source":{"type":"copy","source":"nope"}}`} {
		if code, r, _ := ms[0].do(t, "POST", "/1.0/instances?target=m2", body); code != 409 && code != 404 {
			t.Fatalf("%s: %d %s", body, code, r.Error)
		}
	}
}
