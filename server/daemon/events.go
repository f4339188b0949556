package daemon

import (
	"encoding/json"
	"sync"
	"time"

	"lodge/api"
)

// eventHub fans events out to /1.0/events listeners. A slow listener loses
// events rather than stalling the daemon.
type eventHub struct {
	mu   sync.Mutex
	subs map[*eventSub]struct{}
}

type eventSub struct {
	types map[string]bool // empty: all
	ch    chan []byte
}

func newEventHub() *eventHub { return &eventHub{subs: map[*eventSub]struct{}{}} }

func (h *eventHub) send(kind string, metadata any) {
	md, err := json.Marshal(metadata)
	if err != nil {
		return
	}
	b, _ := json.Marshal(api.Event{Type: kind, Timestamp: time.Now().UTC(), Metadata: md, Location: "none", Project: "default"})
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
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

// subscribe adds a listener for events of types (all if empty).
func (h *eventHub) subscribe(types map[string]bool) (<-chan []byte, func()) {
	sub := &eventSub{types: types, ch: make(chan []byte, 1024)}
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
// empty) from now on, until unsubscribe; a slow listener loses events.
func (d *Daemon) SubscribeEvents(types map[string]bool) (events <-chan []byte, unsubscribe func()) {
	return d.events.subscribe(types)
}

// Stopping is closed when the daemon stops.
func (d *Daemon) Stopping() <-chan struct{} { return d.ctx.Done() }
