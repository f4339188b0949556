package daemon

// Image templates (issue 15). An instance keeps its image's metadata.yaml
// and templates/ in its volume, beside rootfs/ (LXD's layout). Create,
// copy, rename and rebuild record a pending trigger in
// volatile.apply_template (the first one stays: a copy of a never-started
// instance still renders create); the next start renders it, clears it,
// then renders the start rules, all before the instance's init runs, so
// that the templates see the config the instance starts with.
// Images without templates keep lodge's own hostname and hosts writes.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"lodge/errdefs"
	"lodge/images"
	"lodge/images/templates"
	"lodge/instances"
	"lodge/server/db"
	"lodge/storage"
)

// readyKey is the guest's ready state (PATCH /1.0 of the guest API).
const readyKey = "volatile.last_state.ready"

// newInstanceKeys are the volatile keys a new instance (create, copy)
// starts with: the pending trigger after prev, and a cloud-init
// instance-id of its own.
func newInstanceKeys(cfg map[string]string, prev, trigger string) {
	cfg[templates.ApplyKey] = templates.Pending(prev, trigger)
	cfg[instances.CloudInitIDKey] = instances.NewCloudInitID()
}

// prepareTemplates gives an instance's volume (mounted) what its image's
// templates need: metadata.yaml and templates/ beside the rootfs, from the
// clone if it brought them, else from the first of from (directories:
// a copy's source, the image volume) that has them, else from the image
// file. For an image without templates it writes the hostname and hosts as
// lodge always did, so that those instances keep their name.
func (d *Daemon) prepareTemplates(ctx context.Context, pool storage.Driver, vol storage.Volume, name, fp string, from ...string) error {
	dir := pool.Path(vol)
	if err := d.keepImageMetadata(ctx, dir, fp, from...); err != nil {
		return fmt.Errorf("instance %q: keep the image's templates: %w", name, err)
	}
	has, err := hasTemplates(dir)
	if err != nil {
		return fmt.Errorf("instance %q: %w", name, err)
	}
	if !has {
		if err := setHostname(filepath.Join(dir, "rootfs"), name); err != nil {
			return fmt.Errorf("instance %q: set hostname: %w", name, err)
		}
	}
	return nil
}

// keepImageMetadata puts metadata.yaml and templates/ in dir unless they
// are there.
func (d *Daemon) keepImageMetadata(ctx context.Context, dir, fp string, from ...string) error {
	if images.HasMetadata(dir) {
		return nil
	}
	for _, src := range from {
		if images.HasMetadata(src) {
			return images.CopyMetadata(src, dir)
		}
	}
	if d.extractMeta == nil || fp == "" {
		return nil
	}
	p := d.images.Path(fp)
	if _, err := os.Stat(p); err != nil {
		// The image is gone from the store (a copy of an old instance):
		// its templates went with it.
		return nil
	}
	return d.extractMeta(ctx, p, dir)
}

// hasTemplates tells whether the metadata kept in dir has template rules.
func hasTemplates(dir string) (bool, error) {
	if !images.HasMetadata(dir) {
		return false, nil
	}
	src, err := templates.OpenSource(dir)
	if err != nil {
		return false, err
	}
	defer src.Close()
	rules, err := src.Rules()
	if err != nil {
		return false, errdefs.Invalidf("the image's metadata.yaml: %v", err)
	}
	return len(rules) > 0, nil
}

// imageVolumeDir is where the image volume of fp is in pool ("" if none).
func imageVolumeDir(pool storage.Driver, fp string) string {
	if fp == "" {
		return ""
	}
	return pool.Path(storage.Volume{Kind: storage.KindImage, Name: fp})
}

