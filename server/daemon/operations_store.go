package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"lodge/api"
	"lodge/errdefs"
	"lodge/server/db"
	"lodge/server/operations"
)

// Retention of ended operations. LXD forgets one 5 s after it ends;
// lodged keeps it 5 min in memory and, so that a client can learn across a
// restart how it ended, in the database for 24 h, at most the 1000 most
// recently ended. Pruned at start and on every 100th new operation (one
// indexed DELETE over about a thousand rows), not by a timer.
const (
	opRetention  = 24 * time.Hour
	opKeepEnded  = 1000
	opPruneEvery = 100
)

// errOpInterrupted is the err of operations a crash or restart ended unseen.
const errOpInterrupted = "lodged stopped while this operation was running (daemon restart or crash); " +
	"check the state of what it acted on (its resources) and retry"

// opStore records operations in the database (operations.Store).
type opStore struct {
	db   *db.DB
	log  *slog.Logger
	puts atomic.Int64
}

func (st *opStore) Put(o api.Operation) {
	// Not the request's context: the record must be written even if the
	// client has gone.
	ctx := context.Background()
	if err := st.db.PutOperation(ctx, toDBOp(o)); err != nil {
		st.log.Error("could not record an operation; after a crash its outcome will be unknown", "operation", o.ID, "err", err)
	}
	if st.puts.Add(1)%opPruneEvery == 0 {
		pruneOperations(ctx, st.db, st.log)
	}
}

func (st *opStore) Finish(o api.Operation) {
	// Not the operation's context, which has ended with it.
	if err := st.db.PutOperation(context.Background(), toDBOp(o)); err != nil {
		st.log.Error("could not record how an operation ended; after a restart it will show as interrupted", "operation", o.ID, "status", o.Status, "err", err)
	}
}

func pruneOperations(ctx context.Context, d *db.DB, log *slog.Logger) {
	if _, err := d.PruneOperations(ctx, time.Now().Add(-opRetention), opKeepEnded); err != nil {
		log.Warn("could not prune ended operations", "err", err)
	}
}

// failInterruptedOps marks failed the operations a previous lodged left
// running, since nothing will finish them now, and returns how many. Call
// it before serving.
func (d *Daemon) failInterruptedOps(ctx context.Context) int64 {
	n, err := d.db.FailUnfinishedOperations(ctx, int(api.Failure), errOpInterrupted, time.Now())
	if err != nil {
		d.log.Error("recovery: could not mark interrupted operations failed; they will show as running", "err", err)
	} else if n > 0 {
		d.log.Warn("recovery: operations the last lodged left running marked failed", "operations", n)
	}
	pruneOperations(ctx, d.db, d.log)
	return n
}

func toDBOp(o api.Operation) db.Operation {
	return db.Operation{ID: o.ID, Class: o.Class, Description: o.Description, StatusCode: int(o.StatusCode),
		CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt, Resources: o.Resources, Metadata: o.Metadata,
		Err: o.Err, MayCancel: o.MayCancel, Location: o.Location}
}

func fromDBOp(o db.Operation) api.Operation {
	code := api.StatusCode(o.StatusCode)
	return api.Operation{ID: o.ID, Class: o.Class, Description: o.Description, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		Status: code.String(), StatusCode: code, Resources: o.Resources, Metadata: o.Metadata,
		MayCancel: o.MayCancel, Err: o.Err, Location: o.Location}
}

// opsDeadline bounds how long an operations list waits for another
// member: one that has not answered by then is left out.
const opsDeadline = 2 * time.Second

// OwnOperations are the operations this lodged runs or ran lately (those
// in memory), oldest first: what another member's list asks it for.
func (d *Daemon) OwnOperations() []api.Operation {
	var out []api.Operation
	me := d.db.Location()
	for _, op := range d.ops.List() {
		o := op.Render()
		if o.Location == "none" {
			// Started before this server became a member (the join
			// itself): its record has the member's name.
			o.Location = me
		}
		out = append(out, o)
	}
	return out
}

