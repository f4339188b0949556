package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"lodge/api"
)

// FileInfo is what the server says about a path in an instance.
type FileInfo struct {
	Type    string // file, directory, symlink
	UID     int
	GID     int
	Mode    uint32
	Entries []string // directories
}

func filesPath(name, p string) string {
	return instPath(name) + "/files?path=" + url.QueryEscape(p)
}

// GetFile reads a path. For a file (or a symlink, whose body is its target)
// the caller must close the returned reader; for a directory it is nil and
// Entries lists it.
func (c *Client) GetFile(ctx context.Context, name, p string) (io.ReadCloser, FileInfo, error) {
	resp, err := c.raw(ctx, http.MethodGet, filesPath(name, p), nil, nil)
	if err != nil {
		return nil, FileInfo{}, err
	}
	info := FileInfo{Type: resp.Header.Get("X-LXD-type")}
	info.UID, _ = strconv.Atoi(resp.Header.Get("X-LXD-uid"))
	info.GID, _ = strconv.Atoi(resp.Header.Get("X-LXD-gid"))
	if m, err := strconv.ParseUint(resp.Header.Get("X-LXD-mode"), 8, 32); err == nil {
		info.Mode = uint32(m)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		defer resp.Body.Close()
		var env api.Response
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
			return nil, info, fmt.Errorf("bad reply from server: %w", err)
		}
		if env.Type == api.ErrorResponse {
			return nil, info, &StatusError{Code: env.ErrorCode, Msg: env.Error}
		}
		if err := json.Unmarshal(env.Metadata, &info.Entries); err != nil {
			return nil, info, fmt.Errorf("bad directory listing: %w", err)
		}
		if info.Type == "" {
			info.Type = "directory"
		}
		return nil, info, nil
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, info, &StatusError{Code: resp.StatusCode, Msg: resp.Status}
	}
	return resp.Body, info, nil
}

// FileArgs describe a push; UID/GID -1 leave the server's default.
type FileArgs struct {
	Content io.Reader // file content, or the symlink target
	Type    string    // file (default), directory, symlink
	UID     int
	GID     int
	Mode    uint32 // 0: the server's default
	Append  bool
	// Size, if known (> 0), is sent as Content-Length instead of chunking.
	Size int64
}

// PushFile creates or replaces a path in an instance.
func (c *Client) PushFile(ctx context.Context, name, p string, a FileArgs) error {
	hdr := http.Header{"Content-Type": {"application/octet-stream"}}
	if a.Type != "" {
		hdr.Set("X-LXD-type", a.Type)
	}
	if a.UID >= 0 {
		hdr.Set("X-LXD-uid", strconv.Itoa(a.UID))
	}
	if a.GID >= 0 {
		hdr.Set("X-LXD-gid", strconv.Itoa(a.GID))
	}
	if a.Mode != 0 {
		hdr.Set("X-LXD-mode", fmt.Sprintf("%04o", a.Mode))
	}
	if a.Append {
		hdr.Set("X-LXD-write", "append")
	}
	body := a.Content
	if body == nil {
		body = strings.NewReader("")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+filesPath(name, p), body)
	if err != nil {
		return err
	}
	req.Header = hdr
	if a.Size > 0 {
		req.ContentLength = a.Size
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _, err = c.parse(resp, nil)
	return err
}

// DeleteFile removes a file, symlink or empty directory.
func (c *Client) DeleteFile(ctx context.Context, name, p string) error {
	_, _, err := c.query(ctx, http.MethodDelete, filesPath(name, p), nil, nil, nil)
	return err
}
