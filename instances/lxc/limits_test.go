package lxc

import (
	"strings"
	"testing"

	"lodge/instances"
)

func TestLimitItems(t *testing.T) {
	v1 := cgroupLayout{MemSwap: true, HostMemory: 8 << 30, HostCPUs: []int{0, 1, 2, 3}, CPUList: "0-3"}
	v2 := v1
	v2.V2, v2.BlkioWeight = true, "io.weight"
	tests := []struct {
		name   string
		layout cgroupLayout
		cfg    map[string]string
		reset  bool
		want   string // items joined as k=v;
		err    string
	}{
		{"nothing", v1, map[string]string{}, false, "", ""},
		{"cpu count", v1, map[string]string{"limits.cpu": "2"}, false, "cpuset.cpus=0-1;", ""},
		{"cpu count above host", v1, map[string]string{"limits.cpu": "9"}, false, "cpuset.cpus=0-3;", ""},
		{"cpu set", v1, map[string]string{"limits.cpu": "1,3"}, false, "cpuset.cpus=1,3;", ""},
		{"cpu set offline", v1, map[string]string{"limits.cpu": "0-7"}, false, "", "not online"},
		{"soft share", v1, map[string]string{"limits.cpu.allowance": "50%"}, false, "cpu.shares=512;", ""},
		{"hard quota", v1, map[string]string{"limits.cpu.allowance": "25ms/100ms"}, false, "cpu.cfs_period_us=100000;cpu.cfs_quota_us=25000;", ""},
		{"memory no swap", v1, map[string]string{"limits.memory": "128MiB", "limits.memory.swap": "false"}, false,
			"memory.limit_in_bytes=134217728;memory.soft_limit_in_bytes=-1;memory.memsw.limit_in_bytes=134217728;", ""},
		{"memory percent", v1, map[string]string{"limits.memory": "50%"}, false, "memory.limit_in_bytes=4294967296;memory.soft_limit_in_bytes=-1;", ""},
		{"memory soft", v1, map[string]string{"limits.memory": "1GiB", "limits.memory.enforce": "soft"}, false,
			"memory.limit_in_bytes=-1;memory.soft_limit_in_bytes=1073741824;", ""},
		{"memory too small", v1, map[string]string{"limits.memory": "1MiB"}, false, "", "below 4MiB"},
		{"processes", v1, map[string]string{"limits.processes": "50"}, false, "pids.max=50;", ""},
		{"disk priority without weight", v1, map[string]string{"limits.disk.priority": "5"}, false, "", "no weight"},
		{"reset lifts everything", v1, map[string]string{}, true,
			"cpuset.cpus=0-3;cpu.shares=1024;cpu.cfs_period_us=100000;cpu.cfs_quota_us=-1;memory.memsw.limit_in_bytes=-1;memory.limit_in_bytes=-1;memory.soft_limit_in_bytes=-1;pids.max=max;", ""},
		{"reset keeps memsw order", v1, map[string]string{"limits.memory": "64MiB", "limits.memory.swap": "false"}, true,
			"cpuset.cpus=0-3;cpu.shares=1024;cpu.cfs_period_us=100000;cpu.cfs_quota_us=-1;memory.memsw.limit_in_bytes=-1;memory.limit_in_bytes=67108864;memory.soft_limit_in_bytes=-1;memory.memsw.limit_in_bytes=67108864;pids.max=max;", ""},
		{"v2", v2, map[string]string{"limits.cpu.allowance": "50ms/100ms", "limits.memory": "128MiB", "limits.memory.swap": "false", "limits.processes": "9", "limits.disk.priority": "0"}, false,
			"cpu.max=50000 100000;memory.max=134217728;memory.high=max;memory.swap.max=0;pids.max=9;io.weight=10;", ""},
	}
	for _, tc := range tests {
		items, err := limitItems(tc.cfg, tc.layout, tc.reset)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var b strings.Builder
		for _, it := range items {
			b.WriteString(it.Key + "=" + it.Value + ";")
		}
		if b.String() != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, b.String(), tc.want)
		}
	}
}

func TestRenderLimitsAndNesting(t *testing.T) {
	saved := hostLayout
	defer func() { hostLayout = saved }()
	hostLayout = cgroupLayout{MemSwap: true, HostCPUs: []int{0, 1}, CPUList: "0-1"}
	text, err := RenderConfig("/l", instances.Spec{Name: "c", Rootfs: "/r", Config: map[string]string{
		"limits.memory": "128MiB", "limits.processes": "50", "security.nesting": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"lxc.cgroup.memory.limit_in_bytes = 134217728\n", "lxc.cgroup.pids.max = 50\n", "lxc.include = /usr/share/lxc/config/nesting.conf\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in\n%s", want, text)
		}
	}
	if _, err := RenderConfig("/l", instances.Spec{Name: "c", Rootfs: "/r", Config: map[string]string{"limits.cpu": "5-6"}}); err == nil {
		t.Error("offline CPUs accepted")
	}
	if e := lxcfsEntries("/s/lxcfs"); len(e) != len(lxcfsProcFiles)+1 || e[3] != "/s/lxcfs/proc/meminfo proc/meminfo none bind,optional 0 0" {
		t.Errorf("lxcfs entries: %q", e)
	}
}

func TestPickCPUs(t *testing.T) {
	host := []int{0, 1, 2, 3}
	tests := []struct {
		n     int
		usage map[int]int
		want  string
	}{
		{4, nil, "0-3"},
		{1, map[int]int{0: 2, 1: 1, 2: 0, 3: 1}, "2"},
		{2, map[int]int{0: 1, 1: 1, 2: 0, 3: 0}, "2-3"},
		{3, map[int]int{1: 5}, "0,2-3"},
	}
	for _, tc := range tests {
		if got := formatCPUList(pickCPUs(tc.n, host, tc.usage, "c1")); got != tc.want {
			t.Errorf("pickCPUs(%d, %v) = %s, want %s", tc.n, tc.usage, got, tc.want)
		}
	}
	// With nothing pinned, names spread over the CPUs instead of all taking CPU 0.
	seen := map[string]bool{}
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		seen[formatCPUList(pickCPUs(1, host, nil, name))] = true
	}
	if len(seen) < 2 {
		t.Errorf("eight names all pinned to %v", seen)
	}
}
