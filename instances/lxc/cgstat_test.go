//go:build linux && cgo

package lxc

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPayloadCgroupsAndStats(t *testing.T) {
	root := t.TempDir()
	write := func(rel, v string) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(v+"\n"), 0o644)
	}
	// Hybrid v1: systemd inside moved itself to init.scope; the figures
	// are the whole container's, at lxc.payload.c1.
	proc := "12:pids:/lxc.payload.c1/init.scope\n4:memory:/lxc.payload.c1/init.scope\n2:cpu,cpuacct:/lxc.payload.c1\n0::/lxc.payload.c1/init.scope\n"
	dirs := parsePayloadCgroups(root, "unified", proc)
	if dirs["memory"] != filepath.Join(root, "memory/lxc.payload.c1") || dirs["cpuacct"] != filepath.Join(root, "cpuacct/lxc.payload.c1") ||
		dirs[""] != filepath.Join(root, "unified/lxc.payload.c1") {
		t.Fatalf("dirs: %v", dirs)
	}
	write("memory/lxc.payload.c1/memory.usage_in_bytes", "1000")
	write("memory/lxc.payload.c1/memory.max_usage_in_bytes", "5000")
	write("memory/lxc.payload.c1/memory.memsw.usage_in_bytes", "1300")
	write("cpuacct/lxc.payload.c1/cpuacct.usage", "42")
	write("pids/lxc.payload.c1/pids.current", "7")
	if st := readCgroupStats(cgroupLayout{MemSwap: true}, dirs); st != (cgroupStats{Memory: 1000, MemoryPeak: 5000, Swap: 300, CPUNanos: 42, Processes: 7}) {
		t.Fatalf("v1 stats: %+v", st)
	}
	// Pure cgroup2, nested under a slice.
	dirs = parsePayloadCgroups(root, "", "0::/lodge.slice/lxc.payload.c2/init.scope\n")
	d := filepath.Join(root, "lodge.slice/lxc.payload.c2")
	if dirs[""] != d {
		t.Fatalf("v2 dir: %v", dirs)
	}
	write("lodge.slice/lxc.payload.c2/memory.current", "2000")
	write("lodge.slice/lxc.payload.c2/memory.peak", "3000")
	write("lodge.slice/lxc.payload.c2/memory.swap.current", "10")
	write("lodge.slice/lxc.payload.c2/pids.current", "3")
	write("lodge.slice/lxc.payload.c2/cpu.stat", "usage_usec 5\nuser_usec 3")
	if st := readCgroupStats(cgroupLayout{V2: true}, dirs); st != (cgroupStats{Memory: 2000, MemoryPeak: 3000, Swap: 10, CPUNanos: 5000, Processes: 3}) {
		t.Fatalf("v2 stats: %+v", st)
	}
}
