package resources

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRead(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"proc/cpuinfo":                  "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon\n",
		"proc/meminfo":                  "MemTotal:       1000 kB\nMemFree:  100 kB\nMemAvailable:    400 kB\n",
		"sys/devices/system/cpu/online": "0-1",
		"sys/devices/system/cpu/cpu0/topology/physical_package_id": "0",
		"sys/devices/system/cpu/cpu0/topology/core_id":             "0",
		"sys/devices/system/cpu/cpu1/topology/physical_package_id": "0",
		"sys/devices/system/cpu/cpu1/topology/core_id":             "1",
		"sys/block/vda/dev":       "254:0",
		"sys/block/vda/size":      "2048",
		"sys/block/vda/ro":        "0",
		"sys/block/vda/removable": "0",
		"sys/block/loop0/size":    "10",
	}
	for p, c := range files {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(root, p), []byte(c), 0o644)
	}
	r := Read(root)
	if r.CPU.Total != 2 || len(r.CPU.Sockets) != 1 || len(r.CPU.Sockets[0].Cores) != 2 || r.CPU.Sockets[0].Name != "Xeon" ||
		!r.CPU.Sockets[0].Cores[1].Threads[0].Online || r.CPU.Sockets[0].Cores[1].Threads[0].ID != 1 {
		t.Errorf("cpu: %+v", r.CPU)
	}
	if r.Memory.Total != 1000*1024 || r.Memory.Used != 600*1024 {
		t.Errorf("memory: %+v", r.Memory)
	}
	if r.Storage.Total != 1 || r.Storage.Disks[0].ID != "vda" || r.Storage.Disks[0].Size != 2048*512 || r.Storage.Disks[0].Device != "254:0" {
		t.Errorf("storage: %+v", r.Storage)
	}
}
