package daemon

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
	"lodge/server/operations"
)

// A cluster (issue 17) is LXD's: members share one database (dqlite, in
// server/db) and one certificate (cluster.crt, which every member serves
// and presents to the others), talk over HTTPS on their
// core.https_address (the dqlite traffic is an upgrade on that port), and
// the database leader sends the heartbeats that tell which are online.
// The transport (the server) implements ClusterTransport; the daemon
// decides.

// ClusterTransport is the transport's side of the cluster: HTTPS between
// members with the cluster certificate.
type ClusterTransport interface {
	// DialDqlite connects to the dqlite node of the member at addr.
	DialDqlite(ctx context.Context, addr string) (net.Conn, error)
	// Accept asks a member (at addr, with the certificate whose
	// fingerprint is fp) to accept this server, presenting cert.
	Accept(ctx context.Context, addr, fp string, cert *tls.Certificate, req api.InternalClusterAccept) (api.InternalClusterAcceptResponse, error)
	// Heartbeat sends the leader's heartbeat to the member at addr.
	Heartbeat(ctx context.Context, addr string, hb api.InternalHeartbeat) error
	// Leave tells the member at addr that it was removed from the cluster.
	Leave(ctx context.Context, addr string) error
	// MemberDo sends a request to the member at addr, which serves it
	// itself, waits for the operation it answers with (if any) and
	// returns the reply's metadata; a failed operation is an error.
	MemberDo(ctx context.Context, addr, method, path string, body any) (json.RawMessage, error)
	// MemberAsync is MemberDo's first half: the request, answered at
	// once, and (for an operation) what waits for its end.
	MemberAsync(ctx context.Context, addr, method, path string, body any) (json.RawMessage, func(context.Context) (json.RawMessage, error), error)
	// DialMigration is the link of a migration target that pulls from
	// the source operation at opURL (a server with certificate certPEM),
	// by the websockets' secrets.
	DialMigration(opURL, certPEM string, secrets map[string]string) (MigrationLink, error)
	// MemberEvents follows the events of the member at addr, its own
	// only (LXD's JSON, every type): connected is called once the stream
	// is up, handle with each event, until ctx ends or the stream breaks
	// (the error says why). handle must not block.
	MemberEvents(ctx context.Context, addr string, connected func(), handle func([]byte)) error
	// MemberOperations lists the operations the member at addr runs or
	// recently ran (its own only).
	MemberOperations(ctx context.Context, addr string) ([]api.Operation, error)
}

// Cluster config keys' defaults (the keys are in serverConfigKeys).
const (
	defaultOfflineThreshold = 20
	minOfflineThreshold     = 11
)

// clusterState is the daemon's side of the cluster.
type clusterState struct {
	transport ClusterTransport
	mu        sync.Mutex
	cert      *tls.Certificate
	certPEM   string
	fp        string
	loop      bool // the heartbeat loop runs
	// lastHeartbeat is when this member last heard from the leader.
	lastHeartbeat time.Time
	// events are the listeners to the other members' events
	// (cluster_events.go).
	events eventListeners
}

func (d *Daemon) clusterCertPaths() (string, string) {
	return filepath.Join(d.cfg.Dir, "cluster.crt"), filepath.Join(d.cfg.Dir, "cluster.key")
}

// clusterCert is the cluster's certificate, in PEM and its fingerprint
// (nil standalone). It is there from the moment clustering is being
// enabled or joined.
func (d *Daemon) clusterCert() (*tls.Certificate, string, string) {
	crt, key := d.clusterCertPaths()
	if _, err := os.Stat(crt); err != nil {
		return nil, "", ""
	}
	d.cl.mu.Lock()
	defer d.cl.mu.Unlock()
	if d.cl.cert == nil {
		c, err := tls.LoadX509KeyPair(crt, key)
		if err != nil {
			d.log.Error("cluster certificate", "err", err)
			return nil, "", ""
		}
		b, _ := os.ReadFile(crt)
		d.cl.cert, d.cl.certPEM, d.cl.fp = &c, string(b), CertFingerprint(c.Certificate[0])
	}
	return d.cl.cert, d.cl.certPEM, d.cl.fp
}

func (d *Daemon) forgetClusterCert() {
	d.cl.mu.Lock()
	d.cl.cert, d.cl.certPEM, d.cl.fp = nil, "", ""
	d.cl.mu.Unlock()
}

