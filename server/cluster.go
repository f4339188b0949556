package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"lodge/api"
	"lodge/errdefs"
	"lodge/server/daemon"
)

// The cluster's HTTP side: the /1.0/cluster API, the internal routes the
// members use (accept a joining server, heartbeats, the dqlite upgrade),
// and the transport the daemon drives (daemon.ClusterTransport): HTTPS
// between members, each presenting the cluster certificate and checking
// the other's.

// memberState is the HTTP client to other members, made again when the
// cluster certificate changes (after a join).
type memberState struct {
	mu     sync.Mutex
	fp     string
	client *http.Client
	// fast is the same client for fan-out and heartbeats: short dial.
	fast *http.Client
}

type ctxKeyMember struct{}

// fromMember: the request came over HTTPS from another member of this
// cluster (it presented the cluster certificate).
func fromMember(r *http.Request) bool {
	v, _ := r.Context().Value(ctxKeyMember{}).(bool)
	return v
}

// memberTLS is the client side of member-to-member TLS: present the
// cluster certificate, expect it from the other end.
func memberTLS(cert *tls.Certificate, fp string) *tls.Config {
	return pinnedTLS(cert, fp)
}

// pinnedTLS trusts exactly the certificate with fingerprint fp (members'
// addresses are not in the certificate: the pin is the check).
func pinnedTLS(cert *tls.Certificate, fp string) *tls.Config {
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // verified below, by fingerprint
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("the member presented no certificate")
			}
			if got := daemon.CertFingerprint(raw[0]); got != fp {
				return fmt.Errorf("certificate fingerprint %s is not the cluster's (%s)", short(got), short(fp))
			}
			return nil
		},
	}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

func short(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}

// members returns the clients to other members (errors standalone).
func (s *Server) members() (*http.Client, *http.Client, error) {
	cert, fp := s.d.ClusterTLS()
	if cert == nil {
		return nil, nil, errdefs.Invalidf("this server is not clustered")
	}
	s.mem.mu.Lock()
	defer s.mem.mu.Unlock()
	if s.mem.client == nil || s.mem.fp != fp {
		mk := func(dial time.Duration) *http.Client {
			return &http.Client{Transport: &http.Transport{
				TLSClientConfig:     memberTLS(cert, fp),
				DialContext:         (&net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}).DialContext,
				TLSHandshakeTimeout: 5 * time.Second,
				MaxIdleConnsPerHost: 16,
				IdleConnTimeout:     90 * time.Second,
				ForceAttemptHTTP2:   false,
			}}
		}
		s.mem.client, s.mem.fast, s.mem.fp = mk(5*time.Second), mk(time.Second), fp
	}
	return s.mem.client, s.mem.fast, nil
}

// memberURL is path (with its query, if any) on the member at addr.
func memberURL(addr, path string) string {
	p, q, _ := strings.Cut(path, "?")
	return (&url.URL{Scheme: "https", Host: addr, Path: p, RawQuery: q}).String()
}

// memberCall sends a JSON request to a member and decodes the reply's
// metadata into out (if not nil).
func memberCall(ctx context.Context, c *http.Client, method, addr, path string, body, out any) error {
	_, err := memberCallHeader(ctx, c, method, addr, path, body, out)
	return err
}

// memberCallHeader is memberCall that returns the reply's headers too.
func memberCallHeader(ctx context.Context, c *http.Client, method, addr, path string, body, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, memberURL(addr, path), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, errdefs.Unavailablef("cluster member %s: %v", addr, err)
	}
	defer resp.Body.Close()
	var r api.Response
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&r); err != nil {
		return nil, errdefs.Unavailablef("cluster member %s: %s %s: %d, unreadable reply: %v", addr, method, path, resp.StatusCode, err)
	}
	if resp.StatusCode >= 400 || r.Type == api.ErrorResponse {
		return nil, errdefs.New(kindOfStatus(resp.StatusCode), fmt.Sprintf("cluster member %s: %s", addr, r.Error))
	}
	if out != nil && len(r.Metadata) > 0 {
		return resp.Header, json.Unmarshal(r.Metadata, out)
	}
	return resp.Header, nil
}

