package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"lodge/api"
	"lodge/devlxd"
	"lodge/instances"
)

// guestRecorder is a GuestAPI that records what the daemon asks of it.
type guestRecorder struct {
	dir  string
	mu   sync.Mutex
	open map[string]bool
	log  []string
}

func (g *guestRecorder) note(s string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.log = append(g.log, s)
}

func (g *guestRecorder) Dir(name string) string { return filepath.Join(g.dir, name) }
func (g *guestRecorder) Listen(name string) error {
	g.note("listen " + name)
	g.mu.Lock()
	g.open[name] = true
	g.mu.Unlock()
	return nil
}
func (g *guestRecorder) Close(name string) {
	g.note("close " + name)
	g.mu.Lock()
	delete(g.open, name)
	g.mu.Unlock()
}
func (g *guestRecorder) Remove(name string) error {
	g.note("remove " + name)
	g.mu.Lock()
	delete(g.open, name)
	g.mu.Unlock()
	return nil
}
func (g *guestRecorder) ConfigChanged(name string, old, new map[string]string) {
	for _, k := range []string{"user.role", "security.devlxd"} {
		if old[k] != new[k] {
			g.note(fmt.Sprintf("config %s %s %q->%q", name, k, old[k], new[k]))
		}
	}
}
func (g *guestRecorder) DevicesChanged(name string, old, new map[string]map[string]string) {
	for n := range new {
		if old[n] == nil {
			g.note("device " + name + " added " + n)
		}
	}
}

func (g *guestRecorder) isOpen(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open[name]
}

func (g *guestRecorder) saw(s string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Contains(g.log, s)
}

func withGuest(g *guestRecorder) func(*Deps) {
	return func(deps *Deps) { deps.GuestAPI = g }
}

func hasDevLXD(spec instances.Spec) bool {
	for _, m := range spec.Mounts {
		if m.Path == "/dev/lxd" {
			return true
		}
	}
	return false
}

// Each instance's guest API socket is open while lodged runs it: opened
// before its start (and its directory mounted at /dev/lxd), closed at its
// stop, removed with it (delete, rename), reopened for the running ones
// when lodged starts again, and never made with security.devlxd=false.
func TestGuestAPILifecycle(t *testing.T) {
	g := &guestRecorder{dir: t.TempDir(), open: map[string]bool{}}
	e := newDaemonEnv(t, withGuest(g))
	ctx := context.Background()
	e.image(t, "busybox", "bb")

	e.launch(t, "c1", nil, true)
	spec, _ := e.drv.Spec("c1")
	if !g.isOpen("c1") || !hasDevLXD(spec) {
		t.Fatalf("running c1: socket open %v, /dev/lxd mounted %v (%+v)", g.isOpen("c1"), hasDevLXD(spec), spec.Mounts)
	}
	e.launch(t, "off", map[string]string{"security.devlxd": "false"}, true)
	if spec, _ := e.drv.Spec("off"); g.isOpen("off") || hasDevLXD(spec) {
		t.Errorf("security.devlxd=false: socket %v, mount %v", g.isOpen("off"), hasDevLXD(spec))
	}

	// A new lodged reopens the sockets of the instances still running.
	e.start(t)
	g.mu.Lock()
	g.open = map[string]bool{}
	g.mu.Unlock()
	if err := e.d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !g.isOpen("c1") || g.isOpen("off") {
		t.Errorf("after a lodged restart: c1 %v, off %v", g.isOpen("c1"), g.isOpen("off"))
	}

	// Events: a config and a device change reach the guest.
	e.ok(t)(e.d.UpdateInstance(ctx, "c1", api.InstancePut{Config: map[string]string{"user.role": "web"},
		Devices: map[string]map[string]string{"data": {"type": "disk", "source": t.TempDir(), "path": "/data"}}}, Update{Patch: true}))
	if !g.saw(`config c1 user.role ""->"web"`) || !g.saw("device c1 added data") {
		t.Errorf("events: %v", g.log)
	}
	// security.devlxd=false on a running instance closes its socket.
	e.ok(t)(e.d.UpdateInstance(ctx, "c1", api.InstancePut{Config: map[string]string{"security.devlxd": "false"}}, Update{Patch: true}))
	if g.isOpen("c1") {
		t.Error("security.devlxd=false left the socket open")
	}
	e.ok(t)(e.d.UpdateInstance(ctx, "c1", api.InstancePut{Config: map[string]string{"security.devlxd": "true"}}, Update{Patch: true}))
	if !g.isOpen("c1") {
		t.Error("security.devlxd=true did not reopen the socket")
	}

	e.ok(t)(e.d.ChangeState(ctx, "c1", api.InstanceStatePut{Action: "stop", Force: true}))
	if g.isOpen("c1") {
		t.Error("stopped c1 keeps its socket")
	}
	e.ok(t)(e.d.MoveInstance(ctx, "c1", api.InstancePost{Name: "c2"}))
	if !g.saw("remove c1") {
		t.Errorf("rename: the old name's socket directory stays: %v", g.log)
	}
	if spec, _ := e.drv.Spec("c2"); len(spec.Mounts) == 0 || spec.Mounts[len(spec.Mounts)-1].Source != g.Dir("c2") {
		t.Errorf("renamed instance's /dev/lxd: %+v", spec.Mounts)
	}
	e.ok(t)(e.d.DeleteInstance(ctx, "c2"))
	if !g.saw("remove c2") {
		t.Errorf("delete: socket directory stays: %v", g.log)
	}
}

