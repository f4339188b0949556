package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/canonical/go-dqlite/client"

	"lodge/errdefs"
)

// Member states (nodes.state), as LXD numbers them.
const (
	NodeCreated   = 0
	NodePending   = 1
	NodeEvacuated = 2
)

// Node is one cluster member's row.
type Node struct {
	ID            int64
	Name          string
	Address       string
	Description   string
	Schema        int
	Version       string
	Arch          string
	Heartbeat     time.Time
	State         int
	FailureDomain string
}

const nodeCols = `id, name, address, description, schema, version, arch, heartbeat, state, failure_domain`

func scanNode(r scanner) (Node, error) {
	var n Node
	var hb string
	err := r.Scan(&n.ID, &n.Name, &n.Address, &n.Description, &n.Schema, &n.Version, &n.Arch, &hb, &n.State, &n.FailureDomain)
	n.Heartbeat = parseTime(hb)
	return n, err
}

// Nodes lists the members by name.
func (d *DB) Nodes(ctx context.Context) ([]Node, error) {
	return d.queryNodes(ctx, `SELECT `+nodeCols+` FROM nodes ORDER BY name`)
}

// queryNodes runs a query whose columns are nodeCols and scans its rows.
func (d *DB) queryNodes(ctx context.Context, q string, args ...any) ([]Node, error) {
	rows, err := d.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// NodeByName returns the named member.
func (d *DB) NodeByName(ctx context.Context, name string) (Node, error) {
	n, err := scanNode(d.sql.QueryRowContext(ctx, `SELECT `+nodeCols+` FROM nodes WHERE name = ?`, name))
	if err == sql.ErrNoRows {
		return n, errdefs.NotFoundf("cluster member %q not found (see lodge cluster list)", name)
	}
	return n, err
}

// UpdateNode rewrites a member's description and failure domain.
func (d *DB) UpdateNode(ctx context.Context, n Node) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE nodes SET description = ?, failure_domain = ? WHERE id = ?`, n.Description, n.FailureDomain, n.ID)
	if err != nil {
		return err
	}
	return expectOne(res, "cluster member", n.Name)
}

// SetNodeState sets a member's state (NodeCreated, NodePending, NodeEvacuated).
func (d *DB) SetNodeState(ctx context.Context, id int64, state int) error {
	_, err := d.sql.ExecContext(ctx, `UPDATE nodes SET state = ? WHERE id = ?`, state, id)
	return err
}

// SetNodeVersion records what a member runs (at each start).
func (d *DB) SetNodeVersion(ctx context.Context, id int64, version, arch string) error {
	_, err := d.sql.ExecContext(ctx, `UPDATE nodes SET schema = ?, version = ?, arch = ? WHERE id = ?`, SchemaVersion(), version, arch, id)
	return err
}

// SetHeartbeats records, in one write, when each member last answered.
func (d *DB) SetHeartbeats(ctx context.Context, seen map[int64]time.Time) error {
	if len(seen) == 0 {
		return nil
	}
	return d.Tx(ctx, func(tx *sql.Tx) error {
		for id, t := range seen {
			if _, err := tx.ExecContext(ctx, `UPDATE nodes SET heartbeat = ? WHERE id = ?`, fmtTime(t), id); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteNode removes a member. Without force a member that still has
// instances is refused; with force its instances' rows go too (the member
// is lost, and so are they).
func (d *DB) DeleteNode(ctx context.Context, name string, force bool) error {
	return d.Tx(ctx, func(tx *sql.Tx) error {
		var id int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM nodes WHERE name = ?`, name).Scan(&id); err == sql.ErrNoRows {
			return errdefs.NotFoundf("cluster member %q not found (see lodge cluster list)", name)
		} else if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM instances WHERE node_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 && !force {
			return errdefs.Conflictf("cluster member %q still has %d instances: move or delete them first (or evacuate it), or remove it with --force if it is lost for good", name, n)
		}
		for _, q := range []string{`DELETE FROM instances WHERE node_id = ?`, `DELETE FROM storage_volumes WHERE node_id = ?`, `DELETE FROM nodes WHERE id = ?`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// NodeInstanceCounts is the number of instances on each member (placement).
func (d *DB) NodeInstanceCounts(ctx context.Context) (map[int64]int, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT node_id, count(*) FROM instances GROUP BY node_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// InstanceNode returns the member an instance lives on.
func (d *DB) InstanceNode(ctx context.Context, name string) (Node, error) {
	n, err := scanNode(d.sql.QueryRowContext(ctx, `SELECT `+prefixed("n.", nodeCols)+` FROM instances i JOIN nodes n ON n.id = i.node_id WHERE i.name = ?`, name))
	if err == sql.ErrNoRows {
		return n, fmt.Errorf("instance %q: %w", name, ErrNotFound)
	}
	return n, err
}

// ListInstancesOn returns the instances of one member by name.
func (d *DB) ListInstancesOn(ctx context.Context, nodeID int64) ([]Instance, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT `+instanceCols+` FROM instances WHERE node_id = ? ORDER BY name`, nodeID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Instance
	for rows.Next() {
		in, err := scanInstance(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// MoveInstanceNode is the commit of a move between members: the instance
// lives on member to now, with config, provided it still lived on member
// from (else ErrNotFound: someone else moved or deleted it meanwhile).
func (d *DB) MoveInstanceNode(ctx context.Context, name string, from, to int64, config map[string]string) error {
	res, err := d.sql.ExecContext(ctx, `UPDATE instances SET node_id = ?, config = ? WHERE name = ? AND node_id = ?`, to, mustJSON(nonNilMap(config)), name, from)
	if err != nil {
		return err
	}
	return expectOne(res, "instance", name)
}

// ImageNodes lists the members that hold an image's files.
func (d *DB) ImageNodes(ctx context.Context, fp string) ([]Node, error) {
	return d.queryNodes(ctx, `SELECT `+prefixed("n.", nodeCols)+` FROM images_nodes x JOIN nodes n ON n.id = x.node_id WHERE x.fingerprint = ? ORDER BY n.name`, fp)
}

// AddImageNode records that this member now holds an image's files.
func (d *DB) AddImageNode(ctx context.Context, fp string) error {
	_, err := d.sql.ExecContext(ctx, `INSERT OR IGNORE INTO images_nodes (fingerprint, node_id) VALUES (?, ?)`, fp, d.NodeID())
	return err
}

// HasImageLocally tells whether this member holds an image's files.
func (d *DB) HasImageLocally(ctx context.Context, fp string) (bool, error) {
	var n int
	err := d.sql.QueryRowContext(ctx, `SELECT count(*) FROM images_nodes WHERE fingerprint = ? AND node_id = ?`, fp, d.NodeID()).Scan(&n)
	return n > 0, err
}

func prefixed(p, cols string) string {
	out := ""
	start := 0
	for i := 0; i <= len(cols); i++ {
		if i == len(cols) || cols[i] == ',' {
			c := cols[start:i]
			for len(c) > 0 && c[0] == ' ' {
				c = c[1:]
			}
			if out != "" {
				out += ", "
			}
			out += p + c
			start = i + 1
		}
	}
	return out
}

// ClusterToken is a pending join token for a new member.
type ClusterToken struct {
	Secret    string
	Name      string
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never
}

// CreateClusterToken stores a join token; one per member name.
func (d *DB) CreateClusterToken(ctx context.Context, t ClusterToken) error {
	_, err := d.sql.ExecContext(ctx, `INSERT INTO cluster_tokens (secret, name, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		t.Secret, t.Name, fmtTime(t.CreatedAt), fmtTime(t.ExpiresAt))
	if isUnique(err) {
		return errdefs.Existsf("a join token for %q is already pending (lodge cluster list-tokens; revoke it first)", t.Name)
	}
	return err
}

// ListClusterTokens returns the pending join tokens.
func (d *DB) ListClusterTokens(ctx context.Context) ([]ClusterToken, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT secret, name, created_at, expires_at FROM cluster_tokens ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ClusterToken
	for rows.Next() {
		var t ClusterToken
		var c, e string
		if err := rows.Scan(&t.Secret, &t.Name, &c, &e); err != nil {
			return nil, err
		}
		t.CreatedAt, t.ExpiresAt = parseTime(c), parseTime(e)
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteClusterToken revokes the join token for a member name.
func (d *DB) DeleteClusterToken(ctx context.Context, name string) error {
	res, err := d.sql.ExecContext(ctx, `DELETE FROM cluster_tokens WHERE name = ?`, name)
	if err != nil {
		return err
	}
	return expectOne(res, "join token", name)
}

// ErrBadToken: a join secret that matches no pending token (forged,
// already used, revoked) or one that expired.
var ErrBadToken = errdefs.Forbiddenf("the join token is not valid: it is unknown, was already used or revoked, or expired; ask for a new one with lodge cluster add")

// AcceptNode spends the token whose secret is given (once: it is deleted
// in the same transaction) and records n as a pending member under the
// token's name. A name or address already in use is refused.
func (d *DB) AcceptNode(ctx context.Context, secret string, now time.Time, n Node) (Node, error) {
	// A token found is spent whatever follows (expired, another name):
	// the refusal commits its deletion.
	var refused error
	err := d.Tx(ctx, func(tx *sql.Tx) error {
		refused = nil
		var name, exp string
		err := tx.QueryRowContext(ctx, `SELECT name, expires_at FROM cluster_tokens WHERE secret = ?`, secret).Scan(&name, &exp)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrBadToken
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM cluster_tokens WHERE secret = ?`, secret); err != nil {
			return err
		}
		if t := parseTime(exp); !t.IsZero() && now.After(t) {
			refused = ErrBadToken
			return nil
		}
		if n.Name != "" && n.Name != name {
			refused = errdefs.Forbiddenf("the join token was issued for %q, not %q; it is spent now, ask for a new one", name, n.Name)
			return nil
		}
		n.Name = name
		if n.FailureDomain == "" {
			n.FailureDomain = "default"
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO nodes (name, address, schema, version, arch, heartbeat, state, failure_domain) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			n.Name, n.Address, n.Schema, n.Version, n.Arch, fmtTime(now), NodePending, n.FailureDomain)
		if isUnique(err) {
			return errdefs.Conflictf("a cluster member named %q or at %s exists already", n.Name, n.Address)
		}
		if err != nil {
			return err
		}
		n.ID, err = res.LastInsertId()
		n.State = NodePending
		return err
	})
	if err == nil && refused != nil {
		return Node{}, refused
	}
	return n, err
}

// RaftMember is a member of the database's Raft cluster.
type RaftMember struct {
	ID      uint64
	Address string
	Role    string // RoleVoter, RoleStandBy, RoleSpare
}

func roleName(r client.NodeRole) string {
	switch r {
	case client.Voter:
		return RoleVoter
	case client.StandBy:
		return RoleStandBy
	}
	return RoleSpare
}

func (d *DB) leaderClient(ctx context.Context) (*client.Client, error) {
	dm := d.mem()
	if dm == nil {
		return nil, errdefs.Invalidf("this server is not clustered (lodge cluster enable NAME)")
	}
	dm.mu.Lock()
	a := dm.app
	dm.mu.Unlock()
	if a == nil {
		return nil, errNoDatabase
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := a.Leader(ctx)
	if err != nil {
		return nil, annotateUnavailable(err)
	}
	return c, nil
}

// RaftMembers lists the database's Raft members and their roles, as the
// leader knows them.
func (d *DB) RaftMembers(ctx context.Context) ([]RaftMember, error) {
	c, err := d.leaderClient(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	nodes, err := c.Cluster(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]RaftMember, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, RaftMember{ID: n.ID, Address: n.Address, Role: roleName(n.Role)})
	}
	return out, nil
}

// RaftLeader is the address of the database's leader, as this member's
// node knows it ("" if none).
func (d *DB) RaftLeader(ctx context.Context) (string, error) {
	dm := d.mem()
	if dm == nil {
		return "", nil
	}
	dm.mu.Lock()
	a := dm.app
	dm.mu.Unlock()
	if a == nil {
		return "", errNoDatabase
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := a.Client(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	l, err := c.Leader(ctx)
	if err != nil || l == nil {
		return "", err
	}
	return l.Address, nil
}

// AssignRole gives the database member at address a role (RoleVoter,
// RoleStandBy, RoleSpare).
func (d *DB) AssignRole(ctx context.Context, address, role string) error {
	r := client.Spare
	switch role {
	case RoleVoter:
		r = client.Voter
	case RoleStandBy:
		r = client.StandBy
	}
	c, err := d.leaderClient(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	nodes, err := c.Cluster(ctx)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if n.Address == address {
			return c.Assign(ctx, n.ID, r)
		}
	}
	return errdefs.NotFoundf("%s is not a member of the cluster database", address)
}

// RemoveRaftMember takes the member at address out of the database's
// Raft cluster (nothing if it is not in it).
func (d *DB) RemoveRaftMember(ctx context.Context, address string) error {
	c, err := d.leaderClient(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	nodes, err := c.Cluster(ctx)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if n.Address == address {
			return c.Remove(ctx, n.ID)
		}
	}
	return nil
}

// Handover passes this member's database role (and leadership) to another
// member before it stops, so that the cluster does not wait for it.
func (d *DB) Handover(ctx context.Context) error {
	dm := d.mem()
	if dm == nil {
		return nil
	}
	dm.mu.Lock()
	a := dm.app
	dm.mu.Unlock()
	if a == nil {
		return nil
	}
	return a.Handover(ctx)
}
