//go:build linux && cgo

package lxc

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	golxc "github.com/lxc/go-lxc"

	"lodge/instances"
)

// CheckLimits implements instances.LimitsUpdater: it tells whether cfg's
// limits can be rendered on this host, without touching any container.
func (d *Driver) CheckLimits(cfg map[string]string) error {
	_, err := limitItems(cfg, hostLayout, true)
	return err
}

// UpdateLimits implements instances.LimitsUpdater: it writes cfg's limits
// into a running container's cgroups through its monitor, lifting those no
// longer set. A stopped container gets them from its config at next start.
func (d *Driver) UpdateLimits(ctx context.Context, name string, cfg map[string]string) error {
	items, err := limitItems(cfg, hostLayout, true)
	if err != nil {
		return err
	}
	c, err := d.container(name)
	if err != nil {
		return err
	}
	defer golxc.Release(c)
	if !c.Running() {
		return nil
	}
	for _, it := range items {
		if err := c.SetCgroupItem(it.Key, it.Value); err != nil {
			return fmt.Errorf("container %q: set %s=%s: %w", name, it.Key, it.Value, err)
		}
	}
	return nil
}

var _ instances.LimitsUpdater = (*Driver)(nil)

// memoryExtra reads peak memory and swap use from the container's memory
// cgroup (v1: max_usage and memsw; v2: memory.peak and memory.swap.current).
func memoryExtra(c *golxc.Container, used int64) (peak, swap int64) {
	item := func(k string) int64 {
		v := c.CgroupItem(k)
		if len(v) != 1 {
			return 0
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(v[0]), 10, 64)
		return n
	}
	if hostLayout.V2 {
		return item("memory.peak"), item("memory.swap.current")
	}
	peak = item("memory.max_usage_in_bytes")
	if hostLayout.MemSwap {
		if memsw := item("memory.memsw.usage_in_bytes"); memsw > used {
			swap = memsw - used
		}
	}
	return peak, swap
}
