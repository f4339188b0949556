//go:build linux && cgo

package lxc

import (
	"strings"
	"testing"
)

func TestSameInterfaces(t *testing.T) {
	host := map[string]int{"lo": 1, "eth0": 2, "lodgebr0": 5}
	if ok, why := sameInterfaces(host, map[string]int{"lo": 1, "eth0": 2, "lodgebr0": 5}); !ok {
		t.Fatalf("same maps differ: %s", why)
	}
	// A namespace of its own (its lo, and a veth named eth0) under the
	// host's sysfs.
	ok, why := sameInterfaces(map[string]int{"lo": 1, "eth0": 7}, host)
	if ok {
		t.Fatal("a namespace's interfaces match the host's sysfs")
	}
	for _, want := range []string{"eth0 is index 7, /sys/class/net says 2", "lodgebr0 in /sys/class/net is not in this namespace"} {
		if !strings.Contains(why, want) {
			t.Errorf("why %q lacks %q", why, want)
		}
	}
	if ok, why := sameInterfaces(map[string]int{"lo": 1, "lodgebr0": 3}, map[string]int{"lo": 1}); ok || !strings.Contains(why, "lodgebr0 missing from /sys/class/net") {
		t.Fatalf("missing interface: %v %q", ok, why)
	}
}
