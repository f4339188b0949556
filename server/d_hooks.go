package server

import "lodge/instances"

// noteStoppedByItself records volatile.last_state.power=STOPPED for an
// instance that stopped without lodged asking: still stopped once lodged's
// own work on it (a stop, a restart, a restore, a delete) is over, and
// lodged not shutting down with the host.
func (d *Daemon) noteStoppedByItself(name string) {
	select {
	case <-d.stopAll:
		return
	default:
	}
	unlock := d.instLocks.lock(name)
	defer unlock()
	ctx := d.ctx
	in, err := d.db.GetInstance(ctx, name)
	if err != nil || in.Config[lastStateKey] != "RUNNING" || d.liveStatus(ctx, in) != instances.StatusStopped {
		return
	}
	select {
	case <-d.stopAll:
		return
	default:
	}
	d.log.Info("instance stopped by itself (a poweroff inside it); it stays off when lodged starts again", "instance", name)
	d.recordPower(ctx, name, "STOPPED")
}
