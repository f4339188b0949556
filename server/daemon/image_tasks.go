package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"lodge/errdefs"
	"lodge/images"
	"lodge/server/db"
	"lodge/server/operations"
	"lodge/storage"
)

// refreshImage checks an image's origin for a newer build of the alias it
// was fetched by. A newer one is downloaded, takes over the local aliases
// and settings, and the old one is deleted. It returns the fingerprint now
// current ("" when the image has no origin to refresh from).
func (d *Daemon) refreshImage(ctx context.Context, op *operations.Op, im db.Image) (string, bool, error) {
	src, err := d.db.GetImageSource(ctx, im.Fingerprint)
	if errors.Is(err, db.ErrNotFound) {
		return im.Fingerprint, false, errdefs.Invalidf("image %s has no remote origin to refresh from (it was imported or published here)", short(im.Fingerprint))
	}
	if err != nil {
		return "", false, err
	}
	if src.Alias == "" {
		// Fetched by fingerprint: a fingerprint never gets a newer build.
		return im.Fingerprint, false, nil
	}
	_, ri, err := d.resolveRemote(ctx, remoteRef{Server: src.Server, Protocol: src.Protocol, Certificate: src.Certificate, Alias: src.Alias})
	if err != nil {
		return "", false, err
	}
	if ri == nil {
		return im.Fingerprint, false, nil // the newest is the one we have (or already local)
	}
	nu, err := d.fetchImage(ctx, op, ri, im.Cached)
	if err != nil {
		return "", false, err
	}
	nu.Public, nu.AutoUpdate = im.Public, im.AutoUpdate
	for k, v := range im.Properties {
		if _, ok := nu.Properties[k]; !ok {
			nu.Properties[k] = v
		}
	}
	if err := d.db.UpdateImage(ctx, nu); err != nil {
		return "", false, err
	}
	aliases, err := d.db.ListAliases(ctx, im.Fingerprint)
	if err != nil {
		return "", false, err
	}
	for _, a := range aliases {
		a.Fingerprint = nu.Fingerprint
		if err := d.db.UpdateAlias(ctx, a); err != nil {
			return "", false, err
		}
	}
	d.events.lifecycle("image-refreshed", ImageURL(im.Fingerprint), nil)
	d.log.Info("image refreshed", "old", im.Fingerprint, "new", nu.Fingerprint, "server", src.Server, "alias", src.Alias)
	if err := d.deleteImage(ctx, im.Fingerprint); err != nil {
		d.log.Warn("refreshed image: the old one could not be deleted", "fingerprint", im.Fingerprint, "err", err)
	}
	return nu.Fingerprint, true, nil
}

// deleteImage removes an image's volume, row and file (as DELETE does);
// in a cluster the other members that hold its files drop them too.
func (d *Daemon) deleteImage(ctx context.Context, fp string) error {
	unlock := d.imageLocks.lock(fp)
	defer unlock()
	if err := d.deleteImageVolumes(ctx, fp); err != nil {
		return err
	}
	var holders []db.Node
	if d.db.Clustered() {
		var err error
		if holders, err = d.db.ImageNodes(ctx, fp); err != nil {
			return err
		}
	}
	if err := d.db.DeleteImage(ctx, fp); err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	if err := d.images.Delete(fp); err != nil && !errors.Is(err, images.ErrNotFound) && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, n := range holders {
		if n.ID == d.db.NodeID() {
			continue
		}
		// The record is gone, so nothing can use the files any more; a
		// member that cannot be told now drops them at its next start.
		if _, err := d.cl.transport.MemberDo(ctx, n.Address, "DELETE", "/internal/images/"+url.PathEscape(fp), nil); err != nil {
			d.log.Warn("image deleted, but a member holding its files could not be told; it removes them at its next start", "fingerprint", fp, "member", n.Name, "err", err)
		}
	}
	d.events.lifecycle("image-deleted", ImageURL(fp), nil)
	return nil
}

// deleteImageVolumes removes an image's unpacked volume from every pool.
// Instances are copies or clones, so it can go (an overlay pool keeps it
// while instances still use it as a layer).
func (d *Daemon) deleteImageVolumes(ctx context.Context, fp string) error {
	for name, pool := range d.pools.all() {
		if err := pool.Delete(ctx, storage.Volume{Kind: storage.KindImage, Name: fp}); err != nil {
			return fmt.Errorf("image %s: delete its volume on pool %q: %w", short(fp), name, err)
		}
	}
	return nil
}

