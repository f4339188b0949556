package operations

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"lodge/api"
	"lodge/errdefs"
)

func TestLifecycle(t *testing.T) {
	var mu sync.Mutex
	var seen []api.StatusCode
	r := NewRegistry(context.Background(), func(o api.Operation) {
		mu.Lock()
		seen = append(seen, o.StatusCode)
		mu.Unlock()
	})
	tests := []struct {
		name   string
		fn     func(ctx context.Context, op *Op) error
		cancel bool
		want   api.StatusCode
		err    string
	}{
		{"success", func(ctx context.Context, op *Op) error { op.SetMetadata("return", 0); return nil }, false, api.Success, ""},
		{"failure", func(ctx context.Context, op *Op) error { return errors.New("boom") }, false, api.Failure, "boom"},
		{"cancel", func(ctx context.Context, op *Op) error { <-ctx.Done(); return ctx.Err() }, true, api.Cancelled, "operation cancelled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := r.Start(Spec{Description: tc.name, MayCancel: tc.cancel}, tc.fn)
			if got, ok := r.Get(op.ID()); !ok || got != op {
				t.Fatal("not registered")
			}
			if tc.cancel {
				if err := op.Cancel(); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-op.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("operation did not finish")
			}
			o := op.Render()
			if o.StatusCode != tc.want || o.Err != tc.err || o.Status != tc.want.String() {
				t.Fatalf("got %v %q %q", o.StatusCode, o.Status, o.Err)
			}
			if err := op.Cancel(); !errors.Is(err, ErrNotCancellable) {
				t.Fatalf("cancel after end: %v", err)
			}
		})
	}
	r.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 6 {
		t.Fatalf("events: %v", seen)
	}
}

type memStore struct {
	mu       sync.Mutex
	put, fin []api.Operation
}

func (m *memStore) Put(o api.Operation) {
	m.mu.Lock()
	m.put = append(m.put, o)
	m.mu.Unlock()
}

func (m *memStore) Finish(o api.Operation) {
	m.mu.Lock()
	m.fin = append(m.fin, o)
	m.mu.Unlock()
}

// The store sees each operation start and end, the end before any waiter
// does, and never the Spec's metadata (it may hold secrets).
func TestStore(t *testing.T) {
	st := &memStore{}
	r := NewRegistry(context.Background(), nil)
	r.SetStore(st)
	release := make(chan struct{})
	op := r.Start(Spec{Description: "Executing command", Metadata: map[string]any{"fds": map[string]any{"0": "secret"}}},
		func(ctx context.Context, op *Op) error {
			<-release
			op.SetMetadata("return", 0)
			return errors.New("exec: boom")
		})
	st.mu.Lock()
	if len(st.put) != 1 || st.put[0].ID != op.ID() || st.put[0].StatusCode != api.Running || len(st.put[0].Metadata) != 0 || len(st.fin) != 0 {
		t.Fatalf("at start: put %+v fin %+v", st.put, st.fin)
	}
	st.mu.Unlock()
	if op.Render().Metadata["fds"] == nil {
		t.Fatal("live render lost the spec's metadata")
	}
	close(release)
	<-op.Done()
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.fin) != 1 {
		t.Fatalf("finish not recorded before Done: %+v", st.fin)
	}
	f := st.fin[0]
	if f.StatusCode != api.Failure || f.Err != "exec: boom" || f.Metadata["return"] != 0 || f.Metadata["fds"] != nil || f.MayCancel {
		t.Fatalf("finish: %+v", f)
	}
	if err := op.Cancel(); !errors.Is(err, ErrNotCancellable) || err.Error() != "operation cannot be cancelled: operation "+op.ID()+" already ended (Failure)" {
		t.Fatalf("cancel after end: %v", err)
	}
	r.Wait()
}

// An ended websocket operation lets go of its connector (an exec's
// session and its websockets), which it would otherwise keep for the
// minutes it stays listed, and refuses a late connect as ended.
func TestEndedOperationDropsConnector(t *testing.T) {
	r := NewRegistry(context.Background(), nil)
	called := false
	op := r.Start(Spec{Class: api.OperationClassWebsocket, Connector: func(string, http.ResponseWriter, *http.Request) error {
		called = true
		return nil
	}}, func(ctx context.Context, op *Op) error { return nil })
	<-op.Done()
	op.mu.Lock()
	kept := op.connector != nil
	op.mu.Unlock()
	if kept {
		t.Fatal("the ended operation still holds its connector")
	}
	err := op.Connect("s", httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "already ended") || called {
		t.Fatalf("connect to an ended operation: %v (connector called: %v)", err, called)
	}
}
