package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/canonical/go-dqlite/app"
	"github.com/canonical/go-dqlite/client"
	"github.com/canonical/go-dqlite/driver"

	"lodge/errdefs"
)

// A cluster member's databases (LXD's layout):
//
//	database/local.db   SQLite (mattn/go-sqlite3): this member's own
//	                    settings (localConfigKeys), never replicated
//	database/global/    the dqlite node's directory; its database
//	                    "lodge" holds every other table, replicated by Raft
//
// A standalone lodged has database/lodge.db only. Its presence of
// local.db is what makes lodged start as a member.
const (
	localFile   = "local.db"
	globalDir   = "global"
	dqliteName  = "lodge"
	preCluster  = ".pre-cluster"
	retryWrites = 20 * time.Second
)

// localConfigKeys are server config keys that belong to one member
// (where it listens); every other key is the cluster's.
var localConfigKeys = map[string]bool{
	"core.https_address":    true,
	"cluster.https_address": true,
}

// member is a cluster member's side of the database.
type member struct {
	dir     string // database/
	local   *sql.DB
	address string // cluster.https_address: the dqlite and member address

	mu   sync.Mutex
	app  *app.App
	sock string // the dqlite node's unix socket (abstract)
	dial func(ctx context.Context, addr string) (net.Conn, error)
	id   int64
	name string
}

func (m *member) close() {
	m.mu.Lock()
	a := m.app
	m.app = nil
	m.mu.Unlock()
	if a != nil {
		a.Close()
	}
	if m.local != nil {
		m.local.Close()
	}
}

// ClusterConfig is how a member's dqlite node reaches the others.
type ClusterConfig struct {
	// Dial connects to the dqlite node of the member at addr (lodged:
	// TLS with the cluster certificate to its HTTPS port, upgraded to
	// dqlite). Nil: plain TCP, the node listening on its address itself
	// (tests of this package).
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// Log receives dqlite's messages at warning level and above.
	Log *slog.Logger
	// RolesFrequency is how often the leader checks the voters and
	// stand-bys (default 10 s).
	RolesFrequency time.Duration
}

// Member roles in the database, as LXD names them (5.0, Debian's).
const (
	RoleVoter   = "database"
	RoleStandBy = "database-standby"
	RoleSpare   = ""
	RoleLeader  = "database-leader"
)

// Maximum voters and stand-bys (LXD's cluster.max_voters, cluster.max_standby).
const (
	MaxVoters   = 3
	MaxStandBys = 2
)

func isMember(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, localFile))
	return err == nil
}

var localSchema = `
CREATE TABLE IF NOT EXISTS config (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);`

func openLocal(ctx context.Context, path string) (*sql.DB, error) {
	s, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_foreign_keys=on&_busy_timeout=10000&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("local database %s: %w", path, err)
	}
	s.SetMaxOpenConns(2)
	if _, err := s.ExecContext(ctx, localSchema); err != nil {
		s.Close()
		return nil, fmt.Errorf("local database %s: %w", path, err)
	}
	return s, nil
}

// openMember opens a member's local database; the global one starts with
// StartCluster.
func openMember(ctx context.Context, path string) (*DB, error) {
	dir := filepath.Dir(path)
	local, err := openLocal(ctx, filepath.Join(dir, localFile))
	if err != nil {
		return nil, err
	}
	var addr string
	err = local.QueryRowContext(ctx, `SELECT value FROM config WHERE key = 'cluster.https_address'`).Scan(&addr)
	if err != nil || addr == "" {
		local.Close()
		return nil, fmt.Errorf("local database %s has no cluster.https_address (%v): it is not a cluster member's; move it away to start standalone", filepath.Join(dir, localFile), err)
	}
	d := &DB{sql: &handle{retry: retryWrites}, path: path}
	d.mp.Store(&member{dir: dir, local: local, address: addr})
	return d, nil
}

// Clustered tells whether this lodged is a cluster member.
func (d *DB) Clustered() bool { return d.mem() != nil }

// ClusterAddress is this member's address ("" standalone).
func (d *DB) ClusterAddress() string {
	dm := d.mem()
	if dm == nil {
		return ""
	}
	return dm.address
}