// DropImageFiles removes this member's files and volumes of an image the
// cluster no longer has: another member deleted it (DELETE
// /internal/images/{fp}). An image still recorded is refused.
func (d *Daemon) DropImageFiles(ctx context.Context, fp string) error {
	if !images.ValidFingerprintPrefix(fp) || len(fp) != 64 {
		return errdefs.Invalidf("%q is not an image fingerprint", fp)
	}
	unlock := d.imageLocks.lock(fp)
	defer unlock()
	if _, err := d.db.GetImage(ctx, fp); err == nil {
		return errdefs.Conflictf("image %s is still in the cluster's records: delete it with DELETE /1.0/images/%s", short(fp), fp)
	} else if !errors.Is(err, db.ErrNotFound) {
		return err
	}
	if err := d.deleteImageVolumes(ctx, fp); err != nil {
		return err
	}
	if err := d.images.Delete(fp); err != nil && !errors.Is(err, images.ErrNotFound) && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	d.log.Info("image files dropped: the image was deleted on another member", "fingerprint", fp)
	return nil
}

// autoUpdateImages refreshes every auto_update image (cached ones only if
// images.auto_update_cached). Failures are logged: a remote that is down
// now is tried again next time.
func (d *Daemon) autoUpdateImages(ctx context.Context) {
	ims, err := d.db.ListImages(ctx)
	if err != nil {
		return
	}
	withCached := d.serverConfig(ctx, "images.auto_update_cached") != "false"
	for _, im := range ims {
		if !im.AutoUpdate || (im.Cached && !withCached) {
			continue
		}
		if _, err := d.db.GetImageSource(ctx, im.Fingerprint); err != nil {
			continue
		}
		if _, _, err := d.refreshImage(ctx, nil, im); err != nil {
			d.log.Warn("image auto-update failed; will retry", "fingerprint", im.Fingerprint, "err", err)
		}
	}
}

// expireCachedImages deletes images cached for a launch and unused for
// images.remote_cache_expiry days (0 keeps them), unless an instance still
// names them as its base.
func (d *Daemon) expireCachedImages(ctx context.Context, now time.Time) []string {
	days := d.serverConfigInt(ctx, "images.remote_cache_expiry")
	if days <= 0 {
		return nil
	}
	ims, err := d.db.ListImages(ctx)
	if err != nil {
		return nil
	}
	insts, err := d.db.ListInstances(ctx)
	if err != nil {
		return nil
	}
	inUse := map[string]bool{}
	for _, in := range insts {
		inUse[in.ImageFingerprint] = true
	}
	var gone []string
	for _, im := range ims {
		last := im.LastUsedAt
		if last.IsZero() {
			last = im.UploadedAt
		}
		if !im.Cached || inUse[im.Fingerprint] || now.Sub(last) < time.Duration(days)*24*time.Hour {
			continue
		}
		if err := d.deleteImage(ctx, im.Fingerprint); err != nil {
			d.log.Warn("expiring cached image failed", "fingerprint", im.Fingerprint, "err", err)
			continue
		}
		d.log.Info("cached image expired", "fingerprint", im.Fingerprint, "last_used", last)
		gone = append(gone, im.Fingerprint)
	}
	return gone
}

// imageTasks runs the cache expiry (hourly) and the auto-update (every
// images.auto_update_interval hours; 0 disables) until ctx ends.
func (d *Daemon) imageTasks(ctx context.Context) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	lastUpdate, lastExpiry := time.Now(), time.Time{}
	for {
		now := time.Now()
		if now.Sub(lastExpiry) >= time.Hour {
			d.expireCachedImages(ctx, now)
			lastExpiry = now
		}
		if h := d.serverConfigInt(ctx, "images.auto_update_interval"); h > 0 && now.Sub(lastUpdate) >= time.Duration(h)*time.Hour {
			d.autoUpdateImages(ctx)
			lastUpdate = now
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// RefreshImage checks an image's origin for a newer build in an
// operation (refreshImage); an image with no origin is refused at once.
func (d *Daemon) RefreshImage(ctx context.Context, ref string) (*operations.Op, error) {
	im, err := d.findImage(ctx, ref)
	if err != nil {
		return nil, err
	}
	if _, err := d.db.GetImageSource(ctx, im.Fingerprint); err != nil {
		if errors.Is(err, db.ErrNotFound) {
			err = errdefs.Invalidf("image %s has no remote origin to refresh from (it was imported or published here)", short(im.Fingerprint))
		}
		return nil, err
	}
	op := d.ops.Start(imageOpSpec("Refreshing image", im.Fingerprint), func(ctx context.Context, op *operations.Op) error {
		fp, refreshed, err := d.refreshImage(ctx, op, im)
		if err != nil {
			return err
		}
		op.SetMetadata("refreshed", refreshed)
		op.SetMetadata("fingerprint", fp)
		return nil
	})
	return op, nil
}
