package daemon

import (
	"context"
	"os"
	"strings"
	"testing"

	"lodge/api"
	"lodge/errdefs"
)

// mustPatchDevices patches name's devices and fails the test if that fails.
func (e *daemonEnv) mustPatchDevices(t *testing.T, name string, devs map[string]map[string]string) {
	t.Helper()
	if err := e.patchDevices(t, name, devs); err != nil {
		t.Fatal(err)
	}
}

// TestDiskHotplug: a disk added to a running instance is mounted at once,
// one changed is mounted again as it now is, one removed is unmounted; a
// stopped instance gets its disks at start, not before.
func TestDiskHotplug(t *testing.T) {
	e := backupEnv(t)
	ctx := context.Background()
	e.launch(t, "c1", nil, true)
	e.launch(t, "off", nil, false)
	// Below searchable directories, as shift=true needs.
	src, err := os.MkdirTemp("", "lodge-hotplug-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(src) })
	os.Chmod(src, 0o755)
	e.mustPatchDevices(t, "c1", map[string]map[string]string{"d1": {"type": "disk", "source": src, "path": "/mnt/share"}})
	m, ok := e.drv.Mounts("c1")["/mnt/share"]
	if !ok || m.Source != src || m.ReadOnly {
		t.Fatalf("after add: %+v", e.drv.Mounts("c1"))
	}
	e.mustPatchDevices(t, "c1", map[string]map[string]string{"d1": {"type": "disk", "source": src, "path": "/mnt/share", "readonly": "true"}})
	if m := e.drv.Mounts("c1")["/mnt/share"]; !m.ReadOnly {
		t.Fatalf("after readonly=true: %+v", m)
	}
	e.mustPatchDevices(t, "c1", map[string]map[string]string{"d1": {"type": "disk", "source": src, "path": "/mnt/other"}})
	if ms := e.drv.Mounts("c1"); len(ms) != 1 || ms["/mnt/other"].Source != src {
		t.Fatalf("after a path change: %+v", ms)
	}
	// Removing a device: a PUT without it.
	in := e.mustInstance(t, "c1")
	delete(in.Devices, "d1")
	e.ok(t)(e.d.UpdateInstance(ctx, "c1", api.InstancePut{Config: in.Config, Devices: in.Devices, Profiles: in.Profiles}, Update{}))
	if ms := e.drv.Mounts("c1"); len(ms) != 0 {
		t.Fatalf("after remove: %+v", ms)
	}

	e.mustPatchDevices(t, "off", map[string]map[string]string{"d1": {"type": "disk", "source": src, "path": "/mnt/share", "shift": "true"}})
	if ms := e.drv.Mounts("off"); len(ms) != 0 {
		t.Fatalf("a stopped instance got a mount: %+v", ms)
	}
	e.ok(t)(e.d.ChangeState(ctx, "off", api.InstanceStatePut{Action: "start"}))
	spec, _ := e.drv.Spec("off")
	if len(spec.Mounts) != 1 || spec.Mounts[0].Path != "/mnt/share" || spec.Mounts[0].Shift {
		t.Fatalf("at start (privileged here, so no idmapped mount): %+v", spec.Mounts)
	}

	// A mount that fails fails the operation, with what to do.
	e.drv.FailAttach = errdefs.Invalidf("no")
	op, err := e.d.UpdateInstance(ctx, "c1", api.InstancePut{Devices: map[string]map[string]string{"d2": {"type": "disk", "source": src, "path": "/mnt/x"}}}, Update{Patch: true})
	if err != nil {
		t.Fatal(err)
	}
	if o := e.wait(t, op); o.StatusCode == api.Success || !strings.Contains(o.Err, "next start") {
		t.Fatalf("failed attach: %+v", o)
	}
}
