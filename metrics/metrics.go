// Package metrics renders /1.0/metrics: LXD's metric names, labels, help
// texts and types in the Prometheus text format LXD serves (which ends
// with OpenMetrics' "# EOF"), so that LXD's Grafana dashboard and
// Prometheus configs work unchanged against lodge. It renders what it is
// given: per-instance figures from the instance driver
// (instances.MetricsReader) and the daemon's own.
package metrics

import (
	"bytes"
	"io"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"lodge/instances"
)

// Instance is one running instance's metrics with its labels.
type Instance struct {
	Name    string
	Project string
	// Type is LXD's instance type: container.
	Type    string
	Metrics instances.Metrics
}

// Daemon are the daemon's own figures.
type Daemon struct {
	Uptime     time.Duration
	Operations int // running operations
	Warnings   int
	// Instances counts instances, running or not, by project and type.
	Instances []InstanceCount
	// Runtime adds the Go runtime's figures (lxd_go_*).
	Runtime bool
}

// InstanceCount is lxd_instances{project, type}.
type InstanceCount struct {
	Project, Type string
	Count         int
}

// ContentType is the Content-Type /1.0/metrics is served with (LXD's).
const ContentType = "text/plain; version=0.0.4"

type sample struct {
	labels []string // name, value, name, value... sorted by name
	value  float64
}