// Operations lists, oldest first, the operations in memory and the ended
// ones only the database still has (from before a restart, or older than
// the registry keeps). In a cluster it lists every member's, each with
// its location, as LXD's operationsGet does: those of the other members
// that the database shows running are asked of those members, in
// parallel (opsDeadline); a member that is offline or does not answer in
// time is left out with its running operations (nobody can say they still
// run), with a log line, while the ended ones the database has are listed.
func (d *Daemon) Operations(ctx context.Context) ([]api.Operation, error) {
	all := d.OwnOperations()
	seen := map[string]bool{}
	for _, o := range all {
		seen[o.ID] = true
	}
	stored, err := d.db.ListOperations(ctx)
	if err != nil {
		return nil, fmt.Errorf("list operations: %w", err)
	}
	clustered := d.db.Clustered()
	if clustered {
		for _, o := range d.membersOperations(ctx, stored) {
			if !seen[o.ID] {
				all = append(all, o)
				seen[o.ID] = true
			}
		}
	}
	me := d.db.Location()
	for _, o := range stored {
		if seen[o.ID] {
			continue
		}
		if clustered && !api.StatusCode(o.StatusCode).IsFinal() && o.Location != me && o.Location != "none" {
			// Running on a member that did not answer (or that says it
			// no longer runs it): left out.
			continue
		}
		all = append(all, fromDBOp(o))
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].CreatedAt.Before(all[j].CreatedAt) })
	return all, nil
}

// membersOperations asks the other members that the database shows
// running operations for theirs, in parallel, each within opsDeadline.
func (d *Daemon) membersOperations(ctx context.Context, stored []db.Operation) []api.Operation {
	running := map[string]bool{}
	me := d.db.Location()
	for _, o := range stored {
		if !api.StatusCode(o.StatusCode).IsFinal() && o.Location != me {
			running[o.Location] = true
		}
	}
	if len(running) == 0 {
		return nil
	}
	peers, err := d.Peers(ctx)
	if err != nil {
		d.log.Warn("operations list: the other members' are left out: the member list cannot be read", "err", err)
		return nil
	}
	if d.cl.transport == nil {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, opsDeadline)
	defer cancel()
	parts := make([][]api.Operation, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		if !running[p.Name] {
			continue
		}
		if p.Offline {
			d.log.Debug("operations list: an offline member's running operations are left out", "member", p.Name)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			begin := time.Now()
			ops, err := d.cl.transport.MemberOperations(lctx, p.Address)
			if err != nil {
				d.log.Warn("operations list: a cluster member did not answer: its running operations are left out",
					"member", p.Name, "address", p.Address, "took", time.Since(begin).Round(time.Millisecond), "err", err)
				return
			}
			for i := range ops {
				if ops[i].Location == "" || ops[i].Location == "none" {
					ops[i].Location = p.Name
				}
			}
			parts[i] = ops
		}()
	}
	wg.Wait()
	var out []api.Operation
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Operation finds an operation: live (op set) or, once the registry has
// forgotten it or after a restart, its record (op nil). Records are of
// ended operations: the start marks failed those a previous lodged left
// running.
func (d *Daemon) Operation(ctx context.Context, id string) (*operations.Op, api.Operation, error) {
	if op, ok := d.ops.Get(id); ok {
		return op, op.Render(), nil
	}
	row, err := d.db.GetOperation(ctx, id)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return nil, api.Operation{}, errdefs.NotFoundf("operation %q not found (ended operations are kept for %d hours, at most the last %d)", id, int(opRetention.Hours()), opKeepEnded)
	case err != nil:
		return nil, api.Operation{}, fmt.Errorf("operation %s: %w", id, err)
	}
	return nil, fromDBOp(row), nil
}

// CancelOperation cancels a running operation that may be cancelled.
func (d *Daemon) CancelOperation(ctx context.Context, id string) error {
	op, o, err := d.Operation(ctx, id)
	if err != nil {
		return err
	}
	if op == nil {
		// Only a record: nothing in this lodged runs it.
		return operations.EndedError(o.ID, o.StatusCode)
	}
	return op.Cancel()
}

// Stats are what leak and fault tests compare before and after a load.
type Stats struct {
	OperationsRunning int
	// DBIntegrity is "ok" or what SQLite's checks found.
	DBIntegrity string
}

// Stats counts the running operations and checks the database.
func (d *Daemon) Stats(ctx context.Context) Stats {
	st := Stats{DBIntegrity: "ok"}
	if err := d.db.IntegrityCheck(ctx); err != nil {
		st.DBIntegrity = err.Error()
	}
	for _, o := range d.ops.List() {
		select {
		case <-o.Done():
		default:
			st.OperationsRunning++
		}
	}
	return st
}
