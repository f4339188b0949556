package operations

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"lodge/api"
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
