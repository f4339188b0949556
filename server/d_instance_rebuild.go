package server

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"lodge/server/db"
	"lodge/storage"
)

func (d *Daemon) rebuildInstance(ctx context.Context, op *opT, name string, img db.Image) error {
	unlock := d.instLocks.lock(name)
	defer unlock()
	in, pool, err := d.stoppedInstance(ctx, name)
	if err != nil {
		return err
	}
	if err := d.ensureImageVolume(ctx, op, pool, in.Pool, img.Fingerprint); err != nil {
		return err
	}
	vol := storage.Volume{Kind: storage.KindContainer, Name: name}
	if err := pool.Unmount(ctx, vol); err != nil {
		return err
	}
	if err := pool.Reset(ctx, vol, storage.Volume{Kind: storage.KindImage, Name: img.Fingerprint}); err != nil {
		return fmt.Errorf("instance %q: rebuild: %w", name, err)
	}
	if err := pool.Mount(ctx, vol); err != nil {
		return err
	}
	if err := setHostname(filepath.Join(pool.Path(vol), "rootfs"), name); err != nil {
		return fmt.Errorf("instance %q: set hostname: %w", name, err)
	}
	// The image's properties replace the old image's.
	for k := range in.Config {
		if strings.HasPrefix(k, "image.") {
			delete(in.Config, k)
		}
	}
	for k, v := range img.Properties {
		in.Config["image."+k] = v
	}
	in.Config["volatile.base_image"] = img.Fingerprint
	if err := d.db.UpdateInstance(ctx, in); err != nil {
		return err
	}
	if err := d.db.SetInstanceImage(ctx, name, img.Fingerprint); err != nil {
		return err
	}
	in.ImageFingerprint = img.Fingerprint
	spec, err := d.specFor(in)
	if err == nil {
		err = d.inst.Define(ctx, spec)
	}
	if err != nil {
		return fmt.Errorf("instance %q: rebuilt, but defining its runtime config failed: %w", name, err)
	}
	d.events.lifecycle("instance-updated", instanceURL(name), nil)
	return nil
}
