//go:build linux && cgo

package lxc

import (
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"lodge/instances"
)

// A list of every instance asks each running container's state. Through
// liblxc that is a handle (lxc_container_new parses the container's config
// and its includes: the largest part of the cost) and two round trips to
// its monitor, per container, at every list. A running container's init
// does not change until it stops, so the driver remembers the init process
// liblxc last reported (pid and start time, which tell a reused pid apart)
// and, while that process lives, its cgroup is not frozen and no stop of
// the driver's is under way, reports RUNNING from /proc and the cgroup
// alone. Anything else (a new init, frozen or freezing, stopping) goes to
// liblxc as before.

// initProc is a container's init as liblxc last reported it.
type initProc struct {
	pid   int
	start uint64 // field 22 of /proc/PID/stat: clock ticks after boot
	// dirs is payloadCgroups of pid, read once: a container's payload
	// cgroup does not change while its init lives.
	dirs atomic.Pointer[map[string]string]
}

// cgroupDirs is payloadCgroups of the init, read at the first call.
func (ip *initProc) cgroupDirs() map[string]string {
	if p := ip.dirs.Load(); p != nil {
		return *p
	}
	m := payloadCgroups("/sys/fs/cgroup", ip.pid)
	if len(m) > 0 {
		ip.dirs.Store(&m)
	}
	return m
}

// liveCache is what the fast path knows: inits by container name, and the
// containers the driver is stopping (a count of Stop calls under way).
type liveCache struct {
	inits    sync.Map // name -> *initProc
	mu       sync.Mutex
	stopping map[string]int
}

// procStart reads a process's start time from /proc/PID/stat. The comm
// field may hold spaces and parentheses, so fields count from the last ')'.
func procStart(pid int) (uint64, bool) {
	var buf [1024]byte
	b, err := readSmall("/proc/"+strconv.Itoa(pid)+"/stat", buf[:])
	if err != nil {
		return 0, false
	}
	return parseProcStart(string(b))
}

func parseProcStart(stat string) (uint64, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	// After ") ": state is field 3, starttime field 22. A zombie or dead
	// init has exited: its container is not running, whatever its
	// monitor has yet to notice.
	f := strings.Fields(stat[i+1:])
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	n, err := strconv.ParseUint(f[19], 10, 64)
	return n, err == nil
}

// remember notes the init liblxc reported for a running container.
func (c *liveCache) remember(name string, pid int) {
	if start, ok := procStart(pid); ok {
		c.inits.Store(name, &initProc{pid: pid, start: start})
	}
}

func (c *liveCache) forget(name string) { c.inits.Delete(name) }

// beginStop marks name as being stopped until the returned func runs.
func (c *liveCache) beginStop(name string) func() {
	c.mu.Lock()
	if c.stopping == nil {
		c.stopping = map[string]int{}
	}
	c.stopping[name]++
	c.mu.Unlock()
	c.forget(name)
	return func() {
		c.mu.Lock()
		if c.stopping[name]--; c.stopping[name] <= 0 {
			delete(c.stopping, name)
		}
		c.mu.Unlock()
		c.forget(name)
	}
}

// runningInit returns the remembered init of name if it can be trusted
// without asking liblxc: alive with the same start time, not being stopped.
func (c *liveCache) runningInit(name string) (int, bool) {
	ip, ok := c.trustedInit(name)
	if !ok {
		return 0, false
	}
	return ip.pid, true
}

// trustedInit is runningInit with the remembered init itself.
func (c *liveCache) trustedInit(name string) (*initProc, bool) {
	c.mu.Lock()
	stopping := c.stopping[name] > 0
	c.mu.Unlock()
	if stopping {
		return nil, false
	}
	v, ok := c.inits.Load(name)
	if !ok {
		return nil, false
	}
	ip := v.(*initProc)
	if start, ok := procStart(ip.pid); !ok || start != ip.start {
		c.inits.CompareAndDelete(name, v)
		return nil, false
	}
	return ip, true
}

// thawed tells whether a container's payload cgroup is neither frozen nor
// asked to freeze (cgroup2 cgroup.freeze, v1 freezer.state).
func thawed(l cgroupLayout, dirs map[string]string) bool {
	var buf [64]byte
	if l.V2 {
		d, ok := dirs[""]
		b, err := readSmall(filepath.Join(d, "cgroup.freeze"), buf[:])
		return ok && err == nil && strings.TrimSpace(string(b)) == "0"
	}
	d, ok := dirs["freezer"]
	b, err := readSmall(filepath.Join(d, "freezer.state"), buf[:])
	return ok && err == nil && strings.TrimSpace(string(b)) == "THAWED"
}

// fastRunning returns name's init if the container runs by the fast
// path's rule: its init is remembered and alive, no stop of the driver's is
// under way and its cgroup is thawed; ok is false when liblxc must be asked.
func (d *Driver) fastRunning(name string) (*initProc, bool) {
	ip, ok := d.live.trustedInit(name)
	if !ok || !thawed(hostLayout, ip.cgroupDirs()) {
		return nil, false
	}
	return ip, true
}

// fastState is State for a container that fastRunning vouches for; ok is
// false when liblxc must be asked. peers as for interfaces.
func (d *Driver) fastState(name string, peers peerNames) (instances.State, bool) {
	ip, ok := d.fastRunning(name)
	if !ok {
		return instances.State{}, false
	}
	st := instances.State{Status: instances.StatusRunning, PID: ip.pid}
	fillLive(&st, ip.cgroupDirs(), peers)
	return st, true
}

// fillLive adds a running container's cgroup figures and interfaces.
func fillLive(st *instances.State, dirs map[string]string, peers peerNames) {
	cg := readCgroupStats(hostLayout, dirs)
	st.MemoryUsed, st.MemoryPeak, st.SwapUsed, st.CPUNanos, st.Processes = cg.Memory, cg.MemoryPeak, cg.Swap, cg.CPUNanos, cg.Processes
	st.Interfaces = interfaces(st.PID, peers)
}
