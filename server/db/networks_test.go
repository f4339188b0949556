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