// kindOfStatus is statusOf's inverse, for errors another member answered.
func kindOfStatus(code int) error {
	switch code {
	case http.StatusNotFound:
		return errdefs.ErrNotFound
	case http.StatusConflict:
		return errdefs.ErrConflict
	case http.StatusBadRequest:
		return errdefs.ErrInvalid
	case http.StatusPreconditionFailed:
		return errdefs.ErrPrecondition
	case http.StatusForbidden:
		return errdefs.ErrForbidden
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return errdefs.ErrUnavailable
	}
	return errors.New("error")
}

// DialDqlite connects to a member's dqlite node: TLS to its HTTPS port,
// then an upgrade, as LXD's gateway does.
func (s *Server) DialDqlite(ctx context.Context, addr string) (net.Conn, error) {
	cert, fp := s.d.ClusterTLS()
	if cert == nil {
		return nil, errors.New("no cluster certificate")
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: memberTLS(cert, fp)}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	req := "POST /internal/database HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: dqlite\r\nConnection: Upgrade\r\nX-Dqlite-Version: 1\r\nContent-Length: 0\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	// Read the reply byte by byte up to its blank line: whatever follows
	// is dqlite's and must stay in the connection.
	var head []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if len(head) > 8192 {
			conn.Close()
			return nil, errors.New("dqlite upgrade: reply header too long")
		}
		if _, err := conn.Read(b); err != nil {
			conn.Close()
			return nil, fmt.Errorf("dqlite upgrade at %s: %w", addr, err)
		}
		head = append(head, b[0])
	}
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 101")) {
		conn.Close()
		line, _, _ := strings.Cut(string(head), "\r\n")
		return nil, fmt.Errorf("dqlite upgrade at %s refused: %s", addr, line)
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

// dqliteUpgrade is POST /internal/database with Upgrade: dqlite, from
// another member: the connection becomes its dqlite link to this node.
func (s *Server) dqliteUpgrade(r *http.Request) (response, error) {
	if r.Header.Get("Upgrade") != "dqlite" {
		return nil, errdefs.Invalidf("this endpoint needs Upgrade: dqlite")
	}
	return stream(func(w http.ResponseWriter) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			writeError(w, errors.New("connection cannot be upgraded"))
			return
		}
		conn, buf, err := hj.Hijack()
		if err != nil {
			return
		}
		if _, err := io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: dqlite\r\n\r\n"); err != nil {
			conn.Close()
			return
		}
		s.d.ServeDqlite(bufferedConn{conn, buf.Reader})
	}), nil
}

// bufferedConn reads what the HTTP server had buffered first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Accept asks the member at addr (pinned to fp) to accept this server.
func (s *Server) Accept(ctx context.Context, addr, fp string, cert *tls.Certificate, req api.InternalClusterAccept) (api.InternalClusterAcceptResponse, error) {
	var out api.InternalClusterAcceptResponse
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: pinnedTLS(cert, fp)}}
	defer c.CloseIdleConnections()
	err := memberCall(ctx, c, http.MethodPost, addr, "/internal/cluster/accept", req, &out)
	return out, err
}

// Heartbeat sends the leader's heartbeat to a member.
func (s *Server) Heartbeat(ctx context.Context, addr string, hb api.InternalHeartbeat) error {
	_, fast, err := s.members()
	if err != nil {
		return err
	}
	return memberCall(ctx, fast, http.MethodPut, addr, "/internal/cluster/heartbeat", hb, nil)
}

