package server

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lodge/api"
	"lodge/server/daemon"
	"lodge/server/operations"
	"lodge/storage"
)

// restart builds a second server on e's database and state, as a lodged
// started after e's was killed, and runs its start-up recovery.
func (e *testEnv) restart(t *testing.T) *testEnv {
	t.Helper()
	e2 := *e
	e2.start(t)
	e2.d.Recover(context.Background())
	return &e2
}

func opOf(t *testing.T, resp api.Response) api.Operation {
	t.Helper()
	var o api.Operation
	if err := json.Unmarshal(resp.Metadata, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

// An operation running when lodged dies is reported failed after the
// restart, not 404; ended ones keep their outcome.
func TestOperationsAfterRestart(t *testing.T) {
	e := newTestEnv(t)
	release := make(chan struct{})
	defer close(release)
	running := e.d.StartOperation(operations.Spec{Description: "Creating instance", Resources: daemon.InstanceResources("c1"), MayCancel: true,
		Metadata: map[string]any{"fds": map[string]any{"0": "websocket-secret"}}},
		func(ctx context.Context, op *operations.Op) error {
			op.SetMetadata("progress", "Unpacking image")
			<-release
			return nil
		})
	done := e.d.StartOperation(operations.Spec{Description: "Executing command"}, func(ctx context.Context, op *operations.Op) error {
		op.SetMetadata("return", 3)
		return nil
	})
	failed := e.d.StartOperation(operations.Spec{Description: "Deleting instance"}, func(ctx context.Context, op *operations.Op) error {
		return errors.New("delete c9: busy")
	})
	<-done.Done()
	<-failed.Done()

	e2 := e.restart(t)
	tests := []struct {
		name string
		id   string
		code api.StatusCode
		err  string
		md   map[string]any
	}{
		// Progress is not written as it changes: only the start and the end are.
		{"running when killed", running.ID(), api.Failure, interrupted, nil},
		{"succeeded before", done.ID(), api.Success, "", map[string]any{"return": float64(3)}},
		{"failed before", failed.ID(), api.Failure, "delete c9: busy", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, resp, _ := e2.do(t, "GET", "/1.0/operations/"+tc.id, "")
			o := opOf(t, resp)
			if code != 200 || o.ID != tc.id || o.StatusCode != tc.code || o.Status != tc.code.String() || o.Err != tc.err || o.MayCancel {
				t.Fatalf("get: %d %+v", code, o)
			}
			if len(o.Metadata) != len(tc.md) || (tc.md != nil && o.Metadata["return"] != tc.md["return"]) || o.Metadata["fds"] != nil {
				t.Fatalf("metadata: %v, want %v", o.Metadata, tc.md)
			}
			// /wait of an ended operation answers at once, even without a timeout.
			start := time.Now()
			code, resp, _ = e2.do(t, "GET", "/1.0/operations/"+tc.id+"/wait", "")
			if code != 200 || opOf(t, resp).StatusCode != tc.code || time.Since(start) > 2*time.Second {
				t.Fatalf("wait: %d %+v", code, resp)
			}
			// As cancelling an ended operation that is still in memory.
			code, resp, _ = e2.do(t, "DELETE", "/1.0/operations/"+tc.id, "")
			if code != 403 || !strings.Contains(resp.Error, "already ended ("+tc.code.String()+")") {
				t.Fatalf("cancel: %d %q", code, resp.Error)
			}
			code, resp, _ = e2.do(t, "GET", "/1.0/operations/"+tc.id+"/websocket?secret=x", "")
			if code != 400 || !strings.Contains(resp.Error, "already ended") {
				t.Fatalf("websocket: %d %q", code, resp.Error)
			}
		})
	}
	if o := running.Render(); o.StatusCode != api.Running || o.Resources["instances"][0] != "/1.0/instances/c1" {
		t.Fatalf("the first server's view changed: %+v", o)
	}
	code, resp, _ := e2.do(t, "GET", "/1.0/operations/"+running.ID(), "")
	if o := opOf(t, resp); code != 200 || o.Resources["instances"][0] != "/1.0/instances/c1" || o.Description != "Creating instance" {
		t.Fatalf("resources and description: %+v", o)
	}

	// Lists show the records along with the live operations.
	live := e2.d.StartOperation(operations.Spec{Description: "Executing command"}, func(ctx context.Context, op *operations.Op) error { return nil })
	<-live.Done()
	_, resp, _ = e2.do(t, "GET", "/1.0/operations?recursion=1", "")
	var byStatus map[string][]api.Operation
	json.Unmarshal(resp.Metadata, &byStatus)
	ids := func(key string) string {
		var s []string
		for _, o := range byStatus[key] {
			s = append(s, o.ID)
		}
		return strings.Join(s, " ")
	}
	if got, want := ids("failure"), running.ID()+" "+failed.ID(); got != want {
		t.Errorf("failure list: %s, want %s", got, want)
	}
	if got, want := ids("success"), done.ID()+" "+live.ID(); got != want {
		t.Errorf("success list: %s, want %s", got, want)
	}
	_, resp, _ = e2.do(t, "GET", "/1.0/operations", "")
	var urls map[string][]string
	json.Unmarshal(resp.Metadata, &urls)
	if len(urls["failure"]) != 2 || urls["failure"][0] != running.URL() || len(urls["success"]) != 2 || len(urls["running"]) != 0 {
		t.Errorf("url list: %v", urls)
	}

	if code, resp, _ := e2.do(t, "GET", "/1.0/operations/6e0d0d63-0000-4000-8000-000000000000", ""); code != 404 || !strings.Contains(resp.Error, "kept for 24 hours") {
		t.Fatalf("unknown: %d %q", code, resp.Error)
	}
}

// A real create cut short: after the restart its operation has failed and
// its half-made instance is gone.
func TestCreateInterruptedByRestart(t *testing.T) {
	e := newTestEnv(t)
	e.uploadImage(t, "busybox", "bb")
	e.unpackGate = make(chan struct{})
	defer close(e.unpackGate)
	_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"}}`)
	e2 := e.restart(t)
	code, r, _ := e2.do(t, "GET", resp.Operation, "")
	if o := opOf(t, r); code != 200 || o.StatusCode != api.Failure || o.Err != interrupted {
		t.Fatalf("create op after restart: %d %+v", code, o)
	}
	if code, _, _ := e2.do(t, "GET", "/1.0/instances/c1", ""); code != 404 {
		t.Fatalf("half-made instance after restart: %d", code)
	}
}

// A delete cut short by a crash is finished at the next start: the
// instance is gone whole, not left as a row without its runtime config.
func TestDeleteInterruptedByRestart(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	e.uploadImage(t, "busybox", "bb")
	for _, n := range []string{"c1", "c2", "keep"} {
		_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"`+n+`","source":{"type":"image","alias":"bb"}}`)
		if op := e.wait(t, resp); op.StatusCode != api.Success {
			t.Fatalf("create %s: %+v", n, op)
		}
	}
	// c1: killed right after the marker; c2: after its runtime config went.
	for _, n := range []string{"c1", "c2"} {
		if err := mark(filepath.Join(e.dir, "deleting", n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.drv.Delete(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	// A marker whose delete got as far as the row.
	if err := mark(filepath.Join(e.dir, "deleting", "gone")); err != nil {
		t.Fatal(err)
	}
	e2 := e.restart(t)
	for _, n := range []string{"c1", "c2"} {
		if code, _, _ := e2.do(t, "GET", "/1.0/instances/"+n, ""); code != 404 {
			t.Errorf("%s after the restart: %d, want 404", n, code)
		}
		if e.pool.Exists(storage.Volume{Kind: storage.KindContainer, Name: n}) {
			t.Errorf("%s: volume left", n)
		}
	}
	if code, _, _ := e2.do(t, "GET", "/1.0/instances/keep", ""); code != 200 {
		t.Errorf("keep after the restart: %d", code)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.dir, "deleting")); len(ents) != 0 {
		t.Errorf("delete markers left: %d", len(ents))
	}
	// An ordinary delete leaves no marker either.
	_, resp, _ := e2.do(t, "DELETE", "/1.0/instances/keep", "")
	if op := e2.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("delete: %+v", op)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.dir, "deleting")); len(ents) != 0 {
		t.Errorf("delete markers left after a delete: %d", len(ents))
	}
}

// mark writes a marker file where lodged notes work it has begun (what a
// crash in the middle leaves).
func mark(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, nil, 0o600)
}

// interrupted is what an operation a crash ended says.
const interrupted = "lodged stopped while this operation was running (daemon restart or crash); " +
	"check the state of what it acted on (its resources) and retry"
