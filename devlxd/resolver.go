package devlxd

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// CgroupResolver finds a process's instance from its cgroup: liblxc puts
// every process of container NAME (init, its children, and what exec
// attaches) below a cgroup named lxc.payload.NAME. The path in
// /proc/PID/cgroup is the host's view; a process cannot leave its
// container's subtree, and a nested container's own lxc.payload.X comes
// after its parent's, so the first such component names the instance.
type CgroupResolver struct {
	// Proc is where procfs is mounted (default /proc).
	Proc string
}

// InstanceOf implements Resolver.
func (r CgroupResolver) InstanceOf(pid int32) (string, error) {
	proc := r.Proc
	if proc == "" {
		proc = "/proc"
	}
	b, err := os.ReadFile(proc + "/" + strconv.Itoa(int(pid)) + "/cgroup")
	if err != nil {
		return "", fmt.Errorf("read its cgroup: %w", err)
	}
	name := PayloadName(b)
	if name == "" {
		return "", fmt.Errorf("not in an instance's cgroup: %w", ErrNotFound)
	}
	return name, nil
}

// PayloadName is the instance named by the first lxc.payload.NAME
// component in the text of /proc/PID/cgroup, "" if none. The unified
// (cgroup2) line is preferred; on a cgroup1 host every line names it.
func PayloadName(cgroup []byte) string {
	var found string
	sc := bufio.NewScanner(bytes.NewReader(cgroup))
	for sc.Scan() {
		// hierarchy-ID:controllers:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		name := payloadIn(parts[2])
		if name == "" {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			return name
		}
		if found == "" {
			found = name
		}
	}
	return found
}

func payloadIn(path string) string {
	for _, c := range strings.Split(path, "/") {
		if n, ok := strings.CutPrefix(c, "lxc.payload."); ok && n != "" {
			return n
		}
	}
	return ""
}