// The metric families in LXD's order (lxd/metrics/types.go), with LXD's
// help texts.
var order = []struct{ name, help string }{
	{"lxd_cpu_seconds_total", "The total number of CPU time used in seconds."},
	{"lxd_disk_read_bytes_total", "The total number of bytes read."},
	{"lxd_disk_reads_completed_total", "The total number of completed reads."},
	{"lxd_disk_written_bytes_total", "The total number of bytes written."},
	{"lxd_disk_writes_completed_total", "The total number of completed writes."},
	{"lxd_filesystem_avail_bytes", "The number of available space in bytes."},
	{"lxd_filesystem_free_bytes", "The number of free space in bytes."},
	{"lxd_filesystem_size_bytes", "The size of the filesystem in bytes."},
	{"lxd_memory_Active_anon_bytes", "The amount of anonymous memory on active LRU list."},
	{"lxd_memory_Active_file_bytes", "The amount of file-backed memory on active LRU list."},
	{"lxd_memory_Active_bytes", "The amount of memory on active LRU list."},
	{"lxd_memory_Cached_bytes", "The amount of cached memory."},
	{"lxd_memory_Dirty_bytes", "The amount of memory waiting to get written back to the disk."},
	{"lxd_memory_Inactive_anon_bytes", "The amount of anonymous memory on inactive LRU list."},
	{"lxd_memory_Inactive_file_bytes", "The amount of file-backed memory on inactive LRU list."},
	{"lxd_memory_Inactive_bytes", "The amount of memory on inactive LRU list."},
	{"lxd_memory_Mapped_bytes", "The amount of mapped memory."},
	{"lxd_memory_MemAvailable_bytes", "The amount of available memory."},
	{"lxd_memory_MemFree_bytes", "The amount of free memory."},
	{"lxd_memory_MemTotal_bytes", "The amount of used memory."},
	{"lxd_memory_RSS_bytes", "The amount of anonymous and swap cache memory."},
	{"lxd_memory_Shmem_bytes", "The amount of cached filesystem data that is swap-backed."},
	{"lxd_memory_Swap_bytes", "The amount of used swap memory."},
	{"lxd_memory_Unevictable_bytes", "The amount of unevictable memory."},
	{"lxd_memory_Writeback_bytes", "The amount of memory queued for syncing to disk."},
	{"lxd_network_receive_bytes_total", "The amount of received bytes on a given interface."},
	{"lxd_network_receive_drop_total", "The amount of received dropped bytes on a given interface."},
	{"lxd_network_receive_errs_total", "The amount of received errors on a given interface."},
	{"lxd_network_receive_packets_total", "The amount of received packets on a given interface."},
	{"lxd_network_transmit_bytes_total", "The amount of transmitted bytes on a given interface."},
	{"lxd_network_transmit_drop_total", "The amount of transmitted dropped bytes on a given interface."},
	{"lxd_network_transmit_errs_total", "The amount of transmitted errors on a given interface."},
	{"lxd_network_transmit_packets_total", "The amount of transmitted packets on a given interface."},
	{"lxd_procs_total", "The number of running processes."},
	{"lxd_operations_total", "The number of running operations"},
	{"lxd_warnings_total", "The number of active warnings."},
	{"lxd_uptime_seconds", "The daemon uptime in seconds."},
	{"lxd_go_goroutines", "Number of goroutines that currently exist."},
	{"lxd_go_alloc_bytes", "Number of bytes allocated and still in use."},
	{"lxd_go_alloc_bytes_total", "Total number of bytes allocated, even if freed."},
	{"lxd_go_buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table."},
	{"lxd_go_frees_total", "Total number of frees."},
	{"lxd_go_gc_sys_bytes", "Number of bytes used for garbage collection system metadata."},
	{"lxd_go_heap_alloc_bytes", "Number of heap bytes allocated and still in use."},
	{"lxd_go_heap_idle_bytes", "Number of heap bytes waiting to be used."},
	{"lxd_go_heap_inuse_bytes", "Number of heap bytes that are in use."},
	{"lxd_go_heap_objects", "Number of allocated objects."},
	{"lxd_go_heap_released_bytes", "Number of heap bytes released to OS."},
	{"lxd_go_heap_sys_bytes", "Number of heap bytes obtained from system."},
	{"lxd_go_lookups_total", "Total number of pointer lookups."},
	{"lxd_go_mallocs_total", "Total number of mallocs."},
	{"lxd_go_mcache_inuse_bytes", "Number of bytes in use by mcache structures."},
	{"lxd_go_mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system."},
	{"lxd_go_mspan_inuse_bytes", "Number of bytes in use by mspan structures."},
	{"lxd_go_mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system."},
	{"lxd_go_next_gc_bytes", "Number of heap bytes when next garbage collection will take place."},
	{"lxd_go_other_sys_bytes", "Number of bytes used for other system allocations."},
	{"lxd_go_stack_inuse_bytes", "Number of bytes in use by the stack allocator."},
	{"lxd_go_stack_sys_bytes", "Number of bytes obtained from system for stack allocator."},
	{"lxd_go_sys_bytes", "Number of bytes obtained from system."},
	{"lxd_instances", "The number of instances."},
}

// gauges are the families LXD types as gauges whatever their suffix.
var gauges = []string{"lxd_procs_total", "lxd_go_goroutines", "lxd_go_heap_objects", "lxd_instances"}

// metricType is LXD's rule: listed gauges, else _total and _seconds are
// counters, _bytes gauges.
func metricType(name string) string {
	switch {
	case slices.Contains(gauges, name):
		return "gauge"
	case strings.HasSuffix(name, "_total") || strings.HasSuffix(name, "_seconds"):
		return "counter"
	}
	return "gauge"
}

// memoryNames maps instances.Metrics.MemoryStat names to families.
var memoryNames = map[string]string{
	"active_anon": "lxd_memory_Active_anon_bytes", "active_file": "lxd_memory_Active_file_bytes", "active": "lxd_memory_Active_bytes",
	"inactive_anon": "lxd_memory_Inactive_anon_bytes", "inactive_file": "lxd_memory_Inactive_file_bytes", "inactive": "lxd_memory_Inactive_bytes",
	"unevictable": "lxd_memory_Unevictable_bytes", "writeback": "lxd_memory_Writeback_bytes", "dirty": "lxd_memory_Dirty_bytes",
	"mapped": "lxd_memory_Mapped_bytes", "rss": "lxd_memory_RSS_bytes", "shmem": "lxd_memory_Shmem_bytes", "cache": "lxd_memory_Cached_bytes",
}

