package client

import (
	"context"
	"io"
	"net/http"
	"net/url"

	"lodge/api"
)

func backupPath(inst, name string) string { return instPath(inst) + "/backups/" + url.PathEscape(name) }

// CreateInstanceBackup starts a backup of an instance; the operation's
// resources name the backup it makes.
func (c *Client) CreateInstanceBackup(ctx context.Context, inst string, req api.InstanceBackupsPost) (*Operation, error) {
	return c.async(ctx, http.MethodPost, instPath(inst)+"/backups", req, nil)
}

// GetInstanceBackups lists an instance's backups.
func (c *Client) GetInstanceBackups(ctx context.Context, inst string) ([]api.InstanceBackup, error) {
	var out []api.InstanceBackup
	_, err := c.get(ctx, instPath(inst)+"/backups?recursion=1", &out)
	return out, err
}

// GetInstanceBackupFile streams a backup's tarball and says its length
// (-1 if the server did not).
func (c *Client) GetInstanceBackupFile(ctx context.Context, inst, name string) (io.ReadCloser, int64, error) {
	resp, err := c.raw(ctx, http.MethodGet, backupPath(inst, name)+"/export", nil, nil)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		_, _, err := c.parse(resp, nil)
		return nil, 0, err
	}
	return resp.Body, resp.ContentLength, nil
}

// DeleteInstanceBackup deletes a backup.
func (c *Client) DeleteInstanceBackup(ctx context.Context, inst, name string) (*Operation, error) {
	return c.async(ctx, http.MethodDelete, backupPath(inst, name), nil, nil)
}

// CreateInstanceFromBackup uploads a backup tarball as a new instance,
// named name and on pool if set (else as the backup says).
func (c *Client) CreateInstanceFromBackup(ctx context.Context, r io.Reader, name, pool string) (*Operation, error) {
	hdr := http.Header{"Content-Type": {"application/octet-stream"}}
	if name != "" {
		hdr.Set("X-LXD-name", name)
	}
	if pool != "" {
		hdr.Set("X-LXD-pool", pool)
	}
	resp, err := c.raw(ctx, http.MethodPost, "/1.0/instances", r, hdr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	op, _, err := c.parse(resp, nil)
	return op, err
}
