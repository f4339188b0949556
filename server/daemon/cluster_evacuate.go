package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"

	"lodge/api"
	"lodge/errdefs"
	"lodge/server/db"
	"lodge/server/operations"
)

// Evacuating a member for maintenance and restoring it (LXD's POST
// /1.0/cluster/members/{name}/state with action evacuate or restore).
//
// Evacuate marks the member EVACUATED (placement passes it over, moves to
// it are refused), then deals with each of its instances by the request's
// mode, else the instance's cluster.evacuate:
//   - migrate (and auto: every instance's volume moves by migration here)
//     stops it if it runs, moves it to the online member with the fewest
//     instances, and starts it there if it ran;
//   - stop stops it where it is, if it runs.
//
// Either way an instance the evacuation touched carries
// volatile.evacuate.origin=MEMBER. Restore marks the member ONLINE, then
// brings each such instance home (stopped first if it runs elsewhere,
// started at home if it ran) and starts those stopped in place.
//
// The steps go through the members' API (each instance's own member
// stops, moves and starts it), so any member can run an evacuation. An
// ephemeral instance is left where it is (a stop would delete it): the
// evacuation says so and fails, the member stays EVACUATED.

// ChangeMemberState is POST /1.0/cluster/members/{name}/state.
func (d *Daemon) ChangeMemberState(ctx context.Context, name string, req api.ClusterMemberStatePost) (*operations.Op, error) {
	if !d.db.Clustered() {
		return nil, errdefs.Invalidf("this server is not clustered")
	}
	switch req.Mode {
	case "", "auto", "migrate", "stop":
	case "live-migrate":
		return nil, errdefs.Invalidf("evacuation mode live-migrate is not supported: lodge moves instances stopped (mode migrate, stop or auto)")
	default:
		return nil, errdefs.Invalidf("unknown evacuation mode %q (auto, migrate, stop)", req.Mode)
	}
	m, err := d.ClusterMember(ctx, name)
	if err != nil {
		return nil, err
	}
	switch req.Action {
	case "evacuate":
		return d.evacuate(ctx, m, req.Mode)
	case "restore":
		return d.restore(ctx, m)
	}
	return nil, errdefs.Invalidf("unknown action %q: evacuate or restore", req.Action)
}

func memberResources(name string) map[string][]string {
	return map[string][]string{"cluster": {"/1.0/cluster/members/" + name}}
}

func (d *Daemon) evacuate(ctx context.Context, m Member, mode string) (*operations.Op, error) {
	switch m.Status {
	case "Evacuated":
		return nil, errdefs.Conflictf("cluster member %q is evacuated already (lodge cluster restore %s brings it back)", m.Name, m.Name)
	case "Offline":
		return nil, errdefs.Conflictf("cluster member %q is offline: its instances cannot be stopped or moved; bring it back first", m.Name)
	case "Pending":
		return nil, errdefs.Conflictf("cluster member %q is still joining", m.Name)
	}
	if _, err := d.evacuationTarget(ctx, m.ID); err != nil {
		return nil, errdefs.Conflictf("cluster member %q cannot be evacuated: no other member is online to take its instances", m.Name)
	}
	if err := d.db.SetNodeState(ctx, m.ID, db.NodeEvacuated); err != nil {
		return nil, err
	}
	d.log.Info("cluster member evacuating", "member", m.Name, "mode", mode)
	spec := operations.Spec{Description: "Evacuating cluster member", Resources: memberResources(m.Name)}
	return d.ops.Start(spec, func(ctx context.Context, op *operations.Op) error {
		list, err := d.db.ListInstancesOn(ctx, m.ID)
		if err != nil {
			return err
		}
		var errs []error
		for i, in := range list {
			op.SetMetadata("evacuation_progress", fmt.Sprintf("%s (%d of %d)", in.Name, i+1, len(list)))
			if err := d.evacuateInstance(ctx, m.Node, in, mode); err != nil {
				errs = append(errs, err)
			}
		}
		d.events.lifecycle("cluster-member-evacuated", "/1.0/cluster/members/"+m.Name, nil)
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("cluster member %q is evacuated, but: %w", m.Name, err)
		}
		return nil
	}), nil
}

