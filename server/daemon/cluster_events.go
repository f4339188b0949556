package daemon

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"lodge/api"
)

// Events across a cluster, as LXD 5.0 does it (lxd/cluster/events.go):
// each member keeps one listener on every other member's /1.0/events,
// asking for that member's own events only, and injects what it hears
// into its own hub; a client on any member then gets every member's
// events, each with the location it happened on. An injected event goes
// to no listener that asked for own events only, so it never travels
// on to a third member, and no event reaches a client twice.
//
// The listeners follow the member list (the database's): a member that
// joins is followed within eventsRefresh, one removed (or whose address
// changed) is let go. A listener whose stream breaks dials again, soon at
// first, then every eventsRetryMax, and only every eventsOfflineRetry
// while the heartbeats say the member is offline (at once when they say
// it is back). Nothing on the local stream waits for another member: the
// hub's delivery never blocks.

const (
	// eventsRefresh is how often the member list is read for listeners
	// to start or stop.
	eventsRefresh = 2 * time.Second
	// eventsRetryMin and eventsRetryMax bound the wait before dialling a
	// member's events again (doubling from the first to the second).
	eventsRetryMin = 250 * time.Millisecond
	eventsRetryMax = 5 * time.Second
	// eventsOfflineRetry is the wait while the member is offline.
	eventsOfflineRetry = 15 * time.Second
)

// eventListeners are the listeners to the other members' events.
type eventListeners struct {
	mu    sync.Mutex
	loop  bool
	peers map[string]*memberListener // by member name
}

// memberListener follows one member's events.
type memberListener struct {
	name, addr string
	offline    atomic.Bool
	connected  atomic.Bool
	// wake cuts a wait short when the member comes back online.
	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// setOffline records what the heartbeats say of the member; back
// online, a listener waiting to dial again dials at once.
func (ml *memberListener) setOffline(offline bool) {
	if ml.offline.Swap(offline) && !offline {
		select {
		case ml.wake <- struct{}{}:
		default:
		}
	}
}

// startEventListeners starts the loop that keeps the listeners (once;
// d.cl.mu held).
func (d *Daemon) startEventListeners() {
	if d.cl.events.loop {
		return
	}
	d.cl.events.loop = true
	go d.eventsLoop(d.ctx)
}

// eventsLoop keeps a listener on each other member until the daemon
// stops or this server leaves the cluster.
func (d *Daemon) eventsLoop(ctx context.Context) {
	defer func() {
		d.stopEventListeners()
		d.cl.mu.Lock()
		d.cl.events.loop = false
		d.cl.mu.Unlock()
	}()
	for {
		if !d.db.Clustered() {
			return
		}
		d.refreshEventListeners(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(eventsRefresh):
		}
	}
}

// refreshEventListeners starts a listener for each other member that has
// none, stops those of members gone, and tells each whether its member
// is offline.
func (d *Daemon) refreshEventListeners(ctx context.Context) {
	peers, err := d.Peers(ctx)
	if err != nil {
		d.log.Debug("cluster events: read the member list", "err", err)
		return
	}
	want := make(map[string]Peer, len(peers))
	for _, p := range peers {
		want[p.Name] = p
	}
	l := &d.cl.events
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.peers == nil {
		l.peers = map[string]*memberListener{}
	}
	for name, ml := range l.peers {
		if p, ok := want[name]; !ok || p.Address != ml.addr {
			ml.cancel()
			delete(l.peers, name)
			d.log.Info("cluster events: no longer following a member that left", "member", name, "address", ml.addr)
		}
	}
	for _, p := range peers {
		ml := l.peers[p.Name]
		if ml == nil {
			lctx, cancel := context.WithCancel(ctx)
			ml = &memberListener{name: p.Name, addr: p.Address, cancel: cancel, wake: make(chan struct{}, 1), done: make(chan struct{})}
			ml.offline.Store(p.Offline)
			l.peers[p.Name] = ml
			go d.followMember(lctx, ml)
			continue
		}
		ml.setOffline(p.Offline)
	}
}

// stopEventListeners stops every listener and waits for them.
func (d *Daemon) stopEventListeners() {
	l := &d.cl.events
	l.mu.Lock()
	peers := l.peers
	l.peers = nil
	l.mu.Unlock()
	for _, ml := range peers {
		ml.cancel()
		<-ml.done
	}
}

// followMember streams one member's events into the hub until ctx ends,
// dialling again whenever the stream breaks.
func (d *Daemon) followMember(ctx context.Context, ml *memberListener) {
	defer close(ml.done)
	wait := eventsRetryMin
	for {
		err := d.cl.transport.MemberEvents(ctx, ml.addr, func() {
			ml.connected.Store(true)
			d.log.Info("cluster events: following a member's events", "member", ml.name, "address", ml.addr)
		}, func(b []byte) { d.injectEvent(ml.name, b) })
		if ctx.Err() != nil {
			return
		}
		if ml.connected.Swap(false) {
			d.log.Warn("cluster events: lost a member's event stream; dialling it again", "member", ml.name, "err", err)
			wait = eventsRetryMin
		} else {
			d.log.Debug("cluster events: a member's events could not be followed", "member", ml.name, "err", err)
		}
		next := wait
		if ml.offline.Load() {
			next = eventsOfflineRetry
		}
		select {
		case <-ctx.Done():
			return
		case <-ml.wake:
			wait = eventsRetryMin
			continue
		case <-time.After(next):
		}
		wait = min(2*wait, eventsRetryMax)
	}
}

// injectEvent hands an event another member sent (its own, LXD's JSON)
// to this member's listeners. One without a location gets the member's;
// one that says it happened elsewhere (on this member, or on a third) is
// dropped: a member only relays its own.
func (d *Daemon) injectEvent(member string, b []byte) {
	var head struct {
		Type     string `json:"type"`
		Location string `json:"location"`
	}
	if err := json.Unmarshal(b, &head); err != nil || head.Type == "" {
		d.log.Debug("cluster events: an unreadable event from a member", "member", member, "err", err)
		return
	}
	switch head.Location {
	case member:
	case "", "none":
		var ev api.Event
		if json.Unmarshal(b, &ev) != nil {
			return
		}
		ev.Location = member
		b, _ = json.Marshal(ev)
	default:
		d.log.Debug("cluster events: a member relayed an event of another; dropped", "member", member, "location", head.Location)
		return
	}
	d.events.deliver(head.Type, b, true)
}

// FollowedMembers are the members whose events this one receives now
// (connected listeners), for tests and diagnostics.
func (d *Daemon) FollowedMembers() []string {
	l := &d.cl.events
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for name, ml := range l.peers {
		if ml.connected.Load() {
			out = append(out, name)
		}
	}
	return out
}
