package lxc

import (
	"fmt"
	"hash/fnv"
	"os"
	"sort"
	"strconv"
	"strings"

	"lodge/instances"
)

// cgroupLayout is what the host's cgroups offer. liblxc 5.0 on a hybrid
// host (v1 controllers under /sys/fs/cgroup/<ctrl>, an empty cgroup2 at
// /sys/fs/cgroup/unified) puts the controllers of lodge's limits on v1, so
// limits are written as lxc.cgroup.* keys there; on a pure cgroup2 host
// (cgroup.controllers at the root) as lxc.cgroup2.* keys.
type cgroupLayout struct {
	V2 bool
	// MemSwap: swap accounting (memory.memsw.* on v1, memory.swap.max on v2).
	MemSwap bool
	// BlkioWeight is the weight file of the block I/O controller, "" if none
	// (v1 with the "none" scheduler has only throttling).
	BlkioWeight string
	HostMemory  int64  // bytes, for limits.memory percentages
	HostCPUs    []int  // online CPUs, for limits.cpu counts
	CPUList     string // the online CPU list as the kernel writes it
}

func (l cgroupLayout) prefix() string {
	if l.V2 {
		return "lxc.cgroup2."
	}
	return "lxc.cgroup."
}

// hostLayout is detected once; tests render against fixed layouts.
var hostLayout = detectLayout("/sys/fs/cgroup")

func detectLayout(root string) cgroupLayout {
	var l cgroupLayout
	exists := func(p string) bool { _, err := os.Stat(root + "/" + p); return err == nil }
	if !exists("memory/memory.limit_in_bytes") && exists("cgroup.controllers") {
		l.V2 = true
		ctrls := " " + readString(root+"/cgroup.controllers") + " "
		// memory.swap.max exists in every child cgroup when swap accounting is on.
		l.MemSwap = strings.Contains(ctrls, " memory ")
		if strings.Contains(ctrls, " io ") {
			l.BlkioWeight = "io.weight"
		}
	} else {
		l.MemSwap = exists("memory/memory.memsw.limit_in_bytes")
		for _, f := range []string{"blkio.weight", "blkio.bfq.weight"} {
			if exists("blkio/" + f) {
				l.BlkioWeight = f
				break
			}
		}
	}
	for _, line := range strings.Split(readString("/proc/meminfo"), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			l.HostMemory = kb * 1024
		}
	}
	l.CPUList = strings.TrimSpace(readString("/sys/devices/system/cpu/online"))
	l.HostCPUs, _ = parseCPUList(l.CPUList)
	return l
}

