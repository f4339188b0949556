package daemon

import (
	"context"
	"sort"
	"strings"

	"lodge/errdefs"
	"lodge/instances"
	"lodge/network"
	"lodge/server/db"
)

// nicLinkKey is what decides a NIC's link; a change of it needs a replug,
// other keys (ipv4.address) apply through DHCP.
func nicLinkKey(d map[string]string) string {
	var b strings.Builder
	for _, k := range []string{"type", "nictype", "network", "parent", "name", "hwaddr", "mtu", "host_name"} {
		b.WriteString(k + "=" + d[k] + "\x00")
	}
	return b.String()
}

func nicName(dev string, d map[string]string) string {
	if d["name"] != "" {
		return d["name"]
	}
	return dev
}

// applyLiveDevices brings a running instance's NICs, disks and proxies in
// line with its new devices: NICs are hot-plugged (moved into its network
// namespace) or unplugged, disks mounted or unmounted (hotplugDisks),
// proxies restarted.
func (d *Daemon) applyLiveDevices(ctx context.Context, old, cur db.Instance) error {
	st := d.liveState(ctx, cur)
	if st.PID <= 0 || st.Status != instances.StatusRunning && st.Status != instances.StatusFrozen {
		return nil
	}
	oldD, newD := d.devicesOf(ctx, old), d.devicesOf(ctx, cur)
	changed := func(a, b map[string]map[string]string, dev string) bool {
		return a[dev]["type"] == "nic" && (b[dev] == nil || nicLinkKey(a[dev]) != nicLinkKey(b[dev]))
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
	sort.Strings(detach)
	sort.Strings(attach)
	if len(detach)+len(attach) > 0 {
		hp := d.nets.drv
		if hp == nil {
			return errdefs.Invalidf("instance %q: NIC changes need a restart here (lodge restart %s)", cur.Name, cur.Name)
		}
		for _, dev := range detach {
			if err := hp.DetachNIC(ctx, st.PID, network.NIC{Name: nicName(dev, oldD[dev])}); err != nil {
				return err
			}
		}
		x, err := d.expand(ctx, cur)
		if err != nil {
			return err
		}
		spec, err := d.specFor(ctx, x)
		if err != nil {
			return err
		}
		for _, dev := range attach {
			name := nicName(dev, newD[dev])
			for _, n := range spec.NICs {
				if n.Name != name {
					continue
				}
				if n.Type == "veth" && n.HostName == "" {
					n.HostName = vethName(cur.Name, dev)
				}
				if err := hp.AttachNIC(ctx, st.PID, network.NIC{Name: n.Name, Type: n.Type, Link: n.Link, HWAddr: n.HWAddr, MTU: n.MTU, HostName: n.HostName}); err != nil {
					return err
				}
			}
		}
	}
	if err := d.hotplugDisks(ctx, old, cur); err != nil {
		return err
	}
	return d.syncProxies(ctx, cur, st.PID)
}
