package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"lodge/api"
)

func instPath(name string) string { return "/1.0/instances/" + url.PathEscape(name) }

// GetInstances returns every instance with its state (recursion=2), in one request.
func (c *Client) GetInstances(ctx context.Context) ([]api.InstanceFull, error) {
	var out []api.InstanceFull
	_, err := c.get(ctx, "/1.0/instances?recursion=2", &out)
	return out, err
}

// QueryInstances returns the instances, with their state, that match
// filter (GET /1.0/instances?recursion=2&filter=, the api_filtering
// language: "status eq running and location eq m2").
func (c *Client) QueryInstances(ctx context.Context, filter string) ([]api.InstanceFull, error) {
	var out []api.InstanceFull
	_, err := c.get(ctx, "/1.0/instances?"+url.Values{"recursion": {"2"}, "filter": {filter}}.Encode(), &out)
	return out, err
}

// GetInstancesJSON returns GET /1.0/instances?recursion=2's metadata as the
// server sent it, for callers that only pass it on (list --format json).
func (c *Client) GetInstancesJSON(ctx context.Context) (json.RawMessage, error) {
	resp, err := c.raw(ctx, "GET", "/1.0/instances?recursion=2", nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read the instance list: %w", err)
	}
	if md, ok := syncMetadata(body); ok {
		return md, nil
	}
	var out json.RawMessage
	_, _, err = c.parse(&http.Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(body))}, &out)
	return out, err
}

// syncEnvelope is a successful sync reply up to its metadata, as lodged
// and LXD write it (api.Response's fields in order; metadata is last).
var syncEnvelope = []byte(`{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":`)

// syncMetadata cuts the metadata out of a reply written exactly as
// syncEnvelope, metadata, "}" and a newline, without decoding it: a list
// of 1,000 instances is 2.5 MB that a decoder would scan twice to pass on
// as it came. Any other reply is left to the decoder.
func syncMetadata(body []byte) (json.RawMessage, bool) {
	rest, ok := bytes.CutPrefix(body, syncEnvelope)
	if !ok {
		return nil, false
	}
	rest = bytes.TrimRight(rest, "\n")
	md, ok := bytes.CutSuffix(rest, []byte("}"))
	if !ok || len(md) == 0 {
		return nil, false
	}
	return md, true
}

// GetInstanceNames returns the names of all instances (recursion=0).
func (c *Client) GetInstanceNames(ctx context.Context) ([]string, error) {
	var urls []string
	if _, err := c.get(ctx, "/1.0/instances", &urls); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(urls))
	for _, u := range urls {
		names = append(names, lastSegment(u))
	}
	return names, nil
}

func lastSegment(u string) string {
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] == '/' {
			s, err := url.PathUnescape(u[i+1:])
			if err != nil {
				return u[i+1:]
			}
			return s
		}
	}
	return u
}

// GetInstance returns an instance and its ETag.
func (c *Client) GetInstance(ctx context.Context, name string) (api.Instance, string, error) {
	var out api.Instance
	etag, err := c.get(ctx, instPath(name), &out)
	return out, etag, err
}

// GetInstanceFull returns an instance with its state (recursion=1).
func (c *Client) GetInstanceFull(ctx context.Context, name string) (api.InstanceFull, error) {
	var out api.InstanceFull
	_, err := c.get(ctx, instPath(name)+"?recursion=1", &out)
	return out, err
}

// GetInstanceState returns an instance's live state.
func (c *Client) GetInstanceState(ctx context.Context, name string) (api.InstanceState, error) {
	var out api.InstanceState
	_, err := c.get(ctx, instPath(name)+"/state", &out)
	return out, err
}

// CreateInstance starts creating an instance.
func (c *Client) CreateInstance(ctx context.Context, req api.InstancesPost) (*Operation, error) {
	return c.async(ctx, http.MethodPost, "/1.0/instances", req, nil)
}

// CreateInstanceOn creates an instance on the cluster member named
// target (LXD's ?target=; "" lets the cluster place it).
func (c *Client) CreateInstanceOn(ctx context.Context, req api.InstancesPost, target string) (*Operation, error) {
	if target == "" {
		return c.CreateInstance(ctx, req)
	}
	return c.async(ctx, http.MethodPost, "/1.0/instances?target="+url.QueryEscape(target), req, nil)
}

// UpdateInstance replaces an instance's writable fields; etag guards against
// concurrent changes when not empty.
func (c *Client) UpdateInstance(ctx context.Context, name string, put api.InstancePut, etag string) (*Operation, error) {
	var hdr http.Header
	if etag != "" {
		hdr = http.Header{"If-Match": {`"` + etag + `"`}}
	}
	return c.async(ctx, http.MethodPut, instPath(name), put, hdr)
}

// UpdateInstanceState starts, stops, restarts, freezes or unfreezes.
func (c *Client) UpdateInstanceState(ctx context.Context, name string, req api.InstanceStatePut) (*Operation, error) {
	return c.async(ctx, http.MethodPut, instPath(name)+"/state", req, nil)
}

// DeleteInstance deletes a stopped instance.
func (c *Client) DeleteInstance(ctx context.Context, name string) (*Operation, error) {
	return c.async(ctx, http.MethodDelete, instPath(name), nil, nil)
}

// ConsoleLog returns the instance's console log.
func (c *Client) ConsoleLog(ctx context.Context, name string) (string, error) {
	resp, err := c.raw(ctx, http.MethodGet, instPath(name)+"/console", nil, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _, err := c.parse(resp, nil)
		return "", err
	}
	b, err := readAll(resp.Body)
	return string(b), err
}
