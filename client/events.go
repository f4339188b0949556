package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Events streams the server's events (GET /1.0/events, a websocket) of the
// given types ("" for all) to fn until ctx ends or the server closes it.
func (c *Client) Events(ctx context.Context, types []string, fn func(json.RawMessage) error) error {
	u := "ws" + strings.TrimPrefix(c.base, "http") + "/1.0/events"
	if len(types) > 0 {
		u += "?type=" + url.QueryEscape(strings.Join(types, ","))
	}
	conn, resp, err := c.dialer.DialContext(ctx, u, nil)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return fmt.Errorf("events: %s", resp.Status)
		}
		return fmt.Errorf("events: %w", err)
	}
	defer conn.Close()
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("events: %w", err)
		}
		if err := fn(msg); err != nil {
			return err
		}
	}
}

// Query sends a raw request to path and returns the status and body as the
// server sent them (lxc query).
func (c *Client) Query(ctx context.Context, method, path string, body io.Reader) (int, []byte, error) {
	resp, err := c.raw(ctx, method, path, body, nil)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