// NodeID is this member's id in the nodes table (1 standalone).
func (d *DB) NodeID() int64 {
	dm := d.mem()
	if dm == nil {
		return 1
	}
	dm.mu.Lock()
	defer dm.mu.Unlock()
	if dm.id == 0 {
		return 1
	}
	return dm.id
}

// Location is this member's name, as the API shows it ("none" standalone).
func (d *DB) Location() string {
	dm := d.mem()
	if dm == nil {
		return "none"
	}
	dm.mu.Lock()
	defer dm.mu.Unlock()
	if dm.name == "" {
		return "none"
	}
	return dm.name
}

// StartCluster starts this member's dqlite node (it then serves
// connections handed to ServeDqlite) and waits until the cluster database
// answers: the transport must be up before, since the other members reach
// this node through it.
func (d *DB) StartCluster(ctx context.Context, cfg ClusterConfig) error {
	dm := d.mem()
	m := dm
	if m == nil {
		return errors.New("not a cluster member")
	}
	if err := m.startApp(cfg, nil); err != nil {
		return err
	}
	d.node.Store(m)
	if err := d.openGlobal(ctx, cfg); err != nil {
		return err
	}
	return d.findSelf(ctx)
}

// newSocket is an abstract unix socket name for the dqlite node.
func newSocket() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "@lodge-dqlite-" + hex.EncodeToString(b)
}

// networkLatency is the one-way latency dqlite plans raft's timers for:
// heartbeats every 15x (150 ms), an election after 150x to 300x without
// one (1.5 to 3 s). libdqlite's defaults (500 ms, 3 to 6 s) kept the
// cluster from writing for about 5 s after its leader died; members of
// one site answer in well under a millisecond, and a leader stalled for
// 1.5 s on a loaded host costs only an election.
const networkLatency = 10 * time.Millisecond

// startApp starts the dqlite node (join: the addresses of members to join).
func (m *member) startApp(cfg ClusterConfig, join []string) error {
	logf := func(l client.LogLevel, format string, a ...any) {
		if cfg.Log == nil || l < client.LogWarn {
			return
		}
		cfg.Log.Warn("dqlite: " + fmt.Sprintf(format, a...))
	}
	freq := cfg.RolesFrequency
	if freq == 0 {
		freq = 10 * time.Second
	}
	opts := []app.Option{app.WithAddress(m.address), app.WithVoters(MaxVoters), app.WithStandBys(MaxStandBys),
		app.WithRolesAdjustmentFrequency(freq), app.WithLogFunc(logf), app.WithNetworkLatency(networkLatency)}
	if len(join) > 0 {
		opts = append(opts, app.WithCluster(join))
	}
	m.sock = ""
	if cfg.Dial != nil {
		m.sock = newSocket()
		// Connections from other members come through ServeDqlite, not
		// through the app's accept channel (which panics on a peer that
		// hangs up early): nothing is ever sent on this one.
		opts = append(opts, app.WithExternalConn(cfg.Dial, make(chan net.Conn)), app.WithUnixSocket(m.sock))
	}
	if err := os.MkdirAll(filepath.Join(m.dir, globalDir), 0o700); err != nil {
		return err
	}
	a, err := app.New(filepath.Join(m.dir, globalDir), opts...)
	if err != nil {
		return fmt.Errorf("start the cluster database node at %s: %w", m.address, err)
	}
	m.mu.Lock()
	m.app, m.dial = a, cfg.Dial
	m.mu.Unlock()
	return nil
}

// driverDial reaches the member at addr; this member's own node directly.
func (m *member) driverDial(ctx context.Context, addr string) (net.Conn, error) {
	m.mu.Lock()
	dial, sock := m.dial, m.sock
	m.mu.Unlock()
	if dial == nil {
		return client.DefaultDialFunc(ctx, addr)
	}
	if addr == m.address && sock != "" {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}
	return dial(ctx, addr)
}

// nodeStore reads the app's cluster.yaml each time (the app rewrites it
// as members come and go).
type nodeStore struct{ path string }

func (s nodeStore) Get(ctx context.Context) ([]client.NodeInfo, error) {
	st, err := client.NewYamlNodeStore(s.path)
	if err != nil {
		return nil, err
	}
	return st.Get(ctx)
}

