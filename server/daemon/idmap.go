package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"lodge/errdefs"
	"lodge/idmap"
	"lodge/instances"
	"lodge/server/db"
	"lodge/trace"
)

// Unprivileged containers: every instance's root runs as a host id from
// root's subordinate range unless security.privileged=true. Image volumes
// are shifted to the shared map once when unpacked (so that cheap clones,
// overlay included, need no shift); an instance's rootfs is shifted again
// only when its map differs (isolated or privileged instances, or an
// instance made before lodge shifted its images).

// idmapBaseKey records an isolated instance's host uid base.
const idmapBaseKey = "volatile.idmap.base"

// sharedMap is the map of non-isolated containers (the identity when lodged
// runs without subordinate ids, as in handler tests).
func (d *Daemon) sharedMap() idmap.Map {
	if d.idRanges == nil {
		return idmap.Privileged
	}
	return d.idRanges.Shared()
}

// instanceMap is the id map an (expanded) instance runs with.
func (d *Daemon) instanceMap(in Expanded) (idmap.Map, error) {
	if d.idRanges == nil || instances.IsTrue(in.Config["security.privileged"]) {
		return idmap.Privileged, nil
	}
	if instances.IsTrue(in.Config["security.idmap.isolated"]) {
		base, err := strconv.ParseInt(in.Config[idmapBaseKey], 10, 64)
		if err != nil {
			return idmap.Map{}, fmt.Errorf("instance %q: security.idmap.isolated is set but %s is %q", in.Name, idmapBaseKey, in.Config[idmapBaseKey])
		}
		slot := (base - d.idRanges.UID.Start) / idmap.Size
		return d.idRanges.Isolated(slot), nil
	}
	return d.idRanges.Shared(), nil
}

// idmapEntries renders a map for the runtime (none for the identity).
func idmapEntries(m idmap.Map) []instances.IDMapEntry {
	if m.IsIdentity() {
		return nil
	}
	return []instances.IDMapEntry{
		{IsUID: true, NSID: 0, HostID: m.UIDBase, Range: idmap.Size},
		{IsGID: true, NSID: 0, HostID: m.GIDBase, Range: idmap.Size},
	}
}

// allocateIsolated picks a free isolated range for a new instance and
// records it in cfg; the caller holds s.idmapMu until the row is stored.
func (d *Daemon) allocateIsolated(ctx context.Context, cfg map[string]string, profiles []string) error {
	if d.idRanges == nil {
		return nil
	}
	x := d.mustExpand(ctx, db.Instance{Config: cfg, Profiles: profiles})
	if !instances.IsTrue(x.Config["security.idmap.isolated"]) || instances.IsTrue(x.Config["security.privileged"]) {
		return nil
	}
	list, err := d.db.ListInstances(ctx)
	if err != nil {
		return err
	}
	used := map[int64]bool{}
	for _, in := range list {
		if b, err := strconv.ParseInt(in.Config[idmapBaseKey], 10, 64); err == nil {
			used[(b-d.idRanges.UID.Start)/idmap.Size] = true
		}
	}
	slot, err := d.idRanges.FreeSlot(used)
	if err != nil {
		return errdefs.Invalidf("security.idmap.isolated: %v", err)
	}
	cfg[idmapBaseKey] = strconv.FormatInt(d.idRanges.Isolated(slot).UIDBase, 10)
	return nil
}

// shiftImageVolume gives a freshly unpacked image rootfs the shared map;
// it is called once per image volume, inside the pool's staging step.
func (d *Daemon) shiftImageVolume(rootfs string) error {
	if err := idmap.Shift(rootfs, idmap.Privileged, d.sharedMap()); err != nil {
		return fmt.Errorf("shift the image's ownership into the container id range: %w", err)
	}
	return nil
}

