package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"

	"lodge/api"
	"lodge/errdefs"
	"lodge/network"
	"lodge/server/db"
)

// Network forwards (LXD 5.0's /1.0/networks/NAME/forwards): DNAT of a
// listen address on the host to instances on a managed network, rendered
// into the network's nftables tables by the driver's Ensure. A forward is
// checked (network.ValidateForward) before it is stored, and a change the
// host refuses is undone in the database and on the host.

// NetworkForwardURL is a forward's URL.
func NetworkForwardURL(network, listen string) string {
	return NetworkURL(network) + "/forwards/" + listen
}

func toForward(f db.NetworkForward) network.Forward {
	out := network.Forward{ListenAddress: f.ListenAddress, Description: f.Description, Config: f.Config}
	for _, p := range f.Ports {
		out.Ports = append(out.Ports, network.ForwardPort{Description: p.Description, Protocol: p.Protocol,
			ListenPort: p.ListenPort, TargetPort: p.TargetPort, TargetAddress: p.TargetAddress})
	}
	return out
}

// networkForwards are a network's forwards as the driver takes them.
func (d *Daemon) networkForwards(ctx context.Context, name string) ([]network.Forward, error) {
	rows, err := d.db.ListNetworkForwards(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]network.Forward, 0, len(rows))
	for _, f := range rows {
		out = append(out, toForward(f))
	}
	return out, nil
}

// canonicalListen is a listen address as stored: net.IP's spelling, so
// that 2001:db8::0:1 and 2001:db8::1 are one forward.
func canonicalListen(s string) string {
	if ip := net.ParseIP(s); ip != nil {
		return ip.String()
	}
	return s
}

// checkForward validates f for network n, with the network's other
// forwards, and refuses a listen address another network forwards.
func (d *Daemon) checkForward(ctx context.Context, n db.Network, cfg map[string]string, f db.NetworkForward) error {
	all, err := d.db.ListNetworkForwards(ctx, "")
	if err != nil {
		return err
	}
	var others []network.Forward
	for _, o := range all {
		switch {
		case o.Network == n.Name && o.ListenAddress != f.ListenAddress:
			others = append(others, toForward(o))
		case o.Network != n.Name && o.ListenAddress == f.ListenAddress:
			return errdefs.Invalidf("forward %s: network %q forwards that listen address already (lodge network forward list %s)", f.ListenAddress, o.Network, o.Network)
		}
	}
	if err := network.ValidateForward(cfg, toForward(f), others); err != nil {
		return errdefs.Invalidf("network %q: %v", n.Name, err)
	}
	return nil
}

// checkForwardsFit refuses a network config its forwards no longer fit
// (a target outside a new subnet, a family removed).
func (d *Daemon) checkForwardsFit(ctx context.Context, n db.Network, cfg map[string]string) error {
	fwds, err := d.db.ListNetworkForwards(ctx, n.Name)
	if err != nil {
		return err
	}
	for _, f := range fwds {
		if err := d.checkForward(ctx, n, cfg, f); err != nil {
			return errdefs.Invalidf("%v; change or delete the forward first (lodge network forward edit %s %s)", err, n.Name, f.ListenAddress)
		}
	}
	return nil
}

// NetworkForwards lists a network's forwards.
func (d *Daemon) NetworkForwards(ctx context.Context, name string) ([]db.NetworkForward, error) {
	if err := d.needNetworks(); err != nil {
		return nil, err
	}
	n, err := d.getNetwork(ctx, name)
	if err != nil {
		return nil, err
	}
	return d.db.ListNetworkForwards(ctx, n.Name)
}

// NetworkForward reads one forward of a network.
func (d *Daemon) NetworkForward(ctx context.Context, name, listen string) (db.NetworkForward, error) {
	if err := d.needNetworks(); err != nil {
		return db.NetworkForward{}, err
	}
	n, err := d.getNetwork(ctx, name)
	if err != nil {
		return db.NetworkForward{}, err
	}
	return d.getForward(ctx, n.Name, listen)
}

func (d *Daemon) getForward(ctx context.Context, name, listen string) (db.NetworkForward, error) {
	f, err := d.db.GetNetworkForward(ctx, name, canonicalListen(listen))
	if errors.Is(err, db.ErrNotFound) {
		return f, errdefs.NotFoundf("network %q has no forward %s (lodge network forward list %s)", name, listen, name)
	}
	return f, err
}

func forwardPorts(ps []api.NetworkForwardPort) []db.ForwardPort {
	var out []db.ForwardPort
	for _, p := range ps {
		out = append(out, db.ForwardPort{Description: p.Description, Protocol: p.Protocol, ListenPort: p.ListenPort,
			TargetPort: p.TargetPort, TargetAddress: canonicalListen(p.TargetAddress)})
	}
	return out
}

