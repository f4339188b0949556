package daemon

import (
	"context"

	"lodge/instances"
	"lodge/server/operations"
)

// noteStoppedByItself records volatile.last_state.power=STOPPED for an
// instance that stopped without lodged asking (a poweroff inside it, its
// init dying): still stopped once lodged's own work on it (a stop, a
// restart, a restore, a delete) is over, and lodged not shutting down with
// the host. It sends the instance-stopped lifecycle event lodged's own
// stops send, so that a client watching the events (the web UI's list)
// sees the change without asking. An ephemeral instance that stopped by
// itself is then deleted.
func (d *Daemon) noteStoppedByItself(name string) {
	if d.recordStoppedByItself(name) {
		d.deleteEphemeral(d.ctx, name)
	}
}

func (d *Daemon) recordStoppedByItself(name string) bool {
	select {
	case <-d.stopAll:
		return false
	default:
	}
	unlock := d.instLocks.lock(name)
	defer unlock()
	ctx := d.ctx
	in, err := d.db.GetInstance(ctx, name)
	if err != nil || in.Config[lastStateKey] != "RUNNING" || d.liveStatus(ctx, in) != instances.StatusStopped {
		return false
	}
	select {
	case <-d.stopAll:
		return false
	default:
	}
	d.log.Info("instance stopped by itself (a poweroff inside it); it stays off when lodged starts again", "instance", name)
	d.recordPower(ctx, name, "STOPPED")
	d.events.lifecycle("instance-stopped", InstanceURL(name), nil)
	return true
}

// NoteStopped is liblxc's post-stop hook telling lodged an instance
// stopped. It returns at once: liblxc may hold up the stop that lodged
// itself waits on (holding the instance's lock) until the hook returns;
// the check (noteStoppedByItself) runs after that stop is over.
func (d *Daemon) NoteStopped(ctx context.Context, name string) error {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return err
	}
	go d.noteStoppedByItself(in.Name)
	go d.cleanStoppedNICs(in.Name)
	return nil
}

// StartOperation runs work the caller owns the transport of (an exec's or
// a console's websockets) as an operation.
func (d *Daemon) StartOperation(spec operations.Spec, run func(context.Context, *operations.Op) error) *operations.Op {
	return d.ops.Start(spec, run)
}
