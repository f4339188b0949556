//go:build linux && cgo

package lxc

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"lodge/instances"
	"lodge/metrics"
)

func TestMetricsParsers(t *testing.T) {
	v1 := "cache 100\nrss 200\nactive_anon 1\ntotal_cache 4096\ntotal_rss 8192\ntotal_active_anon 10\ntotal_active_file 20\ntotal_inactive_anon 30\ntotal_inactive_file 40\ntotal_mapped_file 5\ntotal_dirty 6\ntotal_writeback 7\ntotal_shmem 8\ntotal_unevictable 9\n"
	m := parseMemoryStat(v1)
	if m["cache"] != 4096 || m["rss"] != 8192 || m["active_anon"] != 10 || m["active"] != 30 || m["inactive"] != 70 || m["mapped"] != 5 || m["shmem"] != 8 {
		t.Errorf("v1 memory.stat: %v", m)
	}
	v2 := "anon 100\nfile 4096\nshmem 3\nfile_mapped 4\nfile_dirty 5\nfile_writeback 6\nactive_anon 7\ninactive_anon 8\nactive_file 9\ninactive_file 10\nunevictable 11\n"
	m = parseMemoryStat(v2)
	if m["cache"] != 4096 || m["mapped"] != 4 || m["active"] != 16 || m["inactive"] != 18 || m["unevictable"] != 11 {
		t.Errorf("v2 memory.stat: %v", m)
	}
	if _, ok := m["rss"]; ok {
		t.Error("v2 has no rss in LXD")
	}
	cpu := parseCPUAcctUsageAll("cpu user system\n0 1500000000 500000000\n1 2000000000 0\n")
	if len(cpu) != 4 || cpu[0] != (instances.CPUTime{CPU: "0", Mode: "system", Seconds: 0.5}) || cpu[3] != (instances.CPUTime{CPU: "1", Mode: "user", Seconds: 2}) {
		t.Errorf("cpuacct.usage_all: %v", cpu)
	}
	cpu = parseCPUStatV2("usage_usec 3000000\nuser_usec 2000000\nsystem_usec 1000000\n")
	if len(cpu) != 2 || cpu[0].Seconds != 1 || cpu[1].Seconds != 2 || cpu[1].CPU != "0" {
		t.Errorf("cpu.stat: %v", cpu)
	}
	parts := map[string]string{"8:0": "sda", "259:0": "nvme0n1"}
	io := parseBlkio("8:0 Read 100\n8:0 Write 200\n8:0 Sync 1\n9:9 Read 5\nTotal 300\n", "8:0 Read 1\n8:0 Write 2\n", parts)
	if len(io) != 1 || io["sda"] != (instances.DiskIO{ReadBytes: 100, WrittenBytes: 200, ReadsCompleted: 1, WritesCompleted: 2}) {
		t.Errorf("blkio: %v", io)
	}
	io = parseIOStat("259:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n", parts)
	if io["nvme0n1"] != (instances.DiskIO{ReadBytes: 10, WrittenBytes: 20, ReadsCompleted: 1, WritesCompleted: 2}) {
		t.Errorf("io.stat: %v", io)
	}
	nd := parseNetDev([]byte("Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     140       2    0    0    0     0          0         0      140       2    0    0    0     0       0          0\n  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0\n"))
	if nd["lo"].RxBytes != 140 || nd["eth0"] != (instances.NetCounters{RxBytes: 1000, RxPackets: 10, RxErrs: 1, RxDrop: 2, TxBytes: 2000, TxPackets: 20, TxErrs: 3, TxDrop: 4}) {
		t.Errorf("net/dev: %v", nd)
	}
	if !payloadOf("4:memory:/lodge/lxc.payload.c1/init.scope\n", "/lxc.payload.c1") || payloadOf("4:memory:/lxc.payload.c10\n", "/lxc.payload.c1") {
		t.Error("payloadOf")
	}
}

func TestCgroupMetricsV1(t *testing.T) {
	root := t.TempDir()
	write := func(rel, v string) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(v+"\n"), 0o644)
	}
	write("memory/c/memory.stat", "total_cache 100")
	write("memory/c/memory.usage_in_bytes", "1000")
	write("memory/c/memory.limit_in_bytes", "9223372036854771712")
	write("memory/c/memory.memsw.usage_in_bytes", "1300")
	write("cpuacct/c/cpuacct.usage_all", "cpu user system\n0 1000000000 0")
	write("pids/c/pids.current", "3")
	dirs := map[string]string{"memory": root + "/memory/c", "cpuacct": root + "/cpuacct/c", "pids": root + "/pids/c", "blkio": root + "/blkio/c"}
	m := readCgroupMetrics(cgroupLayout{MemSwap: true}, dirs, hostInfo{memTotal: 4096 << 20})
	if m.MemoryUsage != 1000 || m.MemoryLimit != 4096<<20 || m.Swap != 300 || !m.HasSwap || m.Processes != 3 || len(m.CPU) != 2 || m.MemoryStat["cache"] != 100 {
		t.Fatalf("unlimited: %+v", m)
	}
	write("memory/c/memory.limit_in_bytes", "134217728")
	if m := readCgroupMetrics(cgroupLayout{}, dirs, hostInfo{memTotal: 4096 << 20}); m.MemoryLimit != 128<<20 || m.HasSwap {
		t.Fatalf("limited, no swap accounting: %+v", m)
	}
}

