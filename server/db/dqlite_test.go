package db

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"lodge/errdefs"
)

// Enabling clustering moves every row into dqlite, the member's own keys
// into local.db, and a restart comes back as the member.
func TestEnableClusterKeepsRows(t *testing.T) {
	if onDqlite() {
		t.Skip("makes its own cluster")
	}
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "lodge.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateInstance(ctx, Instance{Name: "c1", Profiles: []string{"default"}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateImage(ctx, Image{Fingerprint: "abc", CreatedAt: time.Now(), UploadedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateAlias(ctx, Alias{Name: "deb", Fingerprint: "abc"}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetConfig(ctx, map[string]string{"core.https_address": "127.0.0.1:8443", "images.auto_update_interval": "0"}); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	if err := d.EnableCluster(ctx, ClusterConfig{}, "node1", addr); err != nil {
		t.Fatal(err)
	}
	if !d.Clustered() || d.Location() != "node1" || d.NodeID() != 1 {
		t.Fatalf("after enable: clustered %v location %q id %d", d.Clustered(), d.Location(), d.NodeID())
	}
	check := func(d *DB) {
		t.Helper()
		if in, err := d.GetInstance(ctx, "c1"); err != nil || in.Profiles[0] != "default" {
			t.Fatalf("instance: %+v %v", in, err)
		}
		if a, err := d.GetAlias(ctx, "deb"); err != nil || a.Fingerprint != "abc" {
			t.Fatalf("alias: %+v %v", a, err)
		}
		cfg, err := d.Config(ctx)
		if err != nil || cfg["core.https_address"] != "127.0.0.1:8443" || cfg["images.auto_update_interval"] != "0" || cfg["cluster.https_address"] != addr {
			t.Fatalf("config: %v %v", cfg, err)
		}
		nodes, err := d.Nodes(ctx)
		if err != nil || len(nodes) != 1 || nodes[0].Name != "node1" || nodes[0].Address != addr {
			t.Fatalf("nodes: %+v %v", nodes, err)
		}
		if ok, err := d.HasImageLocally(ctx, "abc"); !ok || err != nil {
			t.Fatalf("image on this member: %v %v", ok, err)
		}
	}
	check(d)
	// The member's own keys live in local.db, not in the cluster's config.
	var n int
	if err := d.sql.QueryRow(`SELECT count(*) FROM config WHERE key = 'core.https_address'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("core.https_address in the global config: %d %v", n, err)
	}
	if _, err := os.Stat(path + preCluster); err != nil {
		t.Fatalf("standalone database not kept aside: %v", err)
	}
	if err := d.EnableCluster(ctx, ClusterConfig{}, "again", freeAddr(t)); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("enable twice: %v", err)
	}
	d.Close()
	// A restart finds local.db and comes back as node1.
	d2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if !d2.Clustered() {
		t.Fatal("restarted standalone")
	}
	if err := d2.StartCluster(ctx, ClusterConfig{}); err != nil {
		t.Fatal(err)
	}
	check(d2)
}

type testMember struct {
	d    *DB
	path string
	addr string
}

// testCluster makes a cluster of n members on loopback ports: the first
// enabled, the others joined with tokens.
func testCluster(t *testing.T, n int) []*testMember {
	t.Helper()
	ctx := context.Background()
	var ms []*testMember
	for i := 0; i < n; i++ {
		path := filepath.Join(t.TempDir(), "lodge.db")
		d, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		m := &testMember{d: d, path: path, addr: freeAddr(t)}
		t.Cleanup(func() { m.d.Close() })
		ms = append(ms, m)
		name := "m" + string(rune('1'+i))
		if i == 0 {
			if err := d.EnableCluster(ctx, ClusterConfig{}, name, m.addr); err != nil {
				t.Fatal(err)
			}
			continue
		}
		secret := "s-" + name
		if err := ms[0].d.CreateClusterToken(ctx, ClusterToken{Secret: secret, Name: name, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := ms[0].d.AcceptNode(ctx, secret, time.Now(), Node{Name: name, Address: m.addr}); err != nil {
			t.Fatal(err)
		}
		if err := d.JoinCluster(ctx, ClusterConfig{}, m.addr, []string{ms[0].addr}); err != nil {
			t.Fatal(err)
		}
		if d.Location() != name {
			t.Fatalf("joined as %q, want %q", d.Location(), name)
		}
	}
	return ms
}

func TestThreeMembers(t *testing.T) {
	if onDqlite() {
		t.Skip("makes its own cluster")
	}
	ctx := context.Background()
	ms := testCluster(t, 3)
	// Each member sees the others' writes; instance lists are per member.
	for i, m := range ms {
		if _, err := m.d.CreateInstance(ctx, Instance{Name: "c" + m.d.Location(), CreatedAt: time.Now()}); err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	for _, m := range ms {
		names, err := m.d.ListInstanceNames(ctx)
		if err != nil || len(names) != 3 {
			t.Fatalf("%s: names %v %v", m.d.Location(), names, err)
		}
		mine, err := m.d.ListInstances(ctx)
		if err != nil || len(mine) != 1 || mine[0].Name != "c"+m.d.Location() {
			t.Fatalf("%s: own instances %+v %v", m.d.Location(), mine, err)
		}
		if n, err := m.d.InstanceNode(ctx, "cm2"); err != nil || n.Name != "m2" {
			t.Fatalf("%s: cm2 is on %+v %v", m.d.Location(), n, err)
		}
	}
	// The database has three voters.
	var voters int
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		rm, err := ms[0].d.RaftMembers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		voters = 0
		for _, r := range rm {
			if r.Role == RoleVoter {
				voters++
			}
		}
		if voters == 3 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if voters != 3 {
		t.Fatalf("%d voters, want 3", voters)
	}
	// Lose one member: the two others keep writing.
	lost := ms[2]
	leader, _ := ms[0].d.RaftLeader(ctx)
	lost.d.Close()
	if err := ms[1].d.SetConfig(ctx, map[string]string{"user.after": "loss"}); err != nil {
		t.Fatalf("write after losing a member (leader was %s, lost %s): %v", leader, lost.addr, err)
	}
	if cfg, err := ms[0].d.Config(ctx); err != nil || cfg["user.after"] != "loss" {
		t.Fatalf("read back: %v %v", cfg, err)
	}
	// It comes back.
	d, err := Open(ctx, lost.path)
	if err != nil {
		t.Fatal(err)
	}
	lost.d = d
	if err := d.StartCluster(ctx, ClusterConfig{}); err != nil {
		t.Fatal(err)
	}
	if cfg, err := d.Config(ctx); err != nil || cfg["user.after"] != "loss" {
		t.Fatalf("rejoined member reads: %v %v", cfg, err)
	}
	// Member removal: refused while it has instances, forced otherwise.
	if err := ms[0].d.DeleteNode(ctx, "m3", false); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("remove with instances: %v", err)
	}
}

// A join token works once, for its name, before it expires; a forged
// secret is refused.
func TestJoinTokens(t *testing.T) {
	d, _ := openTest(t)
	ctx := context.Background()
	now := time.Now()
	for _, tk := range []ClusterToken{{Secret: "s1", Name: "n1", ExpiresAt: now.Add(time.Hour)}, {Secret: "s2", Name: "n2", ExpiresAt: now.Add(-time.Second)}, {Secret: "s3", Name: "n3"}} {
		tk.CreatedAt = now
		if err := d.CreateClusterToken(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.CreateClusterToken(ctx, ClusterToken{Secret: "s4", Name: "n1", CreatedAt: now}); !errors.Is(err, errdefs.ErrExists) {
		t.Fatalf("second token for a name: %v", err)
	}
	if _, err := d.AcceptNode(ctx, "forged", now, Node{Address: "10.0.0.9:8443"}); !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("forged: %v", err)
	}
	if _, err := d.AcceptNode(ctx, "s3", now, Node{Name: "other", Address: "10.0.0.3:8443"}); !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("wrong name: %v", err)
	}
	n, err := d.AcceptNode(ctx, "s1", now, Node{Address: "10.0.0.1:8443"})
	if err != nil || n.Name != "n1" || n.State != NodePending || n.ID == 0 {
		t.Fatalf("accept: %+v %v", n, err)
	}
	if _, err := d.AcceptNode(ctx, "s1", now, Node{Address: "10.0.0.2:8443"}); !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("reused: %v", err)
	}
	if _, err := d.AcceptNode(ctx, "s2", now, Node{Address: "10.0.0.2:8443"}); !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("expired: %v", err)
	}
	if toks, _ := d.ListClusterTokens(ctx); len(toks) != 0 {
		t.Fatalf("tokens left: %+v (spent and expired ones go, as does the wrong-name one)", toks)
	}
}
