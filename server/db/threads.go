package db

import (
	"fmt"

	dqlite "github.com/canonical/go-dqlite"
)

// Importing go-dqlite puts SQLite into single-thread mode (its package
// init), which turns off SQLite's own locks for the whole process: with
// several connections to one database file used from different threads,
// as database/sql does, commits are then lost or seen late (a row inserted
// and updated by one goroutine read back as it was before). Multi-thread
// mode keeps those locks and only asks that one connection is not used by
// two threads at once, which database/sql guarantees; LXD sets it first
// thing for the same reason. It must run before SQLite initialises, at the
// first open: this init runs after go-dqlite's and before any open.
func init() {
	if err := dqlite.ConfigMultiThread(); err != nil {
		panic(fmt.Sprintf("lodge: cannot put SQLite into multi-thread mode (it was initialised before lodge's database package): %v", err))
	}
}
