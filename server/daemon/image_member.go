package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"lodge/errdefs"
	"lodge/images"
	"lodge/remotes"
	"lodge/remotes/lxd"
	"lodge/server/db"
	"lodge/server/operations"
)

// In a cluster an image's record is the cluster's but its files are each
// member's: the member that imported or downloaded it holds them
// (images_nodes says which). A member that creates an instance from an
// image it lacks copies the files from a member that has them, over the
// members' mutual TLS, as LXD does (imageImportFromNode).

// imageFromMember makes sure this member holds image fp's files, copying
// them from another online member if it does not. Standalone, or with the
// files here, it does nothing.
func (d *Daemon) imageFromMember(ctx context.Context, op *operations.Op, fp string) error {
	if !d.db.Clustered() {
		return nil
	}
	if _, err := os.Stat(d.images.Path(fp)); err == nil {
		return nil
	}
	nodes, err := d.db.ImageNodes(ctx, fp)
	if err != nil {
		return err
	}
	th := d.offlineThreshold(ctx)
	var tried []string
	var errs []error
	for _, n := range nodes {
		if n.ID == d.db.NodeID() {
			continue
		}
		if d.isOffline(n, th) {
			tried = append(tried, n.Name+" (offline)")
			continue
		}
		err := d.copyImageFrom(ctx, op, n, fp)
		if err == nil {
			return d.db.AddImageNode(ctx, fp)
		}
		d.log.Warn("image: copying its files from a member failed", "fingerprint", fp, "member", n.Name, "err", err)
		tried = append(tried, n.Name)
		errs = append(errs, fmt.Errorf("from %s: %w", n.Name, err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("image %s: its files could not be copied from another cluster member: %w", short(fp), errors.Join(errs...))
	}
	held := "no member"
	if len(tried) > 0 {
		held = "only " + strings.Join(tried, ", ")
	}
	return errdefs.Unavailablef("image %s: this member (%s) does not hold its files and %s does; bring a member that holds them back online, or import the image again", short(fp), d.db.Location(), held)
}

// copyImageFrom downloads image fp's files from member n into the store.
func (d *Daemon) copyImageFrom(ctx context.Context, op *operations.Op, n db.Node, fp string) error {
	cert, certPEM, _ := d.clusterCert()
	if cert == nil {
		return errors.New("no cluster certificate")
	}
	tcfg, err := remotes.PinnedTLS(certPEM, cert)
	if err != nil {
		return err
	}
	opts := d.rm.httpOpts
	opts.TLS = tcfg
	server := "https://" + n.Address
	src := lxd.New(server, opts, "")
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	im, err := src.Resolve(rctx, fp)
	cancel()
	if err != nil {
		return err
	}
	if im.Fingerprint != fp {
		return fmt.Errorf("member %s answered with image %s", n.Name, im.Fingerprint)
	}
	dl := &download{ops: map[*operations.Op]bool{}} // progress only: nobody waits on it
	if op != nil {
		dl.ops[op] = true
	}
	start := time.Now()
	info, _, err := d.storeRemote(ctx, dl, &remoteImage{src: src, server: server, protocol: "lxd", im: im})
	if errors.Is(err, images.ErrExists) {
		return nil
	}
	if err != nil {
		return err
	}
	d.log.Info("image copied from a cluster member", "fingerprint", fp, "member", n.Name, "bytes", info.Size, "took", time.Since(start))
	return nil
}

// dropDeletedImages removes the files of images the cluster no longer
// records: another member deleted them while this one could not be told.
func (d *Daemon) dropDeletedImages(ctx context.Context) {
	fps, err := d.images.List()
	if err != nil {
		d.log.Warn("cluster: list the image store", "err", err)
		return
	}
	for _, fp := range fps {
		if _, err := d.db.GetImage(ctx, fp); !errors.Is(err, db.ErrNotFound) {
			continue
		}
		if err := d.DropImageFiles(ctx, fp); err != nil {
			d.log.Warn("cluster: remove the files of an image deleted elsewhere", "fingerprint", fp, "err", err)
		}
	}
}
