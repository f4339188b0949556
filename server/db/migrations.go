package db

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are append-only: never edit or reorder a released entry, add a
// new one. Entry i brings the schema from version i to i+1.
var migrations = []string{
	// 1: instances, images and aliases, server config.
	`
CREATE TABLE instances (
	id                INTEGER PRIMARY KEY,
	name              TEXT NOT NULL UNIQUE,
	type              TEXT NOT NULL DEFAULT 'container',
	architecture      TEXT NOT NULL DEFAULT '',
	image_fingerprint TEXT NOT NULL DEFAULT '',
	pool              TEXT NOT NULL DEFAULT 'default',
	phase             TEXT NOT NULL DEFAULT 'creating' CHECK (phase IN ('creating', 'created')),
	ephemeral         INTEGER NOT NULL DEFAULT 0,
	description       TEXT NOT NULL DEFAULT '',
	config            TEXT NOT NULL DEFAULT '{}',
	devices           TEXT NOT NULL DEFAULT '{}',
	profiles          TEXT NOT NULL DEFAULT '[]',
	created_at        TEXT NOT NULL,
	last_used_at      TEXT NOT NULL DEFAULT ''
);
CREATE TABLE images (
	fingerprint  TEXT PRIMARY KEY,
	filename     TEXT NOT NULL DEFAULT '',
	size         INTEGER NOT NULL,
	architecture TEXT NOT NULL DEFAULT '',
	type         TEXT NOT NULL DEFAULT 'container',
	public       INTEGER NOT NULL DEFAULT 0,
	auto_update  INTEGER NOT NULL DEFAULT 0,
	cached       INTEGER NOT NULL DEFAULT 0,
	properties   TEXT NOT NULL DEFAULT '{}',
	created_at   TEXT NOT NULL,
	uploaded_at  TEXT NOT NULL,
	last_used_at TEXT NOT NULL DEFAULT ''
);
CREATE TABLE image_aliases (
	name        TEXT PRIMARY KEY,
	fingerprint TEXT NOT NULL REFERENCES images(fingerprint) ON DELETE CASCADE,
	description TEXT NOT NULL DEFAULT '',
	type        TEXT NOT NULL DEFAULT 'container'
);
CREATE TABLE config (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
`,
	// config: profiles, with LXD's default profile (the root disk; a NIC is
	// added when managed networks exist).
	`
CREATE TABLE profiles (
	id          INTEGER PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT '',
	config      TEXT NOT NULL DEFAULT '{}',
	devices     TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO profiles (name, description, devices) VALUES
	('default', 'Default lodge profile', '{"root":{"path":"/","pool":"default","type":"disk"}}');
`,
	// storage: pools, instance snapshots (a snapshot keeps the instance's
	// configuration at the time it was taken, as LXD's do), custom volumes.
	`
CREATE TABLE storage_pools (
	id          INTEGER PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	driver      TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	config      TEXT NOT NULL DEFAULT '{}',
	created_at  TEXT NOT NULL
);
CREATE TABLE instance_snapshots (
	id           INTEGER PRIMARY KEY,
	instance_id  INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	description  TEXT NOT NULL DEFAULT '',
	stateful     INTEGER NOT NULL DEFAULT 0,
	architecture TEXT NOT NULL DEFAULT '',
	ephemeral    INTEGER NOT NULL DEFAULT 0,
	config       TEXT NOT NULL DEFAULT '{}',
	devices      TEXT NOT NULL DEFAULT '{}',
	profiles     TEXT NOT NULL DEFAULT '[]',
	created_at   TEXT NOT NULL,
	expires_at   TEXT NOT NULL DEFAULT '',
	UNIQUE (instance_id, name)
);
CREATE TABLE storage_volumes (
	id          INTEGER PRIMARY KEY,
	pool        TEXT NOT NULL,
	name        TEXT NOT NULL,
	type        TEXT NOT NULL DEFAULT 'custom',
	description TEXT NOT NULL DEFAULT '',
	config      TEXT NOT NULL DEFAULT '{}',
	created_at  TEXT NOT NULL,
	UNIQUE (pool, type, name)
);
`,
	// network: managed networks; network_meta remembers that the default
	// network was made once, so deleting it is not undone at the next start.
	`
CREATE TABLE networks (
	id          INTEGER PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	type        TEXT NOT NULL DEFAULT 'bridge',
	description TEXT NOT NULL DEFAULT '',
	config      TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE network_meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
`,
	// remotes: where a downloaded image came from (auto-update, refresh),
	// the TLS client certificates trusted by the HTTPS API, and join tokens.
	`
CREATE TABLE image_sources (
	fingerprint TEXT PRIMARY KEY REFERENCES images(fingerprint) ON DELETE CASCADE,
	server      TEXT NOT NULL,
	protocol    TEXT NOT NULL,
	certificate TEXT NOT NULL DEFAULT '',
	alias       TEXT NOT NULL DEFAULT ''
);
CREATE TABLE certificates (
	fingerprint TEXT PRIMARY KEY,
	name        TEXT NOT NULL DEFAULT '',
	type        TEXT NOT NULL DEFAULT 'client',
	certificate TEXT NOT NULL,
	restricted  INTEGER NOT NULL DEFAULT 0,
	created_at  TEXT NOT NULL
);
CREATE TABLE certificate_tokens (
	secret     TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL DEFAULT ''
);
`,
	// operations: each async operation's outcome, so that one a crash
	// interrupted can be reported failed after the restart instead of
	// vanishing. Times are fixed-width UTC text so that they compare as
	// strings; status is only the code (its name follows from it).
	`
CREATE TABLE operations (
	id          TEXT PRIMARY KEY,
	class       TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	status_code INTEGER NOT NULL,
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL,
	resources   TEXT NOT NULL DEFAULT '{}',
	metadata    TEXT NOT NULL DEFAULT '{}',
	err         TEXT NOT NULL DEFAULT '',
	may_cancel  INTEGER NOT NULL DEFAULT 0,
	location    TEXT NOT NULL DEFAULT 'none'
);
CREATE INDEX operations_by_status ON operations (status_code, updated_at);
`,
	// network forwards (LXD 5.0's /1.0/networks/NAME/forwards): a listen
	// address is forwarded by one network only; they go with the network.
	`
CREATE TABLE network_forwards (
	id             INTEGER PRIMARY KEY,
	network_id     INTEGER NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
	listen_address TEXT NOT NULL UNIQUE,
	description    TEXT NOT NULL DEFAULT '',
	config         TEXT NOT NULL DEFAULT '{}',
	ports          TEXT NOT NULL DEFAULT '[]'
);
`,
	// backups: instance backups (the tarballs live in DIR/backups/instances/
	// NAME/BACKUP); they go with their instance.
	`
CREATE TABLE instance_backups (
	id                INTEGER PRIMARY KEY,
	instance_id       INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
	name              TEXT NOT NULL,
	created_at        TEXT NOT NULL,
	expires_at        TEXT NOT NULL DEFAULT '',
	instance_only     INTEGER NOT NULL DEFAULT 0,
	optimized_storage INTEGER NOT NULL DEFAULT 0,
	compression       TEXT NOT NULL DEFAULT '',
	UNIQUE (instance_id, name)
);
`,
	// cluster: the members (a standalone lodged is the one member "none",
	// as in LXD), where each instance and custom volume lives, which
	// members hold an image's files, each member's own pool and network
	// settings (a pool's source differs per member) and their state, and
	// the single-use tokens that let a server join.
	`
CREATE TABLE nodes (
	id             INTEGER PRIMARY KEY,
	name           TEXT NOT NULL UNIQUE,
	address        TEXT NOT NULL UNIQUE,
	description    TEXT NOT NULL DEFAULT '',
	schema         INTEGER NOT NULL DEFAULT 0,
	version        TEXT NOT NULL DEFAULT '',
	arch           TEXT NOT NULL DEFAULT '',
	heartbeat      TEXT NOT NULL DEFAULT '',
	state          INTEGER NOT NULL DEFAULT 0,
	failure_domain TEXT NOT NULL DEFAULT 'default'
);
INSERT INTO nodes (id, name, address) VALUES (1, 'none', '0.0.0.0');
ALTER TABLE instances ADD COLUMN node_id INTEGER NOT NULL DEFAULT 1;
CREATE INDEX instances_by_node ON instances (node_id, name);
ALTER TABLE storage_volumes ADD COLUMN node_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE storage_pools ADD COLUMN state TEXT NOT NULL DEFAULT 'created';
ALTER TABLE networks ADD COLUMN state TEXT NOT NULL DEFAULT 'created';
CREATE TABLE images_nodes (
	fingerprint TEXT NOT NULL REFERENCES images(fingerprint) ON DELETE CASCADE,
	node_id     INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
	PRIMARY KEY (fingerprint, node_id)
);
INSERT INTO images_nodes (fingerprint, node_id) SELECT fingerprint, 1 FROM images;
CREATE TABLE storage_pools_nodes (
	pool_id INTEGER NOT NULL REFERENCES storage_pools(id) ON DELETE CASCADE,
	node_id INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
	state   TEXT NOT NULL DEFAULT 'created',
	config  TEXT NOT NULL DEFAULT '{}',
	PRIMARY KEY (pool_id, node_id)
);
CREATE TABLE networks_nodes (
	network_id INTEGER NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
	node_id    INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
	state      TEXT NOT NULL DEFAULT 'created',
	config     TEXT NOT NULL DEFAULT '{}',
	PRIMARY KEY (network_id, node_id)
);
CREATE TABLE cluster_tokens (
	secret     TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL DEFAULT ''
);
`,
}

// SchemaVersion is the schema version this binary writes.
func SchemaVersion() int { return len(migrations) }

func (d *DB) migrate(ctx context.Context) error {
	if _, err := d.sql.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("schema_version: %w", err)
	}
	return d.Tx(ctx, func(tx *sql.Tx) error {
		var cur int
		err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&cur)
		switch {
		case err == sql.ErrNoRows:
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		if cur > len(migrations) {
			return fmt.Errorf("%w: database is at version %d, this lodged knows up to %d; run a newer lodged", ErrTooNew, cur, len(migrations))
		}
		for i := cur; i < len(migrations); i++ {
			if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, len(migrations))
		return err
	})
}
