//go:build linux && cgo

package lxc

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// readSmall reads a small procfs or cgroupfs file into buf, in three or
// four system calls: os.ReadFile makes six (it also stats the file and
// tries to register it with the poller), and allocates. A list of 1,000
// running containers reads about 8,000 such files. Content past len(buf)
// is cut off.
func readSmall(path string, buf []byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return buf[:n], nil
}

// cgroupStats are a running container's figures, read from its payload
// cgroup's files directly: one open and read each, where asking liblxc
// costs a round trip to the container's monitor per item (list with
// hundreds of running containers).
type cgroupStats struct {
	Memory, MemoryPeak, Swap, CPUNanos, Processes int64
}

// payloadCgroups maps each hierarchy of /proc/PID/cgroup ("memory",
// "cpuacct", ..., "" for the unified one) to the container's payload
// cgroup directory: the path cut after its lxc.payload.NAME component,
// since an init such as systemd moves itself into a child (init.scope).
func payloadCgroups(root string, pid int) map[string]string {
	var buf [8192]byte
	b, err := readSmall("/proc/"+strconv.Itoa(pid)+"/cgroup", buf[:])
	if err != nil {
		return nil
	}
	return parsePayloadCgroups(root, unifiedDir(root), string(b))
}

// parsePayloadCgroups is payloadCgroups on the text of /proc/PID/cgroup.
func parsePayloadCgroups(root, unified, procCgroup string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(procCgroup), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		path := parts[2]
		if i := strings.Index(path, "/lxc.payload."); i >= 0 {
			if j := strings.IndexByte(path[i+1:], '/'); j >= 0 {
				path = path[:i+1+j]
			}
		}
		for _, ctrl := range strings.Split(parts[1], ",") {
			dir := filepath.Join(root, ctrl, path)
			if ctrl == "" {
				dir = filepath.Join(root, unified, path)
			}
			out[ctrl] = dir
		}
	}
	return out
}

// unifiedDir is where the cgroup2 hierarchy is under root: root itself on
// a pure cgroup2 host, "unified" on a hybrid one.
func unifiedDir(root string) string {
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		return ""
	}
	return "unified"
}

func readInt(path string) int64 {
	var buf [64]byte
	b, err := readSmall(path, buf[:])
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// readCgroupStats reads the figures for the layout's hierarchies.
func readCgroupStats(l cgroupLayout, dirs map[string]string) cgroupStats {
	var st cgroupStats
	if l.V2 {
		d := dirs[""]
		st.Memory = readInt(filepath.Join(d, "memory.current"))
		st.MemoryPeak = readInt(filepath.Join(d, "memory.peak"))
		st.Swap = readInt(filepath.Join(d, "memory.swap.current"))
		st.Processes = readInt(filepath.Join(d, "pids.current"))
		if b, err := os.ReadFile(filepath.Join(d, "cpu.stat")); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
					n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					st.CPUNanos = n * 1000
				}
			}
		}
		return st
	}
	mem := dirs["memory"]
	st.Memory = readInt(filepath.Join(mem, "memory.usage_in_bytes"))
	st.MemoryPeak = readInt(filepath.Join(mem, "memory.max_usage_in_bytes"))
	if l.MemSwap {
		if memsw := readInt(filepath.Join(mem, "memory.memsw.usage_in_bytes")); memsw > st.Memory {
			st.Swap = memsw - st.Memory
		}
	}
	st.CPUNanos = readInt(filepath.Join(dirs["cpuacct"], "cpuacct.usage"))
	st.Processes = readInt(filepath.Join(dirs["pids"], "pids.current"))
	return st
}
