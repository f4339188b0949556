package lxc

import (
	"fmt"
	"path/filepath"
)

// lxcfsProcFiles are the /proc files lxcfs virtualises from the reading
// container's cgroups (memory limit in meminfo, cpuset in cpuinfo and stat).
var lxcfsProcFiles = []string{"cpuinfo", "diskstats", "loadavg", "meminfo", "stat", "swaps", "uptime", "slabinfo"}

// lxcfsEntries are the mount entries that put lxcfs's files over the
// container's own, so free, top and nproc inside show its limits. Debian's
// lxc.mount.hook hard-codes /var/lib/lxcfs; lodge runs its own lxcfs under
// its state directory, hence explicit entries (as LXD writes them).
// "optional" keeps a container starting if lxcfs is down.
func lxcfsEntries(mnt string) []string {
	if mnt == "" {
		return nil
	}
	var out []string
	for _, f := range lxcfsProcFiles {
		out = append(out, fmt.Sprintf("%s proc/%s none bind,optional 0 0", filepath.Join(mnt, "proc", f), f))
	}
	out = append(out, fmt.Sprintf("%s sys/devices/system/cpu none bind,optional 0 0", filepath.Join(mnt, "sys/devices/system/cpu")))
	return out
}