// evacuateInstance stops in (on member from) and, in migrate mode, moves
// it to another member and starts it there if it ran.
func (d *Daemon) evacuateInstance(ctx context.Context, from db.Node, in db.Instance, mode string) error {
	if mode == "" {
		x, err := d.expand(ctx, in)
		if err != nil {
			return err
		}
		mode = x.Config["cluster.evacuate"]
	}
	status, err := d.memberInstanceStatus(ctx, from.Address, in.Name)
	if err != nil {
		return fmt.Errorf("instance %q: %w", in.Name, err)
	}
	running := status == "Running" || status == "Frozen"
	if in.Ephemeral && running {
		return fmt.Errorf("ephemeral instance %q is left running on %q: a stop would delete it; stop or delete it yourself", in.Name, from.Name)
	}
	if mode == "stop" && !running {
		return nil
	}
	if err := d.db.SetInstanceConfigKey(ctx, in.Name, evacuateOriginKey, from.Name); err != nil {
		return err
	}
	if running {
		if err := d.memberStop(ctx, from.Address, in.Name); err != nil {
			_ = d.db.SetInstanceConfigKey(ctx, in.Name, evacuateOriginKey, "")
			return fmt.Errorf("instance %q: stop: %w", in.Name, err)
		}
	}
	if mode == "stop" {
		return nil
	}
	to, err := d.evacuationTarget(ctx, from.ID)
	if err == nil {
		err = d.memberMove(ctx, from.Address, in.Name, to.Name)
	}
	if err != nil {
		// It stays: as it was.
		_ = d.db.SetInstanceConfigKey(ctx, in.Name, evacuateOriginKey, "")
		if running {
			if serr := d.memberStart(ctx, from.Address, in.Name); serr != nil {
				err = errors.Join(err, fmt.Errorf("start it again on %q: %w", from.Name, serr))
			}
		}
		return fmt.Errorf("instance %q stays on %q: %w", in.Name, from.Name, err)
	}
	if running {
		if err := d.memberStart(ctx, to.Address, in.Name); err != nil {
			return fmt.Errorf("instance %q moved to %q, but did not start there: %w", in.Name, to.Name, err)
		}
	}
	d.log.Info("evacuated instance", "instance", in.Name, "from", from.Name, "to", to.Name, "running", running)
	return nil
}

func (d *Daemon) restore(ctx context.Context, m Member) (*operations.Op, error) {
	away, err := d.evacuatedFrom(ctx, m.Name)
	if err != nil {
		return nil, err
	}
	switch {
	case m.Status == "Offline":
		return nil, errdefs.Conflictf("cluster member %q is offline: bring it back before restoring it", m.Name)
	case m.Status != "Evacuated" && len(away) == 0:
		// An online member whose restore left some behind restores again.
		return nil, errdefs.Invalidf("cluster member %q is not evacuated (it is %s)", m.Name, m.Status)
	}
	if err := d.db.SetNodeState(ctx, m.ID, db.NodeCreated); err != nil {
		return nil, err
	}
	d.log.Info("cluster member restoring", "member", m.Name)
	spec := operations.Spec{Description: "Restoring cluster member", Resources: memberResources(m.Name)}
	return d.ops.Start(spec, func(ctx context.Context, op *operations.Op) error {
		away, err := d.evacuatedFrom(ctx, m.Name)
		if err != nil {
			return err
		}
		var errs []error
		for _, a := range away {
			op.SetMetadata("evacuation_progress", a.in.Name)
			if err := d.restoreInstance(ctx, m.Node, a.at, a.in); err != nil {
				errs = append(errs, err)
			}
		}
		d.events.lifecycle("cluster-member-restored", "/1.0/cluster/members/"+m.Name, nil)
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("cluster member %q is online again, but: %w (lodge cluster restore %s tries those again)", m.Name, err, m.Name)
		}
		return nil
	}), nil
}

// evacuated is an instance an evacuation touched and the member it is on.
type evacuated struct {
	in db.Instance
	at db.Node
}

// evacuatedFrom lists the instances whose volatile.evacuate.origin is member.
func (d *Daemon) evacuatedFrom(ctx context.Context, member string) ([]evacuated, error) {
	nodes, err := d.db.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	var out []evacuated
	for _, n := range nodes {
		list, err := d.db.ListInstancesOn(ctx, n.ID)
		if err != nil {
			return nil, err
		}
		for _, in := range list {
			if in.Config[evacuateOriginKey] == member {
				out = append(out, evacuated{in: in, at: n})
			}
		}
	}
	return out, nil
}

