// Package fake is an in-memory network.Driver for the server's handler tests.
package fake

import (
	"context"
	"fmt"
	"sync"

	"lodge/network"
)

// Driver records networks and their hosts in memory.
type Driver struct {
	mu     sync.Mutex
	Nets   map[string]network.Network
	Leased map[string][]network.Lease
	Subnet string
	// Held are host interfaces that exist outside the driver's networks.
	Held map[string]network.Ownership
}

var _ network.Driver = (*Driver)(nil)

// New returns an empty fake driver whose free subnet is 10.99.0.1/24.
func New() *Driver {
	return &Driver{Nets: map[string]network.Network{}, Leased: map[string][]network.Lease{}, Subnet: "10.99.0.1/24"}
}

func (d *Driver) FreeSubnet() (string, error) { return d.Subnet, nil }

func (d *Driver) Owner(ctx context.Context, name string) (network.Ownership, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if o, ok := d.Held[name]; ok {
		return o, nil
	}
	if _, ok := d.Nets[name]; ok {
		return network.Ownership{Holder: network.Ours, Why: "made by this driver"}, nil
	}
	return network.Ownership{Holder: network.Free}, nil
}

func (d *Driver) Ensure(ctx context.Context, n network.Network) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.Nets[n.Name] = n
	return nil
}

func (d *Driver) UpdateHosts(ctx context.Context, n network.Network) error { return d.Ensure(ctx, n) }

func (d *Driver) Delete(ctx context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.Nets, name)
	return nil
}

// Get returns what the driver was last told about a network.
func (d *Driver) Get(name string) (network.Network, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.Nets[name]
	return n, ok
}

func (d *Driver) State(ctx context.Context, name string) (network.State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.Nets[name]; !ok {
		return network.State{}, fmt.Errorf("bridge %s: %w", name, network.ErrNotFound)
	}
	return network.State{Up: true, MTU: 1500, HWAddr: "00:16:3e:00:00:99",
		Addresses: []network.Address{{Family: "inet", Address: "10.99.0.1", Prefix: 24, Scope: "global"}}}, nil
}

func (d *Driver) Leases(ctx context.Context, name string) ([]network.Lease, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.Leased[name], nil
}

func (d *Driver) Close() {}
