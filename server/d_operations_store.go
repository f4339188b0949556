package server

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"lodge/api"
	"lodge/server/db"
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
