package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/gorilla/websocket"

	"lodge/api"
)

// Instance migration between servers (LXD's migration API): the source's
// and the target's operations, and the relay a client runs between them
// when neither server can reach the other.

// MigrateInstance makes an instance the source of a migration (POST
// /1.0/instances/{name} with migration: true). Without req.Target the
// operation waits for the target, or a relay, to connect to its
// websockets, whose secrets its metadata holds.
func (c *Client) MigrateInstance(ctx context.Context, name string, req api.InstancePost) (*Operation, error) {
	req.Migration = true
	return c.async(ctx, http.MethodPost, instPath(name), req, nil)
}

// MoveInstanceToMember moves an instance to another member of a cluster
// (POST /1.0/instances/{name}?target=MEMBER with migration, as `lxc move
// --target` sends it).
func (c *Client) MoveInstanceToMember(ctx context.Context, name, member string) (*Operation, error) {
	live := false
	req := api.InstancePost{Name: name, Migration: true, Live: &live}
	return c.async(ctx, http.MethodPost, instPath(name)+"?target="+url.QueryEscape(member), req, nil)
}

// MigrateSnapshot makes a snapshot the source of a migration.
func (c *Client) MigrateSnapshot(ctx context.Context, inst, snap string, req api.InstanceSnapshotPost) (*Operation, error) {
	req.Migration = true
	return c.async(ctx, http.MethodPost, snapPath(inst, snap), req, nil)
}

// URL is the server's https://HOST:PORT, or "" on the unix socket.
func (c *Client) URL() string {
	if c.socket != "" {
		return ""
	}
	return c.base
}

// Secrets are the websocket secrets (name -> secret) a migration
// operation shows in its metadata.
func (o *Operation) Secrets() map[string]string {
	out := map[string]string{}
	for k, v := range o.Op.Metadata {
		if s, ok := v.(string); ok && k != "fs_progress" {
			out[k] = s
		}
	}
	return out
}

// dialSecret connects to one websocket of a running operation.
func (c *Client) dialSecret(ctx context.Context, opID, secret string) (*websocket.Conn, error) {
	d := c.dialer
	// The fs websocket carries the volumes: large frames, few writes.
	d.ReadBufferSize, d.WriteBufferSize = 256<<10, 256<<10
	u := "ws" + strings.TrimPrefix(c.base, "http") + "/1.0/operations/" + url.PathEscape(opID) + "/websocket?secret=" + url.QueryEscape(secret)
	conn, resp, err := d.DialContext(ctx, u, nil)
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("%w (HTTP %s)", err, resp.Status)
		}
		return nil, fmt.Errorf("connect to operation %s: %w", opID, err)
	}
	return conn, nil
}

// RelayMigration connects a migration's source operation (src, on the
// client sc) to its target's (dst, made with mode push, on dc) and
// copies every frame between them unchanged, control first, as LXD's
// client does when the two servers cannot reach each other. It returns
// once the websockets are joined; stop closes them (call it when both
// operations have ended).
func RelayMigration(ctx context.Context, sc *Client, src *Operation, dc *Client, dst *Operation) (stop func(), err error) {
	srcSecrets, dstSecrets := src.Secrets(), dst.Secrets()
	var names []string
	for name := range dstSecrets {
		if _, ok := srcSecrets[name]; !ok {
			return nil, fmt.Errorf("relay: the target expects a %q websocket the source does not offer", name)
		}
		if name != "control" {
			names = append(names, name)
		}
	}
	if _, ok := dstSecrets["control"]; !ok {
		return nil, fmt.Errorf("relay: the target's operation has no control websocket")
	}
	// control first, as the servers dial.
	sort.Strings(names)
	names = append([]string{"control"}, names...)
	var conns []*websocket.Conn
	var once sync.Once
	stop = func() {
		once.Do(func() {
			for _, c := range conns {
				c.Close()
			}
		})
	}
	for _, name := range names {
		a, err := sc.dialSecret(ctx, src.Op.ID, srcSecrets[name])
		if err != nil {
			stop()
			return nil, fmt.Errorf("relay: the source's %s websocket: %w", name, err)
		}
		conns = append(conns, a)
		b, err := dc.dialSecret(ctx, dst.Op.ID, dstSecrets[name])
		if err != nil {
			stop()
			return nil, fmt.Errorf("relay: the target's %s websocket: %w", name, err)
		}
		conns = append(conns, b)
		go relayFrames(a, b)
		go relayFrames(b, a)
	}
	return stop, nil
}

// relayFrames copies from's frames to to, each with its type, until from
// ends; then to is closed, so the peer sees the end too.
func relayFrames(from, to *websocket.Conn) {
	defer to.Close()
	buf := make([]byte, 256<<10)
	for {
		mt, r, err := from.NextReader()
		if err != nil {
			return
		}
		w, err := to.NextWriter(mt)
		if err != nil {
			return
		}
		if _, err := io.CopyBuffer(w, r, buf); err != nil {
			return
		}
		if err := w.Close(); err != nil {
			return
		}
	}
}

// IsConnectError tells an error of a migration peer that could not reach
// the other server (the next address may do) from any other failure.
func IsConnectError(err error) bool {
	if err == nil {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) && se.Code == http.StatusBadGateway {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "connect to the peer's") || strings.Contains(s, "connect to the migration target")
}
