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
	out, _, err := c.GetImageETag(ctx, fp)
	return out, err
}

// GetImageETag returns the image and its ETag, for UpdateImage.
func (c *Client) GetImageETag(ctx context.Context, fp string) (api.Image, string, error) {
	var out api.Image
	etag, err := c.get(ctx, "/1.0/images/"+url.PathEscape(fp), &out)
	return out, etag, err
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
// ImageUpload is how an uploaded image is recorded: the file name it is
// exported under, whether untrusted clients see it, and properties added
// to those of its metadata (LXD's X-LXD-filename, -public and -properties).
type ImageUpload struct {
	Filename   string
	Public     bool
	Properties map[string]string
}

func (u ImageUpload) header(contentType string) http.Header {
	hdr := http.Header{"Content-Type": {contentType}}
	if u.Filename != "" {
		hdr.Set("X-LXD-filename", u.Filename)
	}
	if u.Public {
		hdr.Set("X-LXD-public", "1")
	}
	if len(u.Properties) > 0 {
		q := url.Values{}
		for k, v := range u.Properties {
			q.Set(k, v)
		}
		hdr.Set("X-LXD-properties", q.Encode())
	}
	return hdr
}

// CreateImage uploads a unified image tarball.
func (c *Client) CreateImage(ctx context.Context, r io.Reader, u ImageUpload) (*Operation, error) {
	resp, err := c.raw(ctx, http.MethodPost, "/1.0/images", r, u.header("application/octet-stream"))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	op, _, err := c.parse(resp, nil)
	return op, err
}

// UpdateImage replaces an image's editable fields (public, auto_update,
// properties) under its ETag, as lxc image edit does.
func (c *Client) UpdateImage(ctx context.Context, fp string, put api.ImagePut, etag string) error {
	var hdr http.Header
	if etag != "" {
		hdr = http.Header{"If-Match": {`"` + etag + `"`}}
	}
	_, _, err := c.query(ctx, http.MethodPut, "/1.0/images/"+url.PathEscape(fp), put, nil, hdr)
	return err
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
