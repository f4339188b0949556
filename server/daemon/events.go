package daemon

import (
	"encoding/json"
	"sync"
	"time"

	"lodge/api"
)

// eventHub fans events out to /1.0/events listeners. A slow listener loses
// events rather than stalling the daemon.
//
// In a cluster the hub carries every member's events: this member's own,
// which it stamps with its name (LXD's location), and those the listeners
// to the other members (cluster_events.go) inject, which keep theirs. A
// listener that asked for its own member's events only (another member
// following this one, or a client's ?target=) gets no injected event, so
// that an event never travels from one member through a second to a
// third, nor twice to the same client.
type eventHub struct {
	// location names the member the hub's own events happen on ("none"
	// standalone).
	location func() string

	mu   sync.Mutex
	subs map[*eventSub]struct{}
}

type eventSub struct {
	types map[string]bool // empty: all
	// own: only the events that happened on this member.
	own bool
	ch  chan []byte
}

func newEventHub(location func() string) *eventHub {
	if location == nil {
		location = func() string { return "none" }
	}
	return &eventHub{location: location, subs: map[*eventSub]struct{}{}}
}

func (h *eventHub) send(kind string, metadata any) {
	md, err := json.Marshal(metadata)
	if err != nil {
		return
	}
	b, _ := json.Marshal(api.Event{Type: kind, Timestamp: time.Now().UTC(), Metadata: md, Location: h.location(), Project: "default"})
	h.deliver(kind, b, false)
}

// deliver hands an event (LXD's JSON) to the listeners of its kind;
// injected: it happened on another member.
func (h *eventHub) deliver(kind string, b []byte, injected bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if injected && s.own {
			continue
		}
		if len(s.types) > 0 && !s.types[kind] {
			continue
		}
		select {
		case s.ch <- b:
		default:
		}
	}
}

func (h *eventHub) lifecycle(action, source string, ctx map[string]any) {
	h.send("lifecycle", api.EventLifecycle{Action: action, Source: source, Context: ctx})
}

// subscribe adds a listener for events of types (all if empty); own: only
// this member's.
func (h *eventHub) subscribe(types map[string]bool, own bool) (<-chan []byte, func()) {
	sub := &eventSub{types: types, own: own, ch: make(chan []byte, 1024)}
	h.mu.Lock()
	h.subs[sub] = struct{}{}
	h.mu.Unlock()
	return sub.ch, func() {
		h.mu.Lock()
		delete(h.subs, sub)
		h.mu.Unlock()
	}
}

// SubscribeEvents returns the events (LXD's JSON form) of types (all if
// empty) from now on, until unsubscribe; a slow listener loses events. In
// a cluster they are every member's, each with its member as location.
func (d *Daemon) SubscribeEvents(types map[string]bool) (events <-chan []byte, unsubscribe func()) {
	return d.events.subscribe(types, false)
}

// SubscribeOwnEvents is SubscribeEvents for the events that happen on this
// member only: what another member following this one gets (it follows
// each member itself), and a client that targets this member.
func (d *Daemon) SubscribeOwnEvents(types map[string]bool) (events <-chan []byte, unsubscribe func()) {
	return d.events.subscribe(types, true)
}

// Stopping is closed when the daemon stops.
func (d *Daemon) Stopping() <-chan struct{} { return d.ctx.Done() }
