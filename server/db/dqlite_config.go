package db

import (
	"context"
	"database/sql"
)

// memberConfig puts a member's own keys (localConfigKeys, from local.db)
// into cfg, the cluster's config; standalone every key is in one table.
func (d *DB) memberConfig(ctx context.Context, cfg map[string]string) error {
	dm := d.mem()
	if dm == nil {
		return nil
	}
	for k := range localConfigKeys {
		delete(cfg, k)
	}
	rows, err := dm.local.QueryContext(ctx, `SELECT key, value FROM config`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		if localConfigKeys[k] {
			cfg[k] = v
		}
	}
	return rows.Err()
}

// setMemberConfig writes a member's own keys of kv to local.db and returns
// the rest, the cluster's (standalone: all of kv).
func (d *DB) setMemberConfig(ctx context.Context, kv map[string]string) (map[string]string, error) {
	dm := d.mem()
	if dm == nil {
		return kv, nil
	}
	rest := map[string]string{}
	tx, err := dm.local.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	for k, v := range kv {
		if !localConfigKeys[k] {
			rest[k] = v
			continue
		}
		if err := setKey(ctx, tx, k, v); err != nil {
			return nil, err
		}
	}
	return rest, tx.Commit()
}

func setKey(ctx context.Context, tx *sql.Tx, k, v string) error {
	var err error
	if v == "" {
		_, err = tx.ExecContext(ctx, `DELETE FROM config WHERE key = ?`, k)
	} else {
		_, err = tx.ExecContext(ctx, `INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, k, v)
	}
	return err
}
