package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
)

// Network is one managed network row.
type Network struct {
	ID          int64
	Name        string
	Type        string
	Description string
	Config      map[string]string
	// State is the network's (StatePending until it is made on every
	// member); MemberState this member's part of it (standalone: State;
	// "" for a network from before members' parts were recorded).
	State, MemberState string
}

func scanNetwork(r scanner) (Network, error) {
	var n Network
	var cfg string
	if err := r.Scan(&n.ID, &n.Name, &n.Type, &n.Description, &cfg, &n.State); err != nil {
		return n, err
	}
	if err := json.Unmarshal([]byte(cfg), &n.Config); err != nil {
		return n, fmt.Errorf("network %q: config column: %w", n.Name, err)
	}
	if n.Config == nil {
		n.Config = map[string]string{}
	}
	return n, nil
}

const networkCols = `id, name, type, description, config, state`

// CreateNetwork inserts a network; ErrExists if the name is taken.
func (d *DB) CreateNetwork(ctx context.Context, n Network) error {
	if n.Type == "" {
		n.Type = "bridge"
	}
	_, err := d.sql.ExecContext(ctx, `INSERT INTO networks (name, type, description, config) VALUES (?, ?, ?, ?)`,
		n.Name, n.Type, n.Description, mustJSON(nonNilMap(n.Config)))
	if isUnique(err) {
		return fmt.Errorf("network %q: %w", n.Name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("network %q: insert: %w", n.Name, err)
	}
	return nil
}

// GetNetwork returns the named network.
func (d *DB) GetNetwork(ctx context.Context, name string) (Network, error) {
	n, err := scanNetwork(d.sql.QueryRowContext(ctx, `SELECT `+networkCols+` FROM networks WHERE name = ?`, name))
	if err == sql.ErrNoRows {
		return n, fmt.Errorf("network %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return n, err
	}
	ns := []Network{n}
	err = d.overlayNetworkMember(ctx, ns)
	return ns[0], err
}

// ListNetworks returns all networks ordered by name.
func (d *DB) ListNetworks(ctx context.Context) ([]Network, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT `+networkCols+` FROM networks ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Network
	for rows.Next() {
		n, err := scanNetwork(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	return out, d.overlayNetworkMember(ctx, out)
}

// UpdateNetwork rewrites a network's description and config.
func (d *DB) UpdateNetwork(ctx context.Context, n Network) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE networks SET description = ?, config = ? WHERE name = ?`,
		n.Description, mustJSON(nonNilMap(n.Config)), n.Name)
	if err != nil {
		return fmt.Errorf("network %q: update: %w", n.Name, err)
	}
	return expectOne(res, "network", n.Name)
}

// DeleteNetwork removes a network's row.
func (d *DB) DeleteNetwork(ctx context.Context, name string) error {
	res, err := d.sql.ExecContext(ctx, `DELETE FROM networks WHERE name = ?`, name)
	if err != nil {
		return err
	}
	return expectOne(res, "network", name)
}

// NetworkMeta reads a networking bookkeeping value ("" if unset).
func (d *DB) NetworkMeta(ctx context.Context, key string) (string, error) {
	var v string
	err := d.sql.QueryRowContext(ctx, `SELECT value FROM network_meta WHERE key = ?`, key).Scan(&v)
	if err == sql.ErrNoRows {
		return "", nil
	}
	return v, err
}

// SetNetworkMeta writes a networking bookkeeping value.
func (d *DB) SetNetworkMeta(ctx context.Context, key, value string) error {
	_, err := d.sql.ExecContext(ctx, `INSERT INTO network_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}
