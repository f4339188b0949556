// Package fake is an in-memory network.Driver for the server's and the
// daemon's tests; it implements the whole interface, as network/bridge does.
package fake

import (
	"context"
	"fmt"
	"net"
	"strings"
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
	// Plugged are the NICs attached to running containers, by init pid.
	Plugged map[int][]network.NIC
	// Released are the MACs whose leases were released, by network.
	Released map[string][]string
}

var _ network.Driver = (*Driver)(nil)

// New returns an empty fake driver whose free subnet is 10.99.0.1/24.
func New() *Driver {
	return &Driver{Nets: map[string]network.Network{}, Leased: map[string][]network.Lease{}, Subnet: "10.99.0.1/24"}
}

func (d *Driver) FreeSubnet() (string, error) { return d.Subnet, nil }

// FreeSubnetPrefix is Subnet widened (or narrowed) to prefix: 10.99.0.1/22
// for 22 from the default.
func (d *Driver) FreeSubnetPrefix(prefix int) (string, error) {
	_, n, err := net.ParseCIDR(d.Subnet)
	if err != nil {
		return "", err
	}
	ip := n.IP.Mask(net.CIDRMask(prefix, 32)).To4()
	ip[3]++
	return fmt.Sprintf("%s/%d", ip, prefix), nil
}

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

// AttachNIC records nic as plugged into the container whose init is pid.
func (d *Driver) AttachNIC(ctx context.Context, pid int, nic network.NIC) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Plugged == nil {
		d.Plugged = map[int][]network.NIC{}
	}
	d.Plugged[pid] = append(d.Plugged[pid], nic)
	return nil
}

// DetachNIC forgets the NIC of that name in the container whose init is pid.
func (d *Driver) DetachNIC(ctx context.Context, pid int, nic network.NIC) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var keep []network.NIC
	for _, n := range d.Plugged[pid] {
		if n.Name != nic.Name {
			keep = append(keep, n)
		}
	}
	d.Plugged[pid] = keep
	return nil
}

// ReleaseLeases drops the leases of macs and records them as released.
func (d *Driver) ReleaseLeases(ctx context.Context, n network.Network, macs []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Released == nil {
		d.Released = map[string][]string{}
	}
	d.Released[n.Name] = append(d.Released[n.Name], macs...)
	drop := map[string]bool{}
	for _, m := range macs {
		drop[strings.ToLower(m)] = true
	}
	var keep []network.Lease
	for _, l := range d.Leased[n.Name] {
		if !drop[strings.ToLower(l.HWAddr)] {
			keep = append(keep, l)
		}
	}
	d.Leased[n.Name] = keep
	return nil
}

func (d *Driver) Close() {}
