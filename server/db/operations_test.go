package db

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestOperationPutGetFinish(t *testing.T) {
	d, _ := openTest(t)
	ctx := context.Background()
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 500, time.UTC)
	op := Operation{ID: "op1", Class: "task", Description: "Creating instance", StatusCode: 103, CreatedAt: t0, UpdatedAt: t0,
		Resources: map[string][]string{"instances": {"/1.0/instances/c1"}}, MayCancel: true}
	if err := d.PutOperation(ctx, op); err != nil {
		t.Fatal(err)
	}
	got, err := d.GetOperation(ctx, "op1")
	if err != nil || got.StatusCode != 103 || !got.CreatedAt.Equal(t0) || got.Location != d.Location() || !got.MayCancel ||
		got.Resources["instances"][0] != "/1.0/instances/c1" || len(got.Metadata) != 0 {
		t.Fatalf("after start: %+v %v", got, err)
	}
	op.StatusCode, op.Err, op.MayCancel, op.UpdatedAt = 400, "boom", false, t0.Add(time.Second)
	op.Metadata = map[string]any{"return": 3, "bad": func() {}}
	if err := d.PutOperation(ctx, op); err != nil {
		t.Fatal(err)
	}
	got, _ = d.GetOperation(ctx, "op1")
	if got.StatusCode != 400 || got.Err != "boom" || got.MayCancel || !got.UpdatedAt.Equal(op.UpdatedAt) || !got.CreatedAt.Equal(t0) {
		t.Fatalf("after finish: %+v", got)
	}
	if len(got.Metadata) != 0 { // metadata that does not marshal is dropped, the row kept
		t.Fatalf("metadata: %v", got.Metadata)
	}
	op.Metadata = map[string]any{"return": 3}
	d.PutOperation(ctx, op)
	if got, _ = d.GetOperation(ctx, "op1"); got.Metadata["return"] != float64(3) {
		t.Fatalf("metadata: %v", got.Metadata)
	}
	if _, err := d.GetOperation(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}

func TestFailUnfinishedOperations(t *testing.T) {
	d, _ := openTest(t)
	ctx := context.Background()
	t0 := time.Now().Add(-time.Minute)
	for _, tc := range []struct {
		id   string
		code int
	}{{"running", 103}, {"pending", 105}, {"cancelling", 104}, {"success", 200}, {"failure", 400}, {"cancelled", 401}} {
		if err := d.PutOperation(ctx, Operation{ID: tc.id, Class: "task", StatusCode: tc.code, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	n, err := d.FailUnfinishedOperations(ctx, 400, "lodged stopped", now)
	if err != nil || n != 3 {
		t.Fatalf("marked %d, %v; want 3", n, err)
	}
	for _, tc := range []struct {
		id      string
		code    int
		err     string
		updated time.Time
	}{
		{"running", 400, "lodged stopped", now},
		{"pending", 400, "lodged stopped", now},
		{"cancelling", 400, "lodged stopped", now},
		{"success", 200, "", t0},
		{"failure", 400, "", t0},
		{"cancelled", 401, "", t0},
	} {
		o, err := d.GetOperation(ctx, tc.id)
		if err != nil || o.StatusCode != tc.code || o.Err != tc.err || !o.UpdatedAt.Equal(tc.updated) || o.MayCancel {
			t.Errorf("%s: %+v %v", tc.id, o, err)
		}
	}
	if n, _ := d.FailUnfinishedOperations(ctx, 400, "again", now); n != 0 {
		t.Fatalf("second pass marked %d", n)
	}
}

func TestPruneOperations(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		// ages of ended operations and of running ones, newest last
		ended, running []time.Duration
		cutoff         time.Duration
		keep           int
		want           []string
	}{
		{"nothing old", []time.Duration{3 * time.Minute, time.Minute}, nil, time.Hour, 10, []string{"e0", "e1"}},
		{"by age", []time.Duration{48 * time.Hour, 25 * time.Hour, time.Hour}, nil, 24 * time.Hour, 10, []string{"e2"}},
		{"by count", []time.Duration{4 * time.Minute, 3 * time.Minute, 2 * time.Minute, time.Minute}, nil, 24 * time.Hour, 2, []string{"e2", "e3"}},
		{"running stay", []time.Duration{48 * time.Hour}, []time.Duration{48 * time.Hour, time.Minute}, 24 * time.Hour, 0, []string{"r0", "r1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := openTest(t)
			ctx := context.Background()
			put := func(prefix string, i int, age time.Duration, code int) {
				at := now.Add(-age)
				if err := d.PutOperation(ctx, Operation{ID: fmt.Sprintf("%s%d", prefix, i), Class: "task", StatusCode: code, CreatedAt: at, UpdatedAt: at}); err != nil {
					t.Fatal(err)
				}
			}
			for i, age := range tc.ended {
				put("e", i, age, 200)
			}
			for i, age := range tc.running {
				put("r", i, age, 103)
			}
			if _, err := d.PruneOperations(ctx, now.Add(-tc.cutoff), tc.keep); err != nil {
				t.Fatal(err)
			}
			list, err := d.ListOperations(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, o := range list {
				ids = append(ids, o.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
				t.Fatalf("left %v, want %v", ids, tc.want)
			}
		})
	}
}

// The stored times order as strings whatever their fraction of a second.
func TestOperationTimesOrder(t *testing.T) {
	a := time.Date(2024, 1, 1, 0, 0, 5, 500_000_000, time.UTC)
	b := time.Date(2024, 1, 1, 0, 0, 5, 500_010_000, time.UTC)
	if !(fmtOpTime(a) < fmtOpTime(b)) || !(fmtOpTime(a.Add(-500*time.Millisecond)) < fmtOpTime(a)) {
		t.Fatalf("%s %s", fmtOpTime(a), fmtOpTime(b))
	}
}

// A start and end written to local SQLite cost little next to an exec round
// trip (~17 ms).
func BenchmarkOperationPutFinish(b *testing.B) {
	d, err := Open(context.Background(), b.TempDir()+"/b.db")
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		now := time.Now()
		o := Operation{ID: fmt.Sprint(i), Class: "task", Description: "Executing command", StatusCode: 103, CreatedAt: now, UpdatedAt: now,
			Resources: map[string][]string{"instances": {"/1.0/instances/c1"}}}
		if err := d.PutOperation(ctx, o); err != nil {
			b.Fatal(err)
		}
		o.StatusCode, o.Metadata = 200, map[string]any{"return": 0}
		if err := d.PutOperation(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
}
