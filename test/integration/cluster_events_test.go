package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"lodge/api"
)

// memberEvent is an event as a client of a member reads it.
type memberEvent struct {
	api.Event
	Action, Source string
}

func (e memberEvent) String() string {
	return e.Type + " " + e.Action + " " + e.Source + " @" + e.Location
}

// memberEvents is a websocket client of /1.0/events on a member's unix
// socket.
type memberEvents struct {
	t  *testing.T
	ch chan memberEvent
	// probes counts the profiles reaches made (profiles are the
	// cluster's: each name once).
	probes int
}

func followEvents(t *testing.T, m *aLodged, query string) *memberEvents {
	t.Helper()
	sock := filepath.Join(m.dir, "unix.socket")
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}
	conn, _, err := d.Dial("ws://unix.socket/1.0/events"+query, nil)
	if err != nil {
		t.Fatalf("events on %s: %v", m.dir, err)
	}
	t.Cleanup(func() { conn.Close() })
	es := &memberEvents{t: t, ch: make(chan memberEvent, 4096)}
	go func() {
		defer close(es.ch)
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var e memberEvent
			json.Unmarshal(b, &e.Event)
			var lc api.EventLifecycle
			if e.Type == "lifecycle" && json.Unmarshal(e.Metadata, &lc) == nil {
				e.Action, e.Source = lc.Action, lc.Source
			}
			es.ch <- e
		}
	}()
	return es
}

// next waits up to timeout for an event that matches, and returns those
// read before it; ok is false when none came.
func (es *memberEvents) next(timeout time.Duration, match func(memberEvent) bool) (before []memberEvent, ok bool) {
	es.t.Helper()
	tm := time.After(timeout)
	for {
		select {
		case e, open := <-es.ch:
			if !open {
				es.t.Fatalf("the event stream closed; read %v", before)
			}
			if match(e) {
				return before, true
			}
			before = append(before, e)
		case <-tm:
			return before, false
		}
	}
}

func (es *memberEvents) must(what string, timeout time.Duration, match func(memberEvent) bool) []memberEvent {
	es.t.Helper()
	before, ok := es.next(timeout, match)
	if !ok {
		es.t.Fatalf("no %s within %s; read %v", what, timeout, before)
	}
	return before
}

func isLifecycle(action, source, location string) func(memberEvent) bool {
	return func(e memberEvent) bool {
		return e.Type == "lifecycle" && e.Action == action && e.Source == source && e.Location == location
	}
}

// reaches waits until an event made on member m (a profile created there)
// reaches es: m's events flow to the member es listens on.
func (es *memberEvents) reaches(m *aLodged, member string, within time.Duration) {
	es.t.Helper()
	begin := time.Now()
	for {
		es.probes++
		name := fmt.Sprintf("probe-%s-%d", member, es.probes)
		m.must("profile", "create", name)
		if _, ok := es.next(2*time.Second, isLifecycle("profile-created", "/1.0/profiles/"+name, member)); ok {
			return
		}
		if time.Since(begin) > within {
			es.t.Fatalf("events of %s never reached the client within %s", member, within)
		}
	}
}

// memberAPI sends a request to member m's socket.
func memberAPI(t *testing.T, m *aLodged, method, path, body string) (int, envelope) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", filepath.Join(m.dir, "unix.socket"))
	}}, Timeout: 30 * time.Second}
	req, err := http.NewRequest(method, "http://unix.socket"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("%s %s: not JSON: %q", method, path, b)
	}
	return resp.StatusCode, env
}

// memberOperations is GET /1.0/operations?recursion=1 on m, flattened,
// and how long it took.
func memberOperations(t *testing.T, m *aLodged) ([]api.Operation, time.Duration) {
	t.Helper()
	begin := time.Now()
	code, env := memberAPI(t, m, "GET", "/1.0/operations?recursion=1", "")
	took := time.Since(begin)
	if code != 200 {
		t.Fatalf("operations: %d %s", code, env.Error)
	}
	var byStatus map[string][]api.Operation
	json.Unmarshal(env.Metadata, &byStatus)
	var out []api.Operation
	for _, ops := range byStatus {
		out = append(out, ops...)
	}
	return out, took
}