func (s nodeStore) Set(context.Context, []client.NodeInfo) error { return nil }

// openGlobal waits for the node to be ready and opens the global database
// through a driver of our own (the app's has no timeouts: a query would
// wait forever for a leader).
func (d *DB) openGlobal(ctx context.Context, cfg ClusterConfig) error {
	dm := d.mem()
	m := dm
	m.mu.Lock()
	a := m.app
	m.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := a.Ready(rctx); err != nil {
		return fmt.Errorf("the cluster database node at %s did not become ready (are a majority of the database members online?): %w", m.address, err)
	}
	logf := func(l client.LogLevel, format string, args ...any) {
		if cfg.Log != nil && l >= client.LogError {
			cfg.Log.Warn("dqlite driver: " + fmt.Sprintf(format, args...))
		}
	}
	drv, err := driver.New(nodeStore{filepath.Join(m.dir, globalDir, "cluster.yaml")}, driver.WithDialFunc(m.driverDial),
		driver.WithLogFunc(logf), driver.WithConnectionTimeout(10*time.Second), driver.WithAttemptTimeout(2*time.Second),
		driver.WithConnectionBackoffCap(500*time.Millisecond), driver.WithContextTimeout(10*time.Second))
	if err != nil {
		return err
	}
	conn, err := drv.OpenConnector(dqliteName)
	if err != nil {
		return err
	}
	s := sql.OpenDB(conn)
	// One connection, as LXD has it: dqlite runs one write transaction at
	// a time anyway, and a second connection's would fail busy.
	s.SetMaxOpenConns(1)
	s.SetMaxIdleConns(1)
	var perr error
	for i := 0; i < 120; i++ {
		if perr = s.PingContext(rctx); perr == nil {
			break
		}
		select {
		case <-rctx.Done():
			i = 120
		case <-time.After(500 * time.Millisecond):
		}
	}
	if perr != nil {
		s.Close()
		return fmt.Errorf("the cluster database has no leader (are a majority of the database members online?): %w", perr)
	}
	d.sql.gate.Lock()
	d.sql.swap(s, retryWrites)
	d.sql.gate.Unlock()
	return d.migrate(ctx)
}

// findSelf looks this member up in nodes by its address.
func (d *DB) findSelf(ctx context.Context) error {
	dm := d.mem()
	m := dm
	var id int64
	var name string
	err := d.sql.QueryRowContext(ctx, `SELECT id, name FROM nodes WHERE address = ?`, m.address).Scan(&id, &name)
	if err != nil {
		return fmt.Errorf("this member (%s) is not in the cluster's member list (removed while it was down?): %w", m.address, err)
	}
	m.mu.Lock()
	m.id, m.name = id, name
	m.mu.Unlock()
	return nil
}

// ServeDqlite connects a peer's dqlite connection (the HTTP layer has
// answered its upgrade) to this member's node, until either side closes.
func (d *DB) ServeDqlite(conn net.Conn) {
	defer conn.Close()
	m := d.node.Load()
	if m == nil {
		return
	}
	m.mu.Lock()
	sock := m.sock
	m.mu.Unlock()
	if sock == "" {
		return
	}
	local, err := net.Dial("unix", sock)
	if err != nil {
		return
	}
	defer local.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(local, conn); local.(*net.UnixConn).CloseWrite(); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, local); done <- struct{}{} }()
	<-done
}

// startMember starts this server's dqlite node at address (joining peers,
// or bootstrapping a cluster with none) and opens the global database on
// it; undo stops the node and removes what it made, for a caller whose
// switch-over fails later.
func (d *DB) startMember(ctx context.Context, cfg ClusterConfig, address string, peers []string) (nd *DB, undo func(), err error) {
	if d.mem() != nil {
		return nil, nil, errdefs.Conflictf("this server is already a cluster member (%s)", d.Location())
	}
	dir := filepath.Dir(d.path)
	m := &member{dir: dir, address: address}
	if err := os.RemoveAll(filepath.Join(dir, globalDir)); err != nil {
		return nil, nil, err
	}
	if err := m.startApp(cfg, peers); err != nil {
		return nil, nil, err
	}
	d.node.Store(m)
	nd = &DB{sql: &handle{retry: retryWrites}, path: d.path}
	nd.mp.Store(m)
	undo = func() {
		d.node.Store(nil)
		nd.sql.Close()
		m.close()
		os.RemoveAll(filepath.Join(dir, globalDir))
		os.Remove(filepath.Join(dir, localFile))
	}
	if err := nd.openGlobal(ctx, cfg); err != nil {
		undo()
		return nil, nil, err
	}
	return nd, undo, nil
}

