package daemon

import (
	"context"
	"testing"

	"lodge/api"
)

// Every path that rewrites an instance's runtime config gives it the
// profiles' devices too: a copy, a rename, a pool move and a rebuild
// used to define the stored row as it was, without the default
// profile's NIC (start defined it again, so it only showed until then).
func TestDefinedWithProfilesApplied(t *testing.T) {
	e := newDaemonEnv(t)
	ctx := context.Background()
	if err := e.d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.image(t, "busybox", "bb")
	nic := map[string]string{"type": "nic", "nictype": "bridged", "parent": "lo", "name": "eth0"}
	if err := e.d.UpdateProfile(ctx, "default", api.ProfilePut{Devices: map[string]map[string]string{"eth0": nic}}, Update{Patch: true}); err != nil {
		t.Fatal(err)
	}
	hasNIC := func(name string) {
		t.Helper()
		spec, ok := e.drv.Spec(name)
		if !ok || len(spec.NICs) != 1 || spec.NICs[0].Link != "lo" || spec.NICs[0].Name != "eth0" {
			t.Fatalf("%s's runtime config: NICs %+v (defined %v), want the default profile's eth0", name, spec.NICs, ok)
		}
	}
	e.launch(t, "c1", nil, false)
	hasNIC("c1")
	e.ok(t)(e.d.CreateInstance(ctx, api.InstancesPost{Name: "c2", Source: api.InstanceSource{Type: "copy", Source: "c1"}}))
	hasNIC("c2")
	e.ok(t)(e.d.MoveInstance(ctx, "c2", api.InstancePost{Name: "c3"}))
	hasNIC("c3")
	e.ok(t)(e.d.RebuildInstance(ctx, "c3", api.InstanceRebuildPost{Source: api.InstanceSource{Type: "image", Alias: "bb"}}))
	hasNIC("c3")
}