// Clustered tells whether this lodged is a cluster member.
func (d *Daemon) Clustered() bool { return d.db.Clustered() }

// MemberName is this member's name ("none" standalone).
func (d *Daemon) MemberName() string { return d.db.Location() }

// ClusterAddress is this member's address ("" standalone).
func (d *Daemon) ClusterAddress() string { return d.db.ClusterAddress() }

// IsMemberCert tells whether a peer presented the cluster's certificate:
// another member, trusted with everything.
func (d *Daemon) IsMemberCert(c *x509.Certificate) bool {
	cc, _, fp := d.clusterCert()
	return cc != nil && c != nil && CertFingerprint(c.Raw) == fp
}

// ClusterTLS is the certificate members present to each other and the
// fingerprint they expect from each other (nil standalone).
func (d *Daemon) ClusterTLS() (*tls.Certificate, string) {
	c, _, fp := d.clusterCert()
	return c, fp
}

func (d *Daemon) clusterDBConfig() db.ClusterConfig {
	return db.ClusterConfig{Dial: d.cl.transport.DialDqlite, Log: d.log}
}

// StartCluster brings up this member's database (the transport listens
// on the cluster address already: the other members reach this one's
// node through it). Standalone it does nothing.
func (d *Daemon) StartCluster(ctx context.Context) error {
	if !d.db.Clustered() {
		return nil
	}
	if d.cl.transport == nil {
		return errors.New("this lodged has no cluster transport")
	}
	if err := d.db.StartCluster(ctx, d.clusterDBConfig()); err != nil {
		return err
	}
	d.ops.SetLocation(d.db.Location())
	if err := d.db.SetNodeVersion(ctx, d.db.NodeID(), d.cfg.Version, hostArch()); err != nil {
		d.log.Warn("cluster: record this member's version", "err", err)
	}
	d.dropDeletedImages(ctx)
	d.log.Info("cluster member started", "member", d.db.Location(), "address", d.db.ClusterAddress())
	return nil
}

func hostArch() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Machine[:])
}

// ClusterInfo is GET /1.0/cluster.
func (d *Daemon) ClusterInfo(ctx context.Context) api.Cluster {
	c := api.Cluster{MemberConfig: []api.ClusterMemberConfigKey{}}
	if d.db.Clustered() {
		c.Enabled, c.ServerName = true, d.db.Location()
	}
	// What a joining server must give for itself: each pool's source.
	pools, err := d.db.ListStoragePools(ctx)
	if err == nil {
		for _, p := range pools {
			c.MemberConfig = append(c.MemberConfig, api.ClusterMemberConfigKey{Entity: "storage-pool", Name: p.Name, Key: "source",
				Description: fmt.Sprintf("\"source\" property for storage pool \"%s\"", p.Name)})
		}
	}
	return c
}

// validMemberName: LXD's rules for a member name (a hostname label).
func validMemberName(name string) error {
	if err := instances.ValidateName(name); err != nil || name == "none" {
		return errdefs.Invalidf("member name %q is not valid: use letters, digits and hyphens, start with a letter (and not \"none\")", name)
	}
	return nil
}

// concreteAddress checks that addr is one the other members can reach
// (not a wildcard) and adds the default port.
func concreteAddress(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = strings.Trim(addr, "[]"), "8443"
	}
	ip := net.ParseIP(host)
	if host == "" || (ip != nil && ip.IsUnspecified()) {
		return "", errdefs.Invalidf("%q is not an address other members can reach: give this server's own address (for example 10.0.0.1:8443)", addr)
	}
	return net.JoinHostPort(host, port), nil
}

