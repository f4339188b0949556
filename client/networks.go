package client

import (
	"context"
	"net/http"
	"net/url"

	"lodge/api"
)

func netPath(name string) string { return "/1.0/networks/" + url.PathEscape(name) }

func ifMatch(etag string) http.Header {
	if etag == "" {
		return nil
	}
	return http.Header{"If-Match": {`"` + etag + `"`}}
}

// GetNetworks returns every managed network (recursion=1).
func (c *Client) GetNetworks(ctx context.Context) ([]api.Network, error) {
	var out []api.Network
	_, err := c.get(ctx, "/1.0/networks?recursion=1", &out)
	return out, err
}

// GetNetwork returns a network and its ETag.
func (c *Client) GetNetwork(ctx context.Context, name string) (api.Network, string, error) {
	var out api.Network
	etag, err := c.get(ctx, netPath(name), &out)
	return out, etag, err
}

// CreateNetwork creates a managed network.
func (c *Client) CreateNetwork(ctx context.Context, req api.NetworksPost) error {
	return c.CreateNetworkOn(ctx, req, "")
}

// CreateNetworkOn, with a cluster member as target, defines the network's
// part on that member, pending (LXD's ?target=); "" creates it.
func (c *Client) CreateNetworkOn(ctx context.Context, req api.NetworksPost, target string) error {
	_, _, err := c.query(ctx, http.MethodPost, "/1.0/networks"+targetQuery(target), req, nil, nil)
	return err
}

// GetNetworkOn is a cluster member's view of a network; "" is the
// cluster's.
func (c *Client) GetNetworkOn(ctx context.Context, name, target string) (api.Network, string, error) {
	var out api.Network
	etag, err := c.get(ctx, netPath(name)+targetQuery(target), &out)
	return out, etag, err
}

// UpdateNetwork replaces a network's config and description.
func (c *Client) UpdateNetwork(ctx context.Context, name string, put api.NetworkPut, etag string) error {
	_, _, err := c.query(ctx, http.MethodPut, netPath(name), put, nil, ifMatch(etag))
	return err
}

// DeleteNetwork deletes a network no instance uses.
func (c *Client) DeleteNetwork(ctx context.Context, name string) error {
	_, _, err := c.query(ctx, http.MethodDelete, netPath(name), nil, nil, nil)
	return err
}

// GetNetworkState returns a network's live state.
func (c *Client) GetNetworkState(ctx context.Context, name string) (api.NetworkState, error) {
	var out api.NetworkState
	_, err := c.get(ctx, netPath(name)+"/state", &out)
	return out, err
}

// GetNetworkLeases returns a network's DHCP leases.
func (c *Client) GetNetworkLeases(ctx context.Context, name string) ([]api.NetworkLease, error) {
	var out []api.NetworkLease
	_, err := c.get(ctx, netPath(name)+"/leases", &out)
	return out, err
}
