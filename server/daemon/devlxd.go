package daemon

// The guest API (/dev/lxd/sock, issue 15): the transport (package devlxd,
// wired by the server) keeps one socket per running instance in a
// directory of its own, which the instance's runtime config bind-mounts
// at /dev/lxd unless security.devlxd=false. The daemon opens a socket
// before an instance starts and closes it when lodged stops the instance,
// removes it with the instance (delete, rename), tells the guests about
// their config and device changes, and answers the transport's questions
// about an instance (GuestInstance, SetReady, GuestImageFiles).

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"lodge/devlxd"
	"lodge/errdefs"
	"lodge/instances"
	"lodge/server/db"
)

// GuestAPI is the guest API's side the daemon drives: the per-instance
// sockets (devlxd.Sockets) and the guests' event streams (devlxd.Hub).
type GuestAPI interface {
	// Dir is the host directory mounted at /dev/lxd in instance name.
	Dir(name string) string
	// Listen opens (or reopens) the socket of instance name.
	Listen(name string) error
	// Close closes it; Remove also removes its directory.
	Close(name string)
	Remove(name string) error
	// ConfigChanged and DevicesChanged send the guest's events.
	ConfigChanged(name string, old, new map[string]string)
	DevicesChanged(name string, old, new map[string]map[string]string)
}

// guestAPIOn tells whether an (expanded) instance gets the guest API.
func (d *Daemon) guestAPIOn(cfg map[string]string) bool {
	return d.guest != nil && !isFalse(cfg["security.devlxd"])
}

func isFalse(v string) bool {
	switch strings.ToLower(v) {
	case "false", "0", "no", "off":
		return true
	}
	return false
}

// guestMount is the runtime mount of the guest API's directory.
func (d *Daemon) guestMount(x Expanded) (instances.Mount, bool) {
	if !d.guestAPIOn(x.Config) {
		return instances.Mount{}, false
	}
	return instances.Mount{Source: d.guest.Dir(x.Name), Path: "/dev/lxd", ReadOnly: true}, true
}

// guestListen opens an instance's socket before it starts.
func (d *Daemon) guestListen(x Expanded) error {
	if !d.guestAPIOn(x.Config) {
		return nil
	}
	if err := d.guest.Listen(x.Name); err != nil {
		return errdefs.Unavailablef("instance %q: the guest API (/dev/lxd): %v; set security.devlxd=false to start without it", x.Name, err)
	}
	return nil
}

// guestClose closes an instance's socket (it stopped).
func (d *Daemon) guestClose(name string) {
	if d.guest != nil {
		d.guest.Close(name)
	}
}

// guestRemove removes an instance's socket and directory (delete, rename).
func (d *Daemon) guestRemove(name string) {
	if d.guest == nil {
		return
	}
	if err := d.guest.Remove(name); err != nil {
		d.log.Warn("guest API: removing an instance's socket directory", "instance", name, "err", err)
	}
}

// startGuestAPI opens the sockets of the instances running when lodged
// starts (they kept their /dev/lxd mount; the new socket appears there).
func (d *Daemon) startGuestAPI(ctx context.Context, v *instView) {
	if d.guest == nil {
		return
	}
	v, err := d.instancesNow(ctx, v)
	if err != nil {
		d.log.Warn("guest API: list instances", "err", err)
		return
	}
	sts := v.sts
	expand := d.expander(ctx)
	for i, in := range v.list {
		if sts[i] != instances.StatusRunning && sts[i] != instances.StatusFrozen {
			continue
		}
		if err := d.guestListen(expand(in)); err != nil {
			d.log.Warn("guest API: socket of a running instance", "instance", in.Name, "err", err)
		}
	}
}

