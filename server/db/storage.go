package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// StoragePool is one storage pool row.
type StoragePool struct {
	ID          int64
	Name        string
	Driver      string
	Description string
	Config      map[string]string
	CreatedAt   time.Time
	// State is the pool's (StatePending until it is made on every
	// member); MemberState this member's part of it (standalone: State;
	// "" for a cluster pool this member has no part of).
	State, MemberState string
}

func scanPool(r scanner) (StoragePool, error) {
	var p StoragePool
	var cfg, created string
	if err := r.Scan(&p.ID, &p.Name, &p.Driver, &p.Description, &cfg, &created, &p.State); err != nil {
		return p, err
	}
	if err := json.Unmarshal([]byte(cfg), &p.Config); err != nil {
		return p, fmt.Errorf("storage pool %q: config column: %w", p.Name, err)
	}
	if p.Config == nil {
		p.Config = map[string]string{}
	}
	p.CreatedAt = parseTime(created)
	return p, nil
}

const poolCols = `id, name, driver, description, config, created_at, state`

// CreateStoragePool inserts a pool; ErrExists if the name is taken.
func (d *DB) CreateStoragePool(ctx context.Context, p StoragePool) error {
	dm := d.mem()
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now()
	}
	if dm != nil {
		return d.createClusterPool(ctx, p)
	}
	_, err := d.sql.ExecContext(ctx, `INSERT INTO storage_pools (name, driver, description, config, created_at) VALUES (?, ?, ?, ?, ?)`,
		p.Name, p.Driver, p.Description, mustJSON(nonNilMap(p.Config)), fmtTime(p.CreatedAt))
	if isUnique(err) {
		return fmt.Errorf("storage pool %q: %w", p.Name, ErrExists)
	}
	return err
}

