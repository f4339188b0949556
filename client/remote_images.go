package client

import (
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"time"

	"lodge/api"
)

// CopyImage asks the daemon to fetch an image (POST /1.0/images with a
// JSON source, e.g. type "image" from a remote server).
func (c *Client) CopyImage(ctx context.Context, req api.ImagesPost) (*Operation, error) {
	return c.async(ctx, http.MethodPost, "/1.0/images", req, nil)
}

// UpdateServerConfig merges keys into the server config (PATCH /1.0); an
// empty value unsets a key.
func (c *Client) UpdateServerConfig(ctx context.Context, kv map[string]string) error {
	cfg := map[string]any{}
	for k, v := range kv {
		cfg[k] = v
	}
	_, _, err := c.query(ctx, http.MethodPatch, "/1.0", api.ServerPut{Config: cfg}, nil, nil)
	return err
}

// WaitProgress waits for the operation like Wait, calling fn with each
// new state (about five times a second) so a caller can show progress.
func (o *Operation) WaitProgress(ctx context.Context, fn func(api.Operation)) error {
	for {
		var op api.Operation
		if _, err := o.c.get(ctx, "/1.0/operations/"+url.PathEscape(o.Op.ID)+"/wait?timeout=0.2", &op); err != nil {
			if lostDaemon(ctx, err) {
				return o.Wait(ctx) // Wait rides out a restart
			}
			return err
		}
		o.Op = op
		if fn != nil {
			fn(op)
		}
		if op.StatusCode.IsFinal() {
			return o.Wait(ctx)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// RefreshImage checks the image's origin for a newer build; the finished
// operation's metadata says "refreshed" and the current "fingerprint".
func (c *Client) RefreshImage(ctx context.Context, fp string) (*Operation, error) {
	return c.async(ctx, http.MethodPost, "/1.0/images/"+url.PathEscape(fp)+"/refresh", nil, nil)
}

// ExportImageRaw streams an image as the server sends it, with its
// Content-Type: one tarball, or multipart/form-data (metadata, rootfs)
// for a split image.
func (c *Client) ExportImageRaw(ctx context.Context, fp string) (string, io.ReadCloser, error) {
	resp, err := c.raw(ctx, http.MethodGet, "/1.0/images/"+url.PathEscape(fp)+"/export", nil, nil)
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		_, _, err := c.parse(resp, nil)
		return "", nil, err
	}
	return resp.Header.Get("Content-Type"), resp.Body, nil
}

// ImageSecret asks for a one-time secret that lets another server fetch
// this private image (POST /1.0/images/{fp}/secret).
func (c *Client) ImageSecret(ctx context.Context, fp string) (string, error) {
	op, err := c.async(ctx, http.MethodPost, "/1.0/images/"+url.PathEscape(fp)+"/secret", nil, nil)
	if err != nil {
		return "", err
	}
	s, _ := op.Op.Metadata["secret"].(string)
	if s == "" {
		return "", errors.New("the server returned no image secret")
	}
	return s, nil
}

// CreateImageSplit uploads a split image (metadata tarball and rootfs) as
// multipart/form-data, streaming both files.
func (c *Client) CreateImageSplit(ctx context.Context, meta, rootfs io.Reader, metaName, rootfsName string, u ImageUpload) (*Operation, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for _, p := range []struct {
			field, file string
			r           io.Reader
		}{{"metadata", metaName, meta}, {"rootfs", rootfsName, rootfs}} {
			part, err := mw.CreateFormFile(p.field, p.file)
			if err == nil {
				_, err = io.Copy(part, p.r)
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	resp, err := c.raw(ctx, http.MethodPost, "/1.0/images", pr, u.header(mw.FormDataContentType()))
	if err != nil {
		pr.CloseWithError(err)
		return nil, err
	}
	defer resp.Body.Close()
	op, _, err := c.parse(resp, nil)
	return op, err
}

// CreateImageExport uploads what ExportImageRaw of another server gave (a
// unified tarball, or a split image as multipart metadata + rootfs) as it
// came, so an image moves between servers without touching this disk.
func (c *Client) CreateImageExport(ctx context.Context, contentType string, body io.Reader, u ImageUpload) (*Operation, error) {
	resp, err := c.raw(ctx, http.MethodPost, "/1.0/images", body, u.header(contentType))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	op, _, err := c.parse(resp, nil)
	return op, err
}