// guestUpdated follows an instance's config and device change: its
// guest's events, and security.devlxd turned on or off while it runs.
func (d *Daemon) guestUpdated(ctx context.Context, oldX, newX Expanded) {
	if d.guest == nil {
		return
	}
	d.guest.ConfigChanged(newX.Name, oldX.Config, newX.Config)
	d.guest.DevicesChanged(newX.Name, expandedDevices(oldX), expandedDevices(newX))
	if d.guestAPIOn(oldX.Config) == d.guestAPIOn(newX.Config) {
		return
	}
	if st := d.liveStatus(ctx, newX.Instance); st != instances.StatusRunning && st != instances.StatusFrozen {
		return
	}
	if !d.guestAPIOn(newX.Config) {
		d.guest.Close(newX.Name)
		return
	}
	// Back on: the socket reappears if /dev/lxd was mounted at its start,
	// else at its next start.
	if err := d.guest.Listen(newX.Name); err != nil {
		d.log.Warn("guest API: reopening a socket", "instance", newX.Name, "err", err)
	}
}

// renewCloudInitID gives next a new cloud-init instance-id when the
// update from old changes what cloud-init was given (its user-data,
// vendor-data or network-config keys, or its NIC names), so that
// cloud-init runs again; it returns both expanded.
func (d *Daemon) renewCloudInitID(ctx context.Context, old db.Instance, next *db.Instance) (oldX, newX Expanded) {
	oldX, newX = d.mustExpand(ctx, old), d.mustExpand(ctx, *next)
	if instances.NeedsNewCloudInitID(oldX.Config, newX.Config, expandedDevices(oldX), expandedDevices(newX)) {
		next.Config[instances.CloudInitIDKey] = instances.NewCloudInitID()
		newX = d.mustExpand(ctx, *next)
	}
	return oldX, newX
}

// GuestInstance is what the guest API tells instance name about itself:
// its expanded config and devices, and the host uid of its root (the only
// caller it answers).
func (d *Daemon) GuestInstance(ctx context.Context, name string) (devlxd.Instance, error) {
	in, err := d.db.GetInstance(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return devlxd.Instance{}, devlxd.ErrNotFound
	}
	if err != nil {
		return devlxd.Instance{}, err
	}
	x := d.mustExpand(ctx, in)
	m, err := d.instanceMap(x)
	if err != nil {
		return devlxd.Instance{}, err
	}
	return devlxd.Instance{Name: in.Name, Type: "container", Config: x.Config, Devices: expandedDevices(x),
		RootUID: uint32(m.HostUID(0))}, nil
}

// SetReady records the guest's state (PATCH /1.0 of the guest API):
// volatile.last_state.ready, and the instance-ready event when ready.
func (d *Daemon) SetReady(ctx context.Context, name string, ready bool) error {
	unlock := d.instLocks.lock(name)
	defer unlock()
	err := d.updateVolatile(ctx, name, func(cfg map[string]string) { cfg[readyKey] = strconv.FormatBool(ready) })
	if err != nil {
		return err
	}
	if ready {
		d.events.lifecycle("instance-ready", InstanceURL(name), nil)
	}
	return nil
}

// GuestImageFiles finds an image a guest may export (security.devlxd.images):
// named by its whole fingerprint, and public or cached, as LXD allows.
func (d *Daemon) GuestImageFiles(ctx context.Context, fp string) (ImageFiles, error) {
	im, err := d.db.GetImage(ctx, strings.ToLower(fp))
	if err != nil || im.Fingerprint != strings.ToLower(fp) || !(im.Public || im.Cached) {
		return ImageFiles{}, errdefs.NotFoundf("image %q not found", fp)
	}
	f := ImageFiles{Image: im, Path: d.images.Path(im.Fingerprint)}
	if d.images.IsSplit(im.Fingerprint) {
		f.RootfsPath = d.images.RootfsPath(im.Fingerprint)
	}
	return f, nil
}

// profileChangedGuest follows a profile change on one of its instances
// (locked by the caller): a new cloud-init instance-id if what cloud-init
// was given changed, and the guest's events.
func (d *Daemon) profileChangedGuest(ctx context.Context, oldX, newX Expanded) error {
	if instances.NeedsNewCloudInitID(oldX.Config, newX.Config, expandedDevices(oldX), expandedDevices(newX)) {
		err := d.updateVolatile(ctx, newX.Name, func(cfg map[string]string) { cfg[instances.CloudInitIDKey] = instances.NewCloudInitID() })
		if err != nil {
			return err
		}
	}
	d.guestUpdated(ctx, oldX, newX)
	return nil
}
