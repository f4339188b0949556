package db

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func openTest(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lodge.db")
	d, err := openBackend(t, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, path
}

func TestMigrationsFreshAndReopen(t *testing.T) {
	d, path := openTest(t)
	var v int
	if err := d.sql.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != SchemaVersion() {
		t.Fatalf("version = %d, %v; want %d", v, err, SchemaVersion())
	}
	d.Close()
	// Reopening an up-to-date database applies nothing and keeps the version.
	d2, err := openBackend(t, path)
	if err != nil {
		t.Fatal(err)
	}
	d2.Close()
}

func TestRefusesNewerSchema(t *testing.T) {
	d, path := openTest(t)
	if _, err := d.sql.Exec(`UPDATE schema_version SET version = ?`, SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	d.Close()
	_, err := openBackend(t, path)
	if !errors.Is(err, ErrTooNew) {
		t.Fatalf("err = %v, want ErrTooNew", err)
	}
}

func TestInstanceCRUD(t *testing.T) {
	d, _ := openTest(t)
	ctx := context.Background()
	in := Instance{Name: "c01", Architecture: "x86_64", Pool: "default", Config: map[string]string{"user.a": "b"},
		Devices: map[string]map[string]string{"root": {"type": "disk", "path": "/"}}, Profiles: []string{"default"}, CreatedAt: time.Now()}
	if _, err := d.CreateInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateInstance(ctx, in); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	got, err := d.GetInstance(ctx, "c01")
	if err != nil || got.Phase != PhaseCreating || got.Config["user.a"] != "b" || got.Devices["root"]["path"] != "/" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if err := d.SetInstancePhase(ctx, "c01", PhaseCreated); err != nil {
		t.Fatal(err)
	}
	got.Config["user.a"] = "c"
	got.Phase = PhaseCreated
	if err := d.UpdateInstance(ctx, got); err != nil {
		t.Fatal(err)
	}
	list, err := d.ListInstances(ctx)
	if err != nil || len(list) != 1 || list[0].Config["user.a"] != "c" || list[0].Phase != PhaseCreated {
		t.Fatalf("list: %+v %v", list, err)
	}
	if names, err := d.ListInstanceNames(ctx); err != nil || len(names) != 1 || names[0] != "c01" {
		t.Fatalf("names: %v %v", names, err)
	}
	if err := d.DeleteInstance(ctx, "c01"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GetInstance(ctx, "c01"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := d.DeleteInstance(ctx, "c01"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestImagesAndAliases(t *testing.T) {
	d, _ := openTest(t)
	ctx := context.Background()
	now := time.Now()
	for _, fp := range []string{"abc1", "abc2", "def0"} {
		if err := d.CreateImage(ctx, Image{Fingerprint: fp, Size: 1, CreatedAt: now, UploadedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.CreateImage(ctx, Image{Fingerprint: "abc1", CreatedAt: now, UploadedAt: now}); !errors.Is(err, ErrExists) {
		t.Fatalf("dup image: %v", err)
	}
	for _, tc := range []struct {
		prefix string
		n      int
	}{{"abc", 2}, {"abc1", 1}, {"d", 1}, {"x", 0}, {"%", 0}, {"_", 0}} {
		ims, err := d.ImagesByPrefix(ctx, tc.prefix, 10)
		if err != nil || len(ims) != tc.n {
			t.Errorf("prefix %q: %d images, %v; want %d", tc.prefix, len(ims), err, tc.n)
		}
	}
	if err := d.CreateAlias(ctx, Alias{Name: "deb", Fingerprint: "abc1"}); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateAlias(ctx, Alias{Name: "deb", Fingerprint: "abc2"}); !errors.Is(err, ErrExists) {
		t.Fatalf("dup alias: %v", err)
	}
	if err := d.CreateAlias(ctx, Alias{Name: "x", Fingerprint: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("alias to unknown image: %v", err)
	}
	if err := d.UpdateAlias(ctx, Alias{Name: "deb", Fingerprint: "abc2"}); err != nil {
		t.Fatal(err)
	}
	// Deleting the image cascades to its aliases.
	if err := d.DeleteImage(ctx, "abc2"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GetAlias(ctx, "deb"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("alias after image delete: %v", err)
	}
}

func TestProfiles(t *testing.T) {
	ctx := context.Background()
	d, _ := openTest(t)
	def, err := d.GetProfile(ctx, "default")
	if err != nil || def.Devices["root"]["path"] != "/" {
		t.Fatalf("default profile: %+v %v", def, err)
	}
	if err := d.CreateProfile(ctx, Profile{Name: "small", Config: map[string]string{"limits.cpu": "1"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateProfile(ctx, Profile{Name: "small"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := d.CreateInstance(ctx, Instance{Name: "c1", Profiles: []string{"default", "small"}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := d.RenameProfile(ctx, "small", "tiny"); err != nil {
		t.Fatal(err)
	}
	in, _ := d.GetInstance(ctx, "c1")
	if users, _ := d.ProfileUsers(ctx, "tiny"); len(users) != 1 || in.Profiles[1] != "tiny" {
		t.Fatalf("after rename: users %v, instance profiles %v", users, in.Profiles)
	}
	if err := d.RenameProfile(ctx, "tiny", "default"); !errors.Is(err, ErrExists) {
		t.Fatalf("rename onto default: %v", err)
	}
	if err := d.DeleteProfile(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete missing: %v", err)
	}
}

// Under more concurrent requests than connections, the pool neither grows
// past maxConns nor closes and re-opens connections (each re-open re-reads
// the schema, and SQLite keeps a closed connection's fd while others hold
// locks: the fd growth the 32-client stress run showed).
func TestPoolIsFixed(t *testing.T) {
	d, _ := openTest(t)
	ctx := context.Background()
	done := make(chan error, 32)
	for i := 0; i < 32; i++ {
		go func() {
			_, err := d.ListInstances(ctx)
			if err == nil {
				// Hold a connection a moment, as a request does.
				_, err = d.sql.ExecContext(ctx, `SELECT 1 FROM instances WHERE name = ? AND abs(random()) >= 0`, "x")
			}
			done <- err
		}()
	}
	for i := 0; i < 32; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	st := d.sql.Stats()
	if onDqlite() {
		// One connection to the leader, as LXD has it.
		if st.MaxOpenConnections != 1 {
			t.Errorf("dqlite pool: max %d open, want 1", st.MaxOpenConnections)
		}
		return
	}
	if st.MaxOpenConnections != maxConns || st.OpenConnections > maxConns {
		t.Errorf("pool: max %d open %d, want at most %d", st.MaxOpenConnections, st.OpenConnections, maxConns)
	}
	if st.MaxIdleClosed != 0 {
		t.Errorf("pool closed %d idle connections it then had to re-open", st.MaxIdleClosed)
	}
}

// SetInstanceConfigKey sets and deletes one key, keeping the others;
// MoveInstanceNode moves an instance only from the member it is on.
func TestInstanceConfigKeyAndMoveNode(t *testing.T) {
	d, _ := openTest(t)
	ctx := context.Background()
	if _, err := d.CreateInstance(ctx, Instance{Name: "c1", Config: map[string]string{"user.a": "1"}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetInstanceConfigKey(ctx, "c1", "volatile.evacuate.origin", "m2"); err != nil {
		t.Fatal(err)
	}
	in, _ := d.GetInstance(ctx, "c1")
	if in.Config["user.a"] != "1" || in.Config["volatile.evacuate.origin"] != "m2" {
		t.Fatalf("after set: %v", in.Config)
	}
	if err := d.SetInstanceConfigKey(ctx, "c1", "volatile.evacuate.origin", ""); err != nil {
		t.Fatal(err)
	}
	in, _ = d.GetInstance(ctx, "c1")
	if _, ok := in.Config["volatile.evacuate.origin"]; ok || in.Config["user.a"] != "1" {
		t.Fatalf("after delete: %v", in.Config)
	}
	if err := d.SetInstanceConfigKey(ctx, "c9", "user.a", "1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("set on no instance: %v", err)
	}
	// From a member it is not on: refused, nothing changes.
	if err := d.MoveInstanceNode(ctx, "c1", 7, 8, map[string]string{"user.b": "2"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("move from the wrong member: %v", err)
	}
	in, _ = d.GetInstance(ctx, "c1")
	if in.Config["user.b"] != "" {
		t.Fatalf("a refused move changed the config: %v", in.Config)
	}
	if err := d.MoveInstanceNode(ctx, "c1", d.NodeID(), d.NodeID(), map[string]string{"user.b": "2"}); err != nil {
		t.Fatal(err)
	}
	in, _ = d.GetInstance(ctx, "c1")
	if in.Config["user.b"] != "2" {
		t.Fatalf("after the move: %v", in.Config)
	}
}
