package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"lodge/api"
)

// GetCluster returns GET /1.0/cluster.
func (c *Client) GetCluster(ctx context.Context) (api.Cluster, error) {
	var out api.Cluster
	_, err := c.get(ctx, "/1.0/cluster", &out)
	return out, err
}

// UpdateCluster is PUT /1.0/cluster: enable clustering or join a cluster.
func (c *Client) UpdateCluster(ctx context.Context, put api.ClusterPut) (*Operation, error) {
	return c.async(ctx, http.MethodPut, "/1.0/cluster", put, nil)
}

// GetClusterMembers lists the members.
func (c *Client) GetClusterMembers(ctx context.Context) ([]api.ClusterMember, error) {
	var out []api.ClusterMember
	_, err := c.get(ctx, "/1.0/cluster/members?recursion=1", &out)
	return out, err
}

// GetClusterMember returns one member and its ETag.
func (c *Client) GetClusterMember(ctx context.Context, name string) (api.ClusterMember, string, error) {
	var out api.ClusterMember
	etag, err := c.get(ctx, "/1.0/cluster/members/"+url.PathEscape(name), &out)
	return out, etag, err
}

// UpdateClusterMember replaces a member's writable fields.
func (c *Client) UpdateClusterMember(ctx context.Context, name string, put api.ClusterMemberPut, etag string) error {
	var hdr http.Header
	if etag != "" {
		hdr = http.Header{"If-Match": {etag}}
	}
	_, _, err := c.query(ctx, http.MethodPut, "/1.0/cluster/members/"+url.PathEscape(name), put, nil, hdr)
	return err
}

// DeleteClusterMember removes a member (force: one lost for good).
func (c *Client) DeleteClusterMember(ctx context.Context, name string, force bool) error {
	p := "/1.0/cluster/members/" + url.PathEscape(name)
	if force {
		p += "?force=1"
	}
	_, _, err := c.query(ctx, http.MethodDelete, p, nil, nil, nil)
	return err
}

// CreateClusterJoinToken asks for a join token for a new member.
func (c *Client) CreateClusterJoinToken(ctx context.Context, name string) (api.ClusterMemberJoinToken, error) {
	op, err := c.async(ctx, http.MethodPost, "/1.0/cluster/members", api.ClusterMembersPost{ServerName: name}, nil)
	if err != nil {
		return api.ClusterMemberJoinToken{}, err
	}
	tok := api.ClusterMemberJoinToken{ServerName: name}
	tok.Secret, tok.Fingerprint, tok.Addresses, tok.ExpiresAt = tokenMetadata(op.Op.Metadata)
	if tok.Secret == "" {
		return tok, fmt.Errorf("the server returned no token secret")
	}
	return tok, nil
}

// GetClusterJoinTokens lists the pending join tokens.
func (c *Client) GetClusterJoinTokens(ctx context.Context) ([]api.ClusterMemberJoinToken, error) {
	var out []api.ClusterMemberJoinToken
	_, err := c.get(ctx, "/1.0/cluster/tokens", &out)
	return out, err
}

// RevokeClusterJoinToken deletes the pending join token for a member name.
func (c *Client) RevokeClusterJoinToken(ctx context.Context, name string) error {
	_, _, err := c.query(ctx, http.MethodDelete, "/1.0/cluster/tokens/"+url.PathEscape(name), nil, nil, nil)
	return err
}

// UpdateClusterMemberState evacuates or restores a member (POST
// /1.0/cluster/members/{name}/state, action evacuate or restore).
func (c *Client) UpdateClusterMemberState(ctx context.Context, name string, req api.ClusterMemberStatePost) (*Operation, error) {
	return c.async(ctx, http.MethodPost, "/1.0/cluster/members/"+url.PathEscape(name)+"/state", req, nil)
}
