package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"lodge/instances"
	"lodge/server/db"
)

// snapshotScheduler takes scheduled snapshots and deletes expired ones,
// once a minute, on the minute.
func (d *Daemon) snapshotScheduler(ctx context.Context) {
	for {
		now := time.Now()
		next := now.Truncate(time.Minute).Add(time.Minute)
		select {
		case <-ctx.Done():
			return
		case <-time.After(next.Sub(now)):
		}
		d.runSnapshotSchedule(ctx, next)
	}
}

// runSnapshotSchedule does one minute's work at t.
func (d *Daemon) runSnapshotSchedule(ctx context.Context, t time.Time) {
	list, err := d.db.ListInstances(ctx)
	if err != nil {
		d.log.Warn("snapshot schedule: list instances", "err", err)
		return
	}
	for _, in := range list {
		if in.Phase != db.PhaseCreated {
			continue
		}
		if spec := in.Config["snapshots.schedule"]; spec != "" && instances.ScheduleDue(spec, t) {
			if d.liveStatus(ctx, in) == instances.StatusRunning || instances.IsTrue(in.Config["snapshots.schedule.stopped"]) {
				if err := d.scheduledSnapshot(ctx, in, t); err != nil {
					d.log.Warn("scheduled snapshot failed", "instance", in.Name, "err", err)
				}
			}
		}
		snaps, err := d.db.ListSnapshots(ctx, in.Name)
		if err != nil {
			continue
		}
		for _, sn := range snaps {
			if !sn.ExpiresAt.IsZero() && !sn.ExpiresAt.After(t) {
				if err := d.deleteSnapshot(ctx, in.Name, sn.Name); err != nil {
					d.log.Warn("deleting an expired snapshot failed", "instance", in.Name, "snapshot", sn.Name, "err", err)
				}
			}
		}
	}
}

func (d *Daemon) scheduledSnapshot(ctx context.Context, in db.Instance, t time.Time) error {
	pattern := in.Config["snapshots.pattern"]
	if pattern == "" {
		pattern = "snap%d"
	}
	snaps, err := d.db.ListSnapshots(ctx, in.Name)
	if err != nil {
		return err
	}
	taken := map[string]bool{}
	for _, sn := range snaps {
		taken[sn.Name] = true
	}
	name := pattern
	if strings.Contains(pattern, "%d") {
		for i := 0; ; i++ {
			if name = strings.Replace(pattern, "%d", fmt.Sprint(i), 1); !taken[name] {
				break
			}
		}
	} else {
		for i := 1; taken[name]; i++ {
			name = fmt.Sprintf("%s-%d", pattern, i)
		}
	}
	expires, err := instances.ParseExpiry(in.Config["snapshots.expiry"], t)
	if err != nil {
		return err
	}
	return d.createSnapshot(ctx, in.Name, name, expires)
}

// startupSnapshot takes the snapshot a "@startup" schedule asks for, once
// the start (which holds the instance's lock) has returned.
func (d *Daemon) startupSnapshot(ctx context.Context, in db.Instance) {
	if !instances.ScheduleAtStartup(in.Config["snapshots.schedule"]) {
		return
	}
	ctx = context.WithoutCancel(ctx)
	go func() {
		if err := d.scheduledSnapshot(ctx, in, time.Now()); err != nil {
			d.log.Warn("startup snapshot failed", "instance", in.Name, "err", err)
		}
	}()
}
