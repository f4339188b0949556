package daemon

import (
	"context"
	"os"

	"lodge/server/db"
)

// LogURL is an instance log file's API path.
func LogURL(inst, file string) string { return InstanceURL(inst) + "/logs/" + file }

// InstanceLogs names an instance's log files (lxc.log, lxc.conf) that exist.
func (d *Daemon) InstanceLogs(ctx context.Context, name string) ([]string, error) {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return nil, err
	}
	if in.Phase != db.PhaseCreated || !d.defined(ctx, in.Name) {
		return []string{}, nil
	}
	return d.inst.Logs(ctx, in.Name)
}

// OpenInstanceLog opens one of an instance's log files.
func (d *Daemon) OpenInstanceLog(ctx context.Context, name, file string) (*os.File, error) {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return nil, err
	}
	return d.inst.OpenLog(ctx, in.Name, file)
}

// DeleteInstanceLog deletes one of an instance's log files; lxc.log and
// lxc.conf are refused, as in LXD.
func (d *Daemon) DeleteInstanceLog(ctx context.Context, name, file string) error {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return err
	}
	return d.inst.DeleteLog(ctx, in.Name, file)
}

// defined tells whether the runtime has a config for the instance.
func (d *Daemon) defined(ctx context.Context, name string) bool {
	_, err := d.inst.Status(ctx, name)
	return err == nil
}
