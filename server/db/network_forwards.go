package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
)

// NetworkForward is one network forward row: connections to ListenAddress
// go to instances on Network, by port (Ports) or to Config's
// target_address.
type NetworkForward struct {
	Network       string
	ListenAddress string
	Description   string
	Config        map[string]string
	Ports         []ForwardPort
}

// ForwardPort is one port rule of a forward.
type ForwardPort struct {
	Description   string `json:"description"`
	Protocol      string `json:"protocol"`
	ListenPort    string `json:"listen_port"`
	TargetPort    string `json:"target_port"`
	TargetAddress string `json:"target_address"`
}

const forwardCols = `n.name, f.listen_address, f.description, f.config, f.ports`

func scanForward(r scanner) (NetworkForward, error) {
	var f NetworkForward
	var cfg, ports string
	if err := r.Scan(&f.Network, &f.ListenAddress, &f.Description, &cfg, &ports); err != nil {
		return f, err
	}
	if err := json.Unmarshal([]byte(cfg), &f.Config); err != nil {
		return f, fmt.Errorf("network forward %s: config column: %w", f.ListenAddress, err)
	}
	if err := json.Unmarshal([]byte(ports), &f.Ports); err != nil {
		return f, fmt.Errorf("network forward %s: ports column: %w", f.ListenAddress, err)
	}
	if f.Config == nil {
		f.Config = map[string]string{}
	}
	return f, nil
}

func portsJSON(p []ForwardPort) string {
	if p == nil {
		p = []ForwardPort{}
	}
	return mustJSON(p)
}

// ListNetworkForwards returns a network's forwards ("" : every network's),
// ordered by listen address.
func (d *DB) ListNetworkForwards(ctx context.Context, network string) ([]NetworkForward, error) {
	q := `SELECT ` + forwardCols + ` FROM network_forwards f JOIN networks n ON n.id = f.network_id`
	args := []any{}
	if network != "" {
		q += ` WHERE n.name = ?`
		args = append(args, network)
	}
	rows, err := d.sql.QueryContext(ctx, q+` ORDER BY f.listen_address`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []NetworkForward
	for rows.Next() {
		f, err := scanForward(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// GetNetworkForward returns a network's forward of a listen address.
func (d *DB) GetNetworkForward(ctx context.Context, network, listen string) (NetworkForward, error) {
	f, err := scanForward(d.sql.QueryRowContext(ctx, `SELECT `+forwardCols+` FROM network_forwards f JOIN networks n ON n.id = f.network_id
		WHERE n.name = ? AND f.listen_address = ?`, network, listen))
	if err == sql.ErrNoRows {
		return f, fmt.Errorf("network %q: forward %s: %w", network, listen, ErrNotFound)
	}
	return f, err
}

// CreateNetworkForward inserts a forward; ErrExists if its listen address
// is forwarded already (by any network), ErrNotFound without the network.
func (d *DB) CreateNetworkForward(ctx context.Context, f NetworkForward) error {
	res, err := d.sql.ExecContext(ctx, `INSERT INTO network_forwards (network_id, listen_address, description, config, ports)
		SELECT id, ?, ?, ?, ? FROM networks WHERE name = ?`,
		f.ListenAddress, f.Description, mustJSON(nonNilMap(f.Config)), portsJSON(f.Ports), f.Network)
	if isUnique(err) {
		return fmt.Errorf("forward %s: %w", f.ListenAddress, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("network %q: forward %s: insert: %w", f.Network, f.ListenAddress, err)
	}
	return expectOne(res, "network", f.Network)
}

// UpdateNetworkForward rewrites a forward's description, config and ports.
func (d *DB) UpdateNetworkForward(ctx context.Context, f NetworkForward) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE network_forwards SET description = ?, config = ?, ports = ?
		WHERE listen_address = ? AND network_id = (SELECT id FROM networks WHERE name = ?)`,
		f.Description, mustJSON(nonNilMap(f.Config)), portsJSON(f.Ports), f.ListenAddress, f.Network)
	if err != nil {
		return fmt.Errorf("network %q: forward %s: update: %w", f.Network, f.ListenAddress, err)
	}
	return expectOne(res, "network forward", f.ListenAddress)
}

// DeleteNetworkForward removes a forward.
func (d *DB) DeleteNetworkForward(ctx context.Context, network, listen string) error {
	res, err := d.sql.ExecContext(ctx, `DELETE FROM network_forwards
		WHERE listen_address = ? AND network_id = (SELECT id FROM networks WHERE name = ?)`, listen, network)
	if err != nil {
		return err
	}
	return expectOne(res, "network forward", listen)
}