func readString(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// parseCPUList reads "0-3,5" into [0 1 2 3 5].
func parseCPUList(s string) ([]int, error) {
	var out []int
	if s == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("bad CPU list %q", s)
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}

func formatCPUList(cpus []int) string {
	var parts []string
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(cpus[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", cpus[i], cpus[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// cgItem is one cgroup file and the value written to it.
type cgItem struct{ Key, Value string }

// limitItems turns the limits.* keys of cfg into cgroup writes, in an order
// the kernel accepts (on v1 memsw is never below the memory limit). With
// reset, keys left unset get their unlimited value, so that a live update
// also lifts a limit that was removed.
func limitItems(cfg map[string]string, l cgroupLayout, reset bool) ([]cgItem, error) {
	var out []cgItem
	add := func(k, v string) { out = append(out, cgItem{k, v}) }
	bad := func(key string, err error) error {
		return instances.Invalidf("config key %q: invalid value %q: %v", key, cfg[key], err)
	}

	// CPU set: a count picks the first N online CPUs, a list is used as given.
	cpuset := ""
	if v := cfg["limits.cpu"]; v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			if n < 1 {
				return nil, bad("limits.cpu", fmt.Errorf("need at least one CPU"))
			}
			if n < len(l.HostCPUs) {
				cpuset = formatCPUList(l.HostCPUs[:n])
			} else {
				cpuset = l.CPUList
			}
		} else {
			cpus, err := parseCPUList(v)
			if err != nil {
				return nil, bad("limits.cpu", err)
			}
			online := map[int]bool{}
			for _, c := range l.HostCPUs {
				online[c] = true
			}
			for _, c := range cpus {
				if len(online) > 0 && !online[c] {
					return nil, bad("limits.cpu", fmt.Errorf("CPU %d is not online on this host (online: %s)", c, l.CPUList))
				}
			}
			cpuset = v
		}
	} else if reset {
		cpuset = l.CPUList
	}
	if cpuset != "" {
		add("cpuset.cpus", cpuset)
	}

	// CPU time.
	shares, quota, period := int64(-1), int64(-1), int64(100000)
	if v := cfg["limits.cpu.allowance"]; v != "" {
		pct, q, p, err := instances.ParseAllowance(v)
		if err != nil {
			return nil, bad("limits.cpu.allowance", err)
		}
		if pct > 0 {
			shares = max(2, int64(1024*pct/100))
		} else {
			quota, period = q.Microseconds(), p.Microseconds()
		}
	}
	if shares > 0 || reset {
		if shares < 0 {
			shares = 1024
		}
		if l.V2 {
			add("cpu.weight", strconv.FormatInt(1+((shares-2)*9999)/262142, 10))
		} else {
			add("cpu.shares", strconv.FormatInt(shares, 10))
		}
	}
	if quota > 0 || reset {
		if l.V2 {
			q := "max"
			if quota > 0 {
				q = strconv.FormatInt(quota, 10)
			}
			add("cpu.max", fmt.Sprintf("%s %d", q, period))
		} else {
			add("cpu.cfs_period_us", strconv.FormatInt(period, 10))
			add("cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
		}
	}

	// Memory.
	mem := int64(-1)
	if v := cfg["limits.memory"]; v != "" {
		if p, ok := strings.CutSuffix(v, "%"); ok {
			pct, err := strconv.ParseFloat(p, 64)
			if err != nil || pct <= 0 || pct > 100 || l.HostMemory == 0 {
				return nil, bad("limits.memory", fmt.Errorf("expected a percentage between 0 and 100"))
			}
			mem = int64(float64(l.HostMemory) * pct / 100)
		} else {
			n, err := instances.ParseSize(v)
			if err != nil {
				return nil, bad("limits.memory", err)
			}
			if n < 4<<20 {
				return nil, bad("limits.memory", fmt.Errorf("below 4MiB nothing can run"))
			}
			mem = n
		}
	}
	soft := cfg["limits.memory.enforce"] == "soft"
	noSwap := cfg["limits.memory.swap"] != "" && !instances.IsTrue(cfg["limits.memory.swap"])
	if mem > 0 || reset {
		val := func(n int64, unlimited string) string {
			if n < 0 {
				return unlimited
			}
			return strconv.FormatInt(n, 10)
		}
		hard, softv := mem, int64(-1)
		if soft {
			hard, softv = -1, mem
		}
		if l.V2 {
			add("memory.max", val(hard, "max"))
			add("memory.high", val(softv, "max"))
			if l.MemSwap {
				if noSwap && mem > 0 {
					add("memory.swap.max", "0")
				} else {
					add("memory.swap.max", "max")
				}
			}
		} else {
			// memsw must stay >= the limit at every step: lift it first.
			if l.MemSwap && reset {
				add("memory.memsw.limit_in_bytes", "-1")
			}
			add("memory.limit_in_bytes", val(hard, "-1"))
			add("memory.soft_limit_in_bytes", val(softv, "-1"))
			if l.MemSwap && noSwap && hard > 0 {
				add("memory.memsw.limit_in_bytes", val(hard, "-1"))
			}
		}
	}

	// Processes.
	if v := cfg["limits.processes"]; v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return nil, bad("limits.processes", fmt.Errorf("expected a positive integer"))
		}
		add("pids.max", v)
	} else if reset {
		add("pids.max", "max")
	}

	// Block I/O weight, LXD's scale: priority*100, 0 counting as 10.
	if v := cfg["limits.disk.priority"]; v != "" {
		if l.BlkioWeight == "" {
			return nil, bad("limits.disk.priority", fmt.Errorf("this host's block I/O controller has no weight (I/O scheduler without weights); unset the key"))
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 10 {
			return nil, bad("limits.disk.priority", fmt.Errorf("expected an integer from 0 to 10"))
		}
		w := n * 100
		if w == 0 {
			w = 10
		}
		add(l.BlkioWeight, strconv.Itoa(w))
	}
	return out, nil
}

// pickCPUs chooses n of the host's CPUs for a limits.cpu count, least
// pinned by other containers first (usage counts pins per CPU); ties are
// broken by a rotation derived from the name, so that equal containers
// spread rather than all landing on CPU 0.
func pickCPUs(n int, host []int, usage map[int]int, name string) []int {
	if n >= len(host) {
		return host
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	off := int(h.Sum32() % uint32(len(host)))
	order := append(append([]int{}, host[off:]...), host[:off]...)
	sort.SliceStable(order, func(i, j int) bool { return usage[order[i]] < usage[order[j]] })
	out := append([]int{}, order[:n]...)
	sort.Ints(out)
	return out
}

// cpuCount returns the count of a count-form limits.cpu ("2"), else 0.
func cpuCount(v string) int {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0
	}
	return n
}
