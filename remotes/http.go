package remotes

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// HTTPOptions tune how a remote is reached. The zero value gives the
// defaults: an unreachable remote fails within a few seconds, a download
// that stops moving fails after StallTimeout.
type HTTPOptions struct {
	DialTimeout   time.Duration // default 5s
	HeaderTimeout time.Duration // default 10s
	StallTimeout  time.Duration // default 30s without a byte
	TLS           *tls.Config
}

func (o HTTPOptions) withDefaults() HTTPOptions {
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.HeaderTimeout == 0 {
		o.HeaderTimeout = 10 * time.Second
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = 30 * time.Second
	}
	return o
}

// HTTPClient fetches from one remote with those limits.
type HTTPClient struct {
	Name string // the remote's address, for messages
	opts HTTPOptions
	c    *http.Client
}

// NewHTTPClient makes a client for the remote at name.
func NewHTTPClient(name string, opts HTTPOptions) *HTTPClient {
	opts = opts.withDefaults()
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   opts.DialTimeout,
		ResponseHeaderTimeout: opts.HeaderTimeout,
		TLSClientConfig:       opts.TLS,
		MaxIdleConnsPerHost:   4,
		ReadBufferSize:        256 << 10,
		ForceAttemptHTTP2:     opts.TLS == nil,
	}
	return &HTTPClient{Name: name, opts: opts, c: &http.Client{Transport: tr}}
}

// Get fetches url; a non-2xx reply is an error naming the URL and status.
// The body fails (rather than hangs) when no byte arrives for StallTimeout.
func (h *HTTPClient) Get(ctx context.Context, url string) (io.ReadCloser, int64, error) {
	body, _, n, err := h.GetHeader(ctx, url)
	return body, n, err
}

// GetHeader is Get that also returns the reply's header.
func (h *HTTPClient) GetHeader(ctx context.Context, url string) (io.ReadCloser, http.Header, int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, nil, 0, fmt.Errorf("remote %s: bad URL %s: %v", h.Name, url, err)
	}
	resp, err := h.c.Do(req)
	if err != nil {
		cancel()
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap()
		}
		return nil, nil, 0, fmt.Errorf("remote %s: GET %s: %v: %w", h.Name, url, err, ErrUnreachable)
	}
	if resp.StatusCode/100 != 2 {
		resp.Body.Close()
		cancel()
		if resp.StatusCode == http.StatusNotFound {
			return nil, nil, 0, fmt.Errorf("remote %s: GET %s: 404 not found: %w", h.Name, url, ErrNotFound)
		}
		return nil, nil, 0, fmt.Errorf("remote %s: GET %s: HTTP %s: %w", h.Name, url, resp.Status, ErrUnreachable)
	}
	return newStallReader(resp.Body, cancel, h.opts.StallTimeout, h.Name, url), resp.Header, resp.ContentLength, nil
}

// Do sends a prepared request with the same limits (for API calls).
func (h *HTTPClient) Do(req *http.Request) (*http.Response, error) {
	resp, err := h.c.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap()
		}
		return nil, fmt.Errorf("remote %s: %s %s: %v: %w", h.Name, req.Method, req.URL, err, ErrUnreachable)
	}
	return resp, nil
}

// stallReader cancels the request when one Read waits longer than the
// timeout for data. Only time spent inside Read counts, so a slow consumer
// (disk, hashing) is never taken for a stalled server.
type stallReader struct {
	body      io.ReadCloser
	cancel    context.CancelFunc
	timeout   time.Duration
	name, url string

	mu      sync.Mutex
	timer   *time.Timer
	stalled bool
}

func newStallReader(body io.ReadCloser, cancel context.CancelFunc, timeout time.Duration, name, url string) *stallReader {
	s := &stallReader{body: body, cancel: cancel, timeout: timeout, name: name, url: url}
	s.timer = time.AfterFunc(time.Hour, func() {
		s.mu.Lock()
		s.stalled = true
		s.mu.Unlock()
		cancel()
	})
	s.timer.Stop()
	return s
}

func (s *stallReader) Read(p []byte) (int, error) {
	s.timer.Reset(s.timeout)
	n, err := s.body.Read(p)
	s.timer.Stop()
	if err != nil && err != io.EOF {
		s.mu.Lock()
		stalled := s.stalled
		s.mu.Unlock()
		if stalled {
			return n, fmt.Errorf("remote %s: GET %s: no data for %s, giving up: %w", s.name, s.url, s.timeout, ErrUnreachable)
		}
		return n, fmt.Errorf("remote %s: GET %s: %v", s.name, s.url, err)
	}
	return n, err
}

func (s *stallReader) Close() error {
	s.timer.Stop()
	err := s.body.Close()
	s.cancel()
	return err
}
