package db

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canonical/go-dqlite/driver"

	"lodge/errdefs"
)

// handle is the global tables' connection pool: the SQLite file of a
// standalone lodged, or the cluster's dqlite database. It has the methods
// of *sql.DB the package uses, so queries read d.sql.ExecContext(...)
// whatever the backend; what it adds is that the pool behind it can be
// replaced while lodged runs (cluster enable and join move the global
// tables into dqlite) and that writes are retried while dqlite has no
// leader or is busy (a member was lost, an election is under way).
type handle struct {
	p atomic.Pointer[sql.DB]
	// gate: writes (Exec, a transaction) hold it shared; a switch takes
	// it exclusively, so that no write lands in the old pool after its
	// rows were copied.
	gate sync.RWMutex
	// retry is how long writes are retried on transient dqlite errors;
	// zero (SQLite) does not retry.
	retry time.Duration
}

// errNoDatabase: a member whose cluster database has not started yet.
var errNoDatabase = errdefs.Unavailablef("the cluster database is not started yet (lodged is starting; retry in a moment)")

func newHandle(s *sql.DB) *handle {
	h := &handle{}
	h.p.Store(s)
	return h
}

func (h *handle) db() (*sql.DB, error) {
	if s := h.p.Load(); s != nil {
		return s, nil
	}
	return nil, errNoDatabase
}

// swap installs s (with writes held off by the caller) and returns the old pool.
func (h *handle) swap(s *sql.DB, retry time.Duration) *sql.DB {
	old := h.p.Swap(s)
	h.retry = retry
	return old
}

// withRetry runs fn again while it fails with a transient cluster error,
// for up to h.retry.
func (h *handle) withRetry(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(h.retry)
	wait := 20 * time.Millisecond
	for {
		err := fn()
		if err == nil || h.retry == 0 || !isRetriable(err) || time.Now().After(deadline) {
			return annotateUnavailable(err)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		if wait < 500*time.Millisecond {
			wait *= 2
		}
	}
}

// isRetriable: the cluster database is between leaders, or a write
// transaction of another member holds it.
func isRetriable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrNoAvailableLeader) || errors.Is(err, errNoDatabase) {
		return true
	}
	var de driver.Error
	if errors.As(err, &de) {
		switch de.Code {
		case driver.ErrBusy, driver.ErrBusyRecovery, driver.ErrBusySnapshot:
			return true
		}
	}
	msg := err.Error()
	for _, s := range []string{"database is locked", "bad connection", "checkpoint in progress", "leadership lost", "not leader", "no available dqlite leader", "cannot start a transaction within a transaction"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// annotateUnavailable makes "no leader" an unavailable error with what to do.
func annotateUnavailable(err error) error {
	if err != nil && errors.Is(err, driver.ErrNoAvailableLeader) {
		return errdefs.Unavailablef("the cluster database has no leader: fewer than a majority of the database members (voters) are reachable; bring members back online (lodge cluster list shows which are offline): %v", err)
	}
	return err
}

func (h *handle) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	h.gate.RLock()
	defer h.gate.RUnlock()
	var res sql.Result
	err := h.withRetry(ctx, func() error {
		s, err := h.db()
		if err != nil {
			return err
		}
		res, err = s.ExecContext(ctx, q, args...)
		return err
	})
	return res, err
}

func (h *handle) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	var rows *sql.Rows
	err := h.withRetry(ctx, func() error {
		s, err := h.db()
		if err != nil {
			return err
		}
		rows, err = s.QueryContext(ctx, q, args...)
		return err
	})
	return rows, err
}

func (h *handle) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	s, err := h.db()
	if err != nil {
		// A *sql.Row cannot carry an error of ours: a closed pool's row
		// reports "sql: database is closed"; say why instead.
		return closedRow(ctx)
	}
	return s.QueryRowContext(ctx, q, args...)
}

func (h *handle) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	s, err := h.db()
	if err != nil {
		return nil, err
	}
	return s.BeginTx(ctx, opts)
}

func (h *handle) Conn(ctx context.Context) (*sql.Conn, error) {
	s, err := h.db()
	if err != nil {
		return nil, err
	}
	return s.Conn(ctx)
}

func (h *handle) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	s, err := h.db()
	if err != nil {
		return nil, err
	}
	return s.PrepareContext(ctx, q)
}

func (h *handle) Exec(q string, args ...any) (sql.Result, error) {
	return h.ExecContext(context.Background(), q, args...)
}

func (h *handle) Query(q string, args ...any) (*sql.Rows, error) {
	return h.QueryContext(context.Background(), q, args...)
}

func (h *handle) QueryRow(q string, args ...any) *sql.Row {
	return h.QueryRowContext(context.Background(), q, args...)
}

func (h *handle) Stats() sql.DBStats {
	if s := h.p.Load(); s != nil {
		return s.Stats()
	}
	return sql.DBStats{}
}

func (h *handle) Close() error {
	if s := h.p.Swap(nil); s != nil {
		return s.Close()
	}
	return nil
}

var closedPool = func() *sql.DB {
	s, _ := sql.Open("sqlite3", "file::memory:")
	s.Close()
	return s
}()

func closedRow(ctx context.Context) *sql.Row { return closedPool.QueryRowContext(ctx, "SELECT 1") }
