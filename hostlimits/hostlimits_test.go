package hostlimits

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fakeProc(t *testing.T, values map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for k, v := range values {
		p := path(root, k)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestApplyRaisesNeverLowers(t *testing.T) {
	root := fakeProc(t, map[string]string{
		"fs.inotify.max_user_instances":     "128\n",
		"kernel.pid_max":                    "9999999\n", // the admin's higher value stays
		"net.ipv4.neigh.default.gc_thresh3": "1024",
	})
	settings := []Setting{
		{"fs.inotify.max_user_instances", 1048576, "a"},
		{"kernel.pid_max", 4194304, "b"},
		{"net.ipv4.neigh.default.gc_thresh3", 8192, "c"},
		{"kernel.keys.maxkeys", 2000, "d"}, // missing: reported, the rest applied
	}
	got := Apply(root, settings)
	want := []struct {
		was, now int64
		changed  bool
		err      bool
	}{{128, 1048576, true, false}, {9999999, 9999999, false, false}, {1024, 8192, true, false}, {-1, -1, false, true}}
	for i, w := range want {
		g := got[i]
		if g.Was != w.was || g.Now != w.now || g.Changed != w.changed || (g.Err != nil) != w.err {
			t.Errorf("%s: %+v, want %+v", g.Key, g, w)
		}
	}
	if b, _ := os.ReadFile(path(root, "kernel.pid_max")); string(b) != "9999999\n" {
		t.Errorf("pid_max rewritten: %q", b)
	}
	if b, _ := os.ReadFile(path(root, "fs.inotify.max_user_instances")); string(b) != "1048576" {
		t.Errorf("inotify not raised: %q", b)
	}
	if err := Errors(got); err == nil || !strings.Contains(err.Error(), "maxkeys") {
		t.Errorf("errors: %v", err)
	}
	if s := got[0].Short(); s != "fs.inotify.max_user_instances = 1048576 (raised from 128)" {
		t.Errorf("short: %q", s)
	}
}

func TestDensityKeysExistOnThisKernel(t *testing.T) {
	if _, err := os.Stat("/proc/sys/kernel/pid_max"); err != nil {
		t.Skip("no /proc/sys")
	}
	for _, s := range Density {
		if _, err := read("/proc/sys", s.Key); err != nil {
			t.Errorf("%s: %v", s.Key, err)
		}
	}
}
