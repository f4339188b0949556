package client

import (
	"context"

	"lodge/api"
)

// GetConfigMetadata documents the config keys the server accepts.
func (c *Client) GetConfigMetadata(ctx context.Context) (api.ConfigMetadata, error) {
	var out api.ConfigMetadata
	_, err := c.get(ctx, "/1.0/metadata/configuration", &out)
	return out, err
}

// GetResources describes the server's host.
func (c *Client) GetResources(ctx context.Context) (api.Resources, error) {
	var out api.Resources
	_, err := c.get(ctx, "/1.0/resources", &out)
	return out, err
}
