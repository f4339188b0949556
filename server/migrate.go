package server

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"lodge/api"
	"lodge/errdefs"
	"lodge/migration"
	"lodge/server/daemon"
)

// The transport of instance migrations (issue 16): the websockets of a
// migration operation, accepted from the peer (or a relaying client) by
// their secrets, or dialed to the peer's operation. The daemon gets them
// as a daemon.MigrationLink and does the rest.

// migrationWait is how long a migration operation waits for its peer to
// connect both websockets, as LXD does.
const migrationWait = 10 * time.Second

// migrationUpgrader has large buffers: every fs frame would otherwise go
// out in 4 KiB pieces.
var migrationUpgrader = websocket.Upgrader{
	CheckOrigin:     func(*http.Request) bool { return true },
	ReadBufferSize:  256 << 10,
	WriteBufferSize: 256 << 10,
}

// migrationChannels are a migration's websockets, in the order they are
// dialed (control first, as LXD does).
var migrationChannels = []string{"control", "fs"}

// migrationSession accepts a migration's websockets by their secrets.
type migrationSession struct {
	secrets map[string]string // channel -> secret
	mu      sync.Mutex
	conns   map[string]*websocket.Conn
	closed  bool
	all     chan struct{} // closed once every channel is connected
}

func newMigrationSession() *migrationSession {
	m := &migrationSession{secrets: map[string]string{}, conns: map[string]*websocket.Conn{}, all: make(chan struct{})}
	for _, c := range migrationChannels {
		m.secrets[c] = newSecret()
	}
	return m
}

func (m *migrationSession) connect(secret string, w http.ResponseWriter, r *http.Request) error {
	m.mu.Lock()
	var ch string
	for name, s := range m.secrets {
		if subtle.ConstantTimeCompare([]byte(s), []byte(secret)) == 1 {
			ch = name
		}
	}
	switch {
	case ch == "":
		m.mu.Unlock()
		return errdefs.Forbiddenf("websocket secret does not match this operation")
	case m.closed:
		m.mu.Unlock()
		return errdefs.Conflictf("this migration is no longer waiting for connections")
	}
	if _, dup := m.conns[ch]; dup {
		m.mu.Unlock()
		return errdefs.Conflictf("the migration's %s websocket is already connected", ch)
	}
	m.conns[ch] = nil // reserved while upgrading
	m.mu.Unlock()
	conn, err := migrationUpgrader.Upgrade(w, r, nil)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		delete(m.conns, ch)
		return nil // Upgrade answered the client
	}
	if m.closed {
		conn.Close()
		return nil
	}
	m.conns[ch] = conn
	for _, c := range migrationChannels {
		if m.conns[c] == nil {
			return nil
		}
	}
	close(m.all)
	return nil
}

// wait returns the connections once both are up.
func (m *migrationSession) wait(ctx context.Context) (migration.Conn, migration.Conn, error) {
	t := time.NewTimer(migrationWait)
	defer t.Stop()
	select {
	case <-m.all:
	case <-t.C:
		m.close()
		//lint:ignore ST1005 LXD's wording, which its clients show
		return nil, nil, errors.New("Timed out waiting for migration connections")
	case <-ctx.Done():
		m.close()
		return nil, nil, context.Cause(ctx)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.conns["control"], m.conns["fs"], nil
}

func (m *migrationSession) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for _, c := range m.conns {
		if c != nil {
			c.Close()
		}
	}
}

func (m *migrationSession) link() daemon.MigrationLink {
	return daemon.MigrationLink{Secrets: m.secrets, Connector: m.connect, Connect: m.wait, Close: m.close}
}

