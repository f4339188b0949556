package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"lodge/instances"
	"lodge/server/db"
	"lodge/storage"
)

// Recover reconciles the database with the runtime after a start: rows a
// crash left in phase "creating" are rolled back, operations it left
// running are marked failed; running containers need nothing, since their
// status is always read live from liblxc.
func (d *Daemon) Recover(ctx context.Context) { d.recover(ctx) }

// instView is the instances with their run status, read once for the
// steps of a start (nothing else changes them before lodged serves): with
// a thousand instances, each read of them all costs tens of milliseconds.
type instView struct {
	list []db.Instance
	sts  []instances.Status
}

// instancesNow is v, or when v is nil (a step run outside a start), the
// instances and their status read now.
func (d *Daemon) instancesNow(ctx context.Context, v *instView) (*instView, error) {
	if v != nil {
		return v, nil
	}
	list, err := d.db.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	return &instView{list: list, sts: d.statuses(ctx, list)}, nil
}

// recover is Recover, which returns the instances left once it is done.
func (d *Daemon) recover(ctx context.Context) *instView {
	interrupted := d.failInterruptedOps(ctx)
	for name, p := range d.pools.all() {
		if err := d.poolOwned(name, p); err != nil {
			// An older lodge took any directory as a source: what looks
			// like a staging leftover or an orphan there may not be lodge's.
			d.log.Warn("recovery: storage pool without this lodged's marker; its leftovers and orphan volumes are not swept", "pool", name, "why", err)
			continue
		}
		if c, ok := p.(interface{ Cleanup() }); ok {
			c.Cleanup()
		}
	}
	list, err := d.db.ListInstances(ctx)
	if err != nil {
		d.log.Error("recovery: list instances", "err", err)
		return nil
	}
	// Deletes a killed lodged had begun: one read of the marker directory,
	// not a stat per instance.
	deleting := map[string]bool{}
	if ents, err := os.ReadDir(filepath.Dir(d.deleteMarker("x"))); err == nil {
		for _, e := range ents {
			deleting[e.Name()] = true
		}
	}
	known := map[string]bool{}
	var kept []db.Instance
	for _, in := range list {
		known[in.Name] = true
		if deleting[in.Name] {
			d.log.Warn("recovery: finishing the delete of an instance a crash interrupted", "instance", in.Name)
			if err := d.removeInstance(ctx, in); err != nil {
				d.log.Error("recovery: could not finish deleting an instance; delete it again", "instance", in.Name, "err", err)
				kept = append(kept, in) // its row and volume stay
			}
			continue
		}
		if in.Phase == db.PhaseCreating || in.Config[migrationIncompleteKey] != "" {
			// A create, copy or incoming migration (a new instance or a
			// refresh, whose volume is then a mix of two states) cut short.
			d.log.Warn("recovery: removing instance left half-created by a crash", "instance", in.Name, "migration", in.Config[migrationIncompleteKey] != "")
			_ = d.inst.Delete(ctx, in.Name)
			if p, err := d.instancePool(in); err == nil {
				_ = p.Delete(ctx, storage.Volume{Kind: storage.KindContainer, Name: in.Name})
			}
			if err := d.db.DeleteInstance(ctx, in.Name); err != nil {
				kept = append(kept, in)
			}
			continue
		}
		kept = append(kept, in)
	}
	// Markers of deletes that got as far as the row: only the runtime
	// config can be left (volumes without a row are swept just below).
	for name := range deleting {
		if !known[name] {
			_ = d.inst.Delete(ctx, name)
			os.Remove(d.deleteMarker(name))
		}
	}
	d.sweepOrphans(ctx, kept)
	d.sweepBackups(ctx)
	d.thawLeftFrozen(ctx)
	// One batch: a stopped instance costs a look at its directory, not a
	// liblxc handle (a config parse) each.
	v := &instView{list: kept, sts: d.statuses(ctx, kept)}
	d.deleteStoppedEphemerals(ctx, v)
	running := 0
	for _, st := range v.sts {
		if st == instances.StatusRunning {
			running++
		}
	}
	names, err := d.inst.List(ctx)
	if err == nil {
		for _, n := range names {
			if !known[n] {
				d.log.Warn("recovery: runtime has a container lodge has no record of; leaving it alone", "container", n)
			}
		}
	}
	d.log.Info("recovery done", "instances", len(v.list), "running", running, "operations_marked_failed", interrupted)
	return v
}

// sweepOrphans deletes volumes no record points at: what a crash between
// making a volume and recording it (snapshot, pool move) left on disk.
func (d *Daemon) sweepOrphans(ctx context.Context, list []db.Instance) {
	owner := map[string]string{}
	for _, in := range list {
		p := in.Pool
		if p == "" {
			p = d.poolName
		}
		owner[in.Name] = p
	}
	for poolName, pool := range d.pools.all() {
		if d.poolOwned(poolName, pool) != nil {
			continue // said in Recover
		}
		vols, err := pool.Volumes(storage.KindContainer)
		if err != nil {
			continue
		}
		for _, v := range vols {
			parent, snap := v.Split()
			if owner[parent.Name] == poolName {
				if snap == "" {
					continue
				}
				if _, err := d.db.GetSnapshot(ctx, parent.Name, snap); err == nil || !errors.Is(err, db.ErrNotFound) {
					continue
				}
			}
			d.log.Warn("recovery: removing a volume no instance or snapshot record points at", "pool", poolName, "volume", v.Name)
			_ = pool.Delete(ctx, v)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(d.cfg.Dir, ".publish-*"))
	for _, l := range leftovers {
		os.RemoveAll(l)
	}
}