// GetStoragePool returns the named pool.
func (d *DB) GetStoragePool(ctx context.Context, name string) (StoragePool, error) {
	p, err := scanPool(d.sql.QueryRowContext(ctx, `SELECT `+poolCols+` FROM storage_pools WHERE name = ?`, name))
	if err == sql.ErrNoRows {
		return p, fmt.Errorf("storage pool %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return p, err
	}
	ps := []StoragePool{p}
	err = d.overlayPoolMember(ctx, ps)
	return ps[0], err
}

// ListStoragePools returns all pools ordered by name.
func (d *DB) ListStoragePools(ctx context.Context) ([]StoragePool, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT `+poolCols+` FROM storage_pools ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoragePool
	for rows.Next() {
		p, err := scanPool(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	return out, d.overlayPoolMember(ctx, out)
}

// UpdateStoragePool rewrites a pool's description and config.
func (d *DB) UpdateStoragePool(ctx context.Context, p StoragePool) error {
	dm := d.mem()
	if dm != nil {
		return d.updateClusterPool(ctx, p)
	}
	res, err := d.sql.ExecContext(ctx, `UPDATE storage_pools SET description = ?, config = ? WHERE name = ?`,
		p.Description, mustJSON(nonNilMap(p.Config)), p.Name)
	if err != nil {
		return err
	}
	return expectOne(res, "storage pool", p.Name)
}

// DeleteStoragePool removes a pool's row.
func (d *DB) DeleteStoragePool(ctx context.Context, name string) error {
	res, err := d.sql.ExecContext(ctx, `DELETE FROM storage_pools WHERE name = ?`, name)
	if err != nil {
		return err
	}
	return expectOne(res, "storage pool", name)
}

// PoolUsers lists the instances whose root volume is on the pool.
func (d *DB) PoolUsers(ctx context.Context, pool string) ([]string, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT name FROM instances WHERE pool = ? ORDER BY name`, pool)
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

// Snapshot is one instance snapshot row.
type Snapshot struct {
	ID           int64
	Instance     string
	Name         string
	Description  string
	Stateful     bool
	Architecture string
	Ephemeral    bool
	Config       map[string]string
	Devices      map[string]map[string]string
	Profiles     []string
	CreatedAt    time.Time
	ExpiresAt    time.Time
}

const snapCols = `s.id, i.name, s.name, s.description, s.stateful, s.architecture, s.ephemeral, s.config, s.devices, s.profiles, s.created_at, s.expires_at`

func scanSnapshot(r scanner) (Snapshot, error) {
	var s Snapshot
	var cfg, dev, prof, created, expires string
	if err := r.Scan(&s.ID, &s.Instance, &s.Name, &s.Description, &s.Stateful, &s.Architecture, &s.Ephemeral, &cfg, &dev, &prof, &created, &expires); err != nil {
		return s, err
	}
	json.Unmarshal([]byte(cfg), &s.Config)
	json.Unmarshal([]byte(dev), &s.Devices)
	json.Unmarshal([]byte(prof), &s.Profiles)
	s.Config = nonNilMap(s.Config)
	s.Devices = nonNilDevices(s.Devices)
	s.Profiles = nonNilSlice(s.Profiles)
	s.CreatedAt = parseTime(created)
	s.ExpiresAt = parseTime(expires)
	return s, nil
}

// CreateSnapshot inserts a snapshot of the named instance; ErrExists if taken.
func (d *DB) CreateSnapshot(ctx context.Context, s Snapshot) error {
	res, err := d.sql.ExecContext(ctx, `INSERT INTO instance_snapshots (instance_id, name, description, stateful, architecture, ephemeral, config, devices, profiles, created_at, expires_at)
		SELECT id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM instances WHERE name = ?`,
		s.Name, s.Description, s.Stateful, s.Architecture, s.Ephemeral, mustJSON(nonNilMap(s.Config)), mustJSON(nonNilDevices(s.Devices)),
		mustJSON(nonNilSlice(s.Profiles)), fmtTime(s.CreatedAt), fmtTime(s.ExpiresAt), s.Instance)
	if isUnique(err) {
		return fmt.Errorf("snapshot %q of instance %q: %w", s.Name, s.Instance, ErrExists)
	}
	if err != nil {
		return err
	}
	return expectOne(res, "instance", s.Instance)
}

// GetSnapshot returns one snapshot.
func (d *DB) GetSnapshot(ctx context.Context, instance, name string) (Snapshot, error) {
	s, err := scanSnapshot(d.sql.QueryRowContext(ctx, `SELECT `+snapCols+` FROM instance_snapshots s JOIN instances i ON i.id = s.instance_id WHERE i.name = ? AND s.name = ?`, instance, name))
	if err == sql.ErrNoRows {
		return s, fmt.Errorf("snapshot %q of instance %q: %w", name, instance, ErrNotFound)
	}
	return s, err
}

// ListSnapshots returns an instance's snapshots, oldest first.
func (d *DB) ListSnapshots(ctx context.Context, instance string) ([]Snapshot, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT `+snapCols+` FROM instance_snapshots s JOIN instances i ON i.id = s.instance_id WHERE i.name = ? ORDER BY s.created_at, s.id`, instance)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Snapshot
	for rows.Next() {
		s, err := scanSnapshot(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// RenameSnapshot renames one snapshot; ErrExists if the new name is taken.
func (d *DB) RenameSnapshot(ctx context.Context, instance, name, newName string) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE instance_snapshots SET name = ? WHERE name = ? AND instance_id = (SELECT id FROM instances WHERE name = ?)`, newName, name, instance)
	if isUnique(err) {
		return fmt.Errorf("snapshot %q of instance %q: %w", newName, instance, ErrExists)
	}
	if err != nil {
		return err
	}
	return expectOne(res, "snapshot", instance+"/"+name)
}

// DeleteSnapshot removes one snapshot row.
func (d *DB) DeleteSnapshot(ctx context.Context, instance, name string) error {
	res, err := d.sql.ExecContext(ctx, `DELETE FROM instance_snapshots WHERE name = ? AND instance_id = (SELECT id FROM instances WHERE name = ?)`, name, instance)
	if err != nil {
		return err
	}
	return expectOne(res, "snapshot", instance+"/"+name)
}

// RenameInstance renames an instance (its snapshots follow by id).
func (d *DB) RenameInstance(ctx context.Context, name, newName string) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE instances SET name = ? WHERE name = ?`, newName, name)
	if isUnique(err) {
		return fmt.Errorf("instance %q: %w", newName, ErrExists)
	}
	if err != nil {
		return err
	}
	return expectOne(res, "instance", name)
}

// SetInstancePool records that an instance's root volume moved to pool.
func (d *DB) SetInstancePool(ctx context.Context, name, pool string) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE instances SET pool = ? WHERE name = ?`, pool, name)
	if err != nil {
		return err
	}
	return expectOne(res, "instance", name)
}

// StorageVolume is one custom volume row.
type StorageVolume struct {
	Pool        string
	Name        string
	Type        string
	Description string
	Config      map[string]string
	CreatedAt   time.Time
}

// CreateStorageVolume inserts a custom volume; ErrExists if taken.
func (d *DB) CreateStorageVolume(ctx context.Context, v StorageVolume) error {
	if v.Type == "" {
		v.Type = "custom"
	}
	_, err := d.sql.ExecContext(ctx, `INSERT INTO storage_volumes (pool, name, type, description, config, created_at, node_id) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		v.Pool, v.Name, v.Type, v.Description, mustJSON(nonNilMap(v.Config)), fmtTime(v.CreatedAt), d.NodeID())
	if isUnique(err) {
		return fmt.Errorf("storage volume %q on pool %q: %w", v.Name, v.Pool, ErrExists)
	}
	return err
}

// ListStorageVolumes returns a pool's custom volumes (on this member) by name.
func (d *DB) ListStorageVolumes(ctx context.Context, pool string) ([]StorageVolume, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT pool, name, type, description, config, created_at FROM storage_volumes WHERE pool = ? AND node_id = ? ORDER BY name`, pool, d.NodeID())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StorageVolume
	for rows.Next() {
		var v StorageVolume
		var cfg, created string
		if err := rows.Scan(&v.Pool, &v.Name, &v.Type, &v.Description, &cfg, &created); err != nil {
			return nil, err
		}
		json.Unmarshal([]byte(cfg), &v.Config)
		v.Config = nonNilMap(v.Config)
		v.CreatedAt = parseTime(created)
		out = append(out, v)
	}
	return out, rows.Err()
}

// DeleteStorageVolume removes a custom volume row.
func (d *DB) DeleteStorageVolume(ctx context.Context, pool, name string) error {
	res, err := d.sql.ExecContext(ctx, `DELETE FROM storage_volumes WHERE pool = ? AND name = ? AND type = 'custom'`, pool, name)
	if err != nil {
		return err
	}
	return expectOne(res, "storage volume", pool+"/"+name)
}

// SetInstanceImage records the image an instance was rebuilt from.
func (d *DB) SetInstanceImage(ctx context.Context, name, fp string) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE instances SET image_fingerprint = ? WHERE name = ?`, fp, name)
	if err != nil {
		return err
	}
	return expectOne(res, "instance", name)
}

