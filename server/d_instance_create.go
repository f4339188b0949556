package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"time"

	"lodge/server/db"
	"lodge/server/operations"
	"lodge/storage"
)

type opT = operations.Op

func operationsSpec(desc, name string) operations.Spec {
	return operations.Spec{Description: desc, Resources: instanceResources(name)}
}

// revert runs undo steps in reverse unless Success is called.
type revert struct{ undo []func() }

func (r *revert) add(f func()) { r.undo = append(r.undo, f) }

func (r *revert) success() { r.undo = nil }

func (r *revert) fail() {
	for i := len(r.undo) - 1; i >= 0; i-- {
		r.undo[i]()
	}
}

// rootPool is the pool of the root disk among devs, else def.
func rootPool(devs map[string]map[string]string, def string) string {
	for _, d := range devs {
		if d["type"] == "disk" && d["path"] == "/" && d["pool"] != "" {
			return d["pool"]
		}
	}
	return def
}

func randomMAC() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("00:16:3e:%02x:%02x:%02x", b[0], b[1], b[2])
}

// createInstance does the slow part of a create; any failure removes
// everything it made, including the row inserted by the handler.
func (d *Daemon) createInstance(ctx context.Context, op *opT, row db.Instance, start bool) (err error) {
	unlock := d.instLocks.lock(row.Name)
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	rev := &revert{}
	defer func() {
		if err != nil {
			rev.fail()
			d.log.Warn("instance create failed, rolled back", "instance", row.Name, "err", err)
		}
	}()
	// Cleanup must run even if the operation's ctx was cancelled.
	bg := context.WithoutCancel(ctx)
	rev.add(func() { _ = d.db.DeleteInstance(bg, row.Name) })

	pool, err := d.instancePool(row)
	if err != nil {
		return err
	}
	if err := d.ensureImageVolume(ctx, op, pool, row.Pool, row.ImageFingerprint); err != nil {
		return err
	}
	vol := storage.Volume{Kind: storage.KindContainer, Name: row.Name}
	imgVol := storage.Volume{Kind: storage.KindImage, Name: row.ImageFingerprint}
	// Left by a crash of an earlier create of the same name; the row is ours now.
	if err := d.clearStale(ctx, row.Pool, pool, vol); err != nil {
		return err
	}
	op.SetMetadata("create_instance_from_image_unpack_progress", "Creating instance rootfs")
	if err := pool.Clone(ctx, imgVol, vol); err != nil {
		return fmt.Errorf("instance %q: create rootfs: %w", row.Name, err)
	}
	rev.add(func() { _ = pool.Delete(bg, vol) })
	if err := pool.Mount(ctx, vol); err != nil {
		return fmt.Errorf("instance %q: %w", row.Name, err)
	}
	if err := setHostname(filepath.Join(pool.Path(vol), "rootfs"), row.Name); err != nil {
		return fmt.Errorf("instance %q: set hostname: %w", row.Name, err)
	}
	if err := d.ensureRootfsMap(row); err != nil {
		return err
	}
	x, err := d.expand(ctx, row)
	if err != nil {
		return err
	}
	spec, err := d.specFor(x)
	if err != nil {
		return err
	}
	if err := d.inst.Define(ctx, spec); err != nil {
		return fmt.Errorf("instance %q: %w", row.Name, err)
	}
	rev.add(func() { _ = d.inst.Delete(bg, row.Name) })
	if err := d.db.SetInstancePhase(ctx, row.Name, db.PhaseCreated); err != nil {
		return err
	}
	rev.success()
	d.syncNetworkHosts(ctx)
	d.events.lifecycle("instance-created", instanceURL(row.Name), nil)
	if start {
		unlock()
		locked = false
		return d.startInstance(ctx, row.Name)
	}
	return nil
}

// ensureImageVolume unpacks an image into a pool once per fingerprint;
// every instance on that pool is then a clone of it. This is the one
// place an image volume is filled.
func (d *Daemon) ensureImageVolume(ctx context.Context, op *opT, pool storage.Driver, poolName, fp string) error {
	unlock := d.imageLocks.lock(fp)
	defer unlock()
	vol := storage.Volume{Kind: storage.KindImage, Name: fp}
	if pool.Exists(vol) {
		return nil
	}
	op.SetMetadata("create_instance_from_image_unpack_progress", "Unpacking image")
	start := time.Now()
	err := pool.CreateImage(ctx, vol, func(dir string) error {
		if err := d.unpack(ctx, d.images.Path(fp), filepath.Join(dir, "rootfs")); err != nil {
			return err
		}
		return d.shiftImageVolume(filepath.Join(dir, "rootfs"))
	})
	if err != nil {
		return fmt.Errorf("image %s: unpack into pool %q: %w", short(fp), poolName, err)
	}
	d.log.Info("image unpacked into pool", "fingerprint", fp, "pool", poolName, "took", time.Since(start))
	return nil
}

func short(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}
