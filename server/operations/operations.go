// Package operations is lodged's registry of async operations: LXD's
// task and websocket operations, with their status, metadata, cancellation
// and the events that report each change.
package operations

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"lodge/api"
	"lodge/errdefs"
	"lodge/trace"
)

// ErrNotCancellable is returned when cancelling an operation that can't be.
var ErrNotCancellable = errdefs.New(errdefs.ErrForbidden, "operation cannot be cancelled")

// ErrNoConnector: the operation has no websockets.
var ErrNoConnector = errors.New("operation has no websockets")

// Connector attaches an HTTP request (a websocket upgrade) to a websocket operation.
type Connector func(secret string, w http.ResponseWriter, r *http.Request) error

// Op is one operation.
type Op struct {
	reg *Registry

	mu          sync.Mutex
	id          string
	class       string
	description string
	created     time.Time
	updated     time.Time
	status      api.StatusCode
	resources   map[string][]string
	metadata    map[string]any
	// results are the metadata keys set while running (SetMetadata): the
	// only ones stored, since a Spec's may hold secrets (exec websocket
	// secrets and environment, join tokens).
	results   map[string]bool
	err       string
	mayCancel bool
	connector Connector
	// trace is the request's that started it (nil: not traced).
	trace *trace.Trace
	// location is the cluster member the operation runs on ("none" standalone).
	location string

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// Store keeps a record of operations that outlives the daemon, so that
// one a crash interrupted can be reported failed after the restart. Its
// methods are called synchronously (the 202 and the end a waiter sees come
// after the write), so they must be quick; they log their own failures: an
// operation does not fail because its record could not be written.
type Store interface {
	// Put records an operation that has just started.
	Put(api.Operation)
	// Finish records the final state of an operation Put recorded.
	Finish(api.Operation)
}

// Registry holds the live and recently finished operations.
type Registry struct {
	base     context.Context
	onChange func(api.Operation)
	keep     time.Duration
	store    Store // nil: operations live in memory only

	mu  sync.Mutex
	ops map[string]*Op
	wg  sync.WaitGroup
	// location: see SetLocation.
	location string
}

// SetLocation names the cluster member whose operations these are; the
// operations started from now on carry it ("none" standalone).
func (r *Registry) SetLocation(name string) {
	r.mu.Lock()
	r.location = name
	r.mu.Unlock()
}

// NewRegistry makes a registry whose operations run under base; onChange is
// called (synchronously, keep it quick) with every status or metadata change.
func NewRegistry(base context.Context, onChange func(api.Operation)) *Registry {
	if onChange == nil {
		onChange = func(api.Operation) {}
	}
	return &Registry{base: base, onChange: onChange, keep: 5 * time.Minute, ops: map[string]*Op{}, location: "none"}
}

// SetStore makes the registry record its operations in st; call it before
// the first Start.
func (r *Registry) SetStore(st Store) { r.store = st }

// Spec describes a new operation.
type Spec struct {
	Class       string // api.OperationClassTask (default) or api.OperationClassWebsocket
	Description string // e.g. "Creating instance"
	Resources   map[string][]string
	// Metadata is shown while the operation is known in memory but never
	// stored: it may hold secrets.
	Metadata  map[string]any
	MayCancel bool
	// Connector handles websocket connections for websocket operations.
	Connector Connector
	// Trace, if set, is the trace of the request that starts the
	// operation: the operation's steps join it, and it is written once the
	// operation has ended too.
	Trace *trace.Trace
}

// Start registers an operation and runs fn in its own goroutine.
// The operation succeeds if fn returns nil and fails with fn's error otherwise.
func (r *Registry) Start(spec Spec, fn func(ctx context.Context, op *Op) error) *Op {
	if spec.Class == "" {
		spec.Class = api.OperationClassTask
	}
	ctx, cancel := context.WithCancel(r.base)
	spec.Trace.Hold()
	endOp := spec.Trace.Begin("operation: " + spec.Description)
	ctx = trace.With(ctx, spec.Trace)
	now := time.Now().UTC()
	op := &Op{
		reg: r, id: uuid.NewString(), class: spec.Class, description: spec.Description,
		created: now, updated: now, status: api.Running, resources: spec.Resources, metadata: spec.Metadata,
		mayCancel: spec.MayCancel, connector: spec.Connector, trace: spec.Trace, ctx: ctx, cancel: cancel, done: make(chan struct{}),
	}
	r.mu.Lock()
	r.ops[op.id] = op
	op.location = r.location
	r.mu.Unlock()
	if r.store != nil {
		end := spec.Trace.Begin("record the operation (database)")
		r.store.Put(op.stored())
		end()
	}
	r.onChange(op.Render())

	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := fn(ctx, op)
		op.finish(err)
		endOp()
		spec.Trace.Release()
		time.AfterFunc(r.keep, func() {
			r.mu.Lock()
			delete(r.ops, op.id)
			r.mu.Unlock()
		})
	}()
	return op
}

