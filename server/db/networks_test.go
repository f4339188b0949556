package db

import (
	"context"
	"errors"
	"testing"
)

func TestNetworkCRUD(t *testing.T) {
	d, _ := openTest(t)
	ctx := context.Background()
	if err := d.CreateNetwork(ctx, Network{Name: "nwbr0", Config: map[string]string{"ipv4.address": "10.1.2.1/24"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateNetwork(ctx, Network{Name: "nwbr0"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	n, err := d.GetNetwork(ctx, "nwbr0")
	if err != nil || n.Type != "bridge" || n.Config["ipv4.address"] != "10.1.2.1/24" {
		t.Fatalf("get: %+v %v", n, err)
	}
	n.Config["ipv4.nat"] = "false"
	n.Description = "d"
	if err := d.UpdateNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	ns, _ := d.ListNetworks(ctx)
	if len(ns) != 1 || ns[0].Config["ipv4.nat"] != "false" || ns[0].Description != "d" {
		t.Fatalf("list: %+v", ns)
	}
	if err := d.DeleteNetwork(ctx, "nwbr0"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GetNetwork(ctx, "nwbr0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if v, _ := d.NetworkMeta(ctx, "k"); v != "" {
		t.Fatal(v)
	}
	d.SetNetworkMeta(ctx, "k", "1")
	d.SetNetworkMeta(ctx, "k", "2")
	if v, _ := d.NetworkMeta(ctx, "k"); v != "2" {
		t.Fatal(v)
	}
}

// Forwards belong to a network, a listen address to one network only, and
// they go with their network.
func TestNetworkForwards(t *testing.T) {
	d, _ := openTest(t)
	ctx := context.Background()
	for _, n := range []string{"fwa", "fwb"} {
		if err := d.CreateNetwork(ctx, Network{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	f := NetworkForward{Network: "fwa", ListenAddress: "198.51.100.20", Config: map[string]string{"target_address": "10.0.0.5"},
		Ports: []ForwardPort{{Protocol: "tcp", ListenPort: "80", TargetAddress: "10.0.0.6"}}}
	if err := d.CreateNetworkForward(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateNetworkForward(ctx, NetworkForward{Network: "fwb", ListenAddress: "198.51.100.20"}); !errors.Is(err, ErrExists) {
		t.Fatalf("same listen address on another network: %v", err)
	}
	if err := d.CreateNetworkForward(ctx, NetworkForward{Network: "nosuch", ListenAddress: "198.51.100.21"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("forward on a missing network: %v", err)
	}
	got, err := d.GetNetworkForward(ctx, "fwa", "198.51.100.20")
	if err != nil || got.Config["target_address"] != "10.0.0.5" || len(got.Ports) != 1 || got.Ports[0].TargetAddress != "10.0.0.6" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := d.GetNetworkForward(ctx, "fwb", "198.51.100.20"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another network's forward: %v", err)
	}
	got.Description, got.Ports = "web", nil
	if err := d.UpdateNetworkForward(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := d.UpdateNetworkForward(ctx, NetworkForward{Network: "fwb", ListenAddress: "198.51.100.20"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update through another network: %v", err)
	}
	if all, _ := d.ListNetworkForwards(ctx, ""); len(all) != 1 || all[0].Description != "web" || len(all[0].Ports) != 0 {
		t.Fatalf("list: %+v", all)
	}
	if err := d.CreateNetworkForward(ctx, NetworkForward{Network: "fwb", ListenAddress: "203.0.113.7"}); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteNetwork(ctx, "fwa"); err != nil {
		t.Fatal(err)
	}
	if all, _ := d.ListNetworkForwards(ctx, ""); len(all) != 1 || all[0].Network != "fwb" {
		t.Fatalf("forwards after the network's delete: %+v", all)
	}
	if err := d.DeleteNetworkForward(ctx, "fwb", "203.0.113.7"); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteNetworkForward(ctx, "fwb", "203.0.113.7"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}
