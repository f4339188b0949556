package db

import (
	"context"
	"path/filepath"
	"testing"
)

// Built as make builds lodged (-tags libsqlite3), the standalone
// database and dqlite run on one SQLite, the system's.
func TestOneSQLite(t *testing.T) {
	if !builtWithSystemSQLite {
		t.Skip("built without the libsqlite3 tag (make sets it): mattn/go-sqlite3 bundles its own SQLite")
	}
	ctx := context.Background()
	var standalone, clustered string
	d, err := Open(ctx, filepath.Join(t.TempDir(), "lodge.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.sql.QueryRow(`SELECT sqlite_version()`).Scan(&standalone); err != nil {
		t.Fatal(err)
	}
	if err := d.EnableCluster(ctx, ClusterConfig{}, "m1", freeAddr(t)); err != nil {
		t.Fatal(err)
	}
	if err := d.sql.QueryRow(`SELECT sqlite_version()`).Scan(&clustered); err != nil {
		t.Fatal(err)
	}
	if standalone != clustered {
		t.Fatalf("SQLite %s standalone, %s under dqlite: one binary runs two SQLites", standalone, clustered)
	}
	t.Logf("SQLite %s for both", standalone)
}