// What the guest API learns of an instance: its expanded config and
// devices, its root's host uid; PATCH /1.0 records the ready state (and
// says so in an event), which the next start resets.
func TestGuestInstanceAndReady(t *testing.T) {
	e := newDaemonEnv(t)
	ctx := context.Background()
	e.image(t, "busybox", "bb")
	if err := e.d.UpdateProfile(ctx, "default", api.ProfilePut{Config: map[string]string{"user.from-profile": "p"}}, Update{Patch: true}); err != nil {
		t.Fatal(err)
	}
	e.launch(t, "c1", map[string]string{"user.role": "db"}, true)
	gi, err := e.d.GuestInstance(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if gi.Name != "c1" || gi.Config["user.role"] != "db" || gi.Config["user.from-profile"] != "p" || gi.RootUID != 0 || gi.Devices["root"]["path"] != "/" {
		t.Errorf("guest instance: %+v", gi)
	}
	if _, err := e.d.GuestInstance(ctx, "nope"); err != devlxd.ErrNotFound {
		t.Errorf("unknown instance: %v", err)
	}

	events, unsub := e.d.SubscribeEvents(map[string]bool{"lifecycle": true})
	defer unsub()
	if err := e.d.SetReady(ctx, "c1", true); err != nil {
		t.Fatal(err)
	}
	if got := e.config(t, "c1")[readyKey]; got != "true" {
		t.Errorf("ready: %q", got)
	}
	deadline := time.After(5 * time.Second)
	for ready := false; !ready; {
		select {
		case b := <-events:
			var ev api.Event
			var lc api.EventLifecycle
			json.Unmarshal(b, &ev)
			json.Unmarshal(ev.Metadata, &lc)
			ready = lc.Action == "instance-ready" && strings.HasSuffix(lc.Source, "/c1")
		case <-deadline:
			t.Fatal("no instance-ready event")
		}
	}
	e.ok(t)(e.d.ChangeState(ctx, "c1", api.InstanceStatePut{Action: "restart", Force: true}))
	if got, ok := e.config(t, "c1")[readyKey]; ok {
		t.Errorf("ready state after a restart: %q", got)
	}
}

// A guest exports only public or cached images, named by their whole
// fingerprint.
func TestGuestImageFiles(t *testing.T) {
	e := newDaemonEnv(t)
	ctx := context.Background()
	fp := e.image(t, "busybox", "bb")
	if _, err := e.d.GuestImageFiles(ctx, fp); err == nil {
		t.Error("a private image was exportable")
	}
	if err := e.d.UpdateImage(ctx, fp, func(p *api.ImagePut) error { p.Public = true; return nil }, Update{Patch: true}); err != nil {
		t.Fatal(err)
	}
	if f, err := e.d.GuestImageFiles(ctx, fp); err != nil || f.Path == "" {
		t.Errorf("public image: %v", err)
	}
	if _, err := e.d.GuestImageFiles(ctx, fp[:12]); err == nil {
		t.Error("a fingerprint prefix was accepted")
	}
}
