package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"lodge/api"
	"lodge/errdefs"
	"lodge/idmap"
	"lodge/images"
	"lodge/instances"
	"lodge/server/db"
	"lodge/server/operations"
	"lodge/storage"
)

// compressionFlag maps LXD's compression names to GNU tar's flags.
func compressionFlag(alg string) (string, error) {
	switch alg {
	case "", "gzip":
		return "--gzip", nil
	case "xz":
		return "--xz", nil
	case "zstd":
		return "--zstd", nil
	case "bzip2":
		return "--bzip2", nil
	case "none":
		return "", nil
	}
	return "", errdefs.Invalidf("compression %q is not supported; use gzip, xz, zstd, bzip2 or none", alg)
}

// publishImage writes a unified tarball (metadata.yaml + rootfs/) of the
// instance or snapshot tree and imports it into the image store.
func (d *Daemon) publishImage(ctx context.Context, in db.Instance, snap string, req api.ImagesPublishPost, compress string) (string, int64, error) {
	unlock := d.instLocks.lock(in.Name)
	defer unlock()
	pool, err := d.instancePool(in)
	if err != nil {
		return "", 0, err
	}
	vol := storage.Volume{Kind: storage.KindContainer, Name: in.Name}
	if snap != "" {
		vol = vol.Snapshot(snap)
	}
	if err := pool.Mount(ctx, vol); err != nil {
		return "", 0, err
	}
	props := map[string]string{}
	for k, v := range in.Config {
		if p, ok := strings.CutPrefix(k, "image."); ok {
			props[p] = v
		}
	}
	for k, v := range req.Properties {
		props[k] = v
	}
	meta := api.ImageMetadata{Architecture: in.Architecture, CreationDate: time.Now().Unix(), Properties: props}
	if meta.Architecture == "" {
		meta.Architecture = "x86_64"
	}
	tmp, err := os.MkdirTemp(d.cfg.Dir, ".publish-")
	if err != nil {
		return "", 0, err
	}
	defer os.RemoveAll(tmp)
	mb, _ := yaml.Marshal(meta)
	if err := os.WriteFile(filepath.Join(tmp, "metadata.yaml"), mb, 0o644); err != nil {
		return "", 0, err
	}
	out := filepath.Join(tmp, "image.tar")
	args := []string{"--create", "--file", out, "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls", "--sparse"}
	if compress != "" {
		args = append(args, compress)
	}
	// An unprivileged instance's files are owned by shifted host ids; the
	// image must carry the ids as the container sees them.
	m, err := d.instanceMap(d.mustExpand(ctx, in))
	if err != nil {
		return "", 0, err
	}
	if !m.IsIdentity() {
		maps, err := writeOwnerMaps(tmp, m)
		if err != nil {
			return "", 0, err
		}
		args = append(args, maps...)
	}
	args = append(args, "-C", tmp, "metadata.yaml", "-C", pool.Path(vol), "rootfs")
	if b, err := storage.Command(ctx, "tar", args...).CombinedOutput(); err != nil {
		return "", 0, fmt.Errorf("publish %s: tar: %v: %s", vol.Name, err, strings.TrimSpace(string(b)))
	}
	f, err := os.Open(out)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	info, err := d.images.Import(ctx, f, "")
	if errors.Is(err, images.ErrExists) {
		return "", 0, errdefs.Existsf("an identical image (%s) already exists", short(info.Fingerprint))
	}
	if err != nil {
		return "", 0, fmt.Errorf("publish %s: import: %w", vol.Name, err)
	}
	now := time.Now().UTC()
	row := db.Image{Fingerprint: info.Fingerprint, Filename: req.Filename, Size: info.Size, Architecture: meta.Architecture,
		Type: "container", Public: req.Public, Properties: props, CreatedAt: now, UploadedAt: now}
	if row.Filename == "" {
		row.Filename = info.Filename
	}
	if err := d.db.CreateImage(ctx, row); err != nil {
		_ = d.images.Delete(info.Fingerprint)
		return "", 0, err
	}
	for _, a := range req.Aliases {
		if err := d.db.CreateAlias(ctx, db.Alias{Name: a.Name, Fingerprint: info.Fingerprint, Description: a.Description}); err != nil {
			return info.Fingerprint, info.Size, fmt.Errorf("image %s published, but alias %q: %w", short(info.Fingerprint), a.Name, err)
		}
	}
	d.events.lifecycle("image-created", ImageURL(info.Fingerprint), nil)
	return info.Fingerprint, info.Size, nil
}

// writeOwnerMaps writes GNU tar's --owner-map and --group-map files that
// turn m's host ids back into container ids, and returns the flags.
func writeOwnerMaps(dir string, m idmap.Map) ([]string, error) {
	var flags []string
	for _, f := range []struct {
		name, flag string
		base       int64
	}{{"owner-map", "--owner-map=", m.UIDBase}, {"group-map", "--group-map=", m.GIDBase}} {
		var b strings.Builder
		for n := int64(0); n < idmap.Size; n++ {
			fmt.Fprintf(&b, "+%d +%d\n", f.base+n, n)
		}
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
			return nil, err
		}
		flags = append(flags, f.flag+p)
	}
	return flags, nil
}

// PublishImage makes an image of an instance (stopped, or frozen while it
// is made) or of one of its snapshots, in an operation (publishImage).
func (d *Daemon) PublishImage(ctx context.Context, req api.ImagesPublishPost) (*operations.Op, error) {
	instName, snap, _ := strings.Cut(req.Source.Name, "/")
	if req.Source.Type == "snapshot" && snap == "" {
		return nil, errdefs.Invalidf("publish: snapshot source %q must be INSTANCE/SNAPSHOT", req.Source.Name)
	}
	in, err := d.getInstance(ctx, instName)
	if err != nil {
		return nil, err
	}
	if snap != "" {
		if _, _, err := d.getSnapshot(ctx, instName, snap); err != nil {
			return nil, err
		}
	} else if st := d.liveStatus(ctx, in); st == instances.StatusRunning {
		// A frozen instance is consistent; `lodge publish --force` freezes it.
		return nil, errdefs.Invalidf("instance %q is running; stop it, publish a snapshot, or use --force (which freezes it while the image is made)", instName)
	}
	compress, err := compressionFlag(req.CompressionAlgorithm)
	if err != nil {
		return nil, err
	}
	for _, a := range req.Aliases {
		if _, err := d.db.GetAlias(ctx, a.Name); err == nil {
			return nil, errdefs.Existsf("image alias %q already exists", a.Name)
		}
	}
	op := d.ops.Start(operations.Spec{Description: "Downloading image"}, func(ctx context.Context, op *operations.Op) error {
		fp, size, err := d.publishImage(ctx, in, snap, req, compress)
		if err != nil {
			return err
		}
		op.SetMetadata("fingerprint", fp)
		op.SetMetadata("size", size)
		return nil
	})
	return op, nil
}
