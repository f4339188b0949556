package metrics

import (
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"lodge/instances"
	"lodge/test/gate"
)

func sampleInstance(name string) Instance {
	return Instance{Name: name, Project: "default", Type: "container", Metrics: instances.Metrics{
		CPU: []instances.CPUTime{{CPU: "0", Mode: "system", Seconds: 1.5}, {CPU: "0", Mode: "user", Seconds: 2.25}, {CPU: "1", Mode: "user", Seconds: 3}},
		MemoryStat: map[string]uint64{"active_anon": 100, "active_file": 200, "active": 300, "inactive_anon": 10, "inactive_file": 20,
			"inactive": 30, "cache": 4096, "rss": 8192, "shmem": 1, "mapped": 2, "dirty": 3, "writeback": 4, "unevictable": 5},
		MemoryUsage: 16384, MemoryLimit: 1 << 20, Swap: 0, HasSwap: true,
		Disk: map[string]instances.DiskIO{"sda": {ReadBytes: 1000, ReadsCompleted: 10, WrittenBytes: 2000, WritesCompleted: 20}},
		Network: map[string]instances.NetCounters{"eth0": {RxBytes: 500, RxPackets: 5, TxBytes: 600, TxPackets: 6},
			"lo": {RxBytes: 70, RxPackets: 1, TxBytes: 70, TxPackets: 1}},
		Filesystems: []instances.Filesystem{{Device: "/dev/loop3", Type: "btrfs", Mountpoint: "/", Size: 1e9, Free: 5e8, Avail: 4e8}},
		Processes:   7,
	}}
}

func render(t *testing.T, d *Daemon, insts ...Instance) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, d, insts); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// LXD's names, labels and types, one family's lines together, # EOF last.
func TestRenderInstance(t *testing.T) {
	out := render(t, nil, sampleInstance("c1"), sampleInstance("c2"))
	for _, want := range []string{
		"# HELP lxd_cpu_seconds_total The total number of CPU time used in seconds.\n# TYPE lxd_cpu_seconds_total counter\n",
		`lxd_cpu_seconds_total{cpu="0",mode="system",name="c1",project="default",type="container"} 1.5` + "\n",
		`lxd_cpu_seconds_total{cpu="1",mode="user",name="c2",project="default",type="container"} 3` + "\n",
		`lxd_disk_read_bytes_total{device="sda",name="c1",project="default",type="container"} 1000` + "\n",
		`lxd_filesystem_avail_bytes{device="/dev/loop3",fstype="btrfs",mountpoint="/",name="c1",project="default"} 4e+08` + "\n",
		"# TYPE lxd_memory_Active_anon_bytes gauge\n",
		`lxd_memory_Cached_bytes{name="c1",project="default",type="container"} 4096` + "\n",
		`lxd_memory_MemTotal_bytes{name="c1",project="default",type="container"} 1.048576e+06` + "\n",
		// LXD: available = limit - usage + cache; free = limit - usage.
		`lxd_memory_MemAvailable_bytes{name="c1",project="default",type="container"} 1.036288e+06` + "\n",
		`lxd_memory_MemFree_bytes{name="c1",project="default",type="container"} 1.032192e+06` + "\n",
		`lxd_memory_RSS_bytes{name="c1",project="default",type="container"} 8192` + "\n",
		`lxd_memory_Swap_bytes{name="c1",project="default",type="container"} 0` + "\n",
		`lxd_network_receive_bytes_total{device="eth0",name="c1",project="default",type="container"} 500` + "\n",
		`lxd_network_transmit_packets_total{device="lo",name="c2",project="default",type="container"} 1` + "\n",
		"# TYPE lxd_procs_total gauge\n",
		`lxd_procs_total{name="c2",project="default",type="container"} 7` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.HasSuffix(out, "\n# EOF\n") && !strings.HasSuffix(out, "# EOF\n") {
		t.Error("no # EOF at the end")
	}
	// Every family is contiguous: once another family starts, it never
	// comes back; labels are in name order.
	seen, last := map[string]bool{}, ""
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if _, ls, ok := strings.Cut(line, "{"); ok {
			ls, _, _ = strings.Cut(ls, "}")
			var names []string
			for _, kv := range strings.Split(ls, ",") {
				k, _, _ := strings.Cut(kv, "=")
				names = append(names, k)
			}
			if !slices.IsSorted(names) {
				t.Errorf("labels out of order: %s", line)
			}
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		if name != last && seen[name] {
			t.Fatalf("family %s is split", name)
		}
		seen[name], last = true, name
	}
	if seen["lxd_uptime_seconds"] || seen["lxd_memory_HugepagesFree_bytes"] {
		t.Error("families with no samples are rendered")
	}
}

// Every series LXD's published Grafana dashboard (grafana.com 19131,
// canonical/lxd grafana/LXD.json) queries, with the label matchers its
// panels and variables use (job is Prometheus's own): the dashboard works
// unchanged against lodge.
func TestGrafanaDashboardSeries(t *testing.T) {
	in := sampleInstance("c1")
	in.Metrics.Network["eth0"] = instances.NetCounters{RxBytes: 1, RxDrop: 1, RxErrs: 1, TxDrop: 1, TxErrs: 1}
	out := render(t, &Daemon{}, in)
	for name, matchers := range map[string][]string{
		"lxd_cpu_seconds_total":              {`mode="user"`},
		"lxd_disk_read_bytes_total":          nil,
		"lxd_disk_reads_completed_total":     nil,
		"lxd_disk_writes_completed_total":    nil,
		"lxd_disk_written_bytes_total":       nil,
		"lxd_filesystem_avail_bytes":         {`mountpoint="/"`},
		"lxd_filesystem_size_bytes":          {`mountpoint="/"`},
		"lxd_memory_Cached_bytes":            nil,
		"lxd_memory_MemFree_bytes":           nil,
		"lxd_memory_MemTotal_bytes":          nil,
		"lxd_memory_Swap_bytes":              nil,
		"lxd_network_receive_bytes_total":    {`device="lo"`},
		"lxd_network_receive_drop_total":     {`device="eth0"`},
		"lxd_network_receive_errs_total":     {`device="eth0"`},
		"lxd_network_receive_packets_total":  {`device="lo"`},
		"lxd_network_transmit_bytes_total":   {`device="lo"`},
		"lxd_network_transmit_drop_total":    {`device="eth0"`},
		"lxd_network_transmit_errs_total":    {`device="eth0"`},
		"lxd_network_transmit_packets_total": {`device="lo"`},
		"lxd_procs_total":                    nil, // the dashboard's job, project and name variables
	} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			if !strings.HasPrefix(line, name+"{") {
				continue
			}
			ok := strings.Contains(line, `name="c1"`) && strings.Contains(line, `project="default"`)
			for _, m := range matchers {
				ok = ok && strings.Contains(line, m)
			}
			found = found || ok
		}
		if !found {
			t.Errorf("no %s series with name, project and %v for the dashboard", name, matchers)
		}
	}
}

