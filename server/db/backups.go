package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Backup is one instance backup row; its tarball is a file the daemon keeps.
type Backup struct {
	ID               int64
	Instance         string
	Name             string
	CreatedAt        time.Time
	ExpiresAt        time.Time
	InstanceOnly     bool
	OptimizedStorage bool
	Compression      string
}

const backupCols = `b.id, i.name, b.name, b.created_at, b.expires_at, b.instance_only, b.optimized_storage, b.compression`

func scanBackup(r scanner) (Backup, error) {
	var b Backup
	var created, expires string
	if err := r.Scan(&b.ID, &b.Instance, &b.Name, &created, &expires, &b.InstanceOnly, &b.OptimizedStorage, &b.Compression); err != nil {
		return b, err
	}
	b.CreatedAt, b.ExpiresAt = parseTime(created), parseTime(expires)
	return b, nil
}

// CreateBackup inserts a backup of the named instance; ErrExists if the
// name is taken, ErrNotFound if the instance is gone.
func (d *DB) CreateBackup(ctx context.Context, b Backup) error {
	res, err := d.sql.ExecContext(ctx, `INSERT INTO instance_backups (instance_id, name, created_at, expires_at, instance_only, optimized_storage, compression)
		SELECT id, ?, ?, ?, ?, ?, ? FROM instances WHERE name = ?`,
		b.Name, fmtTime(b.CreatedAt), fmtTime(b.ExpiresAt), b.InstanceOnly, b.OptimizedStorage, b.Compression, b.Instance)
	if isUnique(err) {
		return fmt.Errorf("backup %q of instance %q: %w", b.Name, b.Instance, ErrExists)
	}
	if err != nil {
		return err
	}
	return expectOne(res, "instance", b.Instance)
}

// GetBackup returns one backup.
func (d *DB) GetBackup(ctx context.Context, instance, name string) (Backup, error) {
	b, err := scanBackup(d.sql.QueryRowContext(ctx, `SELECT `+backupCols+` FROM instance_backups b JOIN instances i ON i.id = b.instance_id WHERE i.name = ? AND b.name = ?`, instance, name))
	if err == sql.ErrNoRows {
		return b, fmt.Errorf("backup %q of instance %q: %w", name, instance, ErrNotFound)
	}
	return b, err
}

// ListBackups returns an instance's backups, oldest first; "" lists every
// instance's.
func (d *DB) ListBackups(ctx context.Context, instance string) ([]Backup, error) {
	q := `SELECT ` + backupCols + ` FROM instance_backups b JOIN instances i ON i.id = b.instance_id`
	args := []any{}
	if instance != "" {
		q += ` WHERE i.name = ?`
		args = append(args, instance)
	}
	rows, err := d.sql.QueryContext(ctx, q+` ORDER BY b.created_at, b.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Backup
	for rows.Next() {
		b, err := scanBackup(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// RenameBackup renames one backup; ErrExists if the new name is taken.
func (d *DB) RenameBackup(ctx context.Context, instance, name, newName string) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE instance_backups SET name = ? WHERE name = ? AND instance_id = (SELECT id FROM instances WHERE name = ?)`, newName, name, instance)
	if isUnique(err) {
		return fmt.Errorf("backup %q of instance %q: %w", newName, instance, ErrExists)
	}
	if err != nil {
		return err
	}
	return expectOne(res, "backup", instance+"/"+name)
}

// DeleteBackup removes one backup row.
func (d *DB) DeleteBackup(ctx context.Context, instance, name string) error {
	res, err := d.sql.ExecContext(ctx, `DELETE FROM instance_backups WHERE name = ? AND instance_id = (SELECT id FROM instances WHERE name = ?)`, name, instance)
	if err != nil {
		return err
	}
	return expectOne(res, "backup", instance+"/"+name)
}
