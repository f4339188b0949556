package daemon

import (
	"context"
	"sync"
	"testing"

	"lodge/api"
	"lodge/network"
	nfake "lodge/network/fake"
)

// countingNets counts the DHCP host rewrites per network.
type countingNets struct {
	*nfake.Driver
	mu      sync.Mutex
	updates map[string]int
}

func (c *countingNets) UpdateHosts(ctx context.Context, n network.Network) error {
	c.mu.Lock()
	c.updates[n.Name]++
	c.mu.Unlock()
	return c.Driver.UpdateHosts(ctx, n)
}

func (c *countingNets) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.updates
	c.updates = map[string]int{}
	return out
}

// An instance change rewrites the reservations of the networks its NICs
// were or are on, and only when a NIC, MAC or name changed; a profile's
// NIC change reaches its users' networks.
func TestSyncHostsOnlyWhereChanged(t *testing.T) {
	cn := &countingNets{Driver: nfake.New(), updates: map[string]int{}}
	e := newDaemonEnv(t, func(deps *Deps) { deps.Networks, deps.DefaultNetwork = cn, "none" })
	ctx := context.Background()
	if err := e.d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.image(t, "busybox", "bb")
	for _, n := range []api.NetworksPost{
		{Name: "nha", NetworkPut: api.NetworkPut{Config: map[string]string{"ipv4.address": "10.125.1.1/24"}}},
		{Name: "nhb", NetworkPut: api.NetworkPut{Config: map[string]string{"ipv4.address": "10.125.2.1/24"}}},
	} {
		if err := e.d.CreateNetwork(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	cn.take()
	hostsOn := func(net string) []network.Host { n, _ := cn.Get(net); return n.Hosts }

	e.ok(t)(e.d.CreateInstance(ctx, api.InstancesPost{Name: "nh1", Source: api.InstanceSource{Type: "image", Alias: "bb"},
		InstancePut: api.InstancePut{Devices: map[string]map[string]string{"eth0": {"type": "nic", "network": "nha", "name": "eth0"}}}}))
	if got := cn.take(); got["nha"] != 1 || got["nhb"] != 0 {
		t.Fatalf("create on nha rewrote: %v", got)
	}
	if hs := hostsOn("nha"); len(hs) != 1 || hs[0].Name != "nh1" || hs[0].HWAddr == "" {
		t.Fatalf("nha's hosts after the create: %+v", hs)
	}
	// No NIC change: nothing rewritten.
	e.ok(t)(e.d.UpdateInstance(ctx, "nh1", api.InstancePut{Config: map[string]string{"user.x": "1"}}, Update{Patch: true}))
	if got := cn.take(); len(got) != 0 {
		t.Fatalf("a change without NICs rewrote: %v", got)
	}
	// Moved to nhb: both rewritten.
	e.ok(t)(e.d.UpdateInstance(ctx, "nh1", api.InstancePut{Devices: map[string]map[string]string{"eth0": {"type": "nic", "network": "nhb", "name": "eth0"}}}, Update{Patch: true}))
	if got := cn.take(); got["nha"] != 1 || got["nhb"] != 1 {
		t.Fatalf("a move from nha to nhb rewrote: %v", got)
	}
	if len(hostsOn("nha")) != 0 || len(hostsOn("nhb")) != 1 {
		t.Fatalf("hosts after the move: nha %+v, nhb %+v", hostsOn("nha"), hostsOn("nhb"))
	}
	// A profile's NIC reaches the reservations of its users' network.
	if err := e.d.CreateProfile(ctx, api.ProfilesPost{Name: "nhp"}); err != nil {
		t.Fatal(err)
	}
	e.ok(t)(e.d.UpdateInstance(ctx, "nh1", api.InstancePut{Profiles: []string{"default", "nhp"}}, Update{Patch: true}))
	cn.take()
	if err := e.d.UpdateProfile(ctx, "nhp", api.ProfilePut{Devices: map[string]map[string]string{"eth1": {"type": "nic", "network": "nha", "name": "eth1"}}}, Update{}); err != nil {
		t.Fatal(err)
	}
	if hs := hostsOn("nha"); len(hs) != 1 || hs[0].Name != "nh1" {
		t.Fatalf("nha's hosts after a profile gave nh1 a NIC on it: %+v", hs)
	}
	cn.take()
	// Deleted: only its networks.
	e.ok(t)(e.d.DeleteInstance(ctx, "nh1"))
	if got := cn.take(); got["nha"] != 1 || got["nhb"] != 1 || len(hostsOn("nha")) != 0 || len(hostsOn("nhb")) != 0 {
		t.Fatalf("delete rewrote %v; hosts left: nha %+v, nhb %+v", got, hostsOn("nha"), hostsOn("nhb"))
	}
}
