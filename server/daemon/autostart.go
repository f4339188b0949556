package daemon

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"sync"
	"time"

	"lodge/instances"
	"lodge/server/db"
)

// lastStateKey records whether an instance was running, as LXD's
// volatile.last_state.power does: set to RUNNING when it is started, to
// STOPPED when a user stops it, and left RUNNING when lodged shuts it down
// with the host, so that it comes back at the next start.
const lastStateKey = "volatile.last_state.power"

// recordPower stores volatile.last_state.power; the caller holds the
// instance's lock.
func (d *Daemon) recordPower(ctx context.Context, name, state string) {
	in, err := d.db.GetInstance(ctx, name)
	if err != nil || in.Config[lastStateKey] == state {
		return
	}
	in.Config[lastStateKey] = state
	if err := d.db.UpdateInstance(ctx, in); err != nil {
		d.log.Warn("recording last power state", "instance", name, "err", err)
	}
}

func intKey(cfg map[string]string, k string) int {
	n, _ := strconv.Atoi(cfg[k])
	return n
}

// wantsAutostart: boot.autostart=true, or unset and running when the host
// went down; boot.autostart=false never.
func wantsAutostart(cfg map[string]string) bool {
	if v, ok := cfg["boot.autostart"]; ok && v != "" {
		return instances.IsTrue(v)
	}
	return cfg[lastStateKey] == "RUNNING"
}

// autostartParallel is how many instances autostart starts at once: a
// start is ~0.3 s of mostly liblxc and kernel work, so 1,000 one after
// another take minutes; a few at a time use the host's cores without
// crowding them.
const autostartParallel = 8

// autostart starts, once at daemon start, every stopped instance that wants
// it (wantsAutostart): higher boot.autostart.priority first, waiting
// boot.autostart.delay seconds after each that sets one; a run of
// instances of one priority without a delay starts autostartParallel at a
// time. It runs in the background so the API is up meanwhile.
func (d *Daemon) autostart(ctx context.Context) {
	list, err := d.db.ListInstances(ctx)
	if err != nil {
		d.log.Error("autostart: list instances", "err", err)
		return
	}
	expand := d.expander(ctx)
	var todo []Expanded
	for _, in := range list {
		if in.Phase != db.PhaseCreated {
			continue
		}
		if x := expand(in); wantsAutostart(x.Config) {
			todo = append(todo, x)
		}
	}
	sort.SliceStable(todo, func(i, j int) bool {
		return intKey(todo[i].Config, "boot.autostart.priority") > intKey(todo[j].Config, "boot.autostart.priority")
	})
	start := func(in Expanded) {
		if st := d.liveStatus(ctx, in.Instance); st != instances.StatusStopped {
			return
		}
		d.log.Info("autostart", "instance", in.Name, "priority", intKey(in.Config, "boot.autostart.priority"))
		if err := d.startInstance(ctx, in.Name); err != nil {
			d.log.Error("autostart failed", "instance", in.Name, "err", err)
		}
	}
	for i := 0; i < len(todo); {
		in := todo[i]
		if dur := intKey(in.Config, "boot.autostart.delay"); dur > 0 {
			start(in)
			i++
			select {
			case <-time.After(time.Duration(dur) * time.Second):
			case <-ctx.Done():
				return
			}
			continue
		}
		// The run of this priority without a delay, together.
		j := i + 1
		prio := intKey(in.Config, "boot.autostart.priority")
		for j < len(todo) && intKey(todo[j].Config, "boot.autostart.priority") == prio && intKey(todo[j].Config, "boot.autostart.delay") <= 0 {
			j++
		}
		bounded(todo[i:j], autostartParallel, start)
		if ctx.Err() != nil {
			return
		}
		i = j
	}
}

// bounded runs f on every item, at most n at a time, and waits for all.
func bounded[T any](items []T, n int, f func(T)) {
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(it)
		}()
	}
	wg.Wait()
}

// stopAllInstances shuts running instances down cleanly for lodged
// shutdown (or SIGPWR): higher boot.stop.priority first, those of equal
// priority in parallel, each within its boot.host_shutdown_timeout; they
// keep volatile.last_state.power=RUNNING, so they come back at next start;
// ephemeral ones are deleted.
func (d *Daemon) stopAllInstances(ctx context.Context) {
	list, err := d.db.ListInstances(ctx)
	if err != nil {
		d.log.Error("shutdown: list instances", "err", err)
		return
	}
	groups := map[int][]Expanded{}
	var prios []int
	for _, in := range list {
		if in.Phase != db.PhaseCreated {
			continue
		}
		st := d.liveStatus(ctx, in)
		if st != instances.StatusRunning && st != instances.StatusFrozen {
			continue
		}
		x := d.mustExpand(ctx, in)
		p := intKey(x.Config, "boot.stop.priority")
		if _, ok := groups[p]; !ok {
			prios = append(prios, p)
		}
		groups[p] = append(groups[p], x)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(prios)))
	for _, p := range prios {
		var wg sync.WaitGroup
		for _, in := range groups[p] {
			wg.Add(1)
			go func(in Expanded) {
				defer wg.Done()
				err := d.stopInstance(ctx, in.Name, StopOptions{Timeout: d.stopTimeout(ctx, in.Instance, 0), KeepLastState: true})
				if err != nil && !errors.Is(err, instances.ErrNotRunning) {
					d.log.Warn("shutdown: stop instance", "instance", in.Name, "err", err)
				} else if in.Ephemeral {
					d.deleteEphemeral(ctx, in.Name)
				}
			}(in)
		}
		wg.Wait()
	}
}

// ShutdownInstances makes Run stop every instance and return, as `lodged
// shutdown` does (SIGPWR).
func (d *Daemon) ShutdownInstances() {
	d.shutdownOnce.Do(func() { close(d.stopAll) })
}
