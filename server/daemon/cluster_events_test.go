package daemon

import (
	"encoding/json"
	"testing"
	"time"

	"lodge/api"
)

func recvEvent(t *testing.T, ch <-chan []byte) (api.Event, bool) {
	t.Helper()
	select {
	case b := <-ch:
		var e api.Event
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("event %q: %v", b, err)
		}
		return e, true
	case <-time.After(200 * time.Millisecond):
		return api.Event{}, false
	}
}

// The hub's rules: its own events carry its location ("none"
// standalone) and reach every listener; an event injected from a member
// reaches the listeners of every member's events only, with that
// member's location; one that member relays from elsewhere is dropped.
func TestEventHubOwnAndInjected(t *testing.T) {
	e := newDaemonEnv(t)
	d := e.d
	all, unsubAll := d.SubscribeEvents(nil)
	defer unsubAll()
	own, unsubOwn := d.SubscribeOwnEvents(map[string]bool{"lifecycle": true})
	defer unsubOwn()

	d.events.lifecycle("profile-created", "/1.0/profiles/p1", nil)
	for name, ch := range map[string]<-chan []byte{"all": all, "own": own} {
		if ev, ok := recvEvent(t, ch); !ok || ev.Location != "none" || ev.Type != "lifecycle" {
			t.Fatalf("%s: own event %+v (%v)", name, ev, ok)
		}
	}

	from := func(location, kind string) []byte {
		b, _ := json.Marshal(api.Event{Type: kind, Timestamp: time.Now(), Metadata: json.RawMessage(`{"action":"instance-created","source":"/1.0/instances/c1"}`), Location: location, Project: "default"})
		return b
	}
	d.injectEvent("m2", from("m2", "lifecycle"))
	if ev, ok := recvEvent(t, all); !ok || ev.Location != "m2" {
		t.Fatalf("injected event: %+v (%v)", ev, ok)
	}
	if ev, ok := recvEvent(t, own); ok {
		t.Fatalf("a listener of own events got an injected one: %+v", ev)
	}
	// No location: the member's.
	d.injectEvent("m2", from("", "operation"))
	if ev, ok := recvEvent(t, all); !ok || ev.Location != "m2" || ev.Type != "operation" {
		t.Fatalf("injected event without location: %+v (%v)", ev, ok)
	}
	// Relayed from a third member, or this one's coming back: dropped.
	d.injectEvent("m2", from("m3", "lifecycle"))
	if ev, ok := recvEvent(t, all); ok {
		t.Fatalf("a relayed event was delivered: %+v", ev)
	}
	d.injectEvent("m2", []byte(`not json`))
	if ev, ok := recvEvent(t, all); ok {
		t.Fatalf("garbage was delivered: %+v", ev)
	}
}
