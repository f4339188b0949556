//go:build linux && cgo

package lxc

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	golxc "github.com/lxc/go-lxc"
	"golang.org/x/sys/unix"

	"lodge/instances"
)

var _ instances.MetricsReader = (*Driver)(nil)

// metricsCache keeps what a scrape would otherwise ask liblxc or parse
// again for each running container: its init pid (checked against its
// cgroup at every use) and its rootfs.
type metricsCache struct {
	mu     sync.Mutex
	pid    map[string]int
	rootfs map[string]string
}

// Metrics implements instances.MetricsReader. Every figure comes from a
// file on the host: the payload cgroup's files, /proc/PID/net/dev for
// the container's network namespace and statfs of its rootfs. Running
// containers are told from stopped ones by one read of /proc/net/unix,
// and init pids are cached, so a scrape asks liblxc nothing once warm.
func (d *Driver) Metrics(ctx context.Context, names []string) map[string]instances.Metrics {
	socks, err := commandSockets()
	var live []string
	for _, n := range names {
		sock := d.lxcpath + "/" + n + "/command"
		if err == nil && len(sock) <= maxDirectSocketName && !socks[sock] {
			continue
		}
		live = append(live, n)
	}
	host := hostFacts()
	out := make(map[string]instances.Metrics, len(live))
	var mu sync.Mutex
	work := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				m, ok := d.metrics(n, host)
				if !ok {
					continue
				}
				mu.Lock()
				out[n] = m
				mu.Unlock()
			}
		}()
	}
	for _, n := range live {
		work <- n
	}
	close(work)
	wg.Wait()
	return out
}

// hostInfo is read once per scrape (hostFacts): device names by
// major:minor, the host's memory, and the mount table for the rootfs's
// filesystem.
type hostInfo struct {
	partitions map[string]string
	memTotal   int64
	mounts     []mountInfo
}

type mountInfo struct{ point, source, fstype string }

func hostFacts() hostInfo {
	h := hostInfo{partitions: map[string]string{}}
	if b, err := os.ReadFile("/proc/partitions"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) == 4 && f[0] != "major" {
				h.partitions[f[0]+":"+f[1]] = f[3]
			}
		}
	}
	h.memTotal = hostLayout.HostMemory
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			pre, post, ok := strings.Cut(line, " - ")
			f, g := strings.Fields(pre), strings.Fields(post)
			if ok && len(f) >= 5 && len(g) >= 2 {
				h.mounts = append(h.mounts, mountInfo{point: unescapeMount(f[4]), source: g[1], fstype: g[0]})
			}
		}
	}
	return h
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// initPid is the container's init pid, from the cache when that pid still
// is in the container's payload cgroup, else from liblxc. The text of
// /proc/PID/cgroup comes along for the cgroup directories.
func (d *Driver) initPid(name string) (int, string) {
	d.mc.mu.Lock()
	pid := d.mc.pid[name]
	d.mc.mu.Unlock()
	mark := "/lxc.payload." + name
	if pid > 0 {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup"); err == nil && payloadOf(string(b), mark) {
			return pid, string(b)
		}
	}
	c, err := d.container(name)
	if err != nil {
		return 0, ""
	}
	pid = c.InitPid()
	golxc.Release(c)
	if pid <= 0 {
		return 0, ""
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return 0, ""
	}
	d.mc.mu.Lock()
	if d.mc.pid == nil {
		d.mc.pid = map[string]int{}
	}
	d.mc.pid[name] = pid
	d.mc.mu.Unlock()
	return pid, string(b)
}

// payloadOf tells whether /proc/PID/cgroup text puts the process in the
// payload cgroup marked (or below it).
func payloadOf(procCgroup, mark string) bool {
	for _, line := range strings.Split(procCgroup, "\n") {
		if i := strings.Index(line, mark); i >= 0 {
			rest := line[i+len(mark):]
			return rest == "" || rest[0] == '/'
		}
	}
	return false
}

func (d *Driver) rootfsOf(name string) string {
	d.mc.mu.Lock()
	r, ok := d.mc.rootfs[name]
	d.mc.mu.Unlock()
	if ok {
		return r
	}
	b, err := os.ReadFile(d.configPath(name))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "lxc.rootfs.path = "); ok {
			r = strings.TrimPrefix(strings.TrimSpace(v), "dir:")
		}
	}
	d.mc.mu.Lock()
	if d.mc.rootfs == nil {
		d.mc.rootfs = map[string]string{}
	}
	d.mc.rootfs[name] = r
	d.mc.mu.Unlock()
	return r
}

