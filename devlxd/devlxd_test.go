package devlxd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeBackend holds instances by name.
type fakeBackend struct {
	mu       sync.Mutex
	insts    map[string]Instance
	exported []string
}

func (b *fakeBackend) Instance(_ context.Context, name string) (Instance, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	in, ok := b.insts[name]
	if !ok {
		return Instance{}, ErrNotFound
	}
	return in, nil
}

func (b *fakeBackend) SetReady(_ context.Context, name string, ready bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	in := b.insts[name]
	cfg := map[string]string{}
	for k, v := range in.Config {
		cfg[k] = v
	}
	cfg["volatile.last_state.ready"] = map[bool]string{true: "true", false: "false"}[ready]
	in.Config = cfg
	b.insts[name] = in
	return nil
}

func (b *fakeBackend) ExportImage(w http.ResponseWriter, r *http.Request, fp string) {
	b.mu.Lock()
	b.exported = append(b.exported, fp)
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/octet-stream")
	io.WriteString(w, "image "+fp)
}

func (b *fakeBackend) set(name, key, value string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	in := b.insts[name]
	cfg := map[string]string{}
	for k, v := range in.Config {
		cfg[k] = v
	}
	cfg[key] = value
	in.Config = cfg
	b.insts[name] = in
}

// fakeResolver places pids in instances.
type fakeResolver struct {
	mu   sync.Mutex
	pids map[int32]string
}

func (r *fakeResolver) InstanceOf(pid int32) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n, ok := r.pids[pid]; ok {
		return n, nil
	}
	return "", ErrNotFound
}

func (r *fakeResolver) place(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pids[int32(os.Getpid())] = name
}

// The test process is the caller; its uid is the root of c1 and c2.
func newFixture(t *testing.T) (*fakeBackend, *fakeResolver) {
	uid := uint32(os.Getuid())
	b := &fakeBackend{insts: map[string]Instance{
		"c1": {Name: "c1", RootUID: uid, Location: "host1", Config: map[string]string{
			"user.role": "web", "user.empty": "", "cloud-init.user-data": "#cloud-config\nusers: []\n",
			"user.meta-data": "extra: 1\n", "security.nesting": "true", "volatile.eth0.hwaddr": "00:16:3e:aa:bb:cc",
			"volatile.cloud-init.instance-id": "11111111-2222", "environment.SECRET": "s3cret", "limits.memory": "1GiB",
		}, Devices: map[string]map[string]string{
			"eth0": {"type": "nic", "network": "lodgebr0"},
			"eth1": {"type": "nic", "network": "lodgebr0", "hwaddr": "00:16:3e:00:00:01"},
			"root": {"type": "disk", "path": "/", "pool": "default"},
		}},
		"c2": {Name: "c2", RootUID: uid, Location: "host1", Config: map[string]string{"user.role": "db", "user.secret": "c2-only"}},
	}}
	return b, &fakeResolver{pids: map[int32]string{}}
}

// serveShared serves srv on a real unix socket in a temp dir.
func serveShared(t *testing.T, srv *Server) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return sock
}

func client(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
}

type reply struct {
	code  int
	ctype string
	body  string
}

