package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"lodge/instances"
)

// freezeMarker is where lodged notes that it froze an instance itself, for
// as long as it holds it frozen.
func (d *Daemon) freezeMarker(name string) string {
	return filepath.Join(d.cfg.Dir, "frozen-by-lodged", name)
}

// freezeFor freezes a running instance while work needs its tree still
// (a snapshot, a copy) and returns what thaws it. The marker written first
// lets startup recovery thaw it if lodged dies in between; an instance a
// user paused has no marker and stays paused.
func (d *Daemon) freezeFor(ctx context.Context, name string) (thaw func(), err error) {
	marker := d.freezeMarker(name)
	if err := writeMarker(marker); err != nil {
		return nil, err
	}
	if err := d.inst.Freeze(ctx, name); err != nil {
		os.Remove(marker)
		return nil, err
	}
	return func() {
		if err := d.inst.Unfreeze(context.WithoutCancel(ctx), name); err != nil {
			d.log.Warn("could not thaw an instance frozen for a snapshot or copy", "instance", name, "err", err)
			return
		}
		os.Remove(marker)
	}, nil
}

// thawLeftFrozen thaws the instances a crash left frozen by freezeFor.
func (d *Daemon) thawLeftFrozen(ctx context.Context) {
	ents, err := os.ReadDir(filepath.Dir(d.freezeMarker("x")))
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		// Whatever the state reads: a freeze the crash cut short reads as
		// FREEZING (running, to the API) and still stops every exec.
		if st, err := d.inst.State(ctx, name); err == nil && st.Status != instances.StatusStopped {
			if err := d.inst.Unfreeze(ctx, name); err != nil && !errors.Is(err, instances.ErrNotRunning) {
				d.log.Warn("recovery: could not thaw an instance lodged had frozen", "instance", name, "err", err)
				continue
			}
			d.log.Warn("recovery: thawed an instance a crash left frozen during a snapshot or copy", "instance", name)
		}
		os.Remove(d.freezeMarker(name))
	}
}

// writeMarker creates an empty file that records work in progress for
// startup recovery, durably: the work it guards may start right after.
func writeMarker(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
