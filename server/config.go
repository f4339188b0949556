package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"lodge/instances"
	"lodge/server/db"
)

// expand returns in with its config and devices expanded: each of its
// profiles in order, then its own keys on top (LXD's rule).
func (s *Server) expand(ctx context.Context, in db.Instance) (db.Instance, error) {
	cfg := map[string]string{}
	devs := map[string]map[string]string{}
	profiles, err := s.profilesOf(ctx, in.Profiles)
	if err != nil {
		return in, err
	}
	for _, p := range profiles {
		maps.Copy(cfg, p.Config)
		for k, d := range p.Devices {
			devs[k] = d
		}
	}
	maps.Copy(cfg, in.Config)
	for k, d := range in.Devices {
		devs[k] = d
	}
	out := in
	out.Config, out.Devices = cfg, devs
	return out, nil
}

// mustExpand is expand for paths that cannot fail the request on a broken
// profile reference: the instance's own config is used then.
func (s *Server) mustExpand(ctx context.Context, in db.Instance) db.Instance {
	out, err := s.expand(ctx, in)
	if err != nil {
		s.log.Warn("expanding instance config", "instance", in.Name, "err", err)
		return in
	}
	return out
}

// applyConfig makes a changed instance definition (its own config or one of
// its profiles) take effect: the runtime config is re-rendered first, so
// liblxc checks raw.lxc and the limits before anything is stored, then
// store runs (the database write), then live keys reach a running
// container's cgroups at once. On failure nothing is changed.
func (s *Server) applyConfig(ctx context.Context, old, next db.Instance, store func() error) error {
	if next.Phase != db.PhaseCreated {
		return store()
	}
	oldX, err := s.expand(ctx, old)
	if err != nil {
		return err
	}
	newX, err := s.expand(ctx, next)
	if err != nil {
		return err
	}
	if lu, ok := s.inst.(instances.LimitsUpdater); ok {
		if err := lu.CheckLimits(newX.Config); err != nil {
			return badRequestErr(next.Name, err)
		}
	}
	if err := s.refuseOnceOnly(oldX.Config, newX.Config); err != nil {
		return err
	}
	spec, err := s.specFor(newX)
	if err != nil {
		return err
	}
	if err := s.inst.Define(ctx, spec); err != nil {
		return badRequestErr(next.Name, err)
	}
	if err := store(); err != nil {
		if spec, err := s.specFor(oldX); err == nil {
			_ = s.inst.Define(context.WithoutCancel(ctx), spec)
		}
		return err
	}
	st := s.liveStatus(ctx, next)
	if st != instances.StatusRunning && st != instances.StatusFrozen {
		return nil
	}
	if lu, ok := s.inst.(instances.LimitsUpdater); ok && limitsChanged(oldX.Config, newX.Config) {
		if err := lu.UpdateLimits(ctx, next.Name, newX.Config); err != nil {
			return fmt.Errorf("instance %q: the config is saved but applying the limits to the running instance failed (they apply at its next start): %w", next.Name, err)
		}
	}
	return nil
}

// onceOnlyKeys decide how the rootfs is owned; they are fixed at creation.
var onceOnlyKeys = []string{"security.privileged", "security.idmap.isolated"}

func (s *Server) refuseOnceOnly(old, next map[string]string) error {
	for _, k := range onceOnlyKeys {
		if instances.IsTrue(old[k]) != instances.IsTrue(next[k]) {
			return badRequest("%s cannot change on an existing instance: its root filesystem's ownership was set for it at creation; create a new instance with -c %s=%v (and copy its data over)",
				k, k, instances.IsTrue(next[k]))
		}
	}
	return nil
}

func limitsChanged(a, b map[string]string) bool {
	for k := range instances.Keys {
		if len(k) > 7 && k[:7] == "limits." && a[k] != b[k] {
			return true
		}
	}
	return false
}

// badRequestErr turns a validation failure into a 400, other errors pass.
func badRequestErr(_ string, err error) error {
	if errors.Is(err, instances.ErrInvalid) {
		return badRequest("%v", err)
	}
	return err
}

// refuseVolatileWrites refuses a client's change to volatile.* keys: they
// are lodged's own record (MAC addresses, last power state, id maps).
func refuseVolatileWrites(old, next map[string]string) error {
	for k, v := range next {
		if strings.HasPrefix(k, "volatile.") && old[k] != v {
			return badRequest("config key %q: volatile.* keys are lodged's own and cannot be set", k)
		}
	}
	for k := range old {
		if _, ok := next[k]; strings.HasPrefix(k, "volatile.") && !ok {
			return badRequest("config key %q: volatile.* keys are lodged's own and cannot be removed", k)
		}
	}
	return nil
}

// profileData is a profile's contribution to an expanded instance.
type profileData struct {
	Config  map[string]string
	Devices map[string]map[string]string
}

func (s *Server) profilesOf(ctx context.Context, names []string) ([]profileData, error) {
	return nil, nil
}

// StoppedInstances tells, after Run returned, whether it stopped every
// instance (lodged shutdown) rather than leaving them running.
func (s *Server) StoppedInstances() bool { return s.stoppedAll }