// Metrics of a real busybox container, read on the host.
func TestMetricsRunningContainer(t *testing.T) {
	d := runningBusybox(t, "t-lxc-metrics")
	ctx := context.Background()
	got := d.Metrics(ctx, []string{"t-lxc-metrics", "t-lxc-nosuch"})
	m, ok := got["t-lxc-metrics"]
	if !ok || len(got) != 1 {
		t.Fatalf("metrics for %v", got)
	}
	// cgroup v1's cpuacct.usage_all splits user and system by ticks, so a
	// busybox init that ran for less than one has 0 in both: the entries
	// must be there, their sum may be 0 (TestCgroupMetricsV1 checks the
	// parsing of non-zero figures).
	if len(m.CPU) == 0 || m.MemoryUsage <= 0 || m.MemoryLimit <= 0 || m.Processes < 1 || len(m.MemoryStat) == 0 {
		t.Errorf("cgroup figures: %+v", m)
	}
	if _, ok := m.Network["lo"]; !ok {
		t.Errorf("no lo in the container's interfaces: %v", m.Network)
	}
	if len(m.Filesystems) != 1 || m.Filesystems[0].Mountpoint != "/" || m.Filesystems[0].Size == 0 {
		t.Errorf("filesystems: %+v", m.Filesystems)
	}
	// The second read uses the cached pid and gives the same container's figures.
	if again := d.Metrics(ctx, []string{"t-lxc-metrics"}); again["t-lxc-metrics"].Processes != m.Processes {
		t.Errorf("second read: %+v", again)
	}
	if err := d.Stop(ctx, "t-lxc-metrics", time.Second, true); err != nil {
		t.Fatal(err)
	}
	if got := d.Metrics(ctx, []string{"t-lxc-metrics"}); len(got) != 0 {
		t.Errorf("a stopped container has metrics: %v", got)
	}
}

// BenchmarkMetrics100 reads the metrics of LODGE_BENCH_N (default 100)
// running busybox containers at once, as a /1.0/metrics scrape does:
//
//	LODGE_INTEGRATION=1 go test -run '^$' -bench Metrics100 -benchtime 20x ./instances/lxc/
func BenchmarkMetrics100(b *testing.B) {
	needRoot(b)
	n := 100
	if v := os.Getenv("LODGE_BENCH_N"); v != "" {
		fmt.Sscan(v, &n)
	}
	lxcpath := b.TempDir()
	d := testDriver(b, lxcpath)
	rootfs := busyboxRootfs(b)
	ctx := context.Background()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("t-lxc-m%03d", i)
		cleanupContainer(b, lxcpath, names[i])
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := d.Define(ctx, instances.Spec{Name: name, Rootfs: rootfs, Init: "busybox"}); err != nil {
				b.Error(err)
				return
			}
			if err := d.Start(ctx, name); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	scrape := func() (read, total time.Duration) {
		start := time.Now()
		got := d.Metrics(ctx, names)
		if len(got) != n {
			b.Fatalf("metrics of %d containers, want %d", len(got), n)
		}
		read = time.Since(start)
		insts := make([]metrics.Instance, 0, n)
		for _, name := range names {
			insts = append(insts, metrics.Instance{Name: name, Project: "default", Type: "container", Metrics: got[name]})
		}
		if err := metrics.Render(io.Discard, &metrics.Daemon{Runtime: true}, insts); err != nil {
			b.Fatal(err)
		}
		return read, time.Since(start)
	}
	_, cold := scrape() // init pids from liblxc
	var reads, totals []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, t := scrape()
		reads, totals = append(reads, r), append(totals, t)
	}
	median := func(ds []time.Duration) float64 {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return float64(ds[len(ds)/2].Microseconds()) / 1000
	}
	b.ReportMetric(float64(cold.Microseconds())/1000, "ms/cold-scrape")
	b.ReportMetric(median(reads), "ms/read-median")
	b.ReportMetric(median(totals), "ms/scrape-median")
}