// dialMigration is the link of a migration that connects to the peer's
// operation (a pull target, a push source): only to the operation the
// request names, and only to a server with the certificate it gives.
func dialMigration(opURL, certPEM string, secrets map[string]string) (daemon.MigrationLink, error) {
	u, err := url.Parse(opURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || !strings.HasPrefix(u.Path, "/1.0/operations/") || u.RawQuery != "" {
		return daemon.MigrationLink{}, errdefs.Invalidf("migration: operation %q: expected https://HOST:PORT/1.0/operations/ID", opURL)
	}
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		return daemon.MigrationLink{}, errdefs.Invalidf("migration: the peer's certificate is missing or not PEM; lodge connects only to a server whose certificate it is given")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return daemon.MigrationLink{}, errdefs.Invalidf("migration: the peer's certificate: %v", err)
	}
	for _, ch := range migrationChannels {
		if secrets[ch] == "" {
			return daemon.MigrationLink{}, errdefs.Invalidf("migration: no secret for the peer's %s websocket", ch)
		}
	}
	// As LXD: the peer's certificate is the only root; the name checked
	// is its first DNS name, else the host dialed.
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		host = u.Host
	}
	name := strings.Trim(host, "[]")
	if len(cert.DNSNames) > 0 {
		name = cert.DNSNames[0]
	}
	dialer := websocket.Dialer{
		TLSClientConfig:  &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots, ServerName: name},
		HandshakeTimeout: 5 * time.Second,
		NetDialContext:   (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		ReadBufferSize:   256 << 10,
		WriteBufferSize:  256 << 10,
	}
	var mu sync.Mutex
	var conns []*websocket.Conn
	closeAll := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
		conns = nil
	}
	connect := func(ctx context.Context) (migration.Conn, migration.Conn, error) {
		got := map[string]*websocket.Conn{}
		for _, ch := range migrationChannels {
			ws := "wss://" + u.Host + u.EscapedPath() + "/websocket?secret=" + url.QueryEscape(secrets[ch])
			c, resp, err := dialer.DialContext(ctx, ws, nil)
			if err != nil {
				closeAll()
				if resp != nil {
					err = fmt.Errorf("%w (HTTP %s)", err, resp.Status)
				}
				return nil, nil, fmt.Errorf("connect to the peer's %s websocket at %s: %w", ch, u.Host, err)
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			got[ch] = c
		}
		return got["control"], got["fs"], nil
	}
	return daemon.MigrationLink{Connect: connect, Close: closeAll}, nil
}

// sourceLink is the link of a migration source: push to the target a
// request names, else wait for the target (pull) or a relaying client.
func sourceLink(target *api.InstancePostTarget) (daemon.MigrationLink, error) {
	if target == nil {
		return newMigrationSession().link(), nil
	}
	return dialMigration(target.Operation, target.Certificate, target.Websockets)
}

// targetLink is the link of a migration target by its source's mode:
// pull (the default) dials the source's operation, push waits for it.
func targetLink(src api.InstanceSource) (daemon.MigrationLink, error) {
	switch src.Mode {
	case "", "pull":
		return dialMigration(src.Operation, src.Certificate, src.Websockets)
	case "push":
		return newMigrationSession().link(), nil
	}
	return daemon.MigrationLink{}, errdefs.Invalidf("migration mode %q is not supported: the target speaks pull and push (relay is the client's, which connects the two)", src.Mode)
}

// DialMigration is dialMigration for the daemon (a copy that pulls from
// another member).
func (s *Server) DialMigration(opURL, certPEM string, secrets map[string]string) (daemon.MigrationLink, error) {
	return dialMigration(opURL, certPEM, secrets)
}

// instanceMigrate is POST /1.0/instances/{name} with migration: the
// instance (or, from snapshotPost, a snapshot) as a migration source.
func (s *Server) instanceMigrate(r *http.Request, name, snap string, req api.InstancePost) (response, error) {
	if t := r.URL.Query().Get("target"); t != "" && snap == "" && req.Target == nil {
		// lxc move NAME --target MEMBER: to another member of this
		// cluster. The target follows (see forward); the instance's
		// member moves it.
		if s.d.MoveTargetHere(r.Context(), name, t) {
			op, err := s.d.MoveHere(r.Context(), name, req)
			return replyAsync(op), err
		}
		op, err := s.d.MoveToMember(r.Context(), name, t, req, newMigrationSession().link())
		return replyAsync(op), err
	}
	link, err := sourceLink(req.Target)
	if err != nil {
		return nil, err
	}
	op, err := s.d.MigrateInstance(r.Context(), name, snap, req, link)
	return replyAsync(op), err
}

// instancesReceive is POST /1.0/instances with source type migration.
func (s *Server) instancesReceive(r *http.Request, req api.InstancesPost) (response, error) {
	if req.Source.ClusterMoveSourceName != "" && !fromMember(r) {
		return nil, errdefs.Forbiddenf("cluster_move_source_name is for the members of a cluster: move an instance with POST /1.0/instances/NAME?target=MEMBER")
	}
	link, err := targetLink(req.Source)
	if err != nil {
		return nil, err
	}
	op, err := s.d.ReceiveInstance(r.Context(), req, link)
	return replyAsync(op), err
}