// SetSnapshotExpiry changes when a snapshot expires (zero: never).
func (d *DB) SetSnapshotExpiry(ctx context.Context, instance, name string, t time.Time) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE instance_snapshots SET expires_at = ? WHERE name = ? AND instance_id = (SELECT id FROM instances WHERE name = ?)`, fmtTime(t), name, instance)
	if err != nil {
		return err
	}
	return expectOne(res, "snapshot", instance+"/"+name)
}

// UpdateStorageVolume rewrites a custom volume's description and config.
func (d *DB) UpdateStorageVolume(ctx context.Context, v StorageVolume) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE storage_volumes SET description = ?, config = ? WHERE pool = ? AND name = ? AND type = 'custom'`,
		v.Description, mustJSON(nonNilMap(v.Config)), v.Pool, v.Name)
	if err != nil {
		return err
	}
	return expectOne(res, "storage volume", v.Pool+"/"+v.Name)
}

// AllSnapshots returns every instance's snapshots (this member's in a
// cluster) in one query, by
// instance name, oldest first (for listings of many instances).
func (d *DB) AllSnapshots(ctx context.Context) (map[string][]Snapshot, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT `+snapCols+` FROM instance_snapshots s JOIN instances i ON i.id = s.instance_id WHERE i.node_id = ? ORDER BY s.created_at, s.id`, d.NodeID())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]Snapshot{}
	for rows.Next() {
		s, err := scanSnapshot(rows)
		if err != nil {
			return nil, err
		}
		out[s.Instance] = append(out[s.Instance], s)
	}
	return out, rows.Err()
}
