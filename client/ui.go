package client

import (
	"context"
	"net/http"

	"lodge/api"
)

// UILoginToken asks lodged for a single-use link that logs a browser into
// the web UI on its HTTPS listener. Only the unix socket serves it.
func (c *Client) UILoginToken(ctx context.Context) (api.UILoginToken, error) {
	var out api.UILoginToken
	_, _, err := c.query(ctx, http.MethodPost, "/internal/ui/login-token", nil, &out, nil)
	return out, err
}
