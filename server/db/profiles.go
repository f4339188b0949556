package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
)

// Profile is one profile row.
type Profile struct {
	Name        string
	Description string
	Config      map[string]string
	Devices     map[string]map[string]string
}

func scanProfile(r scanner) (Profile, error) {
	var p Profile
	var cfg, dev string
	if err := r.Scan(&p.Name, &p.Description, &cfg, &dev); err != nil {
		return p, err
	}
	if err := json.Unmarshal([]byte(cfg), &p.Config); err != nil {
		return p, fmt.Errorf("profile %q: config column: %w", p.Name, err)
	}
	if err := json.Unmarshal([]byte(dev), &p.Devices); err != nil {
		return p, fmt.Errorf("profile %q: devices column: %w", p.Name, err)
	}
	if p.Config == nil {
		p.Config = map[string]string{}
	}
	if p.Devices == nil {
		p.Devices = map[string]map[string]string{}
	}
	return p, nil
}

// ListProfiles returns all profiles ordered by name.
func (d *DB) ListProfiles(ctx context.Context) ([]Profile, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT name, description, config, devices FROM profiles ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Profile
	for rows.Next() {
		p, err := scanProfile(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// GetProfile returns the named profile.
func (d *DB) GetProfile(ctx context.Context, name string) (Profile, error) {
	p, err := scanProfile(d.sql.QueryRowContext(ctx, `SELECT name, description, config, devices FROM profiles WHERE name = ?`, name))
	if err == sql.ErrNoRows {
		return p, fmt.Errorf("profile %q: %w", name, ErrNotFound)
	}
	return p, err
}

// CreateProfile inserts a profile; ErrExists if the name is taken.
func (d *DB) CreateProfile(ctx context.Context, p Profile) error {
	_, err := d.sql.ExecContext(ctx, `INSERT INTO profiles (name, description, config, devices) VALUES (?, ?, ?, ?)`,
		p.Name, p.Description, mustJSON(nonNilMap(p.Config)), mustJSON(nonNilDevices(p.Devices)))
	if isUnique(err) {
		return fmt.Errorf("profile %q: %w", p.Name, ErrExists)
	}
	return err
}

// UpdateProfile rewrites a profile's description, config and devices.
func (d *DB) UpdateProfile(ctx context.Context, p Profile) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE profiles SET description = ?, config = ?, devices = ? WHERE name = ?`,
		p.Description, mustJSON(nonNilMap(p.Config)), mustJSON(nonNilDevices(p.Devices)), p.Name)
	if err != nil {
		return fmt.Errorf("profile %q: update: %w", p.Name, err)
	}
	return expectOne(res, "profile", p.Name)
}

// RenameProfile renames a profile and every instance's reference to it, in
// one transaction.
func (d *DB) RenameProfile(ctx context.Context, old, new string) error {
	return d.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE profiles SET name = ? WHERE name = ?`, new, old)
		if isUnique(err) {
			return fmt.Errorf("profile %q: %w", new, ErrExists)
		}
		if err != nil {
			return err
		}
		if err := expectOne(res, "profile", old); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT name, profiles FROM instances`)
		if err != nil {
			return err
		}
		type upd struct{ name, profiles string }
		var todo []upd
		for rows.Next() {
			var name, js string
			var list []string
			if err := rows.Scan(&name, &js); err != nil {
				rows.Close()
				return err
			}
			if json.Unmarshal([]byte(js), &list) == nil && slices.Contains(list, old) {
				for i := range list {
					if list[i] == old {
						list[i] = new
					}
				}
				todo = append(todo, upd{name, mustJSON(list)})
			}
		}
		rows.Close()
		for _, u := range todo {
			if _, err := tx.ExecContext(ctx, `UPDATE instances SET profiles = ? WHERE name = ?`, u.profiles, u.name); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteProfile removes a profile row.
func (d *DB) DeleteProfile(ctx context.Context, name string) error {
	res, err := d.sql.ExecContext(ctx, `DELETE FROM profiles WHERE name = ?`, name)
	if err != nil {
		return err
	}
	return expectOne(res, "profile", name)
}

// ProfileUsers names the instances that use a profile.
func (d *DB) ProfileUsers(ctx context.Context, name string) ([]string, error) {
	list, err := d.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, in := range list {
		if slices.Contains(in.Profiles, name) {
			out = append(out, in.Name)
		}
	}
	return out, nil
}
