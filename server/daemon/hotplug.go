package daemon

import (
	"context"
	"net"
	"sort"
	"strings"

	"lodge/errdefs"
	"lodge/instances"
	"lodge/network"
	"lodge/server/db"
)

// nicLinkKey is what decides a NIC's link; a change of it needs a replug,
// other keys apply to the plugged NIC (ipv4.address through DHCP, filters,
// isolation and limits: applyLiveNICs). A routed NIC's addresses are its
// routes: they replug it.
func nicLinkKey(d map[string]string) string {
	var b strings.Builder
	for _, k := range []string{"type", "nictype", "network", "parent", "name", "hwaddr", "mtu", "host_name"} {
		b.WriteString(k + "=" + d[k] + "\x00")
	}
	if d["nictype"] == "routed" {
		b.WriteString(d["ipv4.address"] + "\x00" + d["ipv6.address"])
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
		oldX := d.mustExpand(ctx, old)
		oldNICs := map[string]hostNIC{}
		for _, h := range d.hostNICs(ctx, oldX) {
			oldNICs[h.dev] = h
		}
		for _, dev := range detach {
			nic := network.NIC{Name: nicName(dev, oldD[dev])}
			h, veth := oldNICs[dev]
			if veth && h.kind == "routed" {
				// The driver removes the parent's proxy entries with it.
				r, _ := network.RoutedNICFor(h.host, h.conf)
				nic.Type, nic.HostName, nic.Link, nic.IPv4, nic.IPv6 = "routed", r.HostName, r.Parent, r.IPv4, r.IPv6
			}
			if err := hp.DetachNIC(ctx, st.PID, nic); err != nil {
				return err
			}
			if veth {
				d.nicUnplugged(ctx, oldX, h, true)
			}
		}
		x, err := d.expand(ctx, cur)
		if err != nil {
			return err
		}
		if err := d.storeNICReservations(ctx, &x); err != nil {
			return err
		}
		spec, err := d.specFor(ctx, x)
		if err != nil {
			return err
		}
		newNICs := map[string]hostNIC{}
		for _, h := range d.hostNICs(ctx, x) {
			newNICs[h.dev] = h
		}
		for _, dev := range attach {
			name := nicName(dev, newD[dev])
			for _, n := range spec.NICs {
				if n.Name != name {
					continue
				}
				if n.Type == "veth" && n.HostName == "" {
					n.HostName = nicHostName(cur.Name, cur.Config, dev, newD[dev])
				}
				h, veth := newNICs[dev]
				// As at a start: the filter before the NIC exists (a
				// routed NIC's parent is set up by AttachNIC).
				if veth && h.kind != "routed" {
					if err := d.nicBeforePlug(ctx, x, h); err != nil {
						return err
					}
				}
				pn := network.NIC{Name: n.Name, Type: n.Type, Link: n.Link, HWAddr: n.HWAddr, MTU: n.MTU, HostName: n.HostName}
				for _, a := range n.IPv4 {
					pn.IPv4 = append(pn.IPv4, net.ParseIP(a).To4())
				}
				for _, a := range n.IPv6 {
					pn.IPv6 = append(pn.IPv6, net.ParseIP(a))
				}
				if err := hp.AttachNIC(ctx, st.PID, pn); err != nil {
					return err
				}
				if veth {
					if err := d.nicAfterPlug(ctx, x, h); err != nil {
						return err
					}
				}
			}
		}
	}
	if err := d.hotplugDisks(ctx, old, cur); err != nil {
		return err
	}
	return d.syncProxies(ctx, cur, st.PID)
}
