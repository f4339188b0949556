package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// States of a pool or network (storage_pools.state, networks.state) and
// of a member's part of one (storage_pools_nodes.state,
// networks_nodes.state), as LXD names them: in a cluster a pool is first
// defined per member (pending), then created on every member at once.
const (
	StatePending = "pending"
	StateCreated = "created"
	StateErrored = "errored"
)

// MemberPart is one member's part of a cluster pool or network.
type MemberPart struct {
	NodeID int64
	Node   string
	State  string
	Config map[string]string
}

// IsMemberPoolKey tells whether a pool key is set per member (LXD's
// member-specific keys: where the data lives).
func IsMemberPoolKey(k string) bool { return memberPoolKeys[k] }

// entity names the tables of a pool or network and its members' rows.
type entity struct{ kind, table, nodes, idCol string }

var (
	poolEntity    = entity{"storage pool", "storage_pools", "storage_pools_nodes", "pool_id"}
	networkEntity = entity{"network", "networks", "networks_nodes", "network_id"}
)

func (e entity) id(ctx context.Context, tx *sql.Tx, name string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM `+e.table+` WHERE name = ?`, name).Scan(&id)
	if err == sql.ErrNoRows {
		return 0, fmt.Errorf("%s %q: %w", e.kind, name, ErrNotFound)
	}
	return id, err
}

// members lists the members' parts of the named pool or network.
func (d *DB) members(ctx context.Context, e entity, name string) ([]MemberPart, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT n.id, n.name, m.state, m.config FROM `+e.nodes+` m
JOIN nodes n ON n.id = m.node_id JOIN `+e.table+` t ON t.id = m.`+e.idCol+`
WHERE t.name = ? ORDER BY n.name`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []MemberPart
	for rows.Next() {
		var p MemberPart
		var cfg string
		if err := rows.Scan(&p.NodeID, &p.Node, &p.State, &cfg); err != nil {
			return nil, err
		}
		p.Config = map[string]string{}
		if err := json.Unmarshal([]byte(cfg), &p.Config); err != nil {
			return nil, fmt.Errorf("%s %q: member %s's config: %w", e.kind, name, p.Node, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// setMember writes a member's part: its state, and its config unless cfg
// is nil.
func (d *DB) setMember(ctx context.Context, e entity, name string, node int64, state string, cfg map[string]string) error {
	return d.Tx(ctx, func(tx *sql.Tx) error {
		id, err := e.id(ctx, tx, name)
		if err != nil {
			return err
		}
		if cfg == nil {
			_, err = tx.ExecContext(ctx, `INSERT INTO `+e.nodes+` (`+e.idCol+`, node_id, state) VALUES (?, ?, ?)
ON CONFLICT(`+e.idCol+`, node_id) DO UPDATE SET state = excluded.state`, id, node, state)
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO `+e.nodes+` (`+e.idCol+`, node_id, state, config) VALUES (?, ?, ?, ?)
ON CONFLICT(`+e.idCol+`, node_id) DO UPDATE SET state = excluded.state, config = excluded.config`, id, node, state, mustJSON(cfg))
		return err
	})
}

// setState sets a pool's or network's state.
func (d *DB) setState(ctx context.Context, e entity, name, state string) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE `+e.table+` SET state = ? WHERE name = ?`, state, name)
	if err != nil {
		return err
	}
	return expectOne(res, e.kind, name)
}

// DefinePendingPool records a pool pending on a member with that member's
// own keys (source, size), adding the pool, pending, if it is new.
func (d *DB) DefinePendingPool(ctx context.Context, name, driver string, node int64, member map[string]string) error {
	err := d.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO storage_pools (name, driver, description, config, created_at, state) VALUES (?, ?, '', '{}', ?, ?)
ON CONFLICT(name) DO NOTHING`, name, driver, fmtTime(time.Now()), StatePending)
		return err
	})
	if err != nil {
		return err
	}
	return d.setMember(ctx, poolEntity, name, node, StatePending, nonNilMap(member))
}

// PoolMembers lists the members' parts of a pool (cluster only).
func (d *DB) PoolMembers(ctx context.Context, name string) ([]MemberPart, error) {
	return d.members(ctx, poolEntity, name)
}

// SetPoolMember writes a member's part of a pool: its state and, unless
// cfg is nil, its own keys (the others in cfg are the pool's, left out).
func (d *DB) SetPoolMember(ctx context.Context, name string, node int64, state string, cfg map[string]string) error {
	if cfg != nil {
		_, cfg = splitPoolConfig(cfg)
	}
	return d.setMember(ctx, poolEntity, name, node, state, cfg)
}

// SetPoolState sets a pool's state.
func (d *DB) SetPoolState(ctx context.Context, name, state string) error {
	return d.setState(ctx, poolEntity, name, state)
}

// DefinePendingNetwork records a network pending on a member, adding the
// network, pending, if it is new.
func (d *DB) DefinePendingNetwork(ctx context.Context, name, typ string, node int64) error {
	err := d.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO networks (name, type, description, config, state) VALUES (?, ?, '', '{}', ?)
ON CONFLICT(name) DO NOTHING`, name, typ, StatePending)
		return err
	})
	if err != nil {
		return err
	}
	return d.setMember(ctx, networkEntity, name, node, StatePending, map[string]string{})
}

// NetworkMembers lists the members' parts of a network (cluster only).
func (d *DB) NetworkMembers(ctx context.Context, name string) ([]MemberPart, error) {
	return d.members(ctx, networkEntity, name)
}

// SetNetworkMember sets a member's part of a network.
func (d *DB) SetNetworkMember(ctx context.Context, name string, node int64, state string) error {
	return d.setMember(ctx, networkEntity, name, node, state, nil)
}

// SetNetworkState sets a network's state.
func (d *DB) SetNetworkState(ctx context.Context, name, state string) error {
	return d.setState(ctx, networkEntity, name, state)
}

// overlayNetworkMember sets each network's MemberState, this member's
// part (standalone: the network's own state).
func (d *DB) overlayNetworkMember(ctx context.Context, ns []Network) error {
	if d.mem() == nil || len(ns) == 0 {
		for i := range ns {
			ns[i].MemberState = ns[i].State
		}
		return nil
	}
	rows, err := d.sql.QueryContext(ctx, `SELECT network_id, state FROM networks_nodes WHERE node_id = ?`, d.NodeID())
	if err != nil {
		return err
	}
	defer rows.Close()
	mine := map[int64]string{}
	for rows.Next() {
		var id int64
		var st string
		if err := rows.Scan(&id, &st); err != nil {
			return err
		}
		mine[id] = st
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i := range ns {
		ns[i].MemberState = mine[ns[i].ID]
	}
	return nil
}

// SetPoolDefinition writes a cluster pool's own description and keys (the
// members' keys stay theirs).
func (d *DB) SetPoolDefinition(ctx context.Context, name, description string, cfg map[string]string) error {
	global, _ := splitPoolConfig(cfg)
	res, err := d.sql.ExecContext(ctx, `UPDATE storage_pools SET description = ?, config = ? WHERE name = ?`, description, mustJSON(global), name)
	if err != nil {
		return err
	}
	return expectOne(res, "storage pool", name)
}

// SetNetworkDefinition writes a network's description and config.
func (d *DB) SetNetworkDefinition(ctx context.Context, name, description string, cfg map[string]string) error {
	return d.UpdateNetwork(ctx, Network{Name: name, Description: description, Config: cfg})
}

// PoolVolumesEverywhere names the custom volumes on a pool on every
// member, as "NAME on MEMBER" (a pool is deleted on every member at once).
func (d *DB) PoolVolumesEverywhere(ctx context.Context, pool string) ([]string, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT v.name, COALESCE(n.name, '') FROM storage_volumes v LEFT JOIN nodes n ON n.id = v.node_id
WHERE v.pool = ? ORDER BY v.name`, pool)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v, n string
		if err := rows.Scan(&v, &n); err != nil {
			return nil, err
		}
		out = append(out, v+" on "+n)
	}
	return out, rows.Err()
}
