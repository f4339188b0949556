package client

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"lodge/api"
	"lodge/trace"
)

// With LODGE_TRACE=1 every request of one client carries the same trace
// id, and the client's timeline names each request.
func TestTraceHeaderAndTimeline(t *testing.T) {
	t.Setenv(trace.Env, "1")
	var mu sync.Mutex
	var ids []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /1.0", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, r.Header.Get(trace.Header))
		mu.Unlock()
		syncReply(w, api.Server{APIVersion: "1.0"})
	})
	c := fakeServer(t, mux)
	var out bytes.Buffer
	c.trace.w = &out
	for i := 0; i < 2; i++ {
		if _, err := c.GetServer(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if len(ids) != 2 || ids[0] == "" || ids[0] != ids[1] || ids[0] != c.trace.id {
		t.Fatalf("trace ids sent: %q (client's %q)", ids, c.trace.id)
	}
	if got := strings.Count(out.String(), "GET /1.0 -> 200"); got != 2 {
		t.Fatalf("timeline:\n%s", out.String())
	}
}

// Without it, nothing is sent or printed.
func TestNoTraceByDefault(t *testing.T) {
	t.Setenv(trace.Env, "")
	var got string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /1.0", func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get(trace.Header)
		syncReply(w, api.Server{APIVersion: "1.0"})
	})
	c := fakeServer(t, mux)
	if _, err := c.GetServer(context.Background()); err != nil || got != "" || c.trace != nil {
		t.Fatalf("traced without asking: header %q, err %v", got, err)
	}
}