// EnableCluster makes this standalone server the first member of a new
// cluster (PUT /1.0/cluster with enabled and server_name): its
// certificate becomes the cluster's, its database moves into dqlite, and
// it keeps serving meanwhile.
func (d *Daemon) EnableCluster(ctx context.Context, name string) (*operations.Op, error) {
	if err := validMemberName(name); err != nil {
		return nil, err
	}
	if d.db.Clustered() {
		return nil, errdefs.Conflictf("this server is already clustered (member %q)", d.db.Location())
	}
	if d.cl.transport == nil || d.https == nil {
		return nil, errdefs.Invalidf("this lodged serves no HTTPS API, which clustering needs")
	}
	cfgAddr := d.serverConfig(ctx, "core.https_address")
	if cfgAddr == "" {
		return nil, errdefs.Invalidf("set core.https_address to this server's address first (lodge config set core.https_address 10.0.0.1:8443): the other members reach it there")
	}
	addr, err := concreteAddress(cfgAddr)
	if err != nil {
		return nil, errdefs.Invalidf("core.https_address: %v; set it to an address of this server", err)
	}
	if _, err := d.serverCert(); err != nil {
		return nil, err
	}
	spec := operations.Spec{Description: "Enabling clustering", Resources: map[string][]string{"cluster": {"/1.0/cluster"}}}
	return d.ops.Start(spec, func(ctx context.Context, op *operations.Op) error {
		// LXD keeps the server's certificate as the cluster's, so that
		// clients that trust this server trust the cluster.
		crt, key := d.clusterCertPaths()
		if err := copyFile(filepath.Join(d.cfg.Dir, "server.crt"), crt, 0o644); err != nil {
			return err
		}
		if err := copyFile(filepath.Join(d.cfg.Dir, "server.key"), key, 0o600); err != nil {
			return err
		}
		if err := d.db.EnableCluster(ctx, d.clusterDBConfig(), name, addr); err != nil {
			os.Remove(crt)
			os.Remove(key)
			return err
		}
		d.forgetClusterCert()
		d.ops.SetLocation(name)
		_ = d.db.SetNodeVersion(ctx, d.db.NodeID(), d.cfg.Version, hostArch())
		d.startClusterLoop()
		d.log.Info("clustering enabled", "member", name, "address", addr)
		d.events.lifecycle("cluster-enabled", "/1.0/cluster", map[string]any{"server_name": name})
		return nil
	}), nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// CreateJoinToken is POST /1.0/cluster/members: a single-use token for a
// new member of that name, valid core.remote_token_expiry days. LXD's
// token operation carries it; `lxc cluster add` prints it.
func (d *Daemon) CreateJoinToken(ctx context.Context, name string) (*operations.Op, error) {
	if !d.db.Clustered() {
		return nil, errdefs.Invalidf("this server is not clustered: run lodge cluster enable NAME first")
	}
	if err := validMemberName(name); err != nil {
		return nil, err
	}
	if _, err := d.db.NodeByName(ctx, name); err == nil {
		return nil, errdefs.Existsf("cluster member %q already exists", name)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	tok := db.ClusterToken{Secret: hex.EncodeToString(b), Name: name, CreatedAt: now}
	if days := d.serverConfigInt(ctx, "core.remote_token_expiry"); days > 0 {
		tok.ExpiresAt = now.Add(time.Duration(days) * 24 * time.Hour)
	}
	if err := d.db.CreateClusterToken(ctx, tok); err != nil {
		return nil, err
	}
	addrs, err := d.onlineAddresses(ctx)
	if err != nil {
		return nil, err
	}
	_, fp := d.ClusterTLS()
	md := map[string]any{"serverName": name, "secret": tok.Secret, "fingerprint": fp, "addresses": addrs, "expiresAt": tok.ExpiresAt}
	d.log.Info("cluster join token issued", "member", name, "expires", tok.ExpiresAt)
	return d.ops.Start(d.tokenOpSpec(md), func(ctx context.Context, op *operations.Op) error { return nil }), nil
}

// ClusterJoinTokens lists the pending join tokens.
func (d *Daemon) ClusterJoinTokens(ctx context.Context) ([]api.ClusterMemberJoinToken, error) {
	toks, err := d.db.ListClusterTokens(ctx)
	if err != nil {
		return nil, err
	}
	addrs, _ := d.onlineAddresses(ctx)
	_, fp := d.ClusterTLS()
	out := []api.ClusterMemberJoinToken{}
	for _, t := range toks {
		out = append(out, api.ClusterMemberJoinToken{ServerName: t.Name, Secret: t.Secret, Fingerprint: fp, Addresses: addrs, ExpiresAt: t.ExpiresAt})
	}
	return out, nil
}

// RevokeJoinToken deletes the pending token for a member name.
func (d *Daemon) RevokeJoinToken(ctx context.Context, name string) error {
	if err := d.db.DeleteClusterToken(ctx, name); errors.Is(err, db.ErrNotFound) {
		return errdefs.NotFoundf("no pending join token for %q", name)
	} else if err != nil {
		return err
	}
	return nil
}

// onlineAddresses are the addresses of the members that answer heartbeats.
func (d *Daemon) onlineAddresses(ctx context.Context) ([]string, error) {
	nodes, err := d.db.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	th := d.offlineThreshold(ctx)
	out := []string{}
	for _, n := range nodes {
		if n.ID == d.db.NodeID() || !d.isOffline(n, th) {
			out = append(out, n.Address)
		}
	}
	return out, nil
}

// AcceptMember is POST /internal/cluster/accept on an existing member: a
// joining server presents a token's secret (spent here, once) and gets
// the cluster's certificate and key and the members to join through.
func (d *Daemon) AcceptMember(ctx context.Context, req api.InternalClusterAccept) (api.InternalClusterAcceptResponse, error) {
	var resp api.InternalClusterAcceptResponse
	if !d.db.Clustered() {
		return resp, errdefs.Invalidf("this server is not clustered")
	}
	addr, err := concreteAddress(req.Address)
	if err != nil {
		return resp, err
	}
	if req.Schema != db.SchemaVersion() || req.Version != d.cfg.Version {
		return resp, errdefs.Conflictf("the joining server runs lodge %s (schema %d), the cluster %s (schema %d): every member must run the same version", req.Version, req.Schema, d.cfg.Version, db.SchemaVersion())
	}
	n, err := d.db.AcceptNode(ctx, req.Secret, time.Now().UTC(), db.Node{Name: req.Name, Address: addr, Schema: req.Schema, Version: req.Version, Arch: req.Architecture})
	if err != nil {
		d.log.Warn("cluster join refused", "name", req.Name, "address", addr, "err", err)
		return resp, err
	}
	crt, key := d.clusterCertPaths()
	c, err := os.ReadFile(crt)
	if err != nil {
		return resp, err
	}
	k, err := os.ReadFile(key)
	if err != nil {
		return resp, err
	}
	raft, err := d.db.RaftMembers(ctx)
	if err != nil {
		return resp, err
	}
	for _, r := range raft {
		resp.Members = append(resp.Members, r.Address)
	}
	resp.ClusterCertificate, resp.ClusterKey = string(c), string(k)
	d.log.Info("cluster member accepted", "member", n.Name, "address", addr)
	return resp, nil
}

// JoinCluster is PUT /1.0/cluster on a standalone server with a join
// token (lodged init --join): it asks a member to accept it, takes the
// cluster's certificate, joins the database and adopts the cluster's
// pools (each with this server's own source) and networks.
func (d *Daemon) JoinCluster(ctx context.Context, req api.ClusterPut) (*operations.Op, error) {
	if d.db.Clustered() {
		return nil, errdefs.Conflictf("this server is already clustered (member %q)", d.db.Location())
	}
	if d.cl.transport == nil || d.https == nil {
		return nil, errdefs.Invalidf("this lodged serves no HTTPS API, which clustering needs")
	}
	tok, err := api.ParseClusterJoinToken(strings.TrimSpace(req.ClusterToken))
	if err != nil {
		return nil, errdefs.Invalidf("%v (give the token lodge cluster add printed)", err)
	}
	name := req.ServerName
	if name == "" {
		name = tok.ServerName
	}
	if name != tok.ServerName {
		return nil, errdefs.Invalidf("the join token is for %q, not %q", tok.ServerName, name)
	}
	if !tok.ExpiresAt.IsZero() && time.Now().After(tok.ExpiresAt) {
		return nil, errdefs.Forbiddenf("the join token for %q expired at %s: ask for a new one with lodge cluster add", name, tok.ExpiresAt.Format(time.RFC3339))
	}
	if req.ServerAddress == "" {
		return nil, errdefs.Invalidf("give this server's address (--address HOST:PORT): the other members reach it there")
	}
	addr, err := concreteAddress(req.ServerAddress)
	if err != nil {
		return nil, err
	}
	if mine, err := d.db.ListInstances(ctx); err != nil {
		return nil, err
	} else if len(mine) > 0 {
		return nil, errdefs.Conflictf("this server has %d instances; a server joins a cluster empty: delete or move them first", len(mine))
	}
	own, err := d.serverCert()
	if err != nil {
		return nil, err
	}
	spec := operations.Spec{Description: "Joining cluster", Resources: map[string][]string{"cluster": {"/1.0/cluster"}}}
	return d.ops.Start(spec, func(ctx context.Context, op *operations.Op) error {
		return d.join(ctx, name, addr, tok, own)
	}), nil
}

func (d *Daemon) join(ctx context.Context, name, addr string, tok api.ClusterMemberJoinToken, own *tls.Certificate) error {
	// This server's own pools, whose sources it keeps as its member config.
	mine, err := d.db.ListStoragePools(ctx)
	if err != nil {
		return err
	}
	req := api.InternalClusterAccept{Name: name, Address: addr, Secret: tok.Secret, Schema: db.SchemaVersion(), Version: d.cfg.Version, Architecture: hostArch()}
	var resp api.InternalClusterAcceptResponse
	var errs []string
	for _, a := range tok.Addresses {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err = d.cl.transport.Accept(actx, a, tok.Fingerprint, own, req)
		cancel()
		if err == nil {
			break
		}
		errs = append(errs, fmt.Sprintf("%s: %v", a, err))
		if errdefs.KindOf(err) == errdefs.ErrForbidden || errdefs.KindOf(err) == errdefs.ErrConflict {
			// The cluster said no; asking another member changes nothing.
			return err
		}
	}
	if err != nil {
		return errdefs.Unavailablef("no member of the cluster accepted this server: %s", strings.Join(errs, "; "))
	}
	crt, key := d.clusterCertPaths()
	if err := os.WriteFile(crt+".new", []byte(resp.ClusterCertificate), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(key+".new", []byte(resp.ClusterKey), 0o600); err != nil {
		return err
	}
	if _, err := tls.X509KeyPair([]byte(resp.ClusterCertificate), []byte(resp.ClusterKey)); err != nil {
		return fmt.Errorf("the cluster's certificate does not load: %w", err)
	}
	if err := os.Rename(crt+".new", crt); err != nil {
		return err
	}
	if err := os.Rename(key+".new", key); err != nil {
		return err
	}
	d.forgetClusterCert()
	// Serve the cluster's certificate where the members reach this one:
	// they connect to its database node as soon as it joins.
	if err := d.https.SetHTTPSAddress(addr); err != nil {
		os.Remove(crt)
		os.Remove(key)
		d.forgetClusterCert()
		return fmt.Errorf("listen on %s: %w (the cluster lists this server as a pending member: remove it with lodge cluster remove %s --force before trying again)", addr, err, name)
	}
	if err := d.db.JoinCluster(ctx, d.clusterDBConfig(), addr, resp.Members); err != nil {
		os.Remove(crt)
		os.Remove(key)
		d.forgetClusterCert()
		if a := d.serverConfig(ctx, "core.https_address"); a != "" {
			_ = d.https.SetHTTPSAddress(a)
		}
		return fmt.Errorf("join the cluster's database: %w (the cluster lists this server as a pending member: remove it with lodge cluster remove %s --force before trying again)", err, name)
	}
	d.ops.SetLocation(name)
	_ = d.db.SetNodeVersion(ctx, d.db.NodeID(), d.cfg.Version, hostArch())
	if err := d.adoptClusterPools(ctx, mine); err != nil {
		d.log.Error("cluster: storage pools", "err", err)
	}
	if err := d.db.SetNodeState(ctx, d.db.NodeID(), db.NodeCreated); err != nil {
		return err
	}
	d.startNetworks(ctx, nil)
	d.startClusterLoop()
	d.log.Info("joined the cluster", "member", name, "address", addr)
	d.events.lifecycle("cluster-member-added", "/1.0/cluster/members/"+name, nil)
	return nil
}

// adoptClusterPools gives each of the cluster's pools this member's own
// settings: those of this server's pool of the same name (kept open), or
// a new pool made here.
func (d *Daemon) adoptClusterPools(ctx context.Context, mine []db.StoragePool) error {
	pools, err := d.db.ListStoragePools(ctx)
	if err != nil {
		return err
	}
	own := map[string]db.StoragePool{}
	for _, p := range mine {
		own[p.Name] = p
	}
	for _, p := range pools {
		if p.State != db.StateCreated {
			// Pending: the create on every member makes this one's part.
			continue
		}
		if o, ok := own[p.Name]; ok && o.Driver == p.Driver {
			if err := d.db.SetPoolMemberConfig(ctx, p.Name, o.Config); err != nil {
				return err
			}
			continue
		}
		if pd, ok := d.pools.get(p.Name); ok {
			// Open here with another driver: it cannot serve as this pool.
			_ = pd
			d.pools.set(p.Name, nil)
		}
		cfg, err := d.poolMgr.Create(ctx, p.Name, p.Driver, map[string]string{}, nil)
		if err != nil {
			d.log.Error("cluster: storage pool not made on this member", "pool", p.Name, "err", err)
			continue
		}
		if err := d.db.SetPoolMemberConfig(ctx, p.Name, cfg); err != nil {
			return err
		}
		pd, err := d.poolMgr.Open(ctx, p.Name, p.Driver, cfg)
		if err != nil {
			d.log.Error("cluster: storage pool unavailable on this member", "pool", p.Name, "err", err)
			continue
		}
		d.pools.set(p.Name, pd)
	}
	return nil
}

// Member is one member as the API shows it.
type Member struct {
	db.Node
	Roles   []string
	Status  string // Online, Offline, Evacuated, Pending
	Message string
	// Database: a voter of the database.
	Database bool
}

// offlineThreshold is cluster.offline_threshold.
func (d *Daemon) offlineThreshold(ctx context.Context) time.Duration {
	n := d.serverConfigInt(ctx, "cluster.offline_threshold")
	if n < minOfflineThreshold {
		n = defaultOfflineThreshold
	}
	return time.Duration(n) * time.Second
}

func (d *Daemon) isOffline(n db.Node, threshold time.Duration) bool {
	if n.ID == d.db.NodeID() {
		return false
	}
	return n.Heartbeat.IsZero() || time.Since(n.Heartbeat) > threshold
}

// ClusterMembers lists the members with their roles and state.
func (d *Daemon) ClusterMembers(ctx context.Context) ([]Member, error) {
	if !d.db.Clustered() {
		return nil, errdefs.Invalidf("this server is not clustered (lodge cluster enable NAME)")
	}
	nodes, err := d.db.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	roles := map[string]string{}
	if raft, err := d.db.RaftMembers(ctx); err == nil {
		for _, r := range raft {
			roles[r.Address] = r.Role
		}
	}
	leader, _ := d.db.RaftLeader(ctx)
	th := d.offlineThreshold(ctx)
	out := make([]Member, 0, len(nodes))
	for _, n := range nodes {
		m := Member{Node: n, Roles: []string{}, Status: "Online", Message: "Fully operational"}
		switch roles[n.Address] {
		case db.RoleVoter:
			m.Roles, m.Database = append(m.Roles, db.RoleVoter), true
			if n.Address == leader {
				m.Roles = append(m.Roles, db.RoleLeader)
			}
		case db.RoleStandBy:
			m.Roles = append(m.Roles, db.RoleStandBy)
		}
		switch {
		case d.isOffline(n, th):
			m.Status = "Offline"
			if n.Heartbeat.IsZero() {
				m.Message = "No heartbeat yet"
			} else {
				m.Message = fmt.Sprintf("No heartbeat for %s (%s)", time.Since(n.Heartbeat).Round(time.Second), n.Heartbeat.UTC().Format(time.RFC3339))
			}
		case n.State == db.NodePending:
			m.Status, m.Message = "Pending", "Joining the cluster"
		case n.State == db.NodeEvacuated:
			m.Status, m.Message = "Evacuated", "Unavailable due to maintenance"
		}
		out = append(out, m)
	}
	return out, nil
}

// ClusterMember returns one member.
func (d *Daemon) ClusterMember(ctx context.Context, name string) (Member, error) {
	ms, err := d.ClusterMembers(ctx)
	if err != nil {
		return Member{}, err
	}
	for _, m := range ms {
		if m.Name == name {
			return m, nil
		}
	}
	return Member{}, errdefs.NotFoundf("cluster member %q not found (see lodge cluster list)", name)
}

// UpdateClusterMember is PUT /1.0/cluster/members/{name}: its
// description and failure domain; its database role is the cluster's to
// assign and a request that changes it is refused.
func (d *Daemon) UpdateClusterMember(ctx context.Context, name string, req api.ClusterMemberPut) error {
	m, err := d.ClusterMember(ctx, name)
	if err != nil {
		return err
	}
	want := ""
	for _, r := range req.Roles {
		switch r {
		case db.RoleVoter, db.RoleStandBy:
			if want != "" && want != r {
				return errdefs.Invalidf("a member is either a database voter (database) or a stand-by (database-standby), not both")
			}
			want = r
		case db.RoleLeader:
			// Shown, not given: the database elects its leader.
		default:
			return errdefs.Invalidf("unknown role %q (database, database-standby)", r)
		}
	}
	cur := ""
	for _, r := range m.Roles {
		if r == db.RoleVoter || r == db.RoleStandBy {
			cur = r
		}
	}
	if want != cur {
		// As LXD refuses it: go-dqlite's roles adjustment keeps MaxVoters
		// voters and MaxStandBys stand-bys among the online members and
		// gave a demoted voter its role back within seconds, and a leader
		// demoted by hand left the database without one for about 20 s.
		return errdefs.Invalidf("the database roles are assigned by the cluster, as in LXD: it keeps %d voters (database) and %d stand-bys (database-standby) among the online members and moves them when one goes offline; %s's role (%s) cannot be changed by hand", db.MaxVoters, db.MaxStandBys, m.Name, roleOrSpare(cur))
	}
	n := m.Node
	n.Description = req.Description
	if req.FailureDomain != "" {
		n.FailureDomain = req.FailureDomain
	}
	return d.db.UpdateNode(ctx, n)
}

// roleOrSpare names a database role for a message.
func roleOrSpare(r string) string {
	if r == "" {
		return "neither"
	}
	return r
}

// RemoveClusterMember takes a member out of the cluster: out of the
// database, its row gone, and it is told so (it becomes a standalone
// server with an empty database). A member with instances is refused
// unless force (for a member lost for good; its instances' rows go too).
func (d *Daemon) RemoveClusterMember(ctx context.Context, name string, force bool) error {
	if !d.db.Clustered() {
		return errdefs.Invalidf("this server is not clustered")
	}
	n, err := d.db.NodeByName(ctx, name)
	if err != nil {
		return err
	}
	if n.ID == d.db.NodeID() {
		return errdefs.Invalidf("a member cannot remove itself: run lodge cluster remove %s on another member", name)
	}
	nodes, err := d.db.Nodes(ctx)
	if err != nil {
		return err
	}
	if len(nodes) <= 1 {
		return errdefs.Invalidf("%s is the last member", name)
	}
	if !force {
		if in, err := d.db.ListInstancesOn(ctx, n.ID); err != nil {
			return err
		} else if len(in) > 0 {
			return errdefs.Conflictf("cluster member %q still has %d instances: move or delete them first (or evacuate it), or remove it with --force if it is lost for good", name, len(in))
		}
	}
	if err := d.db.RemoveRaftMember(ctx, n.Address); err != nil {
		return fmt.Errorf("take %s out of the cluster database: %w", name, err)
	}
	if err := d.db.DeleteNode(ctx, name, force); err != nil {
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.cl.transport.Leave(lctx, n.Address); err != nil {
		d.log.Warn("cluster: the removed member was not told (it is offline?)", "member", name, "err", err)
	}
	d.log.Info("cluster member removed", "member", name, "force", force)
	d.events.lifecycle("cluster-member-removed", "/1.0/cluster/members/"+name, nil)
	return nil
}

// LeaveCluster is what a removed member does when told (POST
// /internal/cluster/leave): it stops its database node and starts again
// as a standalone server with an empty database.
func (d *Daemon) LeaveCluster(ctx context.Context) error {
	if !d.db.Clustered() {
		return nil
	}
	// The other members removed it already; check with them that it is so.
	if _, err := d.db.NodeByName(ctx, d.db.Location()); err == nil {
		return errdefs.Conflictf("this member is still in the cluster's member list")
	}
	name := d.db.Location()
	go func() {
		ctx := context.WithoutCancel(ctx)
		if err := d.db.LeaveCluster(ctx); err != nil {
			d.log.Error("cluster: leave", "err", err)
			return
		}
		crt, key := d.clusterCertPaths()
		os.Remove(crt)
		os.Remove(key)
		d.forgetClusterCert()
		d.ops.SetLocation("none")
		if err := d.initPools(ctx); err != nil {
			d.log.Error("storage pools after leaving the cluster", "err", err)
		}
		d.startNetworks(ctx, nil)
		if addr := d.serverConfig(ctx, "core.https_address"); addr != "" && d.https != nil {
			_ = d.https.SetHTTPSAddress(addr)
		}
		d.log.Info("removed from the cluster: standalone now, with an empty database", "was", name)
	}()
	return nil
}

// ReceiveHeartbeat is the leader's heartbeat (PUT /internal/cluster/heartbeat).
func (d *Daemon) ReceiveHeartbeat(hb api.InternalHeartbeat) error {
	if !d.db.Clustered() {
		return errdefs.Invalidf("this server is not clustered")
	}
	d.cl.mu.Lock()
	d.cl.lastHeartbeat = time.Now()
	d.cl.mu.Unlock()
	return nil
}

// heartbeatInterval: several heartbeats per offline threshold, so that a
// member lost shows offline within the threshold of its last answer.
func (d *Daemon) heartbeatInterval(ctx context.Context) time.Duration {
	iv := d.offlineThreshold(ctx) / 4
	if iv > 5*time.Second {
		iv = 5 * time.Second
	}
	return iv
}

// startClusterLoop starts a member's background work: the heartbeats
// (sent while this member leads the database) and the listeners to the
// other members' events.
func (d *Daemon) startClusterLoop() {
	d.cl.mu.Lock()
	defer d.cl.mu.Unlock()
	if !d.db.Clustered() {
		return
	}
	d.startEventListeners()
	if d.cl.loop {
		return
	}
	d.cl.loop = true
	go d.clusterLoop(d.ctx)
}

// clusterLoop: the database leader's member sends heartbeats to the others
// and records who answered.
func (d *Daemon) clusterLoop(ctx context.Context) {
	defer func() {
		d.cl.mu.Lock()
		d.cl.loop = false
		d.cl.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.heartbeatInterval(ctx)):
		}
		if !d.db.Clustered() {
			return
		}
		leader, err := d.db.RaftLeader(ctx)
		if err != nil || leader != d.db.ClusterAddress() {
			continue
		}
		d.sendHeartbeats(ctx)
	}
}

func (d *Daemon) sendHeartbeats(ctx context.Context) {
	nodes, err := d.db.Nodes(ctx)
	if err != nil {
		d.log.Warn("cluster heartbeat: list members", "err", err)
		return
	}
	hb := api.InternalHeartbeat{Leader: d.db.ClusterAddress(), Members: map[string]string{}, Time: time.Now().UTC()}
	for _, n := range nodes {
		hb.Members[n.Name] = n.Address
	}
	var mu sync.Mutex
	seen := map[int64]time.Time{d.db.NodeID(): time.Now()}
	var wg sync.WaitGroup
	for _, n := range nodes {
		if n.ID == d.db.NodeID() {
			continue
		}
		wg.Add(1)
		go func(n db.Node) {
			defer wg.Done()
			hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := d.cl.transport.Heartbeat(hctx, n.Address, hb); err != nil {
				d.log.Debug("cluster heartbeat not answered", "member", n.Name, "err", err)
				return
			}
			mu.Lock()
			seen[n.ID] = time.Now()
			mu.Unlock()
		}(n)
	}
	wg.Wait()
	if err := d.db.SetHeartbeats(ctx, seen); err != nil {
		d.log.Warn("cluster heartbeat: record", "err", err)
	}
}

// ShutdownCluster hands this member's database role over before lodged
// stops, so that the others do not wait for it.
func (d *Daemon) ShutdownCluster(ctx context.Context) {
	if !d.db.Clustered() {
		return
	}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.db.Handover(hctx); err != nil {
		d.log.Warn("cluster: database handover", "err", err)
	}
}

func offlineThresholdKey(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < minOfflineThreshold {
		return fmt.Errorf("expected a whole number of seconds of at least %d, got %q", minOfflineThreshold, v)
	}
	return nil
}

// refuseClusterAddress: the address is set by clustering (enable, join)
// and fixed afterwards (a config write that keeps it changes nothing and
// is not refused).
func (d *Daemon) refuseClusterAddress(string) error {
	return errdefs.Invalidf("cluster.https_address is set when clustering is enabled or joined and cannot change")
}

// ServeDqlite hands a member's upgraded connection to this member's
// database node.
func (d *Daemon) ServeDqlite(conn net.Conn) { d.db.ServeDqlite(conn) }
