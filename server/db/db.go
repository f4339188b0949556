// Package db is lodged's state store. It is the only package that speaks SQL,
// so that a clustered backend can replace local SQLite behind the same API.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"lodge/errdefs"
)

var (
	// ErrNotFound: no row matched.
	ErrNotFound = errdefs.ErrNotFound
	// ErrExists: a unique key is taken.
	ErrExists = errdefs.ErrExists
	// ErrTooNew: the database was written by a newer lodged.
	ErrTooNew = errors.New("database schema is newer than this lodged")
)

// maxConns bounds the connections (and so the fds: the database and its
// WAL each) the pool keeps open.
const maxConns = 8

// DB is an open state database. Standalone, one SQLite file holds every
// table. In a cluster (dqlite.go) the global tables live in dqlite and
// the member's own settings in a local SQLite file; the methods are the
// same, and the instance and operation queries that concern this host
// alone are limited to this member's rows.
type DB struct {
	sql  *handle
	path string
	// mp is the cluster side (nil standalone): the dqlite node, the
	// local database, this member's id and name. Enable, join and leave
	// swap it while requests read it (mem).
	mp atomic.Pointer[member]
	// node is the member whose dqlite node runs, from the moment it
	// starts (during cluster enable and join, before member is set):
	// ServeDqlite hands peers' connections to it.
	node atomic.Pointer[member]
}

// mem is the cluster side, nil standalone.
func (d *DB) mem() *member { return d.mp.Load() }

// Open opens (creating if needed) the database at path and applies
// pending migrations. If this lodged is a cluster member (a local.db
// beside path), it opens the member's local database only; StartCluster
// then brings up the global one.
func Open(ctx context.Context, path string) (*DB, error) {
	if isMember(filepath.Dir(path)) {
		return openMember(ctx, path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	// WAL lets list and other readers run while a launch writes; the busy
	// timeout absorbs short write contention instead of failing requests.
	dsn := "file:" + path + "?_journal_mode=WAL&_foreign_keys=on&_busy_timeout=10000&_synchronous=NORMAL&_txlock=immediate"
	s, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("database %s: open: %w", path, err)
	}
	// A fixed pool: database/sql's default (unbounded open, two idle)
	// opened and closed a connection per request under concurrency, each
	// open re-reading the schema, and SQLite keeps a closed connection's
	// fd while other connections hold locks. Eight is plenty on WAL, where
	// writers queue anyway; nothing holds a connection while asking for
	// another (transactions use only their own).
	s.SetMaxOpenConns(maxConns)
	s.SetMaxIdleConns(maxConns)
	d := &DB{sql: newHandle(s), path: path}
	if err := d.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return d, nil
}

// Close closes the database (and a member's dqlite node).
func (d *DB) Close() error {
	dm := d.mem()
	err := d.sql.Close()
	if dm != nil {
		dm.close()
	}
	return err
}

// Tx runs fn in a transaction, committing if fn returns nil. On dqlite a
// transaction that failed because the database was between leaders or
// busy with another member's write is run again (fn must only use tx).
func (d *DB) Tx(ctx context.Context, fn func(*sql.Tx) error) error {
	d.sql.gate.RLock()
	defer d.sql.gate.RUnlock()
	return d.sql.withRetry(ctx, func() error {
		tx, err := d.sql.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	})
}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
