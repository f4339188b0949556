package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Image is one image row.
type Image struct {
	Fingerprint  string
	Filename     string
	Size         int64
	Architecture string
	Type         string
	Public       bool
	AutoUpdate   bool
	Cached       bool
	Properties   map[string]string
	CreatedAt    time.Time
	UploadedAt   time.Time
	LastUsedAt   time.Time
}

// Alias is one image alias row.
type Alias struct {
	Name        string
	Fingerprint string
	Description string
	Type        string
}

const imageCols = `fingerprint, filename, size, architecture, type, public, auto_update, cached, properties, created_at, uploaded_at, last_used_at`

func scanImage(r scanner) (Image, error) {
	var im Image
	var props, created, uploaded, used string
	if err := r.Scan(&im.Fingerprint, &im.Filename, &im.Size, &im.Architecture, &im.Type, &im.Public, &im.AutoUpdate, &im.Cached,
		&props, &created, &uploaded, &used); err != nil {
		return im, err
	}
	if err := json.Unmarshal([]byte(props), &im.Properties); err != nil {
		return im, fmt.Errorf("image %s: properties column: %w", im.Fingerprint, err)
	}
	im.CreatedAt, im.UploadedAt, im.LastUsedAt = parseTime(created), parseTime(uploaded), parseTime(used)
	return im, nil
}

// CreateImage inserts an image row; ErrExists if the fingerprint is known.
func (d *DB) CreateImage(ctx context.Context, im Image) error {
	if im.Type == "" {
		im.Type = "container"
	}
	err := d.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO images (`+imageCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			im.Fingerprint, im.Filename, im.Size, im.Architecture, im.Type, im.Public, im.AutoUpdate, im.Cached,
			mustJSON(nonNilMap(im.Properties)), fmtTime(im.CreatedAt), fmtTime(im.UploadedAt), fmtTime(im.LastUsedAt))
		if err != nil {
			return err
		}
		// This member holds the image's files (images_nodes).
		_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO images_nodes (fingerprint, node_id) VALUES (?, ?)`, im.Fingerprint, d.NodeID())
		return err
	})
	if isUnique(err) {
		return fmt.Errorf("image %s: %w", im.Fingerprint, ErrExists)
	}
	return err
}

// GetImage returns the image with exactly this fingerprint.
func (d *DB) GetImage(ctx context.Context, fp string) (Image, error) {
	im, err := scanImage(d.sql.QueryRowContext(ctx, `SELECT `+imageCols+` FROM images WHERE fingerprint = ?`, fp))
	if err == sql.ErrNoRows {
		return im, fmt.Errorf("image %q: %w", fp, ErrNotFound)
	}
	return im, err
}

// ImagesByPrefix returns the images whose fingerprint starts with prefix (at most limit).
func (d *DB) ImagesByPrefix(ctx context.Context, prefix string, limit int) ([]Image, error) {
	// prefix is validated hex by the caller; escaping LIKE metacharacters keeps that safe anyway.
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix)
	rows, err := d.sql.QueryContext(ctx, `SELECT `+imageCols+` FROM images WHERE fingerprint LIKE ? ESCAPE '\' ORDER BY fingerprint LIMIT ?`, esc+"%", limit)
	if err != nil {
		return nil, err
	}
	return collectImages(rows)
}

// ListImages returns all images.
func (d *DB) ListImages(ctx context.Context) ([]Image, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT `+imageCols+` FROM images ORDER BY created_at, fingerprint`)
	if err != nil {
		return nil, err
	}
	return collectImages(rows)
}

func collectImages(rows *sql.Rows) ([]Image, error) {
	defer rows.Close()
	var out []Image
	for rows.Next() {
		im, err := scanImage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, im)
	}
	return out, rows.Err()
}

// TouchImage records the image's last use.
func (d *DB) TouchImage(ctx context.Context, fp string, t time.Time) error {
	_, err := d.sql.ExecContext(ctx, `UPDATE images SET last_used_at = ? WHERE fingerprint = ?`, fmtTime(t), fp)
	return err
}

// UpdateImage rewrites an image's mutable fields.
func (d *DB) UpdateImage(ctx context.Context, im Image) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE images SET public = ?, auto_update = ?, properties = ? WHERE fingerprint = ?`,
		im.Public, im.AutoUpdate, mustJSON(nonNilMap(im.Properties)), im.Fingerprint)
	if err != nil {
		return err
	}
	return expectOne(res, "image", im.Fingerprint)
}

// DeleteImage removes an image row and, by cascade, its aliases.
func (d *DB) DeleteImage(ctx context.Context, fp string) error {
	res, err := d.sql.ExecContext(ctx, `DELETE FROM images WHERE fingerprint = ?`, fp)
	if err != nil {
		return err
	}
	return expectOne(res, "image", fp)
}

// CreateAlias inserts an alias; ErrExists if the name is taken, ErrNotFound if the image is unknown.
func (d *DB) CreateAlias(ctx context.Context, a Alias) error {
	if a.Type == "" {
		a.Type = "container"
	}
	_, err := d.sql.ExecContext(ctx, `INSERT INTO image_aliases (name, fingerprint, description, type) VALUES (?, ?, ?, ?)`,
		a.Name, a.Fingerprint, a.Description, a.Type)
	if isUnique(err) {
		return fmt.Errorf("alias %q: %w", a.Name, ErrExists)
	}
	if err != nil && strings.Contains(err.Error(), "FOREIGN KEY") {
		return fmt.Errorf("alias %q: image %s: %w", a.Name, a.Fingerprint, ErrNotFound)
	}
	return err
}

// UpdateAlias repoints an alias.
func (d *DB) UpdateAlias(ctx context.Context, a Alias) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE image_aliases SET fingerprint = ?, description = ? WHERE name = ?`, a.Fingerprint, a.Description, a.Name)
	if err != nil {
		if strings.Contains(err.Error(), "FOREIGN KEY") {
			return fmt.Errorf("alias %q: image %s: %w", a.Name, a.Fingerprint, ErrNotFound)
		}
		return err
	}
	return expectOne(res, "alias", a.Name)
}

// GetAlias returns the named alias.
func (d *DB) GetAlias(ctx context.Context, name string) (Alias, error) {
	var a Alias
	err := d.sql.QueryRowContext(ctx, `SELECT name, fingerprint, description, type FROM image_aliases WHERE name = ?`, name).
		Scan(&a.Name, &a.Fingerprint, &a.Description, &a.Type)
	if err == sql.ErrNoRows {
		return a, fmt.Errorf("alias %q: %w", name, ErrNotFound)
	}
	return a, err
}

// ListAliases returns all aliases, or those of one image if fp != "".
func (d *DB) ListAliases(ctx context.Context, fp string) ([]Alias, error) {
	q := `SELECT name, fingerprint, description, type FROM image_aliases`
	var args []any
	if fp != "" {
		q += ` WHERE fingerprint = ?`
		args = append(args, fp)
	}
	rows, err := d.sql.QueryContext(ctx, q+` ORDER BY name`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Alias
	for rows.Next() {
		var a Alias
		if err := rows.Scan(&a.Name, &a.Fingerprint, &a.Description, &a.Type); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeleteAlias removes an alias.
func (d *DB) DeleteAlias(ctx context.Context, name string) error {
	res, err := d.sql.ExecContext(ctx, `DELETE FROM image_aliases WHERE name = ?`, name)
	if err != nil {
		return err
	}
	return expectOne(res, "alias", name)
}

// Config returns the server config.
func (d *DB) Config(ctx context.Context) (map[string]string, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT key, value FROM config`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, d.memberConfig(ctx, out)
}