// MemberDo sends a request to the member at addr as a member (so that it
// serves it itself) and, when it answers with an operation, waits for the
// operation's end: an operation that failed is an error with its message.
// It returns the reply's metadata (the ended operation's, for one).
func (s *Server) MemberDo(ctx context.Context, addr, method, path string, body any) (json.RawMessage, error) {
	md, wait, err := s.MemberAsync(ctx, addr, method, path, body)
	if err != nil || wait == nil {
		return md, err
	}
	return wait(ctx)
}

// MemberAsync is MemberDo's first half: the request, answered at once;
// wait (nil for a reply that is no operation) waits for the operation.
func (s *Server) MemberAsync(ctx context.Context, addr, method, path string, body any) (json.RawMessage, func(context.Context) (json.RawMessage, error), error) {
	c, _, err := s.members()
	if err != nil {
		return nil, nil, err
	}
	var md json.RawMessage
	if err := memberCall(ctx, c, method, addr, path, body, &md); err != nil {
		return nil, nil, err
	}
	var op api.Operation
	if json.Unmarshal(md, &op) != nil || op.ID == "" || op.Class == "" {
		return md, nil, nil
	}
	wait := func(ctx context.Context) (json.RawMessage, error) {
		md := md
		if !op.StatusCode.IsFinal() {
			if err := memberCall(ctx, c, http.MethodGet, addr, "/1.0/operations/"+url.PathEscape(op.ID)+"/wait?timeout=-1", nil, &md); err != nil {
				return nil, err
			}
		}
		var end api.Operation
		if err := json.Unmarshal(md, &end); err != nil {
			return nil, err
		}
		if end.StatusCode != api.Success {
			if end.Err == "" {
				end.Err = fmt.Sprintf("its operation ended %s", end.Status)
			}
			return md, errors.New(end.Err)
		}
		return md, nil
	}
	return md, wait, nil
}

// Leave tells a removed member so.
func (s *Server) Leave(ctx context.Context, addr string) error {
	c, _, err := s.members()
	if err != nil {
		return err
	}
	return memberCall(ctx, c, http.MethodPost, addr, "/internal/cluster/leave", nil, nil)
}

