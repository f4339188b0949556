package db

import (
	"context"
	"fmt"
	"strings"
)

// IntegrityCheck runs SQLite's integrity_check and foreign_key_check: nil
// means the file is sound and no row points at a missing parent.
func (d *DB) IntegrityCheck(ctx context.Context) error {
	rows, err := d.sql.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return fmt.Errorf("database %s: integrity_check: %w", d.path, err)
	}
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	rows.Close()
	fk, err := d.sql.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return fmt.Errorf("database %s: foreign_key_check: %w", d.path, err)
	}
	for fk.Next() {
		var table, parent string
		var rowid, idx any
		if err := fk.Scan(&table, &rowid, &parent, &idx); err == nil {
			problems = append(problems, fmt.Sprintf("row %v of %s points at a missing %s", rowid, table, parent))
		}
	}
	fk.Close()
	if len(problems) > 0 {
		return fmt.Errorf("database %s is damaged: %s", d.path, strings.Join(problems, "; "))
	}
	return nil
}