// EnableCluster makes this standalone lodged the first member of a new
// cluster, named name, at address: its dqlite node is bootstrapped, the
// global tables are copied into it (writes held off meanwhile), its own
// settings move to local.db, and the database switches over while lodged
// runs. lodge.db is kept as lodge.db.pre-cluster.
func (d *DB) EnableCluster(ctx context.Context, cfg ClusterConfig, name, address string) (err error) {
	nd, undo, err := d.startMember(ctx, cfg, address, nil)
	if err != nil {
		return err
	}
	dir, m := filepath.Dir(d.path), nd.mem()
	defer func() {
		if err != nil {
			undo()
		}
	}()
	// Hold off this database's writes until it is switched.
	d.sql.gate.Lock()
	defer d.sql.gate.Unlock()
	src, err := d.sql.db()
	if err != nil {
		return err
	}
	local := map[string]string{"cluster.https_address": address}
	if err := copyTables(ctx, src, nd, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE nodes SET name = ?, address = ?, schema = ?, heartbeat = ? WHERE id = 1`,
			name, address, SchemaVersion(), fmtTime(time.Now())); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE operations SET location = ? WHERE location = 'none'`, name); err != nil {
			return err
		}
		if err := movePoolKeysToMember(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT key, value FROM config`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				rows.Close()
				return err
			}
			if localConfigKeys[k] {
				local[k] = v
			}
		}
		rows.Close()
		for k := range localConfigKeys {
			if _, err := tx.ExecContext(ctx, `DELETE FROM config WHERE key = ?`, k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("copy the database into the cluster database: %w", err)
	}
	if err := writeLocal(ctx, dir, local); err != nil {
		return err
	}
	ls, err := openLocal(ctx, filepath.Join(dir, localFile))
	if err != nil {
		return err
	}
	m.local = ls
	m.mu.Lock()
	m.id, m.name = 1, name
	m.mu.Unlock()
	// Switch: this DB now reads and writes the cluster's database.
	gs, _ := nd.sql.db()
	old := d.sql.swap(gs, retryWrites)
	d.mp.Store(m)
	old.Close()
	renamePreCluster(d.path)
	return nil
}

// JoinCluster makes this standalone lodged a member of an existing
// cluster: the leader has already recorded it (AddPendingNode) at
// address; peers are the addresses of members to join through. Its own
// tables are left behind in lodge.db.pre-cluster (a joining server has
// no instances), and it switches to the cluster's database.
func (d *DB) JoinCluster(ctx context.Context, cfg ClusterConfig, address string, peers []string) (err error) {
	nd, undo, err := d.startMember(ctx, cfg, address, peers)
	if err != nil {
		return err
	}
	dir, m := filepath.Dir(d.path), nd.mem()
	defer func() {
		if err != nil {
			undo()
		}
	}()
	if err := nd.findSelf(ctx); err != nil {
		return err
	}
	local := map[string]string{"cluster.https_address": address, "core.https_address": address}
	if v, err := d.Config(ctx); err == nil && v["core.https_address"] != "" {
		local["core.https_address"] = v["core.https_address"]
	}
	if err := writeLocal(ctx, dir, local); err != nil {
		return err
	}
	ls, err := openLocal(ctx, filepath.Join(dir, localFile))
	if err != nil {
		return err
	}
	m.local = ls
	d.sql.gate.Lock()
	gs, _ := nd.sql.db()
	old := d.sql.swap(gs, retryWrites)
	d.mp.Store(m)
	d.sql.gate.Unlock()
	old.Close()
	renamePreCluster(d.path)
	return nil
}

// LeaveCluster turns a member that was removed from its cluster back into
// a standalone lodged with an empty database: its dqlite node stops, and
// local.db and global/ are kept aside as *.removed.
func (d *DB) LeaveCluster(ctx context.Context) error {
	dm := d.mem()
	m := dm
	if m == nil {
		return nil
	}
	s, err := sql.Open("sqlite3", "file:"+d.path+"?_journal_mode=WAL&_foreign_keys=on&_busy_timeout=10000&_synchronous=NORMAL&_txlock=immediate")
	if err != nil {
		return err
	}
	s.SetMaxOpenConns(maxConns)
	s.SetMaxIdleConns(maxConns)
	d.sql.gate.Lock()
	old := d.sql.swap(s, 0)
	d.mp.Store(nil)
	d.node.Store(nil)
	d.sql.gate.Unlock()
	if old != nil {
		old.Close()
	}
	m.close()
	os.Rename(filepath.Join(m.dir, localFile), filepath.Join(m.dir, localFile+".removed"))
	os.RemoveAll(filepath.Join(m.dir, globalDir+".removed"))
	os.Rename(filepath.Join(m.dir, globalDir), filepath.Join(m.dir, globalDir+".removed"))
	return d.migrate(ctx)
}

func renamePreCluster(path string) {
	for _, suf := range []string{"", "-wal", "-shm"} {
		os.Rename(path+suf, path+preCluster+suf)
	}
}

// writeLocal writes a fresh local.db with the member's own settings
// (written beside and renamed, so that a crash leaves none or all).
func writeLocal(ctx context.Context, dir string, kv map[string]string) error {
	tmp := filepath.Join(dir, localFile+".new")
	os.Remove(tmp)
	s, err := openLocal(ctx, tmp)
	if err != nil {
		return err
	}
	for k, v := range kv {
		if _, err := s.ExecContext(ctx, `INSERT OR REPLACE INTO config (key, value) VALUES (?, ?)`, k, v); err != nil {
			s.Close()
			return err
		}
	}
	if _, err := s.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		s.Close()
		return err
	}
	s.Close()
	os.Remove(tmp + "-wal")
	os.Remove(tmp + "-shm")
	return os.Rename(tmp, filepath.Join(dir, localFile))
}

// copyTables copies every table of src but schema_version into dst's
// database (emptied first), then runs fix, in one dqlite transaction.
func copyTables(ctx context.Context, src *sql.DB, dst *DB, fix func(*sql.Tx) error) error {
	tables, err := tableOrder(ctx, src)
	if err != nil {
		return err
	}
	return dst.Tx(ctx, func(tx *sql.Tx) error {
		for i := len(tables) - 1; i >= 0; i-- {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+tables[i]); err != nil {
				return fmt.Errorf("empty %s: %w", tables[i], err)
			}
		}
		for _, t := range tables {
			if err := copyTable(ctx, src, tx, t); err != nil {
				return fmt.Errorf("table %s: %w", t, err)
			}
		}
		return fix(tx)
	})
}

// tableOrder lists src's tables parents first (by their foreign keys).
func tableOrder(ctx context.Context, src *sql.DB) ([]string, error) {
	rows, err := src.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'schema_version' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	parents := map[string][]string{}
	for _, n := range names {
		fk, err := src.QueryContext(ctx, `SELECT "table" FROM pragma_foreign_key_list(?)`, n)
		if err != nil {
			return nil, err
		}
		for fk.Next() {
			var p string
			if err := fk.Scan(&p); err == nil && p != n {
				parents[n] = append(parents[n], p)
			}
		}
		fk.Close()
	}
	var out []string
	seen := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		ps := parents[n]
		sort.Strings(ps)
		for _, p := range ps {
			visit(p)
		}
		out = append(out, n)
	}
	for _, n := range names {
		visit(n)
	}
	return out, nil
}

func copyTable(ctx context.Context, src *sql.DB, tx *sql.Tx, table string) error {
	rows, err := src.QueryContext(ctx, `SELECT * FROM `+table)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	q := `INSERT INTO ` + table + ` (` + strings.Join(quoted(cols), ", ") + `) VALUES (` + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + `)`
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q, vals...); err != nil {
			return err
		}
	}
	return rows.Err()
}

func quoted(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
	}
	return out
}