// clusterAccept is POST /internal/cluster/accept: a joining server with a
// token's secret (over HTTPS only; the secret is its authority).
func (s *Server) clusterAccept(r *http.Request) (response, error) {
	if !viaHTTPS(r) {
		return nil, errdefs.Invalidf("a server joins over HTTPS")
	}
	var req api.InternalClusterAccept
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	resp, err := s.d.AcceptMember(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return reply(resp), nil
}

func (s *Server) clusterHeartbeat(r *http.Request) (response, error) {
	var hb api.InternalHeartbeat
	if err := decodeBody(r, &hb); err != nil {
		return nil, err
	}
	return replyEmpty(), s.d.ReceiveHeartbeat(hb)
}

func (s *Server) clusterLeave(r *http.Request) (response, error) {
	return replyEmpty(), s.d.LeaveCluster(r.Context())
}

// clusterGet is GET /1.0/cluster.
func (s *Server) clusterGet(r *http.Request) (response, error) {
	return reply(s.d.ClusterInfo(r.Context())), nil
}

// clusterPut is PUT /1.0/cluster: enable (server_name, enabled) or join
// (cluster_token, server_address).
func (s *Server) clusterPut(r *http.Request) (response, error) {
	var req api.ClusterPut
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if !req.Enabled {
		return nil, errdefs.Invalidf("leaving a cluster this way is not supported: remove the member from another one (lodge cluster remove NAME)")
	}
	if req.ClusterToken == "" && req.ClusterPassword != "" {
		return nil, errdefs.Invalidf("joining with a cluster password is not supported: use a join token (lodge cluster add NAME)")
	}
	if req.ClusterToken != "" {
		if req.ServerAddress == "" {
			req.ServerAddress = req.ClusterAddress
		}
		op, err := s.d.JoinCluster(r.Context(), req)
		return replyAsync(op), err
	}
	if req.ServerName == "" {
		return nil, errdefs.Invalidf("give this server's member name (server_name)")
	}
	op, err := s.d.EnableCluster(r.Context(), req.ServerName)
	return replyAsync(op), err
}

func memberURLPath(name string) string { return "/1.0/cluster/members/" + name }

func renderMember(m daemon.Member) api.ClusterMember {
	return api.ClusterMember{
		ClusterMemberPut: api.ClusterMemberPut{Roles: m.Roles, FailureDomain: m.FailureDomain, Description: m.Description,
			Config: map[string]string{}, Groups: []string{"default"}},
		ServerName: m.Name, URL: "https://" + m.Address, Database: m.Database, Status: m.Status, Message: m.Message, Architecture: m.Arch,
	}
}

func (s *Server) clusterMembersGet(r *http.Request) (response, error) {
	ms, err := s.d.ClusterMembers(r.Context())
	if err != nil {
		return nil, err
	}
	if recursion(r) == 0 {
		urls := make([]string, 0, len(ms))
		for _, m := range ms {
			urls = append(urls, memberURLPath(m.Name))
		}
		return reply(urls), nil
	}
	out := make([]api.ClusterMember, 0, len(ms))
	for _, m := range ms {
		out = append(out, renderMember(m))
	}
	return reply(out), nil
}

// clusterMembersPost is POST /1.0/cluster/members: a join token.
func (s *Server) clusterMembersPost(r *http.Request) (response, error) {
	var req api.ClusterMembersPost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	op, err := s.d.CreateJoinToken(r.Context(), req.ServerName)
	return replyAsync(op), err
}

func memberETag(m api.ClusterMember) any {
	return []any{m.Roles, m.FailureDomain, m.Description}
}

func (s *Server) clusterMemberGet(r *http.Request) (response, error) {
	m, err := s.d.ClusterMember(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	out := renderMember(m)
	return replyETag(out, memberETag(out)), nil
}

func (s *Server) clusterMemberPut(r *http.Request) (response, error) {
	var req api.ClusterMemberPut
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	return replyEmpty(), s.d.UpdateClusterMember(r.Context(), r.PathValue("name"), req)
}

func (s *Server) clusterMemberPost(r *http.Request) (response, error) {
	return nil, errdefs.Invalidf("renaming a cluster member is not supported")
}

func (s *Server) clusterMemberDelete(r *http.Request) (response, error) {
	force := r.URL.Query().Get("force") == "1" || r.URL.Query().Get("force") == "true"
	return replyEmpty(), s.d.RemoveClusterMember(r.Context(), r.PathValue("name"), force)
}

// clusterTokensGet lists the pending join tokens (lodge's; LXD lists its
// token operations).
func (s *Server) clusterTokensGet(r *http.Request) (response, error) {
	toks, err := s.d.ClusterJoinTokens(r.Context())
	if err != nil {
		return nil, err
	}
	return reply(toks), nil
}

func (s *Server) clusterTokenDelete(r *http.Request) (response, error) {
	return replyEmpty(), s.d.RevokeJoinToken(r.Context(), r.PathValue("name"))
}

// startCluster, for a member: listen where the others reach it (they
// reach its database node there too), then bring the database up.
func (s *Server) startCluster(ctx context.Context) error {
	if !s.d.Clustered() {
		return nil
	}
	if err := s.SetHTTPSAddress(s.d.ClusterAddress()); err != nil {
		return fmt.Errorf("cluster member: listen on %s: %w", s.d.ClusterAddress(), err)
	}
	return s.d.StartCluster(ctx)
}

// clusterMemberStatePost is POST /1.0/cluster/members/{name}/state:
// evacuate or restore a member.
func (s *Server) clusterMemberStatePost(r *http.Request) (response, error) {
	var req api.ClusterMemberStatePost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	op, err := s.d.ChangeMemberState(r.Context(), r.PathValue("name"), req)
	return replyAsync(op), err
}