func (d *Driver) metrics(name string, host hostInfo) (instances.Metrics, bool) {
	pid, procCgroup := d.initPid(name)
	if pid <= 0 {
		return instances.Metrics{}, false
	}
	dirs := parsePayloadCgroups("/sys/fs/cgroup", unifiedDir("/sys/fs/cgroup"), procCgroup)
	m := readCgroupMetrics(hostLayout, dirs, host)
	m.Network = readNetDev("/proc/" + strconv.Itoa(pid) + "/net/dev")
	if r := d.rootfsOf(name); r != "" {
		if fs, ok := statFS(r, "/", host.mounts); ok {
			m.Filesystems = append(m.Filesystems, fs)
		}
	}
	return m, true
}

// readCgroupMetrics reads a container's figures from its payload cgroup
// directories (see payloadCgroups), as LXD's cgroup abstraction does.
func readCgroupMetrics(l cgroupLayout, dirs map[string]string, host hostInfo) instances.Metrics {
	m := instances.Metrics{MemoryStat: map[string]uint64{}}
	memDir, cpuDir, ioDir, pidsDir := dirs["memory"], dirs["cpuacct"], dirs["blkio"], dirs["pids"]
	if l.V2 {
		memDir, cpuDir, ioDir, pidsDir = dirs[""], dirs[""], dirs[""], dirs[""]
	}
	m.MemoryStat = parseMemoryStat(readFile(filepath.Join(memDir, "memory.stat")))
	limit := int64(-1)
	if l.V2 {
		m.MemoryUsage = readInt(filepath.Join(memDir, "memory.current"))
		if v := strings.TrimSpace(readFile(filepath.Join(memDir, "memory.max"))); v != "" && v != "max" {
			limit, _ = strconv.ParseInt(v, 10, 64)
		}
		if l.MemSwap {
			m.Swap, m.HasSwap = readInt(filepath.Join(memDir, "memory.swap.current")), true
		}
		m.CPU = parseCPUStatV2(readFile(filepath.Join(cpuDir, "cpu.stat")))
		m.Disk = parseIOStat(readFile(filepath.Join(ioDir, "io.stat")), host.partitions)
	} else {
		m.MemoryUsage = readInt(filepath.Join(memDir, "memory.usage_in_bytes"))
		limit = readInt(filepath.Join(memDir, "memory.limit_in_bytes"))
		if l.MemSwap {
			if memsw := readInt(filepath.Join(memDir, "memory.memsw.usage_in_bytes")); memsw >= m.MemoryUsage {
				m.Swap, m.HasSwap = memsw-m.MemoryUsage, true
			}
		}
		m.CPU = parseCPUAcctUsageAll(readFile(filepath.Join(cpuDir, "cpuacct.usage_all")))
		m.Disk = parseBlkio(readFile(filepath.Join(ioDir, "blkio.throttle.io_service_bytes_recursive")),
			readFile(filepath.Join(ioDir, "blkio.throttle.io_serviced_recursive")), host.partitions)
	}
	m.MemoryLimit = host.memTotal
	if limit > 0 && (host.memTotal <= 0 || limit < host.memTotal) {
		m.MemoryLimit = limit
	}
	m.Processes = readInt(filepath.Join(pidsDir, "pids.current"))
	return m
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// parseMemoryStat maps memory.stat (v1 or v2) to LXD's names; on v1 the
// hierarchical total_* figures win over the cgroup's own.
func parseMemoryStat(text string) map[string]uint64 {
	names := map[string]string{
		"total_active_anon": "active_anon", "active_anon": "active_anon",
		"total_active_file": "active_file", "active_file": "active_file",
		"total_inactive_anon": "inactive_anon", "inactive_anon": "inactive_anon",
		"total_inactive_file": "inactive_file", "inactive_file": "inactive_file",
		"total_unevictable": "unevictable", "unevictable": "unevictable",
		"total_writeback": "writeback", "file_writeback": "writeback",
		"total_dirty": "dirty", "file_dirty": "dirty",
		"total_mapped_file": "mapped", "file_mapped": "mapped",
		"total_rss":   "rss",
		"total_shmem": "shmem", "shmem": "shmem",
		"total_cache": "cache", "file": "cache",
	}
	out := map[string]uint64{}
	total := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, " ")
		name, known := names[k]
		if !ok || !known || (total[name] && !strings.HasPrefix(k, "total_")) {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		out[name] = n
		if strings.HasPrefix(k, "total_") {
			total[name] = true
		}
	}
	if len(out) > 0 {
		out["active"] = out["active_anon"] + out["active_file"]
		out["inactive"] = out["inactive_anon"] + out["inactive_file"]
	}
	return out
}

