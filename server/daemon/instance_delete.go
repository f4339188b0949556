package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
	"lodge/server/operations"
	"lodge/storage"
	"lodge/trace"
)

// deleteInstance removes an instance: runtime config, rootfs and row. A
// marker written first makes the delete all-or-nothing across a crash:
// startup recovery finishes what a killed lodged began (removeInstance).
func (d *Daemon) deleteInstance(ctx context.Context, name string) error {
	unlock := d.instLocks.lock(name)
	defer unlock()
	in, err := d.db.GetInstance(ctx, name)
	if err != nil {
		return err
	}
	if st := d.liveStatus(ctx, in); st == instances.StatusRunning || st == instances.StatusFrozen {
		return errdefs.Invalidf("instance %q is running; stop it first", name)
	}
	if err := writeMarker(d.deleteMarker(name)); err != nil {
		return fmt.Errorf("instance %q: delete: %w", name, err)
	}
	if err := d.removeInstance(ctx, in); err != nil {
		return err
	}
	d.events.lifecycle("instance-deleted", InstanceURL(name), nil)
	return nil
}

// deleteMarker is where lodged notes a delete it has begun.
func (d *Daemon) deleteMarker(name string) string {
	return filepath.Join(d.cfg.Dir, "deleting", name)
}

// removeInstance does the work of a delete and then drops its marker; on
// an error the marker stays, so the next start tries again.
func (d *Daemon) removeInstance(ctx context.Context, in db.Instance) error {
	name := in.Name
	end := trace.Step(ctx, "liblxc: delete the config")
	if err := d.inst.Delete(ctx, name); err != nil && !errors.Is(err, instances.ErrNotFound) {
		end()
		return fmt.Errorf("instance %q: delete runtime config: %w", name, err)
	}
	end()
	pool, err := d.instancePool(in)
	if err != nil {
		return fmt.Errorf("instance %q: delete rootfs: %w", name, err)
	}
	end = trace.Step(ctx, "pool: delete the volume")
	if err := pool.Delete(ctx, storage.Volume{Kind: storage.KindContainer, Name: name}); err != nil {
		end()
		return fmt.Errorf("instance %q: delete rootfs: %w", name, err)
	}
	end()
	end = trace.Step(ctx, "database: delete the instance")
	if err := d.db.DeleteInstance(ctx, name); err != nil && !errors.Is(err, db.ErrNotFound) {
		end()
		return err
	}
	end()
	d.removeBackups(name)
	end = trace.Step(ctx, "network: its hosts and leases")
	d.syncInstanceHosts(ctx, d.instanceHosts(ctx, in), nil)
	d.releaseLeases(ctx, in)
	d.nicsDeleted(ctx, d.mustExpand(ctx, in))
	end()
	d.removeProxies(name)
	d.guestRemove(name)
	os.Remove(d.deleteMarker(name))
	return nil
}

// DeleteInstance deletes a stopped instance in an operation (deleteInstance).
func (d *Daemon) DeleteInstance(ctx context.Context, name string) (*operations.Op, error) {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return nil, err
	}
	if st := d.liveStatus(ctx, in); st == instances.StatusRunning || st == instances.StatusFrozen {
		return nil, errdefs.Invalidf("instance %q is running; stop it first (lodge stop %s) or delete with --force", name, name)
	}
	spec := operationsSpec("Deleting instance", name)
	spec.Trace = trace.From(ctx)
	op := d.ops.Start(spec, func(ctx context.Context, _ *operations.Op) error {
		return d.deleteInstance(ctx, name)
	})
	return op, nil
}