func TestRenderDaemon(t *testing.T) {
	out := render(t, &Daemon{Uptime: 90 * time.Second, Operations: 2, Runtime: true,
		Instances: []InstanceCount{{"default", "container", 3}, {"default", "virtual-machine", 0}}})
	for _, want := range []string{"# TYPE lxd_uptime_seconds counter\nlxd_uptime_seconds 90\n", "# TYPE lxd_operations_total counter\nlxd_operations_total 2\n",
		"lxd_warnings_total 0\n", "# TYPE lxd_go_goroutines gauge\n", "# TYPE lxd_go_alloc_bytes_total counter\n", "lxd_go_sys_bytes ",
		`lxd_instances{project="default",type="container"} 3` + "\n", `lxd_instances{project="default",type="virtual-machine"} 0` + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestLabelEscaping(t *testing.T) {
	in := sampleInstance("c1")
	in.Metrics.Filesystems[0].Mountpoint = "/a \"b\"\\c\nd"
	out := render(t, nil, in)
	if !strings.Contains(out, `mountpoint="/a \"b\"\\c\nd"`) {
		t.Fatalf("label not escaped:\n%s", out)
	}
}

// Debian's promtool (from its prometheus package) parses and lints the
// text: what Prometheus itself will scrape.
func TestPromtoolAccepts(t *testing.T) {
	gate.Integration(t, "runs promtool from Debian's prometheus")
	var insts []Instance
	for i := 0; i < 3; i++ {
		insts = append(insts, sampleInstance(fmt.Sprintf("c%d", i)))
	}
	text := render(t, &Daemon{Uptime: time.Minute, Runtime: true, Instances: []InstanceCount{{"default", "container", 3}}}, insts...)
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	// promtool exits 3 for lint findings (naming advice) and 1 for text it
	// cannot parse; LXD's own names draw lint advice, which we keep.
	if err != nil && cmd.ProcessState.ExitCode() != 3 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "error while linting") || strings.Contains(string(out), "parse") {
		t.Fatalf("promtool could not parse:\n%s", out)
	}
	t.Logf("promtool lint advice (LXD's names):\n%s", out)
}

func BenchmarkRender100(b *testing.B) {
	var insts []Instance
	for i := 0; i < 100; i++ {
		insts = append(insts, sampleInstance(fmt.Sprintf("c%03d", i)))
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf.Reset()
		if err := Render(&buf, &Daemon{Runtime: true}, insts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes")
}