// Wait blocks until every running operation has finished (for shutdown and tests).
func (r *Registry) Wait() { r.wg.Wait() }

// Get returns the operation with this id.
func (r *Registry) Get(id string) (*Op, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	op, ok := r.ops[id]
	return op, ok
}

// List returns all known operations, oldest first.
func (r *Registry) List() []*Op {
	r.mu.Lock()
	out := make([]*Op, 0, len(r.ops))
	for _, op := range r.ops {
		out = append(out, op)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].created.Before(out[j].created) })
	return out
}

func (op *Op) finish(err error) {
	op.mu.Lock()
	switch {
	case err == nil:
		op.status = api.Success
	case errors.Is(err, context.Canceled) && op.ctx.Err() != nil:
		op.status = api.Cancelled
		op.err = "operation cancelled"
	default:
		op.status = api.Failure
		op.err = err.Error()
	}
	op.updated = time.Now().UTC()
	op.mayCancel = false
	// The connector (an exec's session: its websockets and buffers) is
	// not needed once the operation ended; dropped, it is not kept for
	// the minutes the ended operation stays listed.
	op.connector = nil
	op.mu.Unlock()
	// Recorded before anyone learns of the end, so that an outcome a
	// client saw is the one it finds after a restart.
	if op.reg.store != nil {
		end := op.trace.Begin("record its end (database)")
		op.reg.store.Finish(op.stored())
		end()
	}
	op.cancel()
	close(op.done)
	op.reg.onChange(op.Render())
}

// ID returns the operation's uuid.
func (op *Op) ID() string { return op.id }

// URL returns /1.0/operations/{id}.
func (op *Op) URL() string { return "/1.0/operations/" + op.id }

// Done is closed when the operation has finished.
func (op *Op) Done() <-chan struct{} { return op.done }

// Trace is the trace the operation's steps join (nil: not traced).
func (op *Op) Trace() *trace.Trace { return op.trace }

// Context is cancelled when the operation is cancelled or finishes.
func (op *Op) Context() context.Context { return op.ctx }

// Cancel cancels a cancellable running operation.
func (op *Op) Cancel() error {
	op.mu.Lock()
	status, may := op.status, op.mayCancel
	op.mu.Unlock()
	if status.IsFinal() {
		return EndedError(op.id, status)
	}
	if !may {
		return fmt.Errorf("operation %s: %w", op.id, ErrNotCancellable)
	}
	op.cancel()
	return nil
}

// SetMetadata sets one metadata key and reports the change.
func (op *Op) SetMetadata(key string, value any) {
	op.mu.Lock()
	if op.metadata == nil {
		op.metadata = map[string]any{}
	}
	op.metadata[key] = value
	if op.results == nil {
		op.results = map[string]bool{}
	}
	op.results[key] = true
	op.updated = time.Now().UTC()
	op.mu.Unlock()
	op.reg.onChange(op.Render())
}

// Connect hands a websocket request to the operation's connector.
func (op *Op) Connect(secret string, w http.ResponseWriter, r *http.Request) error {
	op.mu.Lock()
	c, status := op.connector, op.status
	op.mu.Unlock()
	if status.IsFinal() {
		return errdefs.Invalidf("operation %s already ended (%s): its websockets are closed; start a new one", op.id, status)
	}
	if c == nil {
		return fmt.Errorf("operation %s: %w", op.id, ErrNoConnector)
	}
	return c(secret, w, r)
}

// Err returns the failure message of a finished operation, or "".
func (op *Op) Err() string {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.err
}

// EndedError is what cancelling an operation that has ended returns.
func EndedError(id string, status api.StatusCode) error {
	return fmt.Errorf("%w: operation %s already ended (%s)", ErrNotCancellable, id, status)
}

// Render returns the operation's wire form.
func (op *Op) Render() api.Operation {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.render(func(string) bool { return true })
}

// stored is the operation's form for the Store: Render with only the
// metadata set while running.
func (op *Op) stored() api.Operation {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.render(func(k string) bool { return op.results[k] })
}

func (op *Op) render(keep func(string) bool) api.Operation {
	var md map[string]any
	if op.metadata != nil {
		md = make(map[string]any, len(op.metadata))
		for k, v := range op.metadata {
			if keep(k) {
				md[k] = v
			}
		}
	}
	return api.Operation{
		ID: op.id, Class: op.class, Description: op.description, CreatedAt: op.created, UpdatedAt: op.updated,
		Status: op.status.String(), StatusCode: op.status, Resources: op.resources, Metadata: md,
		MayCancel: op.mayCancel, Err: op.err, Location: op.location,
	}
}
