package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Instance phases: a row is "creating" until its rootfs and runtime config
// exist, so that startup recovery can tell a half-made instance from a real one.
const (
	PhaseCreating = "creating"
	PhaseCreated  = "created"
)

// Instance is one instance row.
type Instance struct {
	ID               int64
	Name             string
	Type             string
	Architecture     string
	ImageFingerprint string
	Pool             string
	Phase            string
	Ephemeral        bool
	Description      string
	Config           map[string]string
	Devices          map[string]map[string]string
	Profiles         []string
	CreatedAt        time.Time
	LastUsedAt       time.Time
}

const instanceCols = `id, name, type, architecture, image_fingerprint, pool, phase, ephemeral, description, config, devices, profiles, created_at, last_used_at`

type scanner interface{ Scan(...any) error }

func scanInstance(r scanner) (Instance, error) {
	var in Instance
	var cfg, dev, prof, created, used string
	if err := r.Scan(&in.ID, &in.Name, &in.Type, &in.Architecture, &in.ImageFingerprint, &in.Pool, &in.Phase,
		&in.Ephemeral, &in.Description, &cfg, &dev, &prof, &created, &used); err != nil {
		return in, err
	}
	if err := json.Unmarshal([]byte(cfg), &in.Config); err != nil {
		return in, fmt.Errorf("instance %q: config column: %w", in.Name, err)
	}
	if err := json.Unmarshal([]byte(dev), &in.Devices); err != nil {
		return in, fmt.Errorf("instance %q: devices column: %w", in.Name, err)
	}
	if err := json.Unmarshal([]byte(prof), &in.Profiles); err != nil {
		return in, fmt.Errorf("instance %q: profiles column: %w", in.Name, err)
	}
	in.CreatedAt = parseTime(created)
	in.LastUsedAt = parseTime(used)
	if in.Config == nil {
		in.Config = map[string]string{}
	}
	if in.Devices == nil {
		in.Devices = map[string]map[string]string{}
	}
	return in, nil
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of strings always marshal
	}
	return string(b)
}

// CreateInstance inserts a row in phase "creating"; ErrExists if the name is taken.
func (d *DB) CreateInstance(ctx context.Context, in Instance) (int64, error) {
	if in.Phase == "" {
		in.Phase = PhaseCreating
	}
	if in.Type == "" {
		in.Type = "container"
	}
	res, err := d.sql.ExecContext(ctx, `INSERT INTO instances (name, type, architecture, image_fingerprint, pool, phase, ephemeral, description, config, devices, profiles, created_at, last_used_at, node_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		in.Name, in.Type, in.Architecture, in.ImageFingerprint, in.Pool, in.Phase, in.Ephemeral, in.Description,
		mustJSON(nonNilMap(in.Config)), mustJSON(nonNilDevices(in.Devices)), mustJSON(nonNilSlice(in.Profiles)), fmtTime(in.CreatedAt), fmtTime(in.LastUsedAt), d.NodeID())
	if isUnique(err) {
		return 0, fmt.Errorf("instance %q: %w", in.Name, ErrExists)
	}
	if err != nil {
		return 0, fmt.Errorf("instance %q: insert: %w", in.Name, err)
	}
	return res.LastInsertId()
}

// GetInstance returns the named instance.
func (d *DB) GetInstance(ctx context.Context, name string) (Instance, error) {
	in, err := scanInstance(d.sql.QueryRowContext(ctx, `SELECT `+instanceCols+` FROM instances WHERE name = ?`, name))
	if err == sql.ErrNoRows {
		return in, fmt.Errorf("instance %q: %w", name, ErrNotFound)
	}
	return in, err
}

// ListInstances returns this host's instances ordered by name (in a
// cluster, this member's; ListClusterInstances has every member's).
func (d *DB) ListInstances(ctx context.Context) ([]Instance, error) {
	return d.ListInstancesOn(ctx, d.NodeID())
}

// ListInstanceNames returns every instance's name in order (in a cluster,
// every member's), without decoding the rest (GET /1.0/instances without
// recursion).
func (d *DB) ListInstanceNames(ctx context.Context) ([]string, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT name FROM instances ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// UpdateInstance rewrites the mutable columns of the named instance.
func (d *DB) UpdateInstance(ctx context.Context, in Instance) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE instances SET architecture = ?, phase = ?, ephemeral = ?, description = ?, config = ?, devices = ?, profiles = ?, last_used_at = ? WHERE name = ?`,
		in.Architecture, in.Phase, in.Ephemeral, in.Description, mustJSON(nonNilMap(in.Config)), mustJSON(nonNilDevices(in.Devices)),
		mustJSON(nonNilSlice(in.Profiles)), fmtTime(in.LastUsedAt), in.Name)
	if err != nil {
		return fmt.Errorf("instance %q: update: %w", in.Name, err)
	}
	return expectOne(res, "instance", in.Name)
}

// SetInstanceConfigKey sets one config key of an instance ("" deletes
// it), in one transaction, leaving the other keys as they are.
func (d *DB) SetInstanceConfigKey(ctx context.Context, name, key, value string) error {
	return d.Tx(ctx, func(tx *sql.Tx) error {
		var raw string
		if err := tx.QueryRowContext(ctx, `SELECT config FROM instances WHERE name = ?`, name).Scan(&raw); err == sql.ErrNoRows {
			return fmt.Errorf("instance %q: %w", name, ErrNotFound)
		} else if err != nil {
			return err
		}
		cfg := map[string]string{}
		if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
			return fmt.Errorf("instance %q: config column: %w", name, err)
		}
		if cfg == nil {
			cfg = map[string]string{}
		}
		if value == "" {
			delete(cfg, key)
		} else {
			cfg[key] = value
		}
		_, err := tx.ExecContext(ctx, `UPDATE instances SET config = ? WHERE name = ?`, mustJSON(cfg), name)
		return err
	})
}

// SetInstancePhase moves an instance between creating and created.
func (d *DB) SetInstancePhase(ctx context.Context, name, phase string) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE instances SET phase = ? WHERE name = ?`, phase, name)
	if err != nil {
		return err
	}
	return expectOne(res, "instance", name)
}

// TouchInstance records that the instance was started now.
func (d *DB) TouchInstance(ctx context.Context, name string, t time.Time) error {
	_, err := d.sql.ExecContext(ctx, `UPDATE instances SET last_used_at = ? WHERE name = ?`, fmtTime(t), name)
	return err
}

// DeleteInstance removes the named instance's row.
func (d *DB) DeleteInstance(ctx context.Context, name string) error {
	res, err := d.sql.ExecContext(ctx, `DELETE FROM instances WHERE name = ?`, name)
	if err != nil {
		return err
	}
	return expectOne(res, "instance", name)
}

func expectOne(res sql.Result, kind, name string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
	}
	return nil
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func nonNilDevices(m map[string]map[string]string) map[string]map[string]string {
	if m == nil {
		return map[string]map[string]string{}
	}
	return m
}

func nonNilSlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
