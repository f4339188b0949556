package client

import (
	"context"
	"net/http"
	"net/url"

	"lodge/api"
)

func profilePath(name string) string { return "/1.0/profiles/" + url.PathEscape(name) }

// GetProfiles returns every profile.
func (c *Client) GetProfiles(ctx context.Context) ([]api.Profile, error) {
	var out []api.Profile
	_, err := c.get(ctx, "/1.0/profiles?recursion=1", &out)
	return out, err
}

// GetProfile returns a profile and its ETag.
func (c *Client) GetProfile(ctx context.Context, name string) (api.Profile, string, error) {
	var out api.Profile
	etag, err := c.get(ctx, profilePath(name), &out)
	return out, etag, err
}

// CreateProfile creates a profile.
func (c *Client) CreateProfile(ctx context.Context, p api.ProfilesPost) error {
	_, _, err := c.query(ctx, http.MethodPost, "/1.0/profiles", p, nil, nil)
	return err
}

// UpdateProfile replaces a profile's writable fields; etag guards against
// concurrent changes when not empty.
func (c *Client) UpdateProfile(ctx context.Context, name string, put api.ProfilePut, etag string) error {
	var hdr http.Header
	if etag != "" {
		hdr = http.Header{"If-Match": {`"` + etag + `"`}}
	}
	_, _, err := c.query(ctx, http.MethodPut, profilePath(name), put, nil, hdr)
	return err
}

// RenameProfile renames a profile.
func (c *Client) RenameProfile(ctx context.Context, name, newName string) error {
	_, _, err := c.query(ctx, http.MethodPost, profilePath(name), api.ProfilePost{Name: newName}, nil, nil)
	return err
}

// DeleteProfile deletes an unused profile.
func (c *Client) DeleteProfile(ctx context.Context, name string) error {
	_, _, err := c.query(ctx, http.MethodDelete, profilePath(name), nil, nil, nil)
	return err
}
