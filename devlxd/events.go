package devlxd

import (
	"sort"
	"strings"
	"sync"
	"time"
)

// Event is one message of GET /1.0/events.
type Event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Metadata  any       `json:"metadata"`
}

// ConfigEvent is a config event's metadata.
type ConfigEvent struct {
	Key      string `json:"key"`
	OldValue string `json:"old_value"`
	Value    string `json:"value"`
}

// DeviceEvent is a device event's metadata.
type DeviceEvent struct {
	Action string            `json:"action"` // added, removed, updated
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
}

// Hub hands events to the guests listening on /1.0/events, each seeing
// only its own instance's.
type Hub struct {
	mu   sync.Mutex
	subs map[string]map[*subscriber]bool
}

type subscriber struct {
	instance string
	types    map[string]bool
	ch       chan Event
}

// NewHub makes an empty hub.
func NewHub() *Hub { return &Hub{subs: map[string]map[*subscriber]bool{}} }

func (h *Hub) subscribe(instance string, types map[string]bool) *subscriber {
	s := &subscriber{instance: instance, types: types, ch: make(chan Event, 64)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[instance] == nil {
		h.subs[instance] = map[*subscriber]bool{}
	}
	h.subs[instance][s] = true
	return s
}

func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[s.instance][s] {
		delete(h.subs[s.instance], s)
		close(s.ch)
	}
	if len(h.subs[s.instance]) == 0 {
		delete(h.subs, s.instance)
	}
}

func (h *Hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for inst, subs := range h.subs {
		for s := range subs {
			close(s.ch)
		}
		delete(h.subs, inst)
	}
}

// send delivers an event to instance's listeners of its type; a listener
// too slow to keep 64 events is dropped (its stream ends).
func (h *Hub) send(instance, typ string, md any) {
	ev := Event{Type: typ, Timestamp: time.Now().UTC(), Metadata: md}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[instance] {
		if !s.types[typ] {
			continue
		}
		select {
		case s.ch <- ev:
		default:
			delete(h.subs[instance], s)
			close(s.ch)
		}
	}
}

// Listeners counts the event listeners of instance (for tests and stats).
func (h *Hub) Listeners(instance string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[instance])
}

// ConfigChanged sends one config event per user.* key that differs between
// an instance's old and new expanded config (LXD sends only user.* keys).
func (h *Hub) ConfigChanged(instance string, old, new map[string]string) {
	keys := map[string]bool{}
	for k := range old {
		keys[k] = true
	}
	for k := range new {
		keys[k] = true
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		if strings.HasPrefix(k, "user.") && old[k] != new[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		h.send(instance, "config", ConfigEvent{Key: k, OldValue: old[k], Value: new[k]})
	}
}

// DevicesChanged sends one device event per device added, removed or
// changed between an instance's old and new expanded devices.
func (h *Hub) DevicesChanged(instance string, old, new map[string]map[string]string) {
	names := map[string]bool{}
	for n := range old {
		names[n] = true
	}
	for n := range new {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		o, inOld := old[n]
		c, inNew := new[n]
		switch {
		case !inOld:
			h.send(instance, "device", DeviceEvent{Action: "added", Name: n, Config: c})
		case !inNew:
			h.send(instance, "device", DeviceEvent{Action: "removed", Name: n, Config: o})
		case !sameMap(o, c):
			h.send(instance, "device", DeviceEvent{Action: "updated", Name: n, Config: c})
		}
	}
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
