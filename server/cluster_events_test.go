package server

import (
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"lodge/api"
)

// waitFollowing waits until every member follows the events of the n
// others.
func waitFollowing(t *testing.T, ms []*clusterMember, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, m := range ms {
		for len(m.d.FollowedMembers()) != n {
			if time.Now().After(deadline) {
				t.Fatalf("%s follows %v, want %d members", m.name, m.d.FollowedMembers(), n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// anEvent is an event as a client reads it, with its lifecycle action.
type anEvent struct {
	api.Event
	Action, Source string
	Context        map[string]any
}

func (e anEvent) String() string { return e.Type + " " + e.Action + " " + e.Source + " @" + e.Location }

// eventStream is a client's /1.0/events websocket.
type eventStream struct {
	t  *testing.T
	ch chan anEvent
}

func dialEvents(t *testing.T, base, path string) *eventStream {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+path, nil)
	if err != nil {
		t.Fatalf("events %s: %v", path, err)
	}
	t.Cleanup(func() { c.Close() })
	es := &eventStream{t: t, ch: make(chan anEvent, 1024)}
	go func() {
		defer close(es.ch)
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			es.ch <- decodeEvent(b)
		}
	}()
	return es
}

func decodeEvent(b []byte) anEvent {
	var e anEvent
	json.Unmarshal(b, &e.Event)
	var lc api.EventLifecycle
	if e.Type == "lifecycle" && json.Unmarshal(e.Metadata, &lc) == nil {
		e.Action, e.Source, e.Context = lc.Action, lc.Source, lc.Context
	}
	return e
}

// until reads events until one matches and returns those read before it.
func (es *eventStream) until(what string, match func(anEvent) bool) []anEvent {
	es.t.Helper()
	var before []anEvent
	timeout := time.After(15 * time.Second)
	for {
		select {
		case e, ok := <-es.ch:
			if !ok {
				es.t.Fatalf("the event stream closed while waiting for %s; read %v", what, before)
			}
			if match(e) {
				return before
			}
			before = append(before, e)
		case <-timeout:
			es.t.Fatalf("no %s within 15 s; read %v", what, before)
		}
	}
}

func lifecycle(action, source, location string) func(anEvent) bool {
	return func(e anEvent) bool {
		return e.Type == "lifecycle" && e.Action == action && e.Source == source && e.Location == location
	}
}

// A client on any member gets every member's events, each with the member
// it happened on as location, once; a client that targets a member gets
// that member's own only; a member following another gets that one's own
// only, never what it heard from a third.
func TestClusterEvents(t *testing.T) {
	ms := newTestCluster(t, 3)
	waitMembersOnline(t, ms[0], 3)
	waitFollowing(t, ms, 2)
	srv := httptest.NewServer(ms[0].h)
	t.Cleanup(srv.Close)
	all := dialEvents(t, srv.URL, "/1.0/events")
	own := dialEvents(t, srv.URL, "/1.0/events?type=lifecycle&target=m1")

	// An instance made and started on m3.
	ms[2].uploadImage(t, "busybox", "bb")
	ms[2].mustOp(t, "POST", "/1.0/instances?target=m3", `{"name":"c3","source":{"type":"image","alias":"bb"}}`)
	ms[2].mustOp(t, "PUT", "/1.0/instances/c3/state", `{"action":"start"}`)
	before := all.until("instance-created of c3 from m3", lifecycle("instance-created", "/1.0/instances/c3", "m3"))
	if !slices.ContainsFunc(before, func(e anEvent) bool { return e.Type == "operation" && e.Location == "m3" }) {
		t.Errorf("no operation event from m3 before its instance-created: %v", before)
	}
	all.until("instance-started of c3 from m3", lifecycle("instance-started", "/1.0/instances/c3", "m3"))
	// m1's own and m2's.
	ms[0].mustDo(t, "POST", "/1.0/profiles", `{"name":"p1"}`)
	ms[1].mustDo(t, "POST", "/1.0/profiles", `{"name":"p2"}`)
	all.until("profile-created p1 from m1", lifecycle("profile-created", "/1.0/profiles/p1", "m1"))
	all.until("profile-created p2 from m2", lifecycle("profile-created", "/1.0/profiles/p2", "m2"))

	// The targeting client got m1's event and none of another member.
	for _, e := range own.until("profile-created p1 on the targeted stream", lifecycle("profile-created", "/1.0/profiles/p1", "m1")) {
		if e.Location != "m1" {
			t.Errorf("?target=m1 got an event of %s: %v", e.Location, e)
		}
	}

	// No event twice: the last one, from m3, comes after any relayed copy
	// of the earlier ones would have.
	ms[2].mustDo(t, "POST", "/1.0/profiles", `{"name":"p3"}`)
	for _, e := range all.until("profile-created p3 from m3", lifecycle("profile-created", "/1.0/profiles/p3", "m3")) {
		t.Errorf("an event twice, or unexpected: %v", e)
	}

	// What m2 sends a member that follows it: its own, not m3's.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan anEvent, 64)
	up := make(chan struct{})
	go ms[0].s.MemberEvents(ctx, ms[1].addr, func() { close(up) }, func(b []byte) { got <- decodeEvent(b) })
	<-up
	seenOnM2, unsubscribe := ms[1].d.SubscribeEvents(map[string]bool{"lifecycle": true})
	defer unsubscribe()
	ms[2].mustDo(t, "POST", "/1.0/profiles", `{"name":"p4"}`)
	for b := range seenOnM2 {
		if e := decodeEvent(b); lifecycle("profile-created", "/1.0/profiles/p4", "m3")(e) {
			break
		}
	}
	ms[1].mustDo(t, "POST", "/1.0/profiles", `{"name":"p5"}`)
	timeout := time.After(15 * time.Second)
	for done := false; !done; {
		select {
		case e := <-got:
			if e.Location != "m2" {
				t.Fatalf("m2 relayed an event of %s to a member: %v", e.Location, e)
			}
			done = lifecycle("profile-created", "/1.0/profiles/p5", "m2")(e)
		case <-timeout:
			t.Fatal("m2's own event did not reach the member following it")
		}
	}
}

// mustDo sends a request that answers at once (200, 201) or with an
// operation that must succeed.
func (m *clusterMember) mustDo(t *testing.T, method, path, body string) {
	t.Helper()
	code, r, _ := m.do(t, method, path, body)
	switch {
	case code == 202:
		if op := m.wait(t, r); op.StatusCode != api.Success {
			t.Fatalf("%s %s on %s: %s", method, path, m.name, op.Err)
		}
	case code >= 300:
		t.Fatalf("%s %s on %s: %d %s", method, path, m.name, code, r.Error)
	}
}

// operations is GET /1.0/operations?recursion=1 on m, flattened.
func (m *clusterMember) operations(t *testing.T) []api.Operation {
	t.Helper()
	code, r, _ := m.do(t, "GET", "/1.0/operations?recursion=1", "")
	if code != 200 {
		t.Fatalf("operations on %s: %d %s", m.name, code, r.Error)
	}
	var byStatus map[string][]api.Operation
	json.Unmarshal(r.Metadata, &byStatus)
	var out []api.Operation
	for _, ops := range byStatus {
		out = append(out, ops...)
	}
	return out
}

// Every member lists an operation running on another, as that member
// has it now (its progress metadata, which the database does not keep),
// with its location; the URL list has it too. A member that hangs is
// waited for no longer than opsDeadline, and its running operations are
// left out.
func TestClusterOperationsList(t *testing.T) {
	ms := newTestCluster(t, 3)
	waitMembersOnline(t, ms[0], 3)
	m3 := ms[2]
	m3.uploadImage(t, "busybox", "bb")
	gate := make(chan struct{})
	m3.unpackGate = gate
	released := false
	release := func() {
		if !released {
			released = true
			close(gate)
		}
	}
	t.Cleanup(release)
	code, r, _ := m3.do(t, "POST", "/1.0/instances?target=m3", `{"name":"held","source":{"type":"image","alias":"bb"}}`)
	if code != 202 {
		t.Fatalf("create on m3: %d %s", code, r.Error)
	}
	var held api.Operation
	json.Unmarshal(r.Metadata, &held)
	find := func(ops []api.Operation) *api.Operation {
		for i := range ops {
			if ops[i].ID == held.ID {
				return &ops[i]
			}
		}
		return nil
	}
	// Once the unpack waits, the operation says so in its metadata.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if o := find(m3.operations(t)); o != nil && o.Metadata["create_instance_from_image_unpack_progress"] == "Unpacking image" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the held create never reached its unpack")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, m := range ms[:2] {
		o := find(m.operations(t))
		if o == nil {
			t.Fatalf("%s does not list m3's operation", m.name)
		}
		if o.Location != "m3" || o.StatusCode != api.Running || o.Metadata["create_instance_from_image_unpack_progress"] != "Unpacking image" {
			t.Fatalf("%s lists m3's operation as %+v", m.name, *o)
		}
		_, r, _ := m.do(t, "GET", "/1.0/operations", "")
		var urls map[string][]string
		json.Unmarshal(r.Metadata, &urls)
		if !slices.Contains(urls["running"], "/1.0/operations/"+held.ID) {
			t.Fatalf("%s's URL list: %v", m.name, urls)
		}
	}
	// m3 asked by a member lists its own only (not m1's, which the
	// database has too: its enabling of the cluster, its join tokens).
	own, err := ms[0].s.MemberOperations(context.Background(), m3.addr)
	if err != nil || find(own) == nil {
		t.Fatalf("m3's own operations: %v %+v", err, own)
	}
	for _, o := range own {
		if o.Location != "m3" {
			t.Fatalf("m3 answered a member with an operation of %s: %+v", o.Location, o)
		}
	}

	// m3 hangs: it takes connections and answers nothing.
	m3.s.stopHTTPS()
	l, err := net.Listen("tcp", m3.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	begin := time.Now()
	ops := ms[0].operations(t)
	if took := time.Since(begin); took > 3*time.Second { // the deadline is 2 s
		t.Fatalf("the list waited %s for a hung member", took)
	}
	if o := find(ops); o != nil {
		t.Fatalf("a hung member's running operation is listed: %+v", *o)
	}
	release()
}
