package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"lodge/server/db"
)

// Disk hotplug: a disk device (a host path or a custom volume) added to a
// running container is mounted into it at once through the driver's
// MountHotplugger (an idmapped mount with shift=true on an unprivileged
// one), one removed is unmounted, one changed is unmounted and mounted
// again. The root disk is not hot-plugged (its size applies as a quota).

// diskKey is what decides a disk mount; a change of it needs a replug.
func diskKey(d map[string]string) string {
	var b strings.Builder
	for _, k := range []string{"type", "source", "pool", "path", "readonly", "shift", "required"} {
		b.WriteString(k + "=" + d[k] + "\x00")
	}
	return b.String()
}

func isMountDisk(d map[string]string) bool {
	return d != nil && d["type"] == "disk" && d["path"] != "" && d["path"] != "/"
}

// hotplugDisks brings a running container's disk mounts in line with its
// new devices; the caller checked that it runs.
func (d *Daemon) hotplugDisks(ctx context.Context, old, cur db.Instance) error {
	oldD, newD := d.devicesOf(ctx, old), d.devicesOf(ctx, cur)
	changed := func(a, b map[string]map[string]string, dev string) bool {
		return isMountDisk(a[dev]) && (b[dev] == nil || diskKey(a[dev]) != diskKey(b[dev]))
	}
	var detach, attach []string
	for dev := range oldD {
		if changed(oldD, newD, dev) {
			detach = append(detach, dev)
		}
	}
	for dev := range newD {
		if changed(newD, oldD, dev) {
			attach = append(attach, dev)
		}
	}
	if len(detach)+len(attach) == 0 {
		return nil
	}
	sort.Strings(detach)
	sort.Strings(attach)
	for _, dev := range detach {
		if err := d.inst.DetachMount(ctx, cur.Name, oldD[dev]["path"]); err != nil {
			return fmt.Errorf("instance %q: unmount disk %q: %w", cur.Name, dev, err)
		}
	}
	if len(attach) == 0 {
		return nil
	}
	x, err := d.expand(ctx, cur)
	if err != nil {
		return err
	}
	mounts, err := d.diskMounts(x)
	if err != nil {
		return fmt.Errorf("instance %q: %w", cur.Name, err)
	}
	for _, dev := range attach {
		path := newD[dev]["path"]
		for _, m := range mounts {
			if filepath.Clean(m.Path) != filepath.Clean(path) {
				continue
			}
			if err := d.inst.AttachMount(ctx, cur.Name, m); err != nil {
				return fmt.Errorf("instance %q: mount disk %q (it is mounted at the next start): %w", cur.Name, dev, err)
			}
		}
	}
	return nil
}
