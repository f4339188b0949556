// Package resources reads the host's CPUs, memory and disks from /proc and
// /sys for GET /1.0/resources.
package resources

import (
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"lodge/api"
)

// Read describes the host, read from the filesystems rooted at root ("/"
// on a real host; tests point it at a fixture tree).
func Read(root string) api.Resources {
	var r api.Resources
	r.CPU = readCPU(root)
	r.Memory = readMemory(root)
	r.Storage = readDisks(root)
	return r
}

func read(root, p string) string {
	b, _ := os.ReadFile(filepath.Join(root, p))
	return strings.TrimSpace(string(b))
}

func readUint(root, p string) uint64 {
	n, _ := strconv.ParseUint(read(root, p), 10, 64)
	return n
}

func arch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return runtime.GOARCH
}

func readCPU(root string) api.ResourcesCPU {
	out := api.ResourcesCPU{Architecture: arch(), Sockets: []api.ResourcesCPUSocket{}}
	// Model and vendor per logical CPU from /proc/cpuinfo.
	model, vendor := map[int64]string{}, map[int64]string{}
	cur := int64(-1)
	for _, l := range strings.Split(read(root, "proc/cpuinfo"), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			cur, _ = strconv.ParseInt(v, 10, 64)
		case "model name":
			model[cur] = v
		case "vendor_id":
			vendor[cur] = v
		}
	}
	online := map[int64]bool{}
	for _, part := range strings.Split(read(root, "sys/devices/system/cpu/online"), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseInt(lo, 10, 64)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			b, _ = strconv.ParseInt(hi, 10, 64)
		}
		for i := a; i <= b; i++ {
			online[i] = true
		}
	}
	cpus, _ := filepath.Glob(filepath.Join(root, "sys/devices/system/cpu/cpu[0-9]*"))
	sockets := map[uint64]*api.ResourcesCPUSocket{}
	for _, dir := range cpus {
		id, err := strconv.ParseInt(strings.TrimPrefix(filepath.Base(dir), "cpu"), 10, 64)
		if err != nil {
			continue
		}
		rel, _ := filepath.Rel(root, dir)
		pkg := readUint(root, rel+"/topology/physical_package_id")
		coreID := readUint(root, rel+"/topology/core_id")
		s := sockets[pkg]
		if s == nil {
			s = &api.ResourcesCPUSocket{Socket: pkg, Name: model[id], Vendor: vendor[id]}
			sockets[pkg] = s
		}
		var core *api.ResourcesCPUCore
		for i := range s.Cores {
			if s.Cores[i].Core == coreID {
				core = &s.Cores[i]
			}
		}
		if core == nil {
			s.Cores = append(s.Cores, api.ResourcesCPUCore{Core: coreID})
			core = &s.Cores[len(s.Cores)-1]
		}
		core.Threads = append(core.Threads, api.ResourcesCPUThread{ID: id, Thread: uint64(len(core.Threads)), Online: online[id]})
		out.Total++
	}
	keys := make([]uint64, 0, len(sockets))
	for k := range sockets {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		s := sockets[k]
		sort.Slice(s.Cores, func(i, j int) bool { return s.Cores[i].Core < s.Cores[j].Core })
		out.Sockets = append(out.Sockets, *s)
	}
	return out
}

func readMemory(root string) api.ResourcesMemory {
	kv := map[string]uint64{}
	for _, l := range strings.Split(read(root, "proc/meminfo"), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 {
			n, _ := strconv.ParseUint(f[1], 10, 64)
			kv[strings.TrimSuffix(f[0], ":")] = n * 1024
		}
	}
	return api.ResourcesMemory{Total: kv["MemTotal"], Used: kv["MemTotal"] - kv["MemAvailable"]}
}

// readDisks lists whole disks, leaving out loop, ram, zram and dm devices.
func readDisks(root string) api.ResourcesStorage {
	out := api.ResourcesStorage{Disks: []api.ResourcesStorageDisk{}}
	ents, _ := os.ReadDir(filepath.Join(root, "sys/block"))
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") || strings.HasPrefix(name, "dm-") {
			continue
		}
		p := "sys/block/" + name
		d := api.ResourcesStorageDisk{ID: name, Device: read(root, p+"/dev"), Model: read(root, p+"/device/model"),
			ReadOnly: read(root, p+"/ro") == "1", Removable: read(root, p+"/removable") == "1",
			Size: readUint(root, p+"/size") * 512}
		if sub, err := os.Readlink(filepath.Join(root, p, "device/subsystem")); err == nil {
			d.Type = filepath.Base(sub)
		}
		out.Disks = append(out.Disks, d)
		out.Total++
	}
	return out
}
