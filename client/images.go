package client

import (
	"context"
	"io"
	"net/http"
	"net/url"

	"lodge/api"
)

func readAll(r io.Reader) ([]byte, error) { return io.ReadAll(r) }

// GetImages lists images (recursion=1).
func (c *Client) GetImages(ctx context.Context) ([]api.Image, error) {
	var out []api.Image
	_, err := c.get(ctx, "/1.0/images?recursion=1", &out)
	return out, err
}

// GetImage returns the image with this fingerprint or unique prefix.
func (c *Client) GetImage(ctx context.Context, fp string) (api.Image, error) {
	var out api.Image
	_, err := c.get(ctx, "/1.0/images/"+url.PathEscape(fp), &out)
	return out, err
}

// ResolveImage finds an image by alias first, then by fingerprint prefix.
func (c *Client) ResolveImage(ctx context.Context, ref string) (api.Image, error) {
	a, err := c.GetImageAlias(ctx, ref)
	if err == nil {
		return c.GetImage(ctx, a.Target)
	}
	if !IsNotFound(err) {
		return api.Image{}, err
	}
	return c.GetImage(ctx, ref)
}

// DeleteImage deletes an image.
func (c *Client) DeleteImage(ctx context.Context, fp string) (*Operation, error) {
	return c.async(ctx, http.MethodDelete, "/1.0/images/"+url.PathEscape(fp), nil, nil)
}

// CreateImage uploads a unified image tarball; the finished operation's
// metadata holds its "fingerprint".
func (c *Client) CreateImage(ctx context.Context, r io.Reader, filename string) (*Operation, error) {
	hdr := http.Header{"Content-Type": {"application/octet-stream"}}
	if filename != "" {
		hdr.Set("X-LXD-filename", filename)
	}
	resp, err := c.raw(ctx, http.MethodPost, "/1.0/images", r, hdr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	op, _, err := c.parse(resp, nil)
	return op, err
}

// ExportImage streams an image file.
func (c *Client) ExportImage(ctx context.Context, fp string) (io.ReadCloser, error) {
	resp, err := c.raw(ctx, http.MethodGet, "/1.0/images/"+url.PathEscape(fp)+"/export", nil, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		_, _, err := c.parse(resp, nil)
		return nil, err
	}
	return resp.Body, nil
}

// GetImageAlias returns an alias.
func (c *Client) GetImageAlias(ctx context.Context, name string) (api.ImageAliasesEntry, error) {
	var out api.ImageAliasesEntry
	_, err := c.get(ctx, "/1.0/images/aliases/"+url.PathEscape(name), &out)
	return out, err
}

// GetImageAliases lists aliases.
func (c *Client) GetImageAliases(ctx context.Context) ([]api.ImageAliasesEntry, error) {
	var out []api.ImageAliasesEntry
	_, err := c.get(ctx, "/1.0/images/aliases?recursion=1", &out)
	return out, err
}

// CreateImageAlias points a new alias at target.
func (c *Client) CreateImageAlias(ctx context.Context, name, target, description string) error {
	_, _, err := c.query(ctx, http.MethodPost, "/1.0/images/aliases",
		api.ImageAliasesPost{Name: name, ImageAliasesEntryPut: api.ImageAliasesEntryPut{Target: target, Description: description}}, nil, nil)
	return err
}

// UpdateImageAlias repoints an alias.
func (c *Client) UpdateImageAlias(ctx context.Context, name, target, description string) error {
	_, _, err := c.query(ctx, http.MethodPut, "/1.0/images/aliases/"+url.PathEscape(name),
		api.ImageAliasesEntryPut{Target: target, Description: description}, nil, nil)
	return err
}

// DeleteImageAlias removes an alias.
func (c *Client) DeleteImageAlias(ctx context.Context, name string) error {
	_, _, err := c.query(ctx, http.MethodDelete, "/1.0/images/aliases/"+url.PathEscape(name), nil, nil, nil)
	return err
}
