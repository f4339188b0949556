package client

import (
	"context"
	"net/http"
	"net/url"

	"lodge/api"
)

func forwardPath(network, listen string) string {
	return netPath(network) + "/forwards/" + url.PathEscape(listen)
}

// GetNetworkForwards lists a network's forwards (recursion=1).
func (c *Client) GetNetworkForwards(ctx context.Context, network string) ([]api.NetworkForward, error) {
	var out []api.NetworkForward
	_, err := c.get(ctx, netPath(network)+"/forwards?recursion=1", &out)
	return out, err
}

// GetNetworkForward returns a forward and its ETag.
func (c *Client) GetNetworkForward(ctx context.Context, network, listen string) (api.NetworkForward, string, error) {
	var out api.NetworkForward
	etag, err := c.get(ctx, forwardPath(network, listen), &out)
	return out, etag, err
}

// CreateNetworkForward adds a forward to a network.
func (c *Client) CreateNetworkForward(ctx context.Context, network string, req api.NetworkForwardsPost) error {
	_, _, err := c.query(ctx, http.MethodPost, netPath(network)+"/forwards", req, nil, nil)
	return err
}

// UpdateNetworkForward replaces a forward's description, config and ports.
func (c *Client) UpdateNetworkForward(ctx context.Context, network, listen string, put api.NetworkForwardPut, etag string) error {
	_, _, err := c.query(ctx, http.MethodPut, forwardPath(network, listen), put, nil, ifMatch(etag))
	return err
}

// DeleteNetworkForward removes a forward.
func (c *Client) DeleteNetworkForward(ctx context.Context, network, listen string) error {
	_, _, err := c.query(ctx, http.MethodDelete, forwardPath(network, listen), nil, nil, nil)
	return err
}
