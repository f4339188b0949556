// Package trace times the steps of one request through lodged (a launch,
// an exec) so that anyone can see where the time goes. It is off unless
// asked for: lodged started with LODGE_TRACE=1 traces every request, and
// a client sets the X-Lodge-Trace header (lodge does with LODGE_TRACE=1 in
// its environment) to have one request traced. A trace is written to
// lodged's log when the request, and the operation it started, have both
// ended: one record per step, with its start since the request arrived,
// its duration and its name, indented under the step that contains it.
//
// Every function is a no-op on a nil *Trace or a context without one, so
// the traced code pays one context lookup per step when tracing is off.
package trace

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// Header is the request header that asks lodged to trace a request; its
// value is the trace's id, which every request of one client command
// shares, so that their records can be found together.
const Header = "X-Lodge-Trace"

// Env is the environment variable that turns tracing on: in lodged's, for
// every request; in lodge's, for that command's requests (and the client's
// own timeline on stderr).
const Env = "LODGE_TRACE"

// Span is one timed step.
type Span struct {
	Name string
	// At is when it began, since the trace began; Took how long it lasted.
	At, Took time.Duration
}

// Trace is the timeline of one request and of the operation it started.
type Trace struct {
	ID, What string
	start    time.Time
	done     func(*Trace)

	mu    sync.Mutex
	spans []Span
	holds int
	ended bool
}

// New starts a trace with one hold (the request's); done is called once,
// when the last hold is released.
func New(id, what string, done func(*Trace)) *Trace {
	return &Trace{ID: id, What: what, start: time.Now(), done: done, holds: 1}
}

// Hold keeps the trace open for one more party (an operation that outlives
// its request); each Hold needs a Release.
func (t *Trace) Hold() {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.holds++
	t.mu.Unlock()
}

// Release ends one hold; the last one finishes the trace.
func (t *Trace) Release() {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.holds--
	last := t.holds == 0 && !t.ended
	if last {
		t.ended = true
	}
	t.mu.Unlock()
	if last && t.done != nil {
		t.done(t)
	}
}

func nop() {}

// Begin starts a step; the returned function ends it.
func (t *Trace) Begin(name string) func() {
	if t == nil {
		return nop
	}
	start := time.Now()
	return func() { t.Add(name, start, time.Since(start)) }
}

// Add records a step timed elsewhere (in a helper process, say).
func (t *Trace) Add(name string, start time.Time, took time.Duration) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.spans = append(t.spans, Span{Name: name, At: start.Sub(t.start), Took: took})
	t.mu.Unlock()
}

// Mark records an instant (a step of no duration).
func (t *Trace) Mark(name string) {
	if t == nil {
		return
	}
	t.Add(name, time.Now(), 0)
}

// Spans is the trace's steps in the order they began (the longer first of
// two that began together, so that a step precedes what it contains).
func (t *Trace) Spans() []Span {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	out := append([]Span(nil), t.spans...)
	t.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].At != out[j].At {
			return out[i].At < out[j].At
		}
		return out[i].Took > out[j].Took
	})
	return out
}

// Total is the time from the trace's start to the end of its last step.
func (t *Trace) Total() time.Duration {
	var end time.Duration
	for _, s := range t.Spans() {
		end = max(end, s.At+s.Took)
	}
	return end
}

// Lines renders the steps as a table: start, duration, and the name
// indented once for each step that contains it.
func (t *Trace) Lines() []string {
	spans := t.Spans()
	out := make([]string, 0, len(spans))
	for i, s := range spans {
		depth := 0
		for _, p := range spans[:i] {
			if p.Took > 0 && p.At <= s.At && s.At+s.Took <= p.At+p.Took {
				depth++
			}
		}
		out = append(out, fmt.Sprintf("+%8s %9s  %s%s", ms(s.At), ms(s.Took), strings.Repeat("  ", depth), s.Name))
	}
	return out
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

// Log writes the trace to log: a header record, then one record per step.
func (t *Trace) Log(log *slog.Logger) {
	if t == nil || log == nil {
		return
	}
	log.Info("trace", "trace", t.ID, "what", t.What, "total", ms(t.Total()))
	for _, l := range t.Lines() {
		log.Info("trace", "trace", t.ID, "step", l)
	}
}

type key struct{}

// With returns ctx carrying t.
func With(ctx context.Context, t *Trace) context.Context {
	if t == nil {
		return ctx
	}
	return context.WithValue(ctx, key{}, t)
}

// From is the trace ctx carries, or nil.
func From(ctx context.Context) *Trace {
	if ctx == nil {
		return nil
	}
	t, _ := ctx.Value(key{}).(*Trace)
	return t
}

// Step starts a step of ctx's trace; the returned function ends it.
func Step(ctx context.Context, name string) func() { return From(ctx).Begin(name) }

// Enabled tells whether an environment value turns tracing on.
func Enabled(v string) bool { return v != "" && v != "0" && v != "false" }

// Do runs f as a step of ctx's trace.
func Do(ctx context.Context, name string, f func() error) error {
	defer Step(ctx, name)()
	return f()
}
