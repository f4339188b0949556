package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"lodge/instances"
	"lodge/server/db"
	"lodge/trace"
)

// specFor builds the runtime spec of an instance as it runs: profiles
// applied (x), NICs resolved to host links, id map, disk mounts.
func (d *Daemon) specFor(ctx context.Context, x Expanded) (instances.Spec, error) {
	defer trace.Step(ctx, "runtime spec")()
	in := x.Instance
	// Mounted here, before every start (an overlay volume after a reboot).
	rootfs, err := d.instanceRootfs(ctx, in)
	if err != nil {
		return instances.Spec{}, err
	}
	spec := instances.Spec{Name: in.Name, Rootfs: rootfs, Init: detectInit(rootfs), Config: in.Config}
	m, err := d.instanceMap(x)
	if err != nil {
		return spec, err
	}
	spec.IDMap = idmapEntries(m)
	devs := expandedDevices(x)
	names := make([]string, 0, len(devs))
	for n := range devs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		dev := devs[n]
		if dev["type"] != "nic" {
			continue
		}
		nic := instances.NIC{Name: dev["name"], Link: dev["parent"], HWAddr: dev["hwaddr"], HostName: dev["host_name"]}
		if dev["network"] != "" {
			if err := d.managedNIC(ctx, &nic, in, n, dev); err != nil {
				return spec, err
			}
		}
		if nic.Name == "" {
			nic.Name = n
		}
		if nic.HWAddr == "" {
			nic.HWAddr = in.Config["volatile."+n+".hwaddr"]
		}
		switch dev["nictype"] {
		case "bridged":
			// A stable host-side name: filters and limits are bound to it.
			nic.Type, nic.HostName = "veth", nicHostName(in.Name, in.Config, n, dev)
		case "macvlan":
			nic.Type = "macvlan"
		case "routed":
			if err := routedSpec(&nic, in.Name, in.Config, n, dev); err != nil {
				return spec, err
			}
		}
		if dev["mtu"] != "" {
			fmt.Sscan(dev["mtu"], &nic.MTU)
		}
		spec.NICs = append(spec.NICs, nic)
	}
	if err := d.applyRootQuota(ctx, in); err != nil {
		return instances.Spec{}, err
	}
	if spec.Mounts, err = d.diskMounts(x); err != nil {
		return instances.Spec{}, fmt.Errorf("instance %q: %w", in.Name, err)
	}
	if m, ok := d.guestMount(x); ok {
		spec.Mounts = append(spec.Mounts, m)
	}
	return spec, nil
}

// define (re)writes the runtime config of a stored instance, profiles applied.
func (d *Daemon) define(ctx context.Context, in db.Instance) error {
	x, err := d.expand(ctx, in)
	if err != nil {
		return err
	}
	spec, err := d.specFor(ctx, x)
	if err != nil {
		return err
	}
	return d.inst.Define(ctx, spec)
}

// detectInit tells systemd from busybox by what the image's /sbin/init is,
// which decides the signal that shuts it down cleanly.
func detectInit(rootfs string) string {
	target, err := os.Readlink(filepath.Join(rootfs, "sbin", "init"))
	if err != nil {
		return ""
	}
	switch {
	case strings.Contains(target, "systemd"):
		return "systemd"
	case strings.Contains(target, "busybox"):
		return "busybox"
	}
	return ""
}

// setHostname writes the instance name into the new rootfs's /etc/hostname
// and /etc/hosts, as LXD's templates do, so that an init that sets the
// hostname from /etc/hostname (systemd) agrees with the container's name.
// Symlinks are not followed: the rootfs came from an image we do not trust.
func setHostname(rootfs, name string) error {
	etc := filepath.Join(rootfs, "etc")
	if fi, err := os.Lstat(etc); err != nil || !fi.IsDir() {
		return nil
	}
	write := func(file string, edit func(old string) string) error {
		p := filepath.Join(etc, file)
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		old, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(p, []byte(edit(string(old))), fi.Mode().Perm())
	}
	if err := write("hostname", func(string) string { return name + "\n" }); err != nil {
		return err
	}
	return write("hosts", func(old string) string {
		lines := strings.Split(old, "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, "127.0.1.1") {
				lines[i] = "127.0.1.1\t" + name
			}
		}
		return strings.Join(lines, "\n")
	})
}