// applyForwards renders the network's tables again after a forward
// changed; undo puts the database back if the host refuses.
func (d *Daemon) applyForwards(ctx context.Context, n db.Network, undo func(context.Context) error) error {
	if err := d.ensureNetwork(ctx, n); err != nil {
		bg := context.WithoutCancel(ctx)
		if uerr := undo(bg); uerr != nil {
			d.log.Error("network forward: could not undo a refused change", "network", n.Name, "err", uerr)
		}
		_ = d.ensureNetwork(bg, n)
		return fmt.Errorf("network %q: %w; the forwards are as before", n.Name, err)
	}
	return nil
}

// CreateNetworkForward adds a forward to a managed network and returns it
// as stored.
func (d *Daemon) CreateNetworkForward(ctx context.Context, name string, req api.NetworkForwardsPost) (db.NetworkForward, error) {
	if err := d.needNetworks(); err != nil {
		return db.NetworkForward{}, err
	}
	d.nets.mu.Lock()
	defer d.nets.mu.Unlock()
	n, err := d.getNetwork(ctx, name)
	if err != nil {
		return db.NetworkForward{}, err
	}
	f := db.NetworkForward{Network: n.Name, ListenAddress: canonicalListen(req.ListenAddress), Description: req.Description,
		Config: maps.Clone(req.Config), Ports: forwardPorts(req.Ports)}
	if f.Config == nil {
		f.Config = map[string]string{}
	}
	if t := f.Config["target_address"]; t != "" {
		f.Config["target_address"] = canonicalListen(t)
	}
	if _, err := d.db.GetNetworkForward(ctx, n.Name, f.ListenAddress); err == nil {
		return db.NetworkForward{}, errdefs.Existsf("network %q: forward %s already exists", n.Name, f.ListenAddress)
	}
	if err := d.checkForward(ctx, n, n.Config, f); err != nil {
		return db.NetworkForward{}, err
	}
	if err := d.db.CreateNetworkForward(ctx, f); err != nil {
		if errors.Is(err, db.ErrExists) {
			return db.NetworkForward{}, errdefs.Existsf("forward %s already exists", f.ListenAddress)
		}
		return db.NetworkForward{}, err
	}
	if err := d.applyForwards(ctx, n, func(ctx context.Context) error { return d.db.DeleteNetworkForward(ctx, n.Name, f.ListenAddress) }); err != nil {
		return db.NetworkForward{}, err
	}
	d.events.lifecycle("network-forward-created", NetworkForwardURL(n.Name, f.ListenAddress), nil)
	return f, nil
}

// UpdateNetworkForward replaces (or with u.Patch merges: config keys
// merged, ports replaced when given) a forward's description, config
// and ports.
func (d *Daemon) UpdateNetworkForward(ctx context.Context, name, listen string, req api.NetworkForwardPut, u Update) error {
	if err := d.needNetworks(); err != nil {
		return err
	}
	d.nets.mu.Lock()
	defer d.nets.mu.Unlock()
	n, err := d.getNetwork(ctx, name)
	if err != nil {
		return err
	}
	old, err := d.getForward(ctx, n.Name, listen)
	if err != nil {
		return err
	}
	if err := u.check(old); err != nil {
		return err
	}
	f := old
	f.Config = map[string]string{}
	if u.Patch {
		maps.Copy(f.Config, old.Config)
	}
	maps.Copy(f.Config, req.Config)
	if t := f.Config["target_address"]; t != "" {
		f.Config["target_address"] = canonicalListen(t)
	}
	if !u.Patch || req.Ports != nil {
		f.Ports = forwardPorts(req.Ports)
	}
	if !u.Patch || req.Description != "" {
		f.Description = req.Description
	}
	if err := d.checkForward(ctx, n, n.Config, f); err != nil {
		return err
	}
	if err := d.db.UpdateNetworkForward(ctx, f); err != nil {
		return err
	}
	if err := d.applyForwards(ctx, n, func(ctx context.Context) error { return d.db.UpdateNetworkForward(ctx, old) }); err != nil {
		return err
	}
	d.events.lifecycle("network-forward-updated", NetworkForwardURL(n.Name, f.ListenAddress), nil)
	return nil
}

// DeleteNetworkForward removes a forward.
func (d *Daemon) DeleteNetworkForward(ctx context.Context, name, listen string) error {
	if err := d.needNetworks(); err != nil {
		return err
	}
	d.nets.mu.Lock()
	defer d.nets.mu.Unlock()
	n, err := d.getNetwork(ctx, name)
	if err != nil {
		return err
	}
	old, err := d.getForward(ctx, n.Name, listen)
	if err != nil {
		return err
	}
	if err := d.db.DeleteNetworkForward(ctx, n.Name, old.ListenAddress); err != nil {
		return err
	}
	if err := d.applyForwards(ctx, n, func(ctx context.Context) error { return d.db.CreateNetworkForward(ctx, old) }); err != nil {
		return err
	}
	d.events.lifecycle("network-forward-deleted", NetworkForwardURL(n.Name, old.ListenAddress), nil)
	return nil
}
