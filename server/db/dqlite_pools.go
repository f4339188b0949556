package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
)

// memberPoolKeys are a pool's settings that differ per member (where its
// data lives), kept in storage_pools_nodes in a cluster; LXD's
// member-specific keys.
var memberPoolKeys = map[string]bool{"source": true, "size": true}

// overlayPoolMember puts this member's own settings into a cluster
// pool's config (standalone there are none: every key is the pool's).
func (d *DB) overlayPoolMember(ctx context.Context, ps []StoragePool) error {
	dm := d.mem()
	if dm == nil || len(ps) == 0 {
		for i := range ps {
			ps[i].MemberState = ps[i].State
		}
		return nil
	}
	rows, err := d.sql.QueryContext(ctx, `SELECT pool_id, state, config FROM storage_pools_nodes WHERE node_id = ?`, d.NodeID())
	if err != nil {
		return err
	}
	defer rows.Close()
	mine := map[int64]map[string]string{}
	states := map[int64]string{}
	for rows.Next() {
		var id int64
		var st, cfg string
		if err := rows.Scan(&id, &st, &cfg); err != nil {
			return err
		}
		m := map[string]string{}
		if err := json.Unmarshal([]byte(cfg), &m); err != nil {
			return fmt.Errorf("storage pool %d: member config: %w", id, err)
		}
		mine[id], states[id] = m, st
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i := range ps {
		ps[i].MemberState = states[ps[i].ID]
		for k, v := range mine[ps[i].ID] {
			ps[i].Config[k] = v
		}
	}
	return nil
}

// splitPoolConfig separates a pool's member keys from the cluster's.
func splitPoolConfig(cfg map[string]string) (global, member map[string]string) {
	global, member = map[string]string{}, map[string]string{}
	for k, v := range cfg {
		if memberPoolKeys[k] {
			member[k] = v
		} else {
			global[k] = v
		}
	}
	return global, member
}

// SetPoolMemberConfig records this member's own settings of a pool (its
// source...), keeping the pool's cluster-wide ones.
func (d *DB) SetPoolMemberConfig(ctx context.Context, pool string, cfg map[string]string) error {
	dm := d.mem()
	if dm == nil {
		return nil
	}
	_, member := splitPoolConfig(cfg)
	return d.Tx(ctx, func(tx *sql.Tx) error {
		var id int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM storage_pools WHERE name = ?`, pool).Scan(&id); err != nil {
			return fmt.Errorf("storage pool %q: %w", pool, err)
		}
		return setPoolMember(ctx, tx, id, d.NodeID(), member)
	})
}

func setPoolMember(ctx context.Context, tx *sql.Tx, poolID, nodeID int64, member map[string]string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO storage_pools_nodes (pool_id, node_id, config) VALUES (?, ?, ?)
ON CONFLICT(pool_id, node_id) DO UPDATE SET config = excluded.config`, poolID, nodeID, mustJSON(member))
	return err
}

// createClusterPool records a pool made on this member: the cluster's
// keys on the pool, this member's on its own row.
func (d *DB) createClusterPool(ctx context.Context, p StoragePool) error {
	global, member := splitPoolConfig(p.Config)
	return d.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO storage_pools (name, driver, description, config, created_at) VALUES (?, ?, ?, ?, ?)`,
			p.Name, p.Driver, p.Description, mustJSON(global), fmtTime(p.CreatedAt))
		if isUnique(err) {
			return fmt.Errorf("storage pool %q: %w", p.Name, ErrExists)
		}
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		return setPoolMember(ctx, tx, id, d.NodeID(), member)
	})
}

// updateClusterPool rewrites a pool's description and config, this
// member's keys on its own row.
func (d *DB) updateClusterPool(ctx context.Context, p StoragePool) error {
	global, member := splitPoolConfig(p.Config)
	return d.Tx(ctx, func(tx *sql.Tx) error {
		var id int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM storage_pools WHERE name = ?`, p.Name).Scan(&id); err == sql.ErrNoRows {
			return fmt.Errorf("storage pool %q: %w", p.Name, ErrNotFound)
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE storage_pools SET description = ?, config = ? WHERE id = ?`, p.Description, mustJSON(global), id); err != nil {
			return err
		}
		return setPoolMember(ctx, tx, id, d.NodeID(), member)
	})
}

// movePoolKeysToMember, at cluster enable: each pool's member keys become
// member 1's.
func movePoolKeysToMember(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, config FROM storage_pools`)
	if err != nil {
		return err
	}
	type row struct {
		id  int64
		cfg map[string]string
	}
	var all []row
	for rows.Next() {
		var r row
		var cfg string
		if err := rows.Scan(&r.id, &cfg); err != nil {
			rows.Close()
			return err
		}
		r.cfg = map[string]string{}
		_ = json.Unmarshal([]byte(cfg), &r.cfg)
		all = append(all, r)
	}
	rows.Close()
	for _, r := range all {
		global, member := splitPoolConfig(r.cfg)
		if _, err := tx.ExecContext(ctx, `UPDATE storage_pools SET config = ? WHERE id = ?`, mustJSON(global), r.id); err != nil {
			return err
		}
		if err := setPoolMember(ctx, tx, r.id, 1, member); err != nil {
			return err
		}
	}
	return nil
}