// restoreInstance brings in (on member at) home: started in place if the
// evacuation stopped it there, else stopped, moved home and started
// there if it runs.
func (d *Daemon) restoreInstance(ctx context.Context, home, at db.Node, in db.Instance) error {
	if at.ID == home.ID {
		if err := d.memberStart(ctx, home.Address, in.Name); err != nil {
			return fmt.Errorf("instance %q: start: %w", in.Name, err)
		}
		return d.db.SetInstanceConfigKey(ctx, in.Name, evacuateOriginKey, "")
	}
	status, err := d.memberInstanceStatus(ctx, at.Address, in.Name)
	if err != nil {
		return fmt.Errorf("instance %q on %q: %w", in.Name, at.Name, err)
	}
	running := status == "Running" || status == "Frozen"
	if running {
		if err := d.memberStop(ctx, at.Address, in.Name); err != nil {
			return fmt.Errorf("instance %q on %q: stop: %w", in.Name, at.Name, err)
		}
	}
	if err := d.memberMove(ctx, at.Address, in.Name, home.Name); err != nil {
		if running {
			if serr := d.memberStart(ctx, at.Address, in.Name); serr != nil {
				err = errors.Join(err, fmt.Errorf("start it again on %q: %w", at.Name, serr))
			}
		}
		return fmt.Errorf("instance %q stays on %q: %w", in.Name, at.Name, err)
	}
	if err := d.db.SetInstanceConfigKey(ctx, in.Name, evacuateOriginKey, ""); err != nil {
		return err
	}
	if running {
		if err := d.memberStart(ctx, home.Address, in.Name); err != nil {
			return fmt.Errorf("instance %q is home on %q, but did not start: %w", in.Name, home.Name, err)
		}
	}
	return nil
}

// evacuationTarget is the online, not evacuated member other than
// exclude with the fewest instances (ties: the first by name).
func (d *Daemon) evacuationTarget(ctx context.Context, exclude int64) (db.Node, error) {
	nodes, err := d.db.Nodes(ctx)
	if err != nil {
		return db.Node{}, err
	}
	counts, err := d.db.NodeInstanceCounts(ctx)
	if err != nil {
		return db.Node{}, err
	}
	th := d.offlineThreshold(ctx)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	var best *db.Node
	for i := range nodes {
		n := &nodes[i]
		if n.ID == exclude || d.isOffline(*n, th) || n.State != db.NodeCreated {
			continue
		}
		if best == nil || counts[n.ID] < counts[best.ID] {
			best = n
		}
	}
	if best == nil {
		return db.Node{}, errdefs.Unavailablef("no other cluster member is online and not evacuated")
	}
	return *best, nil
}

func instanceAPIPath(name string) string { return "/1.0/instances/" + url.PathEscape(name) }

// memberInstanceStatus is an instance's status as its member at addr sees it.
func (d *Daemon) memberInstanceStatus(ctx context.Context, addr, name string) (string, error) {
	md, err := d.cl.transport.MemberDo(ctx, addr, "GET", instanceAPIPath(name)+"/state", nil)
	if err != nil {
		return "", err
	}
	var st api.InstanceState
	if err := json.Unmarshal(md, &st); err != nil {
		return "", err
	}
	return st.Status, nil
}

// memberStop stops an instance on its member: cleanly within its
// boot.host_shutdown_timeout, else killed.
func (d *Daemon) memberStop(ctx context.Context, addr, name string) error {
	_, err := d.cl.transport.MemberDo(ctx, addr, "PUT", instanceAPIPath(name)+"/state", api.InstanceStatePut{Action: "stop"})
	if err != nil {
		d.log.Warn("evacuation: a clean stop failed, killing the instance", "instance", name, "err", err)
		_, err = d.cl.transport.MemberDo(ctx, addr, "PUT", instanceAPIPath(name)+"/state", api.InstanceStatePut{Action: "stop", Force: true})
	}
	return err
}

func (d *Daemon) memberStart(ctx context.Context, addr, name string) error {
	_, err := d.cl.transport.MemberDo(ctx, addr, "PUT", instanceAPIPath(name)+"/state", api.InstanceStatePut{Action: "start"})
	return err
}

// memberMove asks the member at addr, which holds the instance, to move it
// to member target.
func (d *Daemon) memberMove(ctx context.Context, addr, name, target string) error {
	live := false
	_, err := d.cl.transport.MemberDo(ctx, addr, "POST", instanceAPIPath(name)+"?target="+url.QueryEscape(target),
		api.InstancePost{Name: name, Migration: true, Live: &live})
	return err
}