// set collects samples by family.
type set map[string][]sample

// add appends a sample; labels are name/value pairs in name order, as
// LXD writes them (callers list them so, the tests check it).
func (s set) add(name string, value float64, labels ...string) {
	s[name] = append(s[name], sample{labels, value})
}

// addInstance adds one instance's samples as LXD's lxc driver does
// (lxd/instance/drivers/driver_lxc.go Metrics): every sample carries
// name, project and type, except the filesystem ones (name and project).
func (s set) addInstance(in Instance) {
	m := in.Metrics
	base := []string{"name", in.Name, "project", in.Project, "type", in.Type}
	// before puts labels that sort before "name" ahead of the base ones.
	before := func(l ...string) []string { return append(l, base...) }
	for _, c := range m.CPU {
		s.add("lxd_cpu_seconds_total", c.Seconds, before("cpu", c.CPU, "mode", c.Mode)...)
	}
	devs := sortedKeys(m.Disk)
	for _, dev := range devs {
		io := m.Disk[dev]
		l := before("device", dev)
		s.add("lxd_disk_read_bytes_total", float64(io.ReadBytes), l...)
		s.add("lxd_disk_reads_completed_total", float64(io.ReadsCompleted), l...)
		s.add("lxd_disk_written_bytes_total", float64(io.WrittenBytes), l...)
		s.add("lxd_disk_writes_completed_total", float64(io.WritesCompleted), l...)
	}
	for _, fs := range m.Filesystems {
		l := []string{"device", fs.Device, "fstype", fs.Type, "mountpoint", fs.Mountpoint, "name", in.Name, "project", in.Project}
		s.add("lxd_filesystem_avail_bytes", float64(fs.Avail), l...)
		s.add("lxd_filesystem_free_bytes", float64(fs.Free), l...)
		s.add("lxd_filesystem_size_bytes", float64(fs.Size), l...)
	}
	for _, k := range sortedKeys(m.MemoryStat) {
		if name, ok := memoryNames[k]; ok {
			s.add(name, float64(m.MemoryStat[k]), base...)
		}
	}
	if m.MemoryLimit > 0 {
		s.add("lxd_memory_MemTotal_bytes", float64(m.MemoryLimit), base...)
		s.add("lxd_memory_MemAvailable_bytes", float64(m.MemoryLimit-m.MemoryUsage+int64(m.MemoryStat["cache"])), base...)
		s.add("lxd_memory_MemFree_bytes", float64(m.MemoryLimit-m.MemoryUsage), base...)
	}
	if m.HasSwap {
		s.add("lxd_memory_Swap_bytes", float64(m.Swap), base...)
	}
	for _, dev := range sortedKeys(m.Network) {
		n := m.Network[dev]
		l := before("device", dev)
		s.add("lxd_network_receive_bytes_total", float64(n.RxBytes), l...)
		s.add("lxd_network_receive_packets_total", float64(n.RxPackets), l...)
		s.add("lxd_network_transmit_bytes_total", float64(n.TxBytes), l...)
		s.add("lxd_network_transmit_packets_total", float64(n.TxPackets), l...)
		s.add("lxd_network_receive_errs_total", float64(n.RxErrs), l...)
		s.add("lxd_network_transmit_errs_total", float64(n.TxErrs), l...)
		s.add("lxd_network_receive_drop_total", float64(n.RxDrop), l...)
		s.add("lxd_network_transmit_drop_total", float64(n.TxDrop), l...)
	}
	s.add("lxd_procs_total", float64(m.Processes), base...)
}

