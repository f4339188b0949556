// Package client is lodge's Go client for the LXD 1.0 REST API, over the
// unix socket. The CLI reaches the daemon only through it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"lodge/api"
)

// StatusError is an error reply from the server.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return e.Msg }

// IsNotFound reports whether err is a 404 from the server.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

// Client talks to one lodged (or LXD) daemon.
type Client struct {
	http   *http.Client
	dialer websocket.Dialer
	base   string
	socket string
	// trace, if set, traces the requests (LODGE_TRACE=1; trace.go).
	trace *clientTrace
}

// ConnectDir connects to the daemon whose state directory is dir.
func ConnectDir(dir string) (*Client, error) {
	return Connect("unix://" + filepath.Join(dir, "unix.socket"))
}

// Connect connects to unix:///path/to/unix.socket.
func Connect(u string) (*Client, error) {
	sock, ok := strings.CutPrefix(u, "unix://")
	if !ok {
		return nil, fmt.Errorf("unsupported address %q: only unix:// sockets are supported so far", u)
	}
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", sock)
		if err != nil {
			return nil, fmt.Errorf("cannot reach lodged at %s (is it running? start it with lodged, or set LODGE_DIR): %w", sock, err)
		}
		return c, nil
	}
	c := &Client{
		// Large buffers: file transfers otherwise go through 4 KiB writes.
		http: &http.Client{Transport: &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 4,
			WriteBufferSize: 256 << 10, ReadBufferSize: 256 << 10}},
		dialer: websocket.Dialer{NetDialContext: dial, HandshakeTimeout: 10 * time.Second},
		base:   "http://unix.socket",
		socket: sock,
	}
	return c.withTrace(), nil
}

// raw sends a request and returns the HTTP response unparsed.
func (c *Client) raw(ctx context.Context, method, path string, body io.Reader, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.do(req)
}

// do sends a prepared request, unwrapping net/url's error decoration.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	var ue *url.Error
	if errors.As(err, &ue) {
		// "Post http://unix.socket/...: " says nothing a user can act on.
		err = ue.Err
	}
	return resp, err
}

// query sends a request and decodes the envelope. out receives the metadata
// of a sync reply; an async reply returns its Operation.
func (c *Client) query(ctx context.Context, method, path string, in any, out any, hdr http.Header) (*Operation, string, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, "", err
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.raw(ctx, method, path, body, hdr)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	return c.parse(resp, out)
}

func (c *Client) parse(resp *http.Response, out any) (*Operation, string, error) {
	var env api.Response
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return nil, "", fmt.Errorf("bad reply from server (HTTP %d): %w", resp.StatusCode, err)
	}
	switch env.Type {
	case api.ErrorResponse:
		return nil, "", &StatusError{Code: env.ErrorCode, Msg: env.Error}
	case api.AsyncResponse:
		var op api.Operation
		if err := json.Unmarshal(env.Metadata, &op); err != nil {
			return nil, "", fmt.Errorf("bad operation in reply: %w", err)
		}
		return &Operation{c: c, Op: op}, "", nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		// Taken as decoded: Unmarshal would check and copy it again (a
		// list of 1,000 instances is 2.5 MB).
		*raw = env.Metadata
	} else if out != nil && len(env.Metadata) > 0 {
		if err := json.Unmarshal(env.Metadata, out); err != nil {
			return nil, "", fmt.Errorf("bad reply metadata: %w", err)
		}
	}
	return nil, strings.Trim(resp.Header.Get("Etag"), `"`), nil
}

func (c *Client) get(ctx context.Context, path string, out any) (string, error) {
	_, etag, err := c.query(ctx, http.MethodGet, path, nil, out, nil)
	return etag, err
}

func (c *Client) async(ctx context.Context, method, path string, in any, hdr http.Header) (*Operation, error) {
	op, _, err := c.query(ctx, method, path, in, nil, hdr)
	if err != nil {
		return nil, err
	}
	if op == nil {
		return nil, fmt.Errorf("%s %s: expected an operation, got a sync reply", method, path)
	}
	return op, nil
}

// GetServer returns GET /1.0.
func (c *Client) GetServer(ctx context.Context) (api.Server, error) {
	var s api.Server
	_, err := c.get(ctx, "/1.0", &s)
	return s, err
}

// Operation is a server-side async operation.
type Operation struct {
	c  *Client
	Op api.Operation
}

// reconnectFor is how long Wait keeps asking for an operation after losing
// lodged: long enough for a restart (a crash, an upgrade), after which the
// operation's record says how it ended.
var reconnectFor = 30 * time.Second

// Wait blocks until the operation ends and returns its error, if it failed.
// If lodged goes away meanwhile, Wait asks again until it is back and
// reports the outcome it recorded (an operation a crash cut short is
// failed, and says so) instead of a broken connection.
func (o *Operation) Wait(ctx context.Context) error {
	var op api.Operation
	path := "/1.0/operations/" + url.PathEscape(o.Op.ID) + "/wait?timeout=-1"
	var lost error
	var deadline time.Time
	for {
		_, err := o.c.get(ctx, path, &op)
		if err == nil {
			break
		}
		if !lostDaemon(ctx, err) {
			if lost != nil && IsNotFound(err) {
				return fmt.Errorf("lost lodged while waiting for operation %s (%v), and it no longer knows the operation: check what it acted on", o.Op.ID, lost)
			}
			return err
		}
		if lost == nil {
			lost, deadline = err, time.Now().Add(reconnectFor)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lost lodged while waiting for operation %s (%v) and it did not come back within %s; once it is back, lodge operation show %s gives the outcome",
				o.Op.ID, lost, reconnectFor, o.Op.ID)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	o.Op = op
	if op.StatusCode != api.Success {
		if op.Err != "" {
			return errors.New(op.Err)
		}
		return fmt.Errorf("operation %s ended %s", op.ID, op.Status)
	}
	return nil
}

// lostDaemon tells a broken connection to lodged (it died or is restarting)
// from an answer it gave or the caller giving up.
func lostDaemon(ctx context.Context, err error) bool {
	var se *StatusError
	return !errors.As(err, &se) && ctx.Err() == nil
}

// GetOperation reads one operation, live or recorded.
func (c *Client) GetOperation(ctx context.Context, id string) (api.Operation, error) {
	var op api.Operation
	_, err := c.get(ctx, "/1.0/operations/"+url.PathEscape(id), &op)
	return op, err
}

// GetOperations lists the operations lodged has, running and ended, by
// status ("running", "success", "failure").
func (c *Client) GetOperations(ctx context.Context) (map[string][]api.Operation, error) {
	out := map[string][]api.Operation{}
	_, err := c.get(ctx, "/1.0/operations?recursion=1", &out)
	return out, err
}

// CancelOperation asks lodged to cancel a running operation.
func (c *Client) CancelOperation(ctx context.Context, id string) error {
	_, _, err := c.query(ctx, http.MethodDelete, "/1.0/operations/"+url.PathEscape(id), nil, nil, nil)
	return err
}

// Refresh re-reads the operation.
func (o *Operation) Refresh(ctx context.Context) error {
	_, err := o.c.get(ctx, "/1.0/operations/"+url.PathEscape(o.Op.ID), &o.Op)
	return err
}

// Cancel asks the server to cancel the operation.
func (o *Operation) Cancel(ctx context.Context) error { return o.c.CancelOperation(ctx, o.Op.ID) }