// TestClusterEvents: a client of one member gets every member's events,
// each with the member it happened on as location (Debian's lxc monitor
// too); every member lists an operation running on another, as that
// member has it, with its location (lodge's and lxc's operation list); a
// member killed (kill -9) neither stops the others' events from reaching
// the client nor holds up the operations list, and once restarted its
// events come again.
func TestClusterEvents(t *testing.T) {
	needIntegration(t)
	names := []string{"cle-a", "cle-b", "cle-c"}
	c := startCluster(t, "cle", names)
	c.clusterImage("cle-img")
	a, b, cm := c.members[0], c.members[1], c.members[2]
	ev := followEvents(t, a, "")
	// Each member's listeners come up within seconds of the join.
	ev.reaches(cm, "cle-c", 30*time.Second)
	ev.reaches(b, "cle-b", 30*time.Second)

	// Debian's lxc monitor on a, when lxc is installed.
	var lxcOut *lockedBuffer
	if lxcBin, err := exec.LookPath("lxc"); err == nil {
		lxcOut = &lockedBuffer{}
		mon := exec.Command(lxcBin, "monitor", "--type=lifecycle", "--format=json")
		mon.Env = append(os.Environ(), "LXD_DIR="+a.dir, "HOME="+t.TempDir())
		mon.Stdout, mon.Stderr = lxcOut, lxcOut
		if err := mon.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mon.Process.Kill(); mon.Wait() })
		// lxc monitor is connected once it sees an event.
		begin := time.Now()
		for i := 0; !strings.Contains(lxcOut.String(), "probe-mon-"); i++ {
			a.must("profile", "create", fmt.Sprintf("probe-mon-%d", i))
			if time.Since(begin) > 30*time.Second {
				t.Fatalf("lxc monitor on cle-a shows nothing: %s", lxcOut)
			}
			time.Sleep(500 * time.Millisecond)
		}
	} else {
		t.Log("Debian's lxd-client is not installed: lxc monitor is not tried (make deps installs it)")
	}

	// An instance launched on c (from b): a's client sees its operation
	// and lifecycle, located on c.
	b.must("launch", "cle-img", "cle-1", "--target", "cle-c")
	before := ev.must("instance-created of cle-1 on cle-c", 30*time.Second, isLifecycle("instance-created", "/1.0/instances/cle-1", "cle-c"))
	opFromC := false
	for _, e := range before {
		opFromC = opFromC || (e.Type == "operation" && e.Location == "cle-c")
	}
	if !opFromC {
		t.Errorf("no operation event from cle-c before its instance-created: %v", before)
	}
	ev.must("instance-started of cle-1 on cle-c", 30*time.Second, isLifecycle("instance-started", "/1.0/instances/cle-1", "cle-c"))
	if lxcOut != nil {
		waitFor(t, "lxc monitor on cle-a to show cle-1's events from cle-c", 15*time.Second, func() bool {
			var created, started bool
			// One event a line (lxc's first-run notice comes first).
			for _, l := range strings.Split(lxcOut.String(), "\n") {
				var e api.Event
				if json.Unmarshal([]byte(l), &e) != nil {
					continue
				}
				var lc api.EventLifecycle
				json.Unmarshal(e.Metadata, &lc)
				if lc.Source == "/1.0/instances/cle-1" && e.Location == "cle-c" {
					created = created || lc.Action == "instance-created"
					started = started || lc.Action == "instance-started"
				}
			}
			return created && started
		})
	}

	// Debian's lxc on a follows an operation that runs on c by a's
	// events (it hung before they had c's).
	if lxcBin, err := exec.LookPath("lxc"); err == nil {
		for _, verb := range []string{"stop", "start"} {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			cmd := exec.CommandContext(ctx, lxcBin, verb, "cle-1")
			cmd.Env = append(os.Environ(), "LXD_DIR="+a.dir, "HOME="+t.TempDir())
			out, err := cmd.CombinedOutput()
			cancel()
			if err != nil {
				t.Fatalf("lxc %s cle-1 on cle-a (cle-1 is on cle-c): %v: %s", verb, err, out)
			}
		}
		ev.must("instance-stopped of cle-1 on cle-c", 10*time.Second, isLifecycle("instance-stopped", "/1.0/instances/cle-1", "cle-c"))
	}

	// A slow operation on c, asked of a (forwarded): an exec of sleep
	// that nobody waits for. b lists it as c has it: running, with its
	// command (which only c knows: the database keeps no metadata of a
	// running operation).
	code, env := memberAPI(t, a, "POST", "/1.0/instances/cle-1/exec", `{"command":["sleep","300"],"wait-for-websocket":false,"interactive":false}`)
	if code != 202 {
		t.Fatalf("exec on cle-1: %d %s", code, env.Error)
	}
	var slow api.Operation
	json.Unmarshal(env.Metadata, &slow)
	find := func(ops []api.Operation) *api.Operation {
		for i := range ops {
			if ops[i].ID == slow.ID {
				return &ops[i]
			}
		}
		return nil
	}
	ops, _ := memberOperations(t, b)
	o := find(ops)
	if o == nil {
		t.Fatalf("cle-b does not list cle-c's exec operation %s: %+v", slow.ID, ops)
	}
	if o.Location != "cle-c" || o.StatusCode != api.Running || fmt.Sprint(o.Metadata["command"]) != "[sleep 300]" {
		t.Fatalf("cle-b lists cle-c's exec as %+v", *o)
	}
	if out := b.must("operation", "list"); !strings.Contains(out, slow.ID) || !strings.Contains(out, "LOCATION") || !strings.Contains(out, "cle-c") {
		t.Fatalf("lodge operation list on cle-b:\n%s", out)
	}
	if lxc := lxcOn(t, b); lxc != nil {
		if out, err := lxc("operation", "list", "--format", "csv"); err != nil || !strings.Contains(out, slow.ID) {
			t.Fatalf("lxc operation list on cle-b: %v\n%s", err, out)
		}
	}

	// kill -9 of c: a's client keeps getting b's and a's events, at
	// once; the operations list answers without waiting for c and leaves
	// its running exec out.
	killLodged(cm)
	ops, took := memberOperations(t, b)
	if took > 3*time.Second {
		t.Fatalf("the operations list on cle-b took %s with cle-c down", took)
	}
	if o := find(ops); o != nil && o.StatusCode == api.Running {
		t.Fatalf("cle-b lists the dead member's exec as running: %+v", *o)
	}
	b.must("profile", "create", "after-kill-b")
	ev.must("b's event after c's death", 5*time.Second, isLifecycle("profile-created", "/1.0/profiles/after-kill-b", "cle-b"))
	a.must("profile", "create", "after-kill-a")
	ev.must("a's event after c's death", 2*time.Second, isLifecycle("profile-created", "/1.0/profiles/after-kill-a", "cle-a"))
	b.must("launch", "cle-img", "cle-2", "--target", "cle-b")
	ev.must("instance-started of cle-2 on cle-b", 30*time.Second, isLifecycle("instance-started", "/1.0/instances/cle-2", "cle-b"))
	if _, took := memberOperations(t, a); took > 3*time.Second {
		t.Fatalf("the operations list on cle-a took %s with cle-c down", took)
	}

	// c back: a follows it again.
	back := startLodged(t, cm.dir, "none")
	t.Cleanup(back.teardown)
	c.members[2] = back
	ev.reaches(back, "cle-c", 60*time.Second)
}