// renderTemplates runs, before the instance's init, the pending trigger
// and then the start rules of its image's templates in rootfs (mounted),
// and clears the pending trigger and the guest's ready state. Files are
// written through package files (inside the rootfs whatever the image
// planted there), new ones owned by the instance's root. The caller holds
// the instance's lock.
func (d *Daemon) renderTemplates(ctx context.Context, x Expanded, rootfs string) error {
	pending := x.Config[templates.ApplyKey]
	dir := filepath.Dir(rootfs)
	var src *templates.Source
	var inst templates.Instance
	var owner templates.Owner
	if images.HasMetadata(dir) {
		var err error
		if src, err = templates.OpenSource(dir); err != nil {
			return fmt.Errorf("instance %q: the image's templates: %w", x.Name, err)
		}
		defer src.Close()
		m, err := d.instanceMap(x)
		if err != nil {
			return err
		}
		owner = templates.Owner{UID: int(m.HostUID(0)), GID: int(m.HostGID(0))}
		if m.IsIdentity() {
			// Root's own (lodged runs as root): no chown needed.
			owner = templates.Owner{UID: -1, GID: -1}
		}
		inst = templates.Instance{Name: x.Name, Type: "container", Architecture: x.Architecture,
			Privileged: instances.IsTrue(x.Config["security.privileged"]), Ephemeral: x.Ephemeral,
			Config: x.Config, Devices: expandedDevices(x)}
	}
	apply := func(trigger string) error {
		if src == nil || trigger == "" {
			return nil
		}
		if _, err := templates.Apply(src, rootfs, trigger, inst, owner); err != nil {
			if errors.Is(err, templates.ErrInvalid) {
				return errdefs.Invalidf("instance %q: the image's templates (%s): %v; fix or rebuild from another image", x.Name, trigger, err)
			}
			return fmt.Errorf("instance %q: the image's templates (%s): %w", x.Name, trigger, err)
		}
		return nil
	}
	if err := apply(pending); err != nil {
		return err
	}
	if _, ok := x.Config[readyKey]; pending != "" || ok {
		err := d.updateVolatile(ctx, x.Name, func(cfg map[string]string) {
			delete(cfg, templates.ApplyKey)
			delete(cfg, readyKey)
		})
		if err != nil {
			return err
		}
	}
	return apply(templates.Start)
}

// renamed records a rename for the templates and cloud-init: a pending
// rename trigger and a new instance-id; an image without templates gets
// the new hostname written now. The caller holds the instance's lock.
func (d *Daemon) renamed(ctx context.Context, pool storage.Driver, in *db.Instance) error {
	vol := storage.Volume{Kind: storage.KindContainer, Name: in.Name}
	if err := pool.Mount(ctx, vol); err != nil {
		return fmt.Errorf("instance %q: %w", in.Name, err)
	}
	if err := d.prepareTemplates(ctx, pool, vol, in.Name, ""); err != nil {
		return err
	}
	return d.updateVolatile(ctx, in.Name, func(cfg map[string]string) {
		cfg[templates.ApplyKey] = templates.Pending(cfg[templates.ApplyKey], templates.Rename)
		cfg[instances.CloudInitIDKey] = instances.NewCloudInitID()
		in.Config = cfg
	})
}

// rebuilt gives a rebuilt volume (mounted) its new image's templates and
// records a pending create; cfg is the instance's config to be stored.
func (d *Daemon) rebuilt(ctx context.Context, pool storage.Driver, vol storage.Volume, fp string, cfg map[string]string) error {
	if err := images.RemoveMetadata(pool.Path(vol)); err != nil {
		return err
	}
	if err := d.prepareTemplates(ctx, pool, vol, vol.Name, fp, imageVolumeDir(pool, fp)); err != nil {
		return err
	}
	cfg[templates.ApplyKey] = templates.Create
	cfg[instances.CloudInitIDKey] = instances.NewCloudInitID()
	delete(cfg, readyKey)
	return nil
}

// updateVolatile changes lodged's own keys of a stored instance (edit
// changes cfg in place) and writes the row if anything changed. The
// caller holds the instance's lock.
func (d *Daemon) updateVolatile(ctx context.Context, name string, edit func(cfg map[string]string)) error {
	in, err := d.db.GetInstance(ctx, name)
	if err != nil {
		return err
	}
	before := make(map[string]string, len(in.Config))
	for k, v := range in.Config {
		before[k] = v
	}
	if in.Config == nil {
		in.Config = map[string]string{}
	}
	edit(in.Config)
	for k, v := range in.Config {
		if !strings.HasPrefix(k, "volatile.") && before[k] != v {
			return fmt.Errorf("instance %q: updateVolatile changed %s, which is not lodged's own", name, k)
		}
	}
	changed := len(before) != len(in.Config)
	for k, v := range in.Config {
		if w, ok := before[k]; !ok || w != v {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return d.db.UpdateInstance(ctx, in)
}
