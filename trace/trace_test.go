package trace

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestNilIsANoOp(t *testing.T) {
	var tr *Trace
	tr.Hold()
	tr.Begin("x")()
	tr.Add("x", time.Now(), time.Second)
	tr.Mark("x")
	tr.Release()
	tr.Log(slog.Default())
	if tr.Spans() != nil {
		t.Fatal("a nil trace has spans")
	}
	Step(context.Background(), "x")()
	if From(context.Background()) != nil || From(With(context.Background(), nil)) != nil {
		t.Fatal("a context without a trace has one")
	}
}

func TestDoneOnceAfterTheLastHold(t *testing.T) {
	calls := 0
	tr := New("id", "what", func(*Trace) { calls++ })
	tr.Hold()
	tr.Release()
	if calls != 0 {
		t.Fatal("done before the last hold was released")
	}
	tr.Release()
	tr.Release() // one too many: done is not called again
	if calls != 1 {
		t.Fatalf("done called %d times, want 1", calls)
	}
}

func TestLinesNestAndOrder(t *testing.T) {
	tr := New("id", "PUT /x", nil)
	base := tr.start
	tr.Add("operation", base.Add(2*time.Millisecond), 40*time.Millisecond)
	tr.Add("start", base.Add(5*time.Millisecond), 30*time.Millisecond)
	tr.Add("liblxc start", base.Add(6*time.Millisecond), 20*time.Millisecond)
	tr.Add("record", base.Add(36*time.Millisecond), time.Millisecond)
	tr.Add("decode", base, time.Millisecond)
	got := tr.Lines()
	want := []string{"decode", "operation", "  start", "    liblxc start", "  record"}
	if len(got) != len(want) {
		t.Fatalf("lines:\n%s", strings.Join(got, "\n"))
	}
	for i, w := range want {
		// "+%8s %9s  ": 21 columns of times, then the indented name.
		if len(got[i]) < 21 || got[i][21:] != w {
			t.Errorf("line %d = %q, want the name %q", i, got[i], w)
		}
	}
	if tr.Total() != 42*time.Millisecond {
		t.Errorf("total %s, want 42ms", tr.Total())
	}
	var buf bytes.Buffer
	tr.Log(slog.New(slog.NewTextHandler(&buf, nil)))
	if !strings.Contains(buf.String(), "trace=id") || strings.Count(buf.String(), "\n") != len(want)+1 {
		t.Errorf("log:\n%s", buf.String())
	}
}

func TestStepFromContext(t *testing.T) {
	tr := New("id", "x", nil)
	ctx := With(context.Background(), tr)
	Step(ctx, "one")()
	if s := tr.Spans(); len(s) != 1 || s[0].Name != "one" {
		t.Fatalf("spans %v", s)
	}
}
