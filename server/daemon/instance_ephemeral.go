package daemon

import (
	"context"
	"errors"

	"lodge/instances"
	"lodge/server/db"
)

// Ephemeral instances (ephemeral: true, lxc launch --ephemeral) are
// deleted when they stop, as in LXD: after a user's stop (not a restart),
// after a power-off from inside (the post-stop hook; a reboot never
// reaches it), at lodged's shutdown of the host, and at the next start
// for one found stopped that was running when lodged last knew of it (a
// host crash, a power-off while lodged was down). One made with init and
// never started stays until it has run.

// deleteEphemeral deletes name if it is ephemeral and stopped; the caller
// holds no lock on it.
func (d *Daemon) deleteEphemeral(ctx context.Context, name string) {
	in, err := d.db.GetInstance(ctx, name)
	if err != nil || !in.Ephemeral || in.Phase != db.PhaseCreated {
		return
	}
	d.log.Info("deleting an ephemeral instance that stopped", "instance", name)
	if err := d.deleteInstance(ctx, name); err != nil && !errors.Is(err, db.ErrNotFound) {
		d.log.Warn("could not delete a stopped ephemeral instance", "instance", name, "err", err)
	}
}

// deleteStoppedEphemerals is the start's part: ephemeral instances that
// ran (last power state RUNNING) and are stopped now. They leave v.
func (d *Daemon) deleteStoppedEphemerals(ctx context.Context, v *instView) {
	kept := &instView{}
	for i, in := range v.list {
		if in.Ephemeral && in.Phase == db.PhaseCreated && in.Config[lastStateKey] == "RUNNING" && v.sts[i] == instances.StatusStopped {
			d.deleteEphemeral(ctx, in.Name)
			if _, err := d.db.GetInstance(ctx, in.Name); errors.Is(err, db.ErrNotFound) {
				continue
			}
		}
		kept.list = append(kept.list, in)
		kept.sts = append(kept.sts, v.sts[i])
	}
	*v = *kept
}
