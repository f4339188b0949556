package db

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIntegrityCheck(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lodge.db")
	d, err := openBackend(t, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.IntegrityCheck(ctx); err != nil {
		t.Fatalf("fresh database: %v", err)
	}
	if onDqlite() {
		// dqlite has no per-connection pragmas to go behind the keys' back.
		d.Close()
		return
	}
	// A row whose parent is gone, written behind the foreign keys' back.
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO image_aliases (name, fingerprint) VALUES ('dangling', 'nope')`); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if err := d.IntegrityCheck(ctx); err == nil || !strings.Contains(err.Error(), "image_aliases") {
		t.Fatalf("dangling alias: %v", err)
	}
	d.Close()
	// A file that is not a database at all.
	bad := filepath.Join(t.TempDir(), "bad.db")
	os.WriteFile(bad, []byte(strings.Repeat("garbage", 1000)), 0o600)
	if d, err := Open(ctx, bad); err == nil {
		d.Close()
		t.Fatal("garbage opened as a database")
	}
}