func do(t *testing.T, c *http.Client, method, path, body string) reply {
	t.Helper()
	req, _ := http.NewRequest(method, "http://lxd"+path, strings.NewReader(body))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

func TestEndpoints(t *testing.T) {
	b, r := newFixture(t)
	r.place("c1")
	srv := New(b, r, nil)
	c := client(serveShared(t, srv))

	check := func(method, path, body string, code int, ctype, want string) {
		t.Helper()
		got := do(t, c, method, path, body)
		if got.code != code || (ctype != "" && got.ctype != ctype) || got.body != want {
			t.Errorf("%s %s = %d %q %q, want %d %q %q", method, path, got.code, got.ctype, got.body, code, ctype, want)
		}
	}
	check("GET", "/", "", 200, "application/json", `["/1.0"]`+"\n")
	check("GET", "/1.0", "", 200, "application/json", `{"api_version":"1.0","location":"host1","instance_type":"container","state":"Started"}`+"\n")
	// Only user.* and cloud-init.* keys are listed (empty ones too), sorted.
	check("GET", "/1.0/config", "", 200, "application/json",
		`["/1.0/config/cloud-init.user-data","/1.0/config/user.empty","/1.0/config/user.meta-data","/1.0/config/user.role"]`+"\n")
	check("GET", "/1.0/config/user.role", "", 200, "application/octet-stream", "web")
	check("GET", "/1.0/config/cloud-init.user-data", "", 200, "application/octet-stream", "#cloud-config\nusers: []\n")
	for _, k := range []string{"security.nesting", "volatile.eth0.hwaddr", "environment.SECRET", "limits.memory", "volatile.cloud-init.instance-id"} {
		check("GET", "/1.0/config/"+k, "", 403, "", "not authorized\n")
	}
	check("GET", "/1.0/config/user.missing", "", 404, "", "not found\n")
	check("GET", "/1.0/config/user.empty", "", 404, "", "not found\n")
	check("GET", "/1.0/meta-data", "", 200, "application/octet-stream",
		"#cloud-config\ninstance-id: 11111111-2222\nlocal-hostname: c1\nextra: 1\n")

	var devs map[string]map[string]string
	got := do(t, c, "GET", "/1.0/devices", "")
	if err := json.Unmarshal([]byte(got.body), &devs); err != nil || got.code != 200 {
		t.Fatalf("devices: %d %q", got.code, got.body)
	}
	want := map[string]map[string]string{
		"eth0": {"type": "nic", "network": "lodgebr0", "hwaddr": "00:16:3e:aa:bb:cc"},
		"eth1": {"type": "nic", "network": "lodgebr0", "hwaddr": "00:16:3e:00:00:01"},
		"root": {"type": "disk", "path": "/", "pool": "default"},
	}
	if !reflect.DeepEqual(devs, want) {
		t.Errorf("devices = %v, want %v", devs, want)
	}

	// PATCH /1.0 sets the ready state; other states are refused.
	check("PATCH", "/1.0", `{"state":"Ready"}`, 200, "application/octet-stream", "")
	check("GET", "/1.0", "", 200, "", `{"api_version":"1.0","location":"host1","instance_type":"container","state":"Ready"}`+"\n")
	check("PATCH", "/1.0", `{"state":"Started"}`, 200, "", "")
	if b.insts["c1"].Config["volatile.last_state.ready"] != "false" {
		t.Error("Started did not clear the ready state")
	}
	check("PATCH", "/1.0", `{"state":"Stopped"}`, 400, "", "Invalid state \"Stopped\"\n")
	if got := do(t, c, "PATCH", "/1.0", `{`); got.code != 400 {
		t.Errorf("bad body: %d", got.code)
	}

	// Image export only with security.devlxd.images=true.
	check("GET", "/1.0/images/abcd/export", "", 403, "", "not authorized\n")
	b.set("c1", "security.devlxd.images", "true")
	check("GET", "/1.0/images/abcd/export", "", 200, "", "image abcd")

	// security.devlxd=false: everything but / is refused.
	b.set("c1", "security.devlxd", "false")
	for _, p := range []string{"/1.0", "/1.0/config", "/1.0/config/user.role", "/1.0/meta-data", "/1.0/devices", "/1.0/events", "/1.0/images/abcd/export"} {
		check("GET", p, "", 403, "", "not authorized\n")
	}
	check("PATCH", "/1.0", `{"state":"Ready"}`, 403, "", "not authorized\n")
	check("GET", "/", "", 200, "", `["/1.0"]`+"\n")
	check("GET", "/2.0", "", 404, "", "404 page not found\n")
}

func TestNonRootRefused(t *testing.T) {
	b, r := newFixture(t)
	r.place("c1")
	in := b.insts["c1"]
	in.RootUID = uint32(os.Getuid()) + 1000000 // the caller is not the instance's root
	b.insts["c1"] = in
	c := client(serveShared(t, New(b, r, nil)))
	for _, p := range []string{"/", "/1.0", "/1.0/config", "/1.0/config/user.role", "/1.0/meta-data", "/1.0/devices"} {
		got := do(t, c, "GET", p, "")
		if got.code != 401 || got.body != "Access denied for non-root user\n" {
			t.Errorf("GET %s by a non-root caller: %d %q", p, got.code, got.body)
		}
	}
}

// A process of c2 gets c2's data, never c1's; a process in no instance
// gets nothing.
func TestCallerIsItsOwnInstance(t *testing.T) {
	b, r := newFixture(t)
	r.place("c2")
	sock := serveShared(t, New(b, r, nil))
	c := client(sock)
	if got := do(t, c, "GET", "/1.0/config/user.role", ""); got.body != "db" {
		t.Errorf("c2's process read user.role %q", got.body)
	}
	if got := do(t, c, "GET", "/1.0/config", ""); strings.Contains(got.body, "cloud-init") || !strings.Contains(got.body, "user.secret") {
		t.Errorf("c2's config list: %q", got.body)
	}
	if got := do(t, c, "GET", "/1.0/meta-data", ""); !strings.Contains(got.body, "local-hostname: c2\n") {
		t.Errorf("c2's meta-data: %q", got.body)
	}
	r.mu.Lock()
	r.pids = map[int32]string{}
	r.mu.Unlock()
	for _, p := range []string{"/", "/1.0", "/1.0/config", "/1.0/config/user.role"} {
		if got := do(t, c, "GET", p, ""); got.code != 500 || got.body != "pid not in container?\n" {
			t.Errorf("GET %s from no instance: %d %q", p, got.code, got.body)
		}
	}
	// An instance the backend does not know (deleted since) is refused too.
	r.place("gone")
	if got := do(t, c, "GET", "/1.0", ""); got.code != 500 {
		t.Errorf("unknown instance: %d %q", got.code, got.body)
	}
}

func TestPerInstanceSockets(t *testing.T) {
	b, r := newFixture(t)
	base := filepath.Join(t.TempDir(), "devlxd")
	for _, res := range []Resolver{nil, r} {
		srv := New(b, res, nil)
		ss, err := srv.Sockets(base)
		if err != nil {
			t.Fatal(err)
		}
		if err := ss.Listen("c1"); err != nil {
			t.Fatal(err)
		}
		if err := ss.Listen("c2"); err != nil {
			t.Fatal(err)
		}
		for p, mode := range map[string]os.FileMode{base: 0o711 | os.ModeDir, ss.Dir("c1"): 0o755 | os.ModeDir, filepath.Join(ss.Dir("c1"), "sock"): 0o666 | os.ModeSocket} {
			if fi, err := os.Lstat(p); err != nil || fi.Mode() != mode {
				t.Errorf("%s: %v %v, want %v", p, fi.Mode(), err, mode)
			}
		}
		c1 := client(filepath.Join(ss.Dir("c1"), "sock"))
		c2 := client(filepath.Join(ss.Dir("c2"), "sock"))
		r.place("c1")
		if got := do(t, c1, "GET", "/1.0/config/user.role", ""); got.body != "web" {
			t.Errorf("resolver %v: c1's socket: %d %q", res != nil, got.code, got.body)
		}
		// c2's socket serves c2 without a resolver; with one, a process of
		// c1 on c2's socket is refused.
		got := do(t, c2, "GET", "/1.0/config/user.role", "")
		if res == nil && got.body != "db" {
			t.Errorf("c2's socket: %d %q", got.code, got.body)
		}
		if res != nil && (got.code != 500 || strings.Contains(got.body, "db") || strings.Contains(got.body, "web")) {
			t.Errorf("c1's process on c2's socket: %d %q", got.code, got.body)
		}
		// Restarting a socket (lodged restarted) and closing it.
		if err := ss.Listen("c1"); err != nil {
			t.Fatal(err)
		}
		if got := do(t, c1, "GET", "/1.0/config/user.role", ""); got.body != "web" {
			t.Errorf("after a restart: %d %q", got.code, got.body)
		}
		ss.Close("c1")
		if _, err := os.Lstat(filepath.Join(ss.Dir("c1"), "sock")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("closed socket still there: %v", err)
		}
		if err := ss.Remove("c2"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(ss.Dir("c2")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("removed directory still there: %v", err)
		}
		if err := ss.Listen("../x"); err == nil {
			t.Error("a name with a slash was accepted")
		}
		srv.Shutdown(context.Background())
	}
}

func TestEventsWebsocket(t *testing.T) {
	b, r := newFixture(t)
	r.place("c1")
	srv := New(b, r, nil)
	// The request head's timeout must not end a long-lived stream.
	srv.http.ReadHeaderTimeout, srv.http.ReadTimeout = 100*time.Millisecond, 100*time.Millisecond
	sock := serveShared(t, srv)
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}
	conn, _, err := d.Dial("ws://lxd/1.0/events?type=config", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitFor(t, func() bool { return srv.Events().Listeners("c1") == 1 })
	time.Sleep(300 * time.Millisecond)
	// c2's events and device events do not reach this listener.
	srv.Events().ConfigChanged("c2", map[string]string{"user.a": "1"}, map[string]string{"user.a": "2"})
	srv.Events().DevicesChanged("c1", nil, map[string]map[string]string{"eth1": {"type": "nic"}})
	srv.Events().ConfigChanged("c1", map[string]string{"user.a": "1", "limits.cpu": "1"}, map[string]string{"user.a": "2", "limits.cpu": "2"})
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var ev struct {
		Type      string      `json:"type"`
		Timestamp time.Time   `json:"timestamp"`
		Metadata  ConfigEvent `json:"metadata"`
	}
	if err := conn.ReadJSON(&ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "config" || ev.Metadata != (ConfigEvent{Key: "user.a", OldValue: "1", Value: "2"}) || ev.Timestamp.IsZero() {
		t.Errorf("event: %+v", ev)
	}
	conn.Close()
	waitFor(t, func() bool { return srv.Events().Listeners("c1") == 0 })
}

func TestEventsStream(t *testing.T) {
	b, r := newFixture(t)
	r.place("c1")
	srv := New(b, r, nil)
	srv.http.ReadHeaderTimeout, srv.http.ReadTimeout = 100*time.Millisecond, 100*time.Millisecond
	sock := serveShared(t, srv)
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /1.0/events HTTP/1.1\r\nHost: lxd\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("stream: %v %v", resp, err)
	}
	waitFor(t, func() bool { return srv.Events().Listeners("c1") == 1 })
	time.Sleep(300 * time.Millisecond)
	srv.Events().DevicesChanged("c1", map[string]map[string]string{"d": {"type": "disk", "path": "/a"}}, map[string]map[string]string{"d": {"type": "disk", "path": "/b"}})
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Type     string      `json:"type"`
		Metadata DeviceEvent `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Type != "device" || ev.Metadata.Action != "updated" || ev.Metadata.Config["path"] != "/b" {
		t.Errorf("event line %q: %v", line, err)
	}
	if got := do(t, client(sock), "GET", "/1.0/events?type=bogus", ""); got.code != 400 {
		t.Errorf("unknown type: %d", got.code)
	}
}

func TestHubDiffs(t *testing.T) {
	h := NewHub()
	s := h.subscribe("c1", map[string]bool{"config": true, "device": true})
	h.ConfigChanged("c1", map[string]string{"user.a": "1", "user.gone": "x", "security.nesting": "false"},
		map[string]string{"user.a": "1", "user.new": "y", "security.nesting": "true"})
	h.DevicesChanged("c1", map[string]map[string]string{"a": {"type": "disk"}, "b": {"type": "nic"}},
		map[string]map[string]string{"b": {"type": "nic"}, "c": {"type": "nic"}})
	var got []string
	for len(s.ch) > 0 {
		ev := <-s.ch
		switch md := ev.Metadata.(type) {
		case ConfigEvent:
			got = append(got, "config "+md.Key+" "+md.OldValue+">"+md.Value)
		case DeviceEvent:
			got = append(got, "device "+md.Action+" "+md.Name)
		}
	}
	want := []string{"config user.gone x>", "config user.new >y", "device removed a", "device added c"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	// A listener that does not read is dropped, not waited for.
	for i := 0; i < 100; i++ {
		h.ConfigChanged("c1", nil, map[string]string{"user.k": strings.Repeat("x", i+1)})
	}
	if h.Listeners("c1") != 0 {
		t.Error("a full listener was kept")
	}
	h.unsubscribe(s) // after the drop: no double close
}

func TestPayloadName(t *testing.T) {
	tests := map[string]string{
		"0::/lxc.payload.web1/system.slice/cloud-init.service\n":                 "web1",
		"0::/lxc.payload.a/lxc.payload.b/init.scope\n":                           "a",
		"0::/lxc.monitor.web1\n":                                                 "",
		"0::/user.slice/user-0.slice/session-1.scope\n":                          "",
		"12:memory:/lxc.payload.v1/x\n0::/\n":                                    "v1",
		"12:memory:/lxc.payload.old\n0::/lxc.payload.new/init.scope\n":           "new",
		"1:name=systemd:/lxc.payload.sd\n3:cpu,cpuacct:/lxc.payload.sd/system\n": "sd",
		"0::/lxc.payload.\n":                                                     "",
		"":                                                                       "",
	}
	for in, want := range tests {
		if got := PayloadName([]byte(in)); got != want {
			t.Errorf("PayloadName(%q) = %q, want %q", in, got, want)
		}
	}
	// The test itself runs in no instance.
	if _, err := (CgroupResolver{}).InstanceOf(int32(os.Getpid())); !errors.Is(err, ErrNotFound) {
		t.Errorf("the test process resolved: %v", err)
	}
	if _, err := (CgroupResolver{}).InstanceOf(-5); err == nil {
		t.Error("a bad pid resolved")
	}
}

func waitFor(t *testing.T, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
