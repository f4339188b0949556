package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Operation is one async operation's row. Status codes are LXD's: from
// 200 up an operation has ended.
type Operation struct {
	ID          string // uuid
	Class       string
	Description string
	StatusCode  int
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Resources   map[string][]string
	Metadata    map[string]any
	Err         string
	MayCancel   bool
	Location    string
}

// finalStatus is LXD's first final status code (Success).
const finalStatus = 200

// opTimeFormat is RFC 3339 with a fixed number of digits, so that stored
// times order as strings (the pruning compares them in SQL).
const opTimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func fmtOpTime(t time.Time) string { return t.UTC().Format(opTimeFormat) }

const operationCols = `id, class, description, status_code, created_at, updated_at, resources, metadata, err, may_cancel, location`

func scanOperation(r scanner) (Operation, error) {
	var o Operation
	var created, updated, res, md string
	if err := r.Scan(&o.ID, &o.Class, &o.Description, &o.StatusCode, &created, &updated, &res, &md, &o.Err, &o.MayCancel, &o.Location); err != nil {
		return o, err
	}
	o.CreatedAt, o.UpdatedAt = parseTime(created), parseTime(updated)
	if err := json.Unmarshal([]byte(res), &o.Resources); err != nil {
		return o, fmt.Errorf("operation %s: resources column: %w", o.ID, err)
	}
	if err := json.Unmarshal([]byte(md), &o.Metadata); err != nil {
		return o, fmt.Errorf("operation %s: metadata column: %w", o.ID, err)
	}
	return o, nil
}

// PutOperation records an operation, replacing its earlier row: the same
// call serves its start and its end, so an end is kept even if the start
// could not be written.
func (d *DB) PutOperation(ctx context.Context, o Operation) error {
	// Nil maps are kept as null, so that the row reads back as the
	// operation rendered. Metadata is whatever the operation reported; if
	// a value does not marshal it is dropped rather than the row.
	md := "null"
	if b, err := json.Marshal(o.Metadata); err == nil {
		md = string(b)
	}
	if o.Location == "" || o.Location == "none" {
		// A cluster member's operations carry its name: another member
		// forwards requests for them here.
		o.Location = d.Location()
	}
	_, err := d.sql.ExecContext(ctx, `INSERT INTO operations (`+operationCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(id) DO UPDATE SET status_code = excluded.status_code, updated_at = excluded.updated_at,
	metadata = excluded.metadata, err = excluded.err, may_cancel = excluded.may_cancel`,
		o.ID, o.Class, o.Description, o.StatusCode, fmtOpTime(o.CreatedAt), fmtOpTime(o.UpdatedAt),
		mustJSON(o.Resources), md, o.Err, o.MayCancel, o.Location)
	if err != nil {
		return fmt.Errorf("operation %s: write: %w", o.ID, err)
	}
	return nil
}

// GetOperation returns the operation with this id.
func (d *DB) GetOperation(ctx context.Context, id string) (Operation, error) {
	o, err := scanOperation(d.sql.QueryRowContext(ctx, `SELECT `+operationCols+` FROM operations WHERE id = ?`, id))
	if err == sql.ErrNoRows {
		return o, fmt.Errorf("operation %s: %w", id, ErrNotFound)
	}
	return o, err
}

// ListOperations returns every recorded operation, oldest first.
func (d *DB) ListOperations(ctx context.Context) ([]Operation, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT `+operationCols+` FROM operations ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Operation
	for rows.Next() {
		o, err := scanOperation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// FailUnfinishedOperations gives every operation that has not ended the
// status code and error msg (at a start: a crash or restart ended them
// unseen) and returns how many it changed. In a cluster only this
// member's operations (by location): the others' are still running.
func (d *DB) FailUnfinishedOperations(ctx context.Context, code int, msg string, now time.Time) (int64, error) {
	res, err := d.sql.ExecContext(ctx, `UPDATE operations SET status_code = ?, err = ?, updated_at = ?, may_cancel = 0 WHERE status_code < ? AND location = ?`,
		code, msg, fmtOpTime(now), finalStatus, d.Location())
	if err != nil {
		return 0, fmt.Errorf("operations: mark unfinished ones failed: %w", err)
	}
	return res.RowsAffected()
}

// PruneOperations deletes ended operations last updated before cutoff and
// all but the keep most recently updated ended ones; running operations
// stay. It returns how many rows went.
func (d *DB) PruneOperations(ctx context.Context, cutoff time.Time, keep int) (int64, error) {
	res, err := d.sql.ExecContext(ctx, `DELETE FROM operations WHERE status_code >= ?1 AND (updated_at < ?2 OR id NOT IN (
	SELECT id FROM operations WHERE status_code >= ?1 ORDER BY updated_at DESC LIMIT ?3))`,
		finalStatus, fmtOpTime(cutoff), keep)
	if err != nil {
		return 0, fmt.Errorf("operations: prune: %w", err)
	}
	return res.RowsAffected()
}
