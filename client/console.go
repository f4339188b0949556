package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"lodge/api"
	"lodge/wsstream"
)

// ConsoleArgs connect a console session to local streams.
type ConsoleArgs struct {
	// Stdin ends the session when it ends (the CLI ends it on Ctrl-a q).
	Stdin  io.Reader
	Stdout io.Writer
	Resize <-chan [2]int
}

// dialOp connects to one websocket of an operation.
func (c *Client) dialOp(ctx context.Context, op *Operation, fd string) (*websocket.Conn, error) {
	fds, _ := op.Op.Metadata["fds"].(map[string]any)
	secret, _ := fds[fd].(string)
	// ws:// on the unix socket, wss:// to an HTTPS remote.
	u := "ws" + strings.TrimPrefix(c.base, "http") + "/1.0/operations/" + url.PathEscape(op.Op.ID) + "/websocket?secret=" + url.QueryEscape(secret)
	start := time.Now()
	conn, _, err := c.dialer.DialContext(ctx, u, c.trace.header())
	c.trace.step("websocket "+fd, start, err)
	if err != nil {
		return nil, fmt.Errorf("connect to operation %s fd %s: %w", op.Op.ID, fd, err)
	}
	return conn, nil
}

// Console attaches to an instance's /dev/console until stdin ends or the
// instance stops.
func (c *Client) Console(ctx context.Context, name string, req api.InstanceConsolePost, args ConsoleArgs) error {
	if req.Type == "" {
		req.Type = "console"
	}
	op, err := c.async(ctx, http.MethodPost, instPath(name)+"/console", req, nil)
	if err != nil {
		return err
	}
	ctl, err := c.dialOp(ctx, op, "control")
	if err != nil {
		return err
	}
	defer ctl.Close()
	data, err := c.dialOp(ctx, op, "0")
	if err != nil {
		return err
	}
	defer data.Close()
	go func() {
		for {
			select {
			case sz, ok := <-args.Resize:
				if !ok {
					return
				}
				b, _ := json.Marshal(api.InstanceExecControl{Command: "window-resize",
					Args: map[string]string{"width": strconv.Itoa(sz[0]), "height": strconv.Itoa(sz[1])}})
				_ = ctl.WriteMessage(websocket.TextMessage, b)
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		for {
			if _, _, err := ctl.NextReader(); err != nil {
				return
			}
		}
	}()
	received := make(chan struct{})
	go func() { wsstream.Receive(data, args.Stdout); close(received) }()
	detached := make(chan struct{})
	go func() {
		_ = wsstream.Send(data, args.Stdin)
		close(detached)
	}()
	select {
	case <-received:
	case <-detached:
		// Closing the stream tells the server to let go of the console.
		_ = data.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		data.Close()
	case <-ctx.Done():
		return ctx.Err()
	}
	return op.Wait(ctx)
}

// ClearConsoleLog empties an instance's console log.
func (c *Client) ClearConsoleLog(ctx context.Context, name string) error {
	_, _, err := c.query(ctx, http.MethodDelete, instPath(name)+"/console", nil, nil, nil)
	return err
}
