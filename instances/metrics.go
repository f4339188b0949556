package instances

import "context"

// Metrics are one running instance's usage figures, the set LXD's
// /1.0/metrics serves per instance, read on the host side: its cgroups,
// its network namespace's interface counters and its root filesystem.
type Metrics struct {
	// CPU is CPU time by CPU and mode (user, system); cgroup v2 has no
	// per-CPU figures, so all of it is CPU "0" there, as in LXD.
	CPU []CPUTime
	// MemoryStat holds LXD's memory.stat figures in bytes, by LXD's names:
	// active_anon, active_file, inactive_anon, inactive_file, unevictable,
	// writeback, dirty, mapped, rss (v1), shmem, cache, active, inactive.
	MemoryStat map[string]uint64
	// MemoryUsage is the cgroup's usage; MemoryLimit its effective limit
	// (the host's memory when unlimited).
	MemoryUsage, MemoryLimit int64
	// Swap is the swap in use; HasSwap false when it is not accounted.
	Swap    int64
	HasSwap bool
	// Disk is block I/O by device name (sda, nvme0n1).
	Disk map[string]DiskIO
	// Network is by interface name inside the instance (lo, eth0).
	Network map[string]NetCounters
	// Filesystems are the instance's root filesystem (mount point /).
	Filesystems []Filesystem
	Processes   int64
}

// CPUTime is the CPU time of one CPU in one mode.
type CPUTime struct {
	CPU     string
	Mode    string
	Seconds float64
}

// DiskIO is a block device's I/O by an instance.
type DiskIO struct {
	ReadBytes, ReadsCompleted, WrittenBytes, WritesCompleted uint64
}

// NetCounters are an interface's counters as /proc/net/dev has them.
type NetCounters struct {
	RxBytes, RxPackets, RxErrs, RxDrop uint64
	TxBytes, TxPackets, TxErrs, TxDrop uint64
}

// Filesystem is the usage of a filesystem an instance has mounted.
type Filesystem struct {
	Device, Type, Mountpoint string
	Size, Free, Avail        uint64
}

// MetricsReader is implemented by drivers that read many instances'
// metrics at once, cheaply enough for a scrape of every instance; names
// that are not running are left out of the result.
type MetricsReader interface {
	Metrics(ctx context.Context, names []string) map[string]Metrics
}
