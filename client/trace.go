package client

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"lodge/trace"
)

// processStart is when this package was initialised: close to the start
// of the command's process, the origin of the client's trace.
var processStart = time.Now()

// clientTrace is the client's side of a trace (LODGE_TRACE=1 in the
// client's environment): every request carries trace.Header with one id
// for the whole command, so that lodged traces them (its log shows the
// steps of each under that id), and w gets the client's own timeline: each
// request's round trip, since the process started.
type clientTrace struct {
	id string
	w  io.Writer
	mu sync.Mutex
}

// newClientTrace is nil unless the environment asks for a trace.
func newClientTrace() *clientTrace {
	if !trace.Enabled(os.Getenv(trace.Env)) {
		return nil
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &clientTrace{id: hex.EncodeToString(b), w: os.Stderr}
}

func (t *clientTrace) header() http.Header {
	if t == nil {
		return nil
	}
	return http.Header{trace.Header: {t.id}}
}

// step prints one step of the client's timeline.
func (t *clientTrace) step(what string, start time.Time, err error) {
	if t == nil {
		return
	}
	end := ""
	if err != nil {
		end = " (" + err.Error() + ")"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, "lodge trace %s: +%7.2fms %7.2fms  %s%s\n", t.id,
		float64(start.Sub(processStart).Microseconds())/1000, float64(time.Since(start).Microseconds())/1000, what, end)
}

// tracing wraps a transport so that each request carries the trace's id
// and its round trip (until the reply's headers) is on the timeline.
type tracing struct {
	rt http.RoundTripper
	t  *clientTrace
}

func (tr tracing) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set(trace.Header, tr.t.id)
	start := time.Now()
	resp, err := tr.rt.RoundTrip(req)
	what := req.Method + " " + req.URL.RequestURI()
	if resp != nil {
		what += fmt.Sprintf(" -> %d", resp.StatusCode)
	}
	tr.t.step(what, start, err)
	return resp, err
}

// withTrace makes c trace its requests if the environment asks for it.
func (c *Client) withTrace() *Client {
	c.trace = newClientTrace()
	if c.trace != nil {
		c.http.Transport = tracing{rt: c.http.Transport, t: c.trace}
		c.trace.step("client ready", processStart, nil)
	}
	return c
}
