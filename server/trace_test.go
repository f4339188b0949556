package server

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"lodge/api"
	"lodge/trace"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A request with the trace header is logged, once it and the operation it
// started have ended, with the operation's steps; one without it is not.
func TestTraceHeaderLogsTheSteps(t *testing.T) {
	e := newTestEnv(t)
	var logged syncBuffer
	e.cfg.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	e2 := e.restart(t)
	e2.uploadImage(t, "busybox", "bb")
	if strings.Contains(logged.String(), "msg=trace") {
		t.Fatalf("a request without the header was traced:\n%s", logged.String())
	}
	_, resp, _ := e2.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"}}`, trace.Header, "t123")
	if op := e2.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("create: %+v", op)
	}
	_, resp, _ = e2.do(t, "PUT", "/1.0/instances/c1/state", `{"action":"start"}`, trace.Header, "t123")
	if op := e2.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("start: %+v", op)
	}
	e2.d.WaitOperations()
	out := logged.String()
	for _, want := range []string{`what="POST /1.0/instances"`, "operation: Creating instance", "pool: clone the image volume",
		`what="PUT /1.0/instances/c1/state"`, "start c1", "record its end (database)"} {
		if !strings.Contains(out, want) {
			t.Errorf("the trace lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "trace=") && strings.Count(out, "trace=t123") != strings.Count(out, "trace=") {
		t.Errorf("a trace under another id:\n%s", out)
	}
}

// LODGE_TRACE in lodged (Config.Trace) traces every request.
func TestTraceAll(t *testing.T) {
	e := newTestEnv(t)
	var logged syncBuffer
	e.cfg.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	e.cfg.Trace = true
	e2 := e.restart(t)
	e2.do(t, "GET", "/1.0", "")
	if !strings.Contains(logged.String(), `what="GET /1.0"`) {
		t.Fatalf("GET /1.0 not traced:\n%s", logged.String())
	}
}
