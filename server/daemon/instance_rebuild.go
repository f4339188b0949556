package daemon

import (
	"context"
	"fmt"
	"strings"

	"lodge/api"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
	"lodge/server/operations"
	"lodge/storage"
)

func (d *Daemon) rebuildInstance(ctx context.Context, op *operations.Op, name string, img db.Image) error {
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
	// The new image's templates, rendered as at a create.
	if err := d.rebuilt(ctx, pool, vol, img.Fingerprint, in.Config); err != nil {
		return fmt.Errorf("instance %q: rebuild: %w", name, err)
	}
	if err := d.db.UpdateInstance(ctx, in); err != nil {
		return err
	}
	if err := d.db.SetInstanceImage(ctx, name, img.Fingerprint); err != nil {
		return err
	}
	in.ImageFingerprint = img.Fingerprint
	err = d.define(ctx, in)
	if err != nil {
		return fmt.Errorf("instance %q: rebuilt, but defining its runtime config failed: %w", name, err)
	}
	d.events.lifecycle("instance-updated", InstanceURL(name), nil)
	return nil
}

// RebuildInstance gives a stopped instance a fresh rootfs from an image,
// keeping its config, devices and snapshots, in an operation.
func (d *Daemon) RebuildInstance(ctx context.Context, name string, req api.InstanceRebuildPost) (*operations.Op, error) {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return nil, err
	}
	if req.Source.Type != "image" {
		return nil, errdefs.Invalidf("instance %q: rebuild source type %q is not supported; rebuild from an image", name, req.Source.Type)
	}
	if req.Source.Server != "" {
		return nil, errdefs.Invalidf("instance %q: rebuild from a remote server is not supported; import the image first", name)
	}
	img, err := d.resolveImage(ctx, req.Source)
	if err != nil {
		return nil, err
	}
	if st := d.liveStatus(ctx, in); st != instances.StatusStopped {
		return nil, errdefs.Invalidf("instance %q is running; stop it first (lodge stop %s)", name, name)
	}
	op := d.ops.Start(operationsSpec("Rebuilding instance", name), func(ctx context.Context, op *operations.Op) error {
		return d.rebuildInstance(ctx, op, name, img)
	})
	return op, nil
}
