package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// ImageSource is where a downloaded image came from.
type ImageSource struct {
	Fingerprint string
	Server      string
	Protocol    string
	Certificate string
	Alias       string
}

// SetImageSource records (or replaces) an image's origin.
func (d *DB) SetImageSource(ctx context.Context, src ImageSource) error {
	_, err := d.sql.ExecContext(ctx, `INSERT OR REPLACE INTO image_sources (fingerprint, server, protocol, certificate, alias) VALUES (?, ?, ?, ?, ?)`,
		src.Fingerprint, src.Server, src.Protocol, src.Certificate, src.Alias)
	return err
}

// GetImageSource returns an image's origin; ErrNotFound for a local image.
func (d *DB) GetImageSource(ctx context.Context, fp string) (ImageSource, error) {
	var s ImageSource
	err := d.sql.QueryRowContext(ctx, `SELECT fingerprint, server, protocol, certificate, alias FROM image_sources WHERE fingerprint = ?`, fp).
		Scan(&s.Fingerprint, &s.Server, &s.Protocol, &s.Certificate, &s.Alias)
	if err == sql.ErrNoRows {
		return s, fmt.Errorf("image source %s: %w", fp, ErrNotFound)
	}
	return s, err
}

// SetImageCached marks an image as a cached download (true) or one the user asked for (false).
func (d *DB) SetImageCached(ctx context.Context, fp string, cached bool) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE images SET cached = ? WHERE fingerprint = ?`, cached, fp)
	if err != nil {
		return err
	}
	return expectOne(res, "image", fp)
}

// SetConfig writes server config keys; an empty value deletes the key.
func (d *DB) SetConfig(ctx context.Context, kv map[string]string) error {
	kv, err := d.setMemberConfig(ctx, kv)
	if err != nil || len(kv) == 0 {
		return err
	}
	return d.Tx(ctx, func(tx *sql.Tx) error {
		for k, v := range kv {
			var err error
			if v == "" {
				_, err = tx.ExecContext(ctx, `DELETE FROM config WHERE key = ?`, k)
			} else {
				_, err = tx.ExecContext(ctx, `INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, k, v)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// Certificate is a trusted TLS client certificate.
type Certificate struct {
	Fingerprint string
	Name        string
	Type        string
	Certificate string // PEM
	Restricted  bool
	CreatedAt   time.Time
}

// CreateCertificate adds a trusted certificate; ErrExists if known.
func (d *DB) CreateCertificate(ctx context.Context, c Certificate) error {
	if c.Type == "" {
		c.Type = "client"
	}
	_, err := d.sql.ExecContext(ctx, `INSERT INTO certificates (fingerprint, name, type, certificate, restricted, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		c.Fingerprint, c.Name, c.Type, c.Certificate, c.Restricted, fmtTime(c.CreatedAt))
	if isUnique(err) {
		return fmt.Errorf("certificate %s: %w", c.Fingerprint, ErrExists)
	}
	return err
}

// ListCertificates returns the trust store.
func (d *DB) ListCertificates(ctx context.Context) ([]Certificate, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT fingerprint, name, type, certificate, restricted, created_at FROM certificates ORDER BY name, fingerprint`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Certificate
	for rows.Next() {
		var c Certificate
		var created string
		if err := rows.Scan(&c.Fingerprint, &c.Name, &c.Type, &c.Certificate, &c.Restricted, &created); err != nil {
			return nil, err
		}
		c.CreatedAt = parseTime(created)
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteCertificate removes a trusted certificate by exact fingerprint.
func (d *DB) DeleteCertificate(ctx context.Context, fp string) error {
	res, err := d.sql.ExecContext(ctx, `DELETE FROM certificates WHERE fingerprint = ?`, fp)
	if err != nil {
		return err
	}
	return expectOne(res, "certificate", fp)
}

// CertificateToken is a pending join token.
type CertificateToken struct {
	Secret    string
	Name      string
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never
}

// CreateCertificateToken stores a join token.
func (d *DB) CreateCertificateToken(ctx context.Context, t CertificateToken) error {
	exp := ""
	if !t.ExpiresAt.IsZero() {
		exp = fmtTime(t.ExpiresAt)
	}
	_, err := d.sql.ExecContext(ctx, `INSERT INTO certificate_tokens (secret, name, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		t.Secret, t.Name, fmtTime(t.CreatedAt), exp)
	return err
}

// ListCertificateTokens returns the pending tokens.
func (d *DB) ListCertificateTokens(ctx context.Context) ([]CertificateToken, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT secret, name, created_at, expires_at FROM certificate_tokens ORDER BY created_at`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CertificateToken
	for rows.Next() {
		var t CertificateToken
		var created, exp string
		if err := rows.Scan(&t.Secret, &t.Name, &created, &exp); err != nil {
			return nil, err
		}
		t.CreatedAt, t.ExpiresAt = parseTime(created), parseTime(exp)
		out = append(out, t)
	}
	return out, rows.Err()
}

// ConsumeCertificateToken deletes the token and adds the certificate in one
// transaction, so a token adds a client once and only once.
func (d *DB) ConsumeCertificateToken(ctx context.Context, secret string, now time.Time, c Certificate) (CertificateToken, error) {
	var t CertificateToken
	err := d.Tx(ctx, func(tx *sql.Tx) error {
		var created, exp string
		err := tx.QueryRowContext(ctx, `SELECT secret, name, created_at, expires_at FROM certificate_tokens WHERE secret = ?`, secret).
			Scan(&t.Secret, &t.Name, &created, &exp)
		if err == sql.ErrNoRows {
			return fmt.Errorf("join token: %w", ErrNotFound)
		}
		if err != nil {
			return err
		}
		t.CreatedAt, t.ExpiresAt = parseTime(created), parseTime(exp)
		if _, err := tx.ExecContext(ctx, `DELETE FROM certificate_tokens WHERE secret = ?`, secret); err != nil {
			return err
		}
		if !t.ExpiresAt.IsZero() && now.After(t.ExpiresAt) {
			return fmt.Errorf("join token for %q expired at %s: %w", t.Name, t.ExpiresAt.Format(time.RFC3339), ErrNotFound)
		}
		// The name the administrator gave the token, not the one the client asks for.
		c.Name = t.Name
		if c.Type == "" {
			c.Type = "client"
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO certificates (fingerprint, name, type, certificate, restricted, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			c.Fingerprint, c.Name, c.Type, c.Certificate, c.Restricted, fmtTime(c.CreatedAt))
		if isUnique(err) {
			return fmt.Errorf("certificate %s: %w", c.Fingerprint, ErrExists)
		}
		return err
	})
	return t, err
}

// DeleteCertificateToken revokes a pending token.
func (d *DB) DeleteCertificateToken(ctx context.Context, secret string) error {
	res, err := d.sql.ExecContext(ctx, `DELETE FROM certificate_tokens WHERE secret = ?`, secret)
	if err != nil {
		return err
	}
	return expectOne(res, "token", secret)
}
