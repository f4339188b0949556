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
	// Subnet6 is what FreeSubnetV6 answers.
	Subnet6 string
	// Filters are the NIC filters in force, by host interface.
	Filters map[string]network.NICFilter
	// Isolated and Hairpin are the bridge ports' flags, by host interface.
	Isolated, Hairpin map[string]bool
	// Limits are the NIC limits in force, by host interface.
	Limits map[string]network.NICLimits
	// Routed are the routed NICs set up, by host interface.
	Routed map[string]network.RoutedNIC
	// FailRouted, if set, is SetupRouted's error.
	FailRouted error
}

var _ network.Driver = (*Driver)(nil)

// New returns an empty fake driver whose free subnet is 10.99.0.1/24.
func New() *Driver {
	return &Driver{Nets: map[string]network.Network{}, Leased: map[string][]network.Lease{}, Subnet: "10.99.0.1/24",
		Subnet6: "fd42:99:99:99::1/64", Filters: map[string]network.NICFilter{}, Isolated: map[string]bool{}, Hairpin: map[string]bool{},
		Limits: map[string]network.NICLimits{}, Routed: map[string]network.RoutedNIC{}}
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

func (d *Driver) FreeSubnetV6(name string) (string, error) { return d.Subnet6, nil }

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
	if nic.Type == "routed" {
		// As network/bridge: a routed NIC's parent is set up with it.
		if d.FailRouted != nil {
			return d.FailRouted
		}
		d.Routed[nic.HostName] = network.RoutedNIC{HostName: nic.HostName, Parent: nic.Link, IPv4: nic.IPv4, IPv6: nic.IPv6}
	}
	d.Plugged[pid] = append(d.Plugged[pid], nic)
	return nil
}

// DetachNIC forgets the NIC of that name in the container whose init is pid.
func (d *Driver) DetachNIC(ctx context.Context, pid int, nic network.NIC) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if nic.Type == "routed" {
		delete(d.Routed, nic.HostName)
	}
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

// ApplyNICFilter records f (a filter with nothing on removes the NIC's).
func (d *Driver) ApplyNICFilter(ctx context.Context, f network.NICFilter) error {
	if _, err := network.NICFilterRuleset(f); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if f.On() {
		d.Filters[f.HostName] = f
	} else {
		delete(d.Filters, f.HostName)
	}
	return nil
}

func (d *Driver) RemoveNICFilter(ctx context.Context, hostName string) error {
	return d.ApplyNICFilter(ctx, network.NICFilter{HostName: hostName})
}

func (d *Driver) NICFilters(ctx context.Context) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for h := range d.Filters {
		out = append(out, h)
	}
	return out, nil
}

// Filter returns the filter in force on a host interface.
func (d *Driver) Filter(hostName string) (network.NICFilter, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, ok := d.Filters[hostName]
	return f, ok
}

func (d *Driver) SetPortIsolation(ctx context.Context, hostName string, on bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.Isolated[hostName] = on
	return nil
}

func (d *Driver) SetPortHairpin(ctx context.Context, n network.Network, hostName string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.Hairpin[hostName] = len(n.Forwards) > 0
	return nil
}

// Flags returns a port's isolated and hairpin flags.
func (d *Driver) Flags(hostName string) (isolated, hairpin bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.Isolated[hostName], d.Hairpin[hostName]
}

func (d *Driver) SetNICLimits(ctx context.Context, hostName string, l network.NICLimits) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if l == (network.NICLimits{}) {
		delete(d.Limits, hostName)
	} else {
		d.Limits[hostName] = l
	}
	return nil
}

func (d *Driver) LimitedNICs(ctx context.Context) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for h, l := range d.Limits {
		if l.Egress > 0 {
			out = append(out, h)
		}
	}
	return out, nil
}

// Limit returns the limits in force on a host interface.
func (d *Driver) Limit(hostName string) network.NICLimits {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.Limits[hostName]
}

func (d *Driver) SetupRouted(ctx context.Context, r network.RoutedNIC) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.FailRouted != nil {
		return d.FailRouted
	}
	d.Routed[r.HostName] = r
	return nil
}

func (d *Driver) TeardownRouted(ctx context.Context, r network.RoutedNIC) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.Routed, r.HostName)
	return nil
}

// RoutedNIC returns a routed NIC's setup, if it is set up.
func (d *Driver) RoutedNIC(hostName string) (network.RoutedNIC, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.Routed[hostName]
	return r, ok
}
