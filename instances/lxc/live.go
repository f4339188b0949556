//go:build linux && cgo

package lxc

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	golxc "github.com/lxc/go-lxc"

	"lodge/instances"
)

// CheckLimits is instances.Driver's: it tells whether cfg's
// limits can be rendered on this host, without touching any container.
func (d *Driver) CheckLimits(cfg map[string]string) error {
	_, err := limitItems(cfg, hostLayout, true)
	return err
}

// UpdateLimits is instances.Driver's: it writes cfg's limits
// into a running container's cgroups through its monitor, lifting those no
// longer set. A stopped container gets them from its config at next start.
func (d *Driver) UpdateLimits(ctx context.Context, name string, cfg map[string]string) error {
	c, err := d.container(name)
	if err != nil {
		return err
	}
	defer golxc.Release(c)
	if !c.Running() {
		return nil
	}
	keep := ""
	if v := c.CgroupItem("cpuset.cpus"); len(v) == 1 {
		keep = strings.TrimSpace(v[0])
	}
	items, err := limitItems(d.resolveCPUs(name, cfg, keep), hostLayout, true)
	if err != nil {
		return err
	}
	for _, it := range items {
		if err := c.SetCgroupItem(it.Key, it.Value); err != nil {
			return fmt.Errorf("container %q: set %s=%s: %w", name, it.Key, it.Value, err)
		}
	}
	return nil
}

var _ instances.Driver = (*Driver)(nil)

// cpuPins counts, per CPU, the other running containers pinned to it by a
// cpuset narrower than the host's.
func (d *Driver) cpuPins(self string) map[int]int {
	usage := map[int]int{}
	names, err := d.List(context.Background())
	if err != nil {
		return usage
	}
	socks, _ := commandSockets()
	for _, n := range names {
		if n == self {
			continue
		}
		// Stopped ones are told apart without asking liblxc.
		if p := d.lxcpath + "/" + n + "/command"; socks != nil && len(p) <= maxDirectSocketName && !socks[p] {
			continue
		}
		set, ok := d.cgroupCPUs(n)
		if !ok {
			c, err := d.container(n)
			if err != nil {
				continue
			}
			if c.Running() {
				if v := c.CgroupItem("cpuset.cpus"); len(v) == 1 {
					set = strings.TrimSpace(v[0])
				}
			}
			golxc.Release(c)
		}
		if set != "" && set != hostLayout.CPUList {
			cpus, _ := parseCPUList(set)
			for _, cpu := range cpus {
				usage[cpu]++
			}
		}
	}
	return usage
}

// cgroupCPUs reads a running container's cpuset from its payload cgroup,
// as liblxc would, without a liblxc handle: a launch with limits.cpu looks
// at every running container, so on a host with a thousand this is a
// thousand config parses saved. ok is false if the container's init is not
// known (fastate.go); "" means no cpuset file (not pinned).
func (d *Driver) cgroupCPUs(name string) (string, bool) {
	ip, ok := d.live.trustedInit(name)
	if !ok {
		return "", false
	}
	dirs := ip.cgroupDirs()
	dir, ok := dirs[""]
	if !hostLayout.V2 {
		dir, ok = dirs["cpuset"]
	}
	if !ok {
		return "", false
	}
	return strings.TrimSpace(readString(filepath.Join(dir, "cpuset.cpus"))), true
}

// resolveCPUs turns a limits.cpu count into a concrete set, balanced over
// the host's CPUs; keep, if it already has that many CPUs, is kept so a
// live update does not move a container needlessly.
func (d *Driver) resolveCPUs(name string, cfg map[string]string, keep string) map[string]string {
	n := cpuCount(cfg["limits.cpu"])
	if n == 0 || n >= len(hostLayout.HostCPUs) {
		return cfg
	}
	set := ""
	if cur, err := parseCPUList(keep); err == nil && len(cur) == n && keep != hostLayout.CPUList {
		set = keep
	} else {
		set = formatCPUList(pickCPUs(n, hostLayout.HostCPUs, d.cpuPins(name), name))
	}
	out := make(map[string]string, len(cfg))
	for k, v := range cfg {
		out[k] = v
	}
	// "N-N", not "N", which would read as a count again.
	if !strings.ContainsAny(set, ",-") {
		set += "-" + set
	}
	out["limits.cpu"] = set
	return out
}