// parseCPUAcctUsageAll reads cpuacct.usage_all: "cpu user system" and a
// line of nanoseconds per CPU.
func parseCPUAcctUsageAll(text string) []instances.CPUTime {
	var out []instances.CPUTime
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] == "cpu" {
			continue
		}
		user, err1 := strconv.ParseUint(f[1], 10, 64)
		sys, err2 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, instances.CPUTime{CPU: f[0], Mode: "system", Seconds: float64(sys) / 1e9},
			instances.CPUTime{CPU: f[0], Mode: "user", Seconds: float64(user) / 1e9})
	}
	return out
}

// parseCPUStatV2 reads cpu.stat's user_usec and system_usec.
func parseCPUStatV2(text string) []instances.CPUTime {
	var user, sys uint64
	found := false
	for _, line := range strings.Split(text, "\n") {
		k, v, _ := strings.Cut(line, " ")
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "user_usec":
			user, found = n, true
		case "system_usec":
			sys, found = n, true
		}
	}
	if !found {
		return nil
	}
	return []instances.CPUTime{{CPU: "0", Mode: "system", Seconds: float64(sys) / 1e6}, {CPU: "0", Mode: "user", Seconds: float64(user) / 1e6}}
}

// parseBlkio reads v1's blkio.throttle.io_service{_bytes,d}_recursive.
func parseBlkio(bytesText, opsText string, parts map[string]string) map[string]instances.DiskIO {
	out := map[string]instances.DiskIO{}
	read := func(text string, set func(io *instances.DiskIO, op string, v uint64)) {
		for _, line := range strings.Split(text, "\n") {
			f := strings.Fields(line)
			if len(f) != 3 {
				continue
			}
			dev, ok := parts[f[0]]
			if !ok {
				continue
			}
			v, err := strconv.ParseUint(f[2], 10, 64)
			if err != nil {
				continue
			}
			io := out[dev]
			set(&io, f[1], v)
			out[dev] = io
		}
	}
	read(bytesText, func(io *instances.DiskIO, op string, v uint64) {
		switch op {
		case "Read":
			io.ReadBytes = v
		case "Write":
			io.WrittenBytes = v
		}
	})
	read(opsText, func(io *instances.DiskIO, op string, v uint64) {
		switch op {
		case "Read":
			io.ReadsCompleted = v
		case "Write":
			io.WritesCompleted = v
		}
	})
	return out
}

// parseIOStat reads v2's io.stat: "MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=..".
func parseIOStat(text string, parts map[string]string) map[string]instances.DiskIO {
	out := map[string]instances.DiskIO{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		dev, ok := parts[f[0]]
		if !ok {
			continue
		}
		var io instances.DiskIO
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseUint(v, 10, 64)
			switch k {
			case "rbytes":
				io.ReadBytes = n
			case "wbytes":
				io.WrittenBytes = n
			case "rios":
				io.ReadsCompleted = n
			case "wios":
				io.WritesCompleted = n
			}
		}
		out[dev] = io
	}
	return out
}

// readNetDev reads a /proc/PID/net/dev: the counters of every interface of
// that process's network namespace.
func readNetDev(path string) map[string]instances.NetCounters {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return parseNetDev(b)
}

func parseNetDev(b []byte) map[string]instances.NetCounters {
	out := map[string]instances.NetCounters{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 16 {
			continue
		}
		v := make([]uint64, 16)
		for i := range v {
			v[i], _ = strconv.ParseUint(f[i], 10, 64)
		}
		out[strings.TrimSpace(name)] = instances.NetCounters{RxBytes: v[0], RxPackets: v[1], RxErrs: v[2], RxDrop: v[3],
			TxBytes: v[8], TxPackets: v[9], TxErrs: v[10], TxDrop: v[11]}
	}
	return out
}

// statFS is the usage of the filesystem holding path, reported at the
// instance's mount point, with the device and type of the host mount
// that contains path (the longest mount point above it).
func statFS(path, mountpoint string, mounts []mountInfo) (instances.Filesystem, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return instances.Filesystem{}, false
	}
	fs := instances.Filesystem{Mountpoint: mountpoint, Size: st.Blocks * uint64(st.Bsize),
		Free: st.Bfree * uint64(st.Bsize), Avail: st.Bavail * uint64(st.Bsize)}
	best := -1
	for _, m := range mounts {
		if (path == m.point || strings.HasPrefix(path, strings.TrimSuffix(m.point, "/")+"/")) && len(m.point) > best {
			best, fs.Device, fs.Type = len(m.point), m.source, m.fstype
		}
	}
	return fs, true
}