func (s set) addDaemon(d Daemon) {
	s.add("lxd_operations_total", float64(d.Operations))
	s.add("lxd_warnings_total", float64(d.Warnings))
	s.add("lxd_uptime_seconds", d.Uptime.Seconds())
	for _, c := range d.Instances {
		s.add("lxd_instances", float64(c.Count), "project", c.Project, "type", c.Type)
	}
	if !d.Runtime {
		return
	}
	s.add("lxd_go_goroutines", float64(runtime.NumGoroutine()))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	for name, v := range map[string]uint64{
		"lxd_go_alloc_bytes": ms.Alloc, "lxd_go_alloc_bytes_total": ms.TotalAlloc, "lxd_go_buck_hash_sys_bytes": ms.BuckHashSys,
		"lxd_go_frees_total": ms.Frees, "lxd_go_gc_sys_bytes": ms.GCSys, "lxd_go_heap_alloc_bytes": ms.HeapAlloc,
		"lxd_go_heap_idle_bytes": ms.HeapIdle, "lxd_go_heap_inuse_bytes": ms.HeapInuse, "lxd_go_heap_objects": ms.HeapObjects,
		"lxd_go_heap_released_bytes": ms.HeapReleased, "lxd_go_heap_sys_bytes": ms.HeapSys, "lxd_go_lookups_total": ms.Lookups,
		"lxd_go_mallocs_total": ms.Mallocs, "lxd_go_mcache_inuse_bytes": ms.MCacheInuse, "lxd_go_mcache_sys_bytes": ms.MCacheSys,
		"lxd_go_mspan_inuse_bytes": ms.MSpanInuse, "lxd_go_mspan_sys_bytes": ms.MSpanSys, "lxd_go_next_gc_bytes": ms.NextGC,
		"lxd_go_other_sys_bytes": ms.OtherSys, "lxd_go_stack_inuse_bytes": ms.StackInuse, "lxd_go_stack_sys_bytes": ms.StackSys,
		"lxd_go_sys_bytes": ms.Sys,
	} {
		s.add(name, float64(v))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Render writes the metrics of the daemon (nil for none) and of insts:
// for each family in LXD's order its HELP and TYPE lines and its samples,
// then "# EOF".
func Render(w io.Writer, d *Daemon, insts []Instance) error {
	s := set{}
	for _, in := range insts {
		s.addInstance(in)
	}
	if d != nil {
		s.addDaemon(*d)
	}
	var b bytes.Buffer
	b.Grow(len(insts)*8192 + 8192)
	for _, f := range order {
		samples := s[f.name]
		if len(samples) == 0 {
			continue
		}
		b.WriteString("# HELP " + f.name + " " + f.help + "\n")
		b.WriteString("# TYPE " + f.name + " " + metricType(f.name) + "\n")
		for _, sm := range samples {
			b.WriteString(f.name)
			if len(sm.labels) > 0 {
				b.WriteByte('{')
				for i := 0; i+1 < len(sm.labels); i += 2 {
					if i > 0 {
						b.WriteByte(',')
					}
					b.WriteString(sm.labels[i])
					b.WriteString(`="`)
					writeLabelValue(&b, sm.labels[i+1])
					b.WriteByte('"')
				}
				b.WriteByte('}')
			}
			b.WriteByte(' ')
			b.Write(formatValue(sm.value))
			b.WriteByte('\n')
		}
	}
	b.WriteString("# EOF\n")
	_, err := w.Write(b.Bytes())
	return err
}

// writeLabelValue escapes a label value as the text format wants.
func writeLabelValue(b *bytes.Buffer, v string) {
	if !strings.ContainsAny(v, "\\\"\n") {
		b.WriteString(v)
		return
	}
	for _, r := range v {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
}

// formatValue formats as LXD does (strconv 'g', shortest).
func formatValue(v float64) []byte {
	switch {
	case math.IsNaN(v):
		return []byte("NaN")
	case math.IsInf(v, 1):
		return []byte("+Inf")
	case math.IsInf(v, -1):
		return []byte("-Inf")
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64)
}