// ensureRootfsMap brings an instance's rootfs to the map it runs with
// (idmap.Reshift): at creation, and before every start, so that a change
// of security.privileged or security.idmap.* made while it was stopped
// applies. The shift is crash-safe: one a SIGKILL cut short resumes here
// at the next start. security.protection.shift refuses a start that
// would shift.
func (d *Daemon) ensureRootfsMap(ctx context.Context, in db.Instance) error {
	defer trace.Step(ctx, "idmap: check or shift the rootfs")()
	x := d.mustExpand(ctx, in)
	want, err := d.instanceMap(x)
	if err != nil {
		return err
	}
	rootfs, err := d.instanceRootfs(ctx, in)
	if err != nil {
		return err
	}
	dir := filepath.Dir(rootfs)
	if !want.IsIdentity() {
		// The container's root must be able to reach its rootfs.
		if err := os.Chmod(dir, 0o711); err != nil {
			return err
		}
	}
	cur, err := idmap.Current(rootfs)
	if err != nil {
		return err
	}
	_, pending := os.Stat(filepath.Join(dir, idmap.ShiftMarker))
	if cur == want && pending != nil {
		return nil
	}
	if in.Phase == db.PhaseCreated && instances.IsTrue(x.Config["security.protection.shift"]) {
		return errdefs.Invalidf("instance %q: its root filesystem must be shifted to the id map it now runs with (security.privileged or security.idmap.* changed), but security.protection.shift is true; unset it to allow the shift", in.Name)
	}
	d.log.Info("shifting instance rootfs ownership", "instance", in.Name, "from", cur.UIDBase, "to", want.UIDBase, "resuming", pending == nil)
	if _, err := idmap.Reshift(rootfs, want); err != nil {
		return fmt.Errorf("instance %q: shift rootfs ownership (start it again to resume): %w", in.Name, err)
	}
	return nil
}

// idmapKeysDiffer tells whether two expanded configs own the rootfs
// differently.
func idmapKeysDiffer(a, b map[string]string) bool {
	for _, k := range []string{"security.privileged", "security.idmap.isolated"} {
		if instances.IsTrue(a[k]) != instances.IsTrue(b[k]) {
			return true
		}
	}
	return a[idmapBaseKey] != b[idmapBaseKey]
}

// checkIDMapChange refuses a change of how the rootfs is owned on a
// running instance (it is re-shifted at the next start, which needs it
// stopped), and an isolation a profile turns on for an instance that has
// no range of its own yet.
func (d *Daemon) checkIDMapChange(ctx context.Context, oldX, newX Expanded) error {
	if !idmapKeysDiffer(oldX.Config, newX.Config) {
		return nil
	}
	if st := d.liveStatus(ctx, newX.Instance); st == instances.StatusRunning || st == instances.StatusFrozen {
		return errdefs.Invalidf("instance %q is running: security.privileged and security.idmap.* change who owns its files, which is applied (its root filesystem re-shifted) at its next start; stop it first (lodge stop %s), change it, then start it", newX.Name, newX.Name)
	}
	if d.idRanges != nil && instances.IsTrue(newX.Config["security.idmap.isolated"]) && !instances.IsTrue(newX.Config["security.privileged"]) && newX.Config[idmapBaseKey] == "" {
		return errdefs.Invalidf("instance %q: security.idmap.isolated from a profile needs an id range of its own for the instance: set it on the instance (lodge config set %s security.idmap.isolated true)", newX.Name, newX.Name)
	}
	return nil
}

// reconcileIsolation gives next an isolated id range if its new config
// asks for one it lacks, or frees the one it no longer uses; the returned
// function releases the allocation lock once the row is stored.
func (d *Daemon) reconcileIsolation(ctx context.Context, next *db.Instance) (func(), error) {
	if d.idRanges == nil {
		return func() {}, nil
	}
	x := d.mustExpand(ctx, *next)
	want := instances.IsTrue(x.Config["security.idmap.isolated"]) && !instances.IsTrue(x.Config["security.privileged"])
	has := next.Config[idmapBaseKey] != ""
	switch {
	case want && !has:
		d.idmapMu.Lock()
		if err := d.allocateIsolated(ctx, next.Config, next.Profiles); err != nil {
			d.idmapMu.Unlock()
			return nil, err
		}
		return d.idmapMu.Unlock, nil
	case !want && has:
		delete(next.Config, idmapBaseKey)
	}
	return func() {}, nil
}

// fileIDMap is the map the files API translates owners with.
func (d *Daemon) fileIDMap(ctx context.Context, name string) idmap.Map {
	in, err := d.db.GetInstance(ctx, name)
	if err != nil {
		return idmap.Privileged
	}
	m, err := d.instanceMap(d.mustExpand(ctx, in))
	if err != nil {
		return idmap.Privileged
	}
	return m
}
