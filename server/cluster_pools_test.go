package server

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"lodge/api"
	"lodge/network"
	nfake "lodge/network/fake"
	"lodge/server/daemon"
)

// wantCode sends a request and wants code back.
func (m *clusterMember) wantCode(t *testing.T, code int, method, path, body string) api.Response {
	t.Helper()
	got, r, _ := m.do(t, method, path, body)
	if got != code {
		t.Fatalf("%s %s on %s: %d %s, want %d", method, path, m.name, got, r.Error, code)
	}
	return r
}

// refused wants a 4xx whose error says want.
func (m *clusterMember) refused(t *testing.T, code int, method, path, body, want string) {
	t.Helper()
	got, r, _ := m.do(t, method, path, body)
	if got != code || !strings.Contains(r.Error, want) {
		t.Fatalf("%s %s %s on %s: %d %q, want %d with %q", method, path, body, m.name, got, r.Error, code, want)
	}
}

func (m *clusterMember) getPool(t *testing.T, path string) api.StoragePool {
	t.Helper()
	r := m.wantCode(t, 200, "GET", path, "")
	var p api.StoragePool
	json.Unmarshal(r.Metadata, &p)
	return p
}

func (m *clusterMember) getNetwork(t *testing.T, path string) api.Network {
	t.Helper()
	r := m.wantCode(t, 200, "GET", path, "")
	var n api.Network
	json.Unmarshal(r.Metadata, &n)
	return n
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// A pool defined per member (lodge storage create p1 dir source=...
// --target M, what lxc sends too), then created without --target, exists
// on every member with each one's source: instances on each member use
// it. The cluster's view hides the members' keys, ?target= shows one's.
// A plain create with nothing pending makes it on every member with
// defaults. Delete is refused while an instance on any member uses the
// pool, then removes it on every member.
func TestClusterPoolPendingThenCreated(t *testing.T) {
	ms := newTestCluster(t, 3)
	waitMembersOnline(t, ms[0], 3)
	src := map[string]string{}
	for _, m := range ms[:2] {
		src[m.name] = filepath.Join(t.TempDir(), "p1-"+m.name)
		// Asked of another member than the target: the record is the cluster's.
		ms[2].wantCode(t, 200, "POST", "/1.0/storage-pools?target="+m.name, fmt.Sprintf(`{"name":"p1","driver":"dir","config":{"source":%q}}`, src[m.name]))
	}
	ms[0].wantCode(t, 200, "POST", "/1.0/storage-pools?target=m3", `{"name":"p1","driver":"dir"}`)
	if p := ms[1].getPool(t, "/1.0/storage-pools/p1"); p.Status != "Pending" || p.Config["source"] != "" || strings.Join(p.Locations, ",") != "m1,m2,m3" {
		t.Fatalf("pending pool: %+v", p)
	}
	if p := ms[0].getPool(t, "/1.0/storage-pools/p1?target=m2"); p.Status != "Pending" || p.Config["source"] != src["m2"] {
		t.Fatalf("m2's pending part: %+v", p)
	}
	if exists(src["m1"]) {
		t.Fatal("a pending pool was made")
	}
	// Member keys only with --target, the pool's keys only without.
	ms[0].refused(t, 400, "POST", "/1.0/storage-pools", `{"name":"p1","driver":"dir","config":{"source":"/tmp/x"}}`, "member-specific")
	ms[0].refused(t, 400, "POST", "/1.0/storage-pools?target=m1", `{"name":"p1","driver":"dir","config":{"rsync.compression":"false"}}`, "not a member-specific key")
	ms[0].refused(t, 404, "POST", "/1.0/storage-pools?target=m9", `{"name":"p1","driver":"dir"}`, "m9")
	ms[0].refused(t, 400, "POST", "/1.0/storage-pools", `{"name":"p1","driver":"btrfs"}`, "pending with driver dir")

	ms[1].wantCode(t, 200, "POST", "/1.0/storage-pools", `{"name":"p1","driver":"dir","config":{"rsync.compression":"false"}}`)
	p := ms[2].getPool(t, "/1.0/storage-pools/p1")
	if p.Status != "Created" || p.Config["source"] != "" || p.Config["rsync.compression"] != "false" {
		t.Fatalf("created pool, the cluster's view: %+v", p)
	}
	for _, m := range ms {
		p := ms[0].getPool(t, "/1.0/storage-pools/p1?target="+m.name)
		want := src[m.name]
		if want == "" {
			want = filepath.Join(m.dir, "storage-pools", "p1")
		}
		if p.Status != "Created" || p.Config["source"] != want || p.Config["rsync.compression"] != "false" {
			t.Fatalf("%s's view: %+v, want source %s", m.name, p, want)
		}
		if !exists(want) {
			t.Fatalf("%s: %s was not made", m.name, want)
		}
	}
	ms[0].refused(t, 409, "POST", "/1.0/storage-pools?target=m1", `{"name":"p1","driver":"dir"}`, "already exists")
	ms[0].refused(t, 409, "POST", "/1.0/storage-pools", `{"name":"p1","driver":"dir"}`, "already exists")

	// Each member's instances go on its own part.
	ms[0].uploadImage(t, "busybox", "bb")
	for _, m := range ms[1:] {
		m.uploadImage(t, "busybox", "")
	}
	for _, m := range ms {
		ms[0].mustOp(t, "POST", "/1.0/instances?target="+m.name, fmt.Sprintf(`{"name":"c-%s","source":{"type":"image","alias":"bb"},"devices":{"root":{"type":"disk","path":"/","pool":"p1"}}}`, m.name))
		root := src[m.name]
		if root == "" {
			root = filepath.Join(m.dir, "storage-pools", "p1")
		}
		if !exists(filepath.Join(root, "containers", "c-"+m.name, "rootfs")) {
			t.Fatalf("c-%s is not on %s's part of p1 (%s)", m.name, m.name, root)
		}
	}
	ms[0].refused(t, 400, "DELETE", "/1.0/storage-pools/p1", "", "in use")
	for _, m := range ms {
		ms[0].mustOp(t, "DELETE", "/1.0/instances/c-"+m.name, "")
	}
	ms[2].wantCode(t, 200, "DELETE", "/1.0/storage-pools/p1", "")
	for _, m := range ms {
		m.refused(t, 404, "GET", "/1.0/storage-pools/p1", "", "not found")
		if _, open := m.d.StoragePoolOpen("p1"); open {
			t.Fatalf("p1 still open on %s", m.name)
		}
	}
	if exists(filepath.Join(ms[2].dir, "storage-pools", "p1")) {
		t.Fatal("m3's part of p1 is left")
	}

	// Nothing pending: made on every member at once, with defaults.
	ms[0].wantCode(t, 200, "POST", "/1.0/storage-pools", `{"name":"p2","driver":"dir"}`)
	for _, m := range ms {
		if !exists(filepath.Join(m.dir, "storage-pools", "p2")) {
			t.Fatalf("p2 not made on %s", m.name)
		}
		if _, open := m.d.StoragePoolOpen("p2"); !open {
			t.Fatalf("p2 not open on %s", m.name)
		}
	}
	ms[1].wantCode(t, 200, "DELETE", "/1.0/storage-pools/p2", "")
	for _, m := range ms {
		if exists(filepath.Join(m.dir, "storage-pools", "p2")) {
			t.Fatalf("p2 left on %s", m.name)
		}
	}

	// Two members each creating a pool at once: each asks the other for
	// its part while making its own, and both finish.
	done := make(chan string, 2)
	for i, name := range []string{"p3", "p4"} {
		go func() {
			code, r, _ := ms[i].do(t, "POST", "/1.0/storage-pools", fmt.Sprintf(`{"name":%q,"driver":"dir"}`, name))
			done <- fmt.Sprintf("%s %d %s", name, code, r.Error)
		}()
	}
	for range 2 {
		if got := <-done; !strings.HasSuffix(got, " 200 ") {
			t.Fatalf("concurrent create: %s", got)
		}
	}
	for _, m := range ms {
		for _, name := range []string{"p3", "p4"} {
			if _, open := m.d.StoragePoolOpen(name); !open {
				t.Fatalf("%s not open on %s", name, m.name)
			}
		}
	}
}

// A member whose part cannot be made fails the create: the parts made on
// the others are removed again, the pool stays (Errored, that member's
// part Errored, the others Pending); once that member's part is given
// again the create succeeds. A plain create that a silent member fails
// leaves nothing.
func TestClusterPoolCreateFailureRollsBack(t *testing.T) {
	ms := newTestCluster(t, 3)
	waitMembersOnline(t, ms[0], 3)
	bad := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(bad, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ms[0].wantCode(t, 200, "POST", "/1.0/storage-pools?target=m1", `{"name":"p1","driver":"dir"}`)
	ms[0].wantCode(t, 200, "POST", "/1.0/storage-pools?target=m2", `{"name":"p1","driver":"dir"}`)
	ms[0].wantCode(t, 200, "POST", "/1.0/storage-pools?target=m3", fmt.Sprintf(`{"name":"p1","driver":"dir","config":{"source":%q}}`, bad))
	code, r, _ := ms[0].do(t, "POST", "/1.0/storage-pools", `{"name":"p1","driver":"dir"}`)
	if code < 400 || !strings.Contains(r.Error, "member m3") || !strings.Contains(r.Error, "removed again from m1, m2") {
		t.Fatalf("create with m3 failing: %d %s", code, r.Error)
	}
	for _, m := range ms[:2] {
		if exists(filepath.Join(m.dir, "storage-pools", "p1")) {
			t.Fatalf("%s's part was left after the failure", m.name)
		}
		if _, open := m.d.StoragePoolOpen("p1"); open {
			t.Fatalf("p1 open on %s after the failure", m.name)
		}
	}
	if p := ms[1].getPool(t, "/1.0/storage-pools/p1"); p.Status != "Errored" {
		t.Fatalf("pool after the failure: %+v", p)
	}
	if p := ms[1].getPool(t, "/1.0/storage-pools/p1?target=m3"); p.Status != "Errored" || p.Config["source"] != bad {
		t.Fatalf("m3's part after the failure: %+v", p)
	}
	if p := ms[1].getPool(t, "/1.0/storage-pools/p1?target=m1"); p.Status != "Pending" || p.Config["source"] != "" {
		t.Fatalf("m1's part after the failure: %+v", p)
	}
	// m3's part again, with a source that works: now it is made.
	good := filepath.Join(t.TempDir(), "p1")
	ms[2].wantCode(t, 200, "POST", "/1.0/storage-pools?target=m3", fmt.Sprintf(`{"name":"p1","driver":"dir","config":{"source":%q}}`, good))
	ms[2].wantCode(t, 200, "POST", "/1.0/storage-pools", `{"name":"p1","driver":"dir"}`)
	if p := ms[0].getPool(t, "/1.0/storage-pools/p1"); p.Status != "Created" {
		t.Fatalf("pool after the retry: %+v", p)
	}
	if !exists(filepath.Join(ms[0].dir, "storage-pools", "p1")) || !exists(good) {
		t.Fatal("the retry did not make every part")
	}

	// m3 stops answering (not yet offline): a plain create fails there,
	// the parts made on m1 and m2 are removed again, and with nothing
	// defined beforehand no pool is left recorded.
	ms[2].s.stopHTTPS()
	code, r, _ = ms[0].do(t, "POST", "/1.0/storage-pools", `{"name":"p9","driver":"dir"}`)
	if code < 400 || !strings.Contains(r.Error, "member m3") || !strings.Contains(r.Error, "removed again from m1, m2") {
		t.Fatalf("create with m3 silent: %d %s", code, r.Error)
	}
	ms[1].refused(t, 404, "GET", "/1.0/storage-pools/p9", "", "not found")
	for _, m := range ms[:2] {
		if exists(filepath.Join(m.dir, "storage-pools", "p9")) {
			t.Fatalf("%s's part of p9 was left", m.name)
		}
	}
}

// A network defined per member, then created, gets a bridge of that name
// on every member with the network's config; member-specific keys (lodge's
// bridges have none) are refused with --target; a profile on any member
// using it blocks the delete, which then removes every member's bridge.
// A name held on one member fails the create there, and the bridges made
// are removed again.
func TestClusterNetworkPendingThenCreated(t *testing.T) {
	drv := map[int]*nfake.Driver{}
	ms := newTestClusterWith(t, 3, func(i int, deps *daemon.Deps) {
		drv[i] = nfake.New()
		deps.Networks, deps.DefaultNetwork = drv[i], "none"
	})
	waitMembersOnline(t, ms[0], 3)
	for _, m := range ms {
		ms[1].wantCode(t, 200, "POST", "/1.0/networks?target="+m.name, `{"name":"br1"}`)
	}
	ms[0].refused(t, 400, "POST", "/1.0/networks?target=m1", `{"name":"br1","config":{"ipv4.address":"10.5.0.1/24"}}`, "not a member-specific key")
	ms[0].refused(t, 404, "POST", "/1.0/networks?target=m9", `{"name":"br1"}`, "m9")
	if n := ms[2].getNetwork(t, "/1.0/networks/br1"); n.Status != "Pending" || strings.Join(n.Locations, ",") != "m1,m2,m3" {
		t.Fatalf("pending network: %+v", n)
	}
	ms[0].uploadImage(t, "busybox", "bb")
	ms[0].refused(t, 400, "POST", "/1.0/instances?target=m1", `{"name":"early","source":{"type":"image","alias":"bb"},"devices":{"eth0":{"type":"nic","network":"br1","name":"eth0"}}}`, "create it without --target first")
	for i := range ms {
		if _, up := drv[i].Get("br1"); up {
			t.Fatalf("a pending network is up on m%d", i+1)
		}
	}
	ms[0].wantCode(t, 200, "POST", "/1.0/networks", `{"name":"br1","config":{"ipv4.address":"10.5.0.1/24","ipv4.dhcp.ranges":"10.5.0.10-10.5.0.99"}}`)
	for i, m := range ms {
		n, up := drv[i].Get("br1")
		if !up || n.Config["ipv4.address"] != "10.5.0.1/24" || n.Config["ipv4.dhcp.ranges"] != "10.5.0.10-10.5.0.99" {
			t.Fatalf("br1 on %s: %v %+v", m.name, up, n)
		}
		if v := ms[1].getNetwork(t, "/1.0/networks/br1?target="+m.name); v.Status != "Created" {
			t.Fatalf("%s's view: %+v", m.name, v)
		}
	}
	// A change of the network's config reaches every member's bridge.
	ms[2].wantCode(t, 200, "PATCH", "/1.0/networks/br1", `{"config":{"ipv4.dhcp.ranges":"10.5.0.50-10.5.0.60"}}`)
	for i, m := range ms {
		if n, _ := drv[i].Get("br1"); n.Config["ipv4.dhcp.ranges"] != "10.5.0.50-10.5.0.60" {
			t.Fatalf("br1 on %s after the change: %+v", m.name, n)
		}
	}
	ms[2].wantCode(t, 200, "POST", "/1.0/profiles", `{"name":"onbr1","devices":{"eth0":{"type":"nic","network":"br1","name":"eth0"}}}`)
	ms[0].refused(t, 400, "DELETE", "/1.0/networks/br1", "", "profile(s) onbr1")
	ms[0].wantCode(t, 200, "DELETE", "/1.0/profiles/onbr1", "")
	ms[1].wantCode(t, 200, "DELETE", "/1.0/networks/br1", "")
	for i, m := range ms {
		if _, up := drv[i].Get("br1"); up {
			t.Fatalf("br1 left on %s", m.name)
		}
		m.refused(t, 404, "GET", "/1.0/networks/br1", "", "not found")
	}

	// The name is held on m3: the create fails there and is undone.
	drv[2].Held = map[string]network.Ownership{"br2": {Holder: network.Foreign, Why: "br2 is another program's interface"}}
	code, r, _ := ms[0].do(t, "POST", "/1.0/networks", `{"name":"br2"}`)
	if code < 400 || !strings.Contains(r.Error, "member m3") || !strings.Contains(r.Error, "another program's") {
		t.Fatalf("create with br2 held on m3: %d %s", code, r.Error)
	}
	for i, m := range ms {
		if _, up := drv[i].Get("br2"); up {
			t.Fatalf("br2 left on %s after the failure", m.name)
		}
	}
	ms[0].refused(t, 404, "GET", "/1.0/networks/br2", "", "not found")
	drv[2].Held = nil
	ms[0].wantCode(t, 200, "POST", "/1.0/networks", `{"name":"br2"}`)
	var names []string
	for i := range ms {
		if _, up := drv[i].Get("br2"); up {
			names = append(names, ms[i].name)
		}
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "m1,m2,m3" {
		t.Fatalf("br2 up on %v", names)
	}
}

// Standalone, --target names no member: refused, nothing recorded.
func TestPoolNetworkTargetStandalone(t *testing.T) {
	e, _ := newNetEnv(t)
	m := &clusterMember{testEnv: e, name: "standalone"}
	m.refused(t, 400, "POST", "/1.0/storage-pools?target=m1", `{"name":"p1","driver":"dir"}`, "not clustered")
	m.refused(t, 400, "POST", "/1.0/networks?target=m1", `{"name":"br1"}`, "not clustered")
	m.refused(t, 404, "GET", "/1.0/storage-pools/p1", "", "not found")
	m.refused(t, 404, "GET", "/1.0/networks/br1", "", "not found")
	// A plain create is as before.
	m.wantCode(t, 200, "POST", "/1.0/storage-pools", `{"name":"p1","driver":"dir"}`)
	if p := m.getPool(t, "/1.0/storage-pools/p1"); p.Status != "Created" || p.Config["source"] == "" || strings.Join(p.Locations, ",") != "none" {
		t.Fatalf("standalone pool: %+v", p)
	}
}
