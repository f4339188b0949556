package daemon

import (
	"context"
	"os"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
)

// PrepareConsole checks a console request: a text console of a running instance.
func (d *Daemon) PrepareConsole(ctx context.Context, name string, req api.InstanceConsolePost) error {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return err
	}
	if req.Type != "" && req.Type != "console" {
		return errdefs.Invalidf("console type %q: containers only have a text console", req.Type)
	}
	if st := d.liveStatus(ctx, in); st != instances.StatusRunning {
		return errdefs.Invalidf("instance %q is not running; its console log is at lodge console %s --show-log", name, name)
	}
	return nil
}

// AttachConsole connects tty (the slave of a pty the caller owns) to the
// instance's /dev/console until the process returned is signalled.
func (d *Daemon) AttachConsole(ctx context.Context, name string, tty *os.File) (instances.Process, error) {
	return d.inst.Console(ctx, name, tty)
}
