package server

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lodge/api"
	"lodge/images/imagestest"
	"lodge/instances"
	"lodge/instances/fake"
	"lodge/server/daemon"
	"lodge/server/db"
	"lodge/storage"
	"lodge/storage/dir"
)

var update = flag.Bool("update", false, "rewrite golden files")

type testEnv struct {
	s         *Server
	d         *daemon.Daemon
	h         http.Handler
	db        *db.DB
	dir       string
	deps      daemon.Deps
	drv       *fake.Driver
	pool      *dir.Driver
	unpackErr error
	// unpackGate, if set, makes the unpack wait for it or for cancellation.
	unpackGate chan struct{}
	// cfg is the server's config start uses (its logger, tracing).
	cfg Config
}

// newTestEnv is a server on a fresh state directory with a real SQLite,
// a real dir pool, the fake runtime and the in-memory image store; opts
// may change its drivers (a network driver, say).
func newTestEnv(t testing.TB, opts ...func(*daemon.Deps)) *testEnv {
	t.Helper()
	tmp := t.TempDir()
	d, err := db.Open(context.Background(), filepath.Join(tmp, "db", "lodge.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	pool, err := dir.New(filepath.Join(tmp, "pool"))
	if err != nil {
		t.Fatal(err)
	}
	// lodged's pools carry its marker (storage/pools writes it).
	if err := storage.WriteMarker(filepath.Join(tmp, "pool"), storage.Marker{Pool: "default", StateDir: tmp, Driver: "dir"}); err != nil {
		t.Fatal(err)
	}
	env := &testEnv{drv: fake.New(), pool: pool, db: d, dir: tmp}
	unpack := func(ctx context.Context, img, dst string) error {
		if env.unpackErr != nil {
			return env.unpackErr
		}
		if env.unpackGate != nil {
			select {
			case <-env.unpackGate:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := os.MkdirAll(filepath.Join(dst, "sbin"), 0o755); err != nil {
			return err
		}
		return os.Symlink("/bin/busybox", filepath.Join(dst, "sbin", "init"))
	}
	env.deps = daemon.Deps{DB: d, Instances: env.drv, Images: imagestest.New(filepath.Join(tmp, "images")), Unpack: unpack, Pool: pool}
	for _, o := range opts {
		o(&env.deps)
	}
	env.start(t)
	return env
}

// start serves a new server (a new lodged) over the env's state.
func (e *testEnv) start(t testing.TB) {
	cfg := e.cfg
	cfg.Dir, cfg.Version = e.dir, "test"
	e.s = New(cfg, e.deps)
	e.d, e.h = e.s.Daemon(), e.s.Handler()
	d := e.d
	t.Cleanup(func() { d.WaitOperations(); d.Close() })
}

// poolAt opens the dir pool recorded as name (made through the API).
func (e *testEnv) poolAt(t *testing.T, name string) *dir.Driver {
	t.Helper()
	p, err := e.db.GetStoragePool(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dir.New(p.Config["source"])
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (e *testEnv) do(t *testing.T, method, path string, body string, hdr ...string) (int, api.Response, http.Header) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	var resp api.Response
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatalf("%s %s: not JSON: %q", method, path, w.Body.String())
	}
	return w.Code, resp, w.Header()
}

// wait waits for the async operation in resp and returns its final form.
func (e *testEnv) wait(t *testing.T, resp api.Response) api.Operation {
	t.Helper()
	if resp.Type != api.AsyncResponse {
		t.Fatalf("not async: %+v", resp)
	}
	code, r, _ := e.do(t, "GET", resp.Operation+"/wait?timeout=10", "")
	if code != 200 {
		t.Fatalf("wait: %d %s", code, r.Error)
	}
	var op api.Operation
	json.Unmarshal(r.Metadata, &op)
	return op
}

func (e *testEnv) uploadImage(t *testing.T, content, alias string) string {
	t.Helper()
	code, resp, _ := e.do(t, "POST", "/1.0/images", "IMAGE "+content, "Content-Type", "application/octet-stream")
	if code != 202 {
		t.Fatalf("upload: %d %s", code, resp.Error)
	}
	op := e.wait(t, resp)
	fp, _ := op.Metadata["fingerprint"].(string)
	if op.StatusCode != api.Success || fp == "" {
		t.Fatalf("upload op: %+v", op)
	}
	if alias != "" {
		code, resp, _ = e.do(t, "POST", "/1.0/images/aliases", fmt.Sprintf(`{"name":%q,"target":%q}`, alias, fp))
		if code != 200 {
			t.Fatalf("alias: %d %s", code, resp.Error)
		}
	}
	return fp
}

func TestRoutesGolden(t *testing.T) {
	var b strings.Builder
	for _, r := range routes {
		fmt.Fprintf(&b, "%s %s %s\n", r.method, r.path, r.access)
	}
	path := filepath.Join("testdata", "routes.golden")
	if *update {
		os.WriteFile(path, []byte(b.String()), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil || string(want) != b.String() {
		t.Fatalf("routes changed (go test ./server -update to accept):\n%s", b.String())
	}
}

func TestCreateListDelete(t *testing.T) {
	e := newTestEnv(t)
	fp := e.uploadImage(t, "busybox", "bb")

	code, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"},"config":{"user.x":"1"}}`)
	if code != 202 || resp.StatusCode != 100 || !strings.HasPrefix(resp.Operation, "/1.0/operations/") {
		t.Fatalf("create: %d %+v", code, resp)
	}
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("create op: %+v", op)
	}
	code, resp, hdr := e.do(t, "GET", "/1.0/instances/c1", "")
	var inst api.Instance
	json.Unmarshal(resp.Metadata, &inst)
	if code != 200 || inst.Status != "Stopped" || inst.Config["volatile.base_image"] != fp || inst.Config["image.os"] != "busybox" ||
		inst.ExpandedDevices["root"]["path"] != "/" || hdr.Get("Etag") == "" {
		t.Fatalf("get: %d %+v", code, inst)
	}
	if !e.drv.Defined("c1") || !e.pool.Exists(storage.Volume{Kind: storage.KindContainer, Name: "c1"}) {
		t.Fatal("runtime config or rootfs missing")
	}
	// Start through the state endpoint, then list at every recursion.
	_, resp, _ = e.do(t, "PUT", "/1.0/instances/c1/state", `{"action":"start","timeout":-1}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("start: %+v", op)
	}
	_, resp, _ = e.do(t, "GET", "/1.0/instances", "")
	if string(resp.Metadata) != `["/1.0/instances/c1"]` {
		t.Fatalf("recursion 0: %s", resp.Metadata)
	}
	_, resp, _ = e.do(t, "GET", "/1.0/instances?recursion=2", "")
	var full []api.InstanceFull
	json.Unmarshal(resp.Metadata, &full)
	if len(full) != 1 || full[0].State == nil || full[0].State.Status != "Running" || full[0].State.Network["eth0"].Addresses[0].Address != "10.0.0.2" {
		t.Fatalf("recursion 2: %s", resp.Metadata)
	}
	// Deleting a running instance is refused; stopped, it goes entirely.
	if code, resp, _ := e.do(t, "DELETE", "/1.0/instances/c1", ""); code != 400 || !strings.Contains(resp.Error, "running") {
		t.Fatalf("delete running: %d %s", code, resp.Error)
	}
	_, resp, _ = e.do(t, "PUT", "/1.0/instances/c1/state", `{"action":"stop","force":true}`)
	e.wait(t, resp)
	_, resp, _ = e.do(t, "DELETE", "/1.0/instances/c1", "")
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("delete: %+v", op)
	}
	if e.drv.Defined("c1") || e.pool.Exists(storage.Volume{Kind: storage.KindContainer, Name: "c1"}) {
		t.Fatal("delete left runtime config or rootfs")
	}
}

func TestCreateErrors(t *testing.T) {
	e := newTestEnv(t)
	e.uploadImage(t, "busybox", "bb")
	// Two images in the DB sharing a prefix make that prefix ambiguous.
	now := time.Now()
	for _, fp := range []string{"ab01" + strings.Repeat("0", 60), "ab02" + strings.Repeat("0", 60)} {
		if err := e.db.CreateImage(context.Background(), db.Image{Fingerprint: fp, Size: 1, CreatedAt: now, UploadedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	e.do(t, "POST", "/1.0/instances", `{"name":"dup","source":{"type":"image","alias":"bb"}}`)
	tests := []struct {
		name, body string
		code       int
		msg        string
	}{
		{"bad name", `{"name":"a_b","source":{"type":"image","alias":"bb"}}`, 400, "not valid"},
		{"digit start", `{"name":"1ab","source":{"type":"image","alias":"bb"}}`, 400, "not valid"},
		{"too long", `{"name":"` + strings.Repeat("x", 64) + `","source":{"type":"image","alias":"bb"}}`, 400, "limit is 63"},
		{"duplicate", `{"name":"dup","source":{"type":"image","alias":"bb"}}`, 409, "already exists"},
		{"unknown alias", `{"name":"c2","source":{"type":"image","alias":"nope"}}`, 404, "not found"},
		{"unknown fingerprint", `{"name":"c2","source":{"type":"image","fingerprint":"ffff"}}`, 404, "not found"},
		{"ambiguous prefix", `{"name":"c2","source":{"type":"image","fingerprint":"ab0"}}`, 400, "ambiguous"},
		{"unknown key", `{"name":"c2","config":{"foo":"bar"},"source":{"type":"image","alias":"bb"}}`, 400, "unknown key"},
		{"bad device", `{"name":"c2","devices":{"x":{"type":"gpu"}},"source":{"type":"image","alias":"bb"}}`, 400, `device type "gpu" is not supported yet`},
		{"vm", `{"name":"c2","type":"virtual-machine","source":{"type":"image","alias":"bb"}}`, 400, "containers only"},
		{"remote protocol", `{"name":"c2","source":{"type":"image","alias":"x","server":"https://example.invalid","protocol":"gopher"}}`, 400, "protocol \"gopher\" is not supported"},
		{"malformed", `{"name":`, 400, "malformed JSON"},
		{"trailing", `{"name":"c2"} {}`, 400, "trailing data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, resp, _ := e.do(t, "POST", "/1.0/instances", tc.body)
			if code != tc.code || resp.Type != api.ErrorResponse || resp.ErrorCode != tc.code || !strings.Contains(resp.Error, tc.msg) {
				t.Fatalf("got %d %q, want %d %q", code, resp.Error, tc.code, tc.msg)
			}
		})
	}
	e.d.WaitOperations()
	list, _ := e.db.ListInstances(context.Background())
	if len(list) != 1 || list[0].Name != "dup" {
		t.Fatalf("rows after bad requests: %+v", list)
	}
}

func TestFailedCreateRollsBack(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *testEnv)
		msg   string
	}{
		{"unpack fails", func(e *testEnv) { e.unpackErr = errors.New("tar: unexpected EOF") }, "unexpected EOF"},
		{"define fails", func(e *testEnv) { e.drv.FailDefine = errors.New("liblxc refused the config") }, "liblxc refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.uploadImage(t, "busybox", "bb")
			tc.setup(e)
			_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"}}`)
			op := e.wait(t, resp)
			if op.StatusCode != api.Failure || !strings.Contains(op.Err, tc.msg) {
				t.Fatalf("op: %+v", op)
			}
			if code, _, _ := e.do(t, "GET", "/1.0/instances/c1", ""); code != 404 {
				t.Fatalf("row left: %d", code)
			}
			if e.drv.Defined("c1") || e.pool.Exists(storage.Volume{Kind: storage.KindContainer, Name: "c1"}) {
				t.Fatal("runtime config or rootfs left")
			}
		})
	}
}

func TestUpdateInstance(t *testing.T) {
	e := newTestEnv(t)
	e.uploadImage(t, "busybox", "bb")
	_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"}}`)
	e.wait(t, resp)
	_, resp, hdr := e.do(t, "GET", "/1.0/instances/c1", "")
	var inst api.Instance
	json.Unmarshal(resp.Metadata, &inst)
	inst.Config["boot.autostart"] = "true"
	body, _ := json.Marshal(inst.InstancePut)
	if code, resp, _ := e.do(t, "PUT", "/1.0/instances/c1", string(body), "If-Match", hdr.Get("Etag")); code != 202 {
		t.Fatalf("put: %d %s", code, resp.Error)
	}
	// The old ETag no longer matches.
	if code, _, _ := e.do(t, "PUT", "/1.0/instances/c1", string(body), "If-Match", hdr.Get("Etag")); code != 412 {
		t.Fatalf("stale etag: %d", code)
	}
	if code, resp, _ := e.do(t, "PATCH", "/1.0/instances/c1", `{"config":{"user.a":"b"}}`); code != 202 {
		t.Fatalf("patch: %d %s", code, resp.Error)
	}
	in, _ := e.db.GetInstance(context.Background(), "c1")
	if in.Config["boot.autostart"] != "true" || in.Config["user.a"] != "b" || in.Config["volatile.base_image"] == "" {
		t.Fatalf("config after updates: %v", in.Config)
	}
	if code, resp, _ := e.do(t, "PATCH", "/1.0/instances/c1", `{"config":{"limits.memory":"x"}}`); code != 400 || !strings.Contains(resp.Error, "limits.memory") {
		t.Fatalf("bad patch: %d %s", code, resp.Error)
	}
}

func TestImagesAndAliases(t *testing.T) {
	e := newTestEnv(t)
	fp := e.uploadImage(t, "busybox", "bb")
	if code, resp, _ := e.do(t, "POST", "/1.0/images", "IMAGE busybox", "Content-Type", "application/octet-stream"); code != 409 {
		t.Fatalf("duplicate upload: %d %s", code, resp.Error)
	}
	if code, resp, _ := e.do(t, "POST", "/1.0/images", "garbage", "Content-Type", "application/octet-stream"); code != 400 || !strings.Contains(resp.Error, "metadata.yaml") {
		t.Fatalf("bad upload: %d %s", code, resp.Error)
	}
	code, resp, _ := e.do(t, "GET", "/1.0/images/"+fp[:8], "")
	var im api.Image
	json.Unmarshal(resp.Metadata, &im)
	if code != 200 || im.Fingerprint != fp || len(im.Aliases) != 1 || im.Aliases[0].Name != "bb" || im.Properties["os"] != "busybox" {
		t.Fatalf("image by prefix: %d %+v", code, im)
	}
	code, resp, _ = e.do(t, "GET", "/1.0/images/aliases/bb", "")
	var a api.ImageAliasesEntry
	json.Unmarshal(resp.Metadata, &a)
	if code != 200 || a.Target != fp {
		t.Fatalf("alias: %d %+v", code, a)
	}
	if code, _, _ := e.do(t, "POST", "/1.0/images/aliases", fmt.Sprintf(`{"name":"bb","target":%q}`, fp)); code != 409 {
		t.Fatalf("dup alias: %d", code)
	}
	if code, _, _ := e.do(t, "POST", "/1.0/images/aliases", `{"name":"bad name","target":"x"}`); code != 400 {
		t.Fatalf("bad alias name: %d", code)
	}
	_, resp, _ = e.do(t, "DELETE", "/1.0/images/"+fp, "")
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("delete: %+v", op)
	}
	if code, _, _ := e.do(t, "GET", "/1.0/images/aliases/bb", ""); code != 404 {
		t.Fatalf("alias after image delete: %d", code)
	}
}

func TestServerInfoAndUnknownPath(t *testing.T) {
	e := newTestEnv(t)
	code, resp, _ := e.do(t, "GET", "/1.0", "")
	var info api.Server
	json.Unmarshal(resp.Metadata, &info)
	if code != 200 || info.APIVersion != "1.0" || info.Environment.Server != "lodge" || info.Auth != "trusted" {
		t.Fatalf("GET /1.0: %d %+v", code, info)
	}
	has := false
	for _, x := range info.APIExtensions {
		has = has || x == "instances"
	}
	if !has {
		t.Fatal("api_extensions lacks instances (LXD's client would fall back to /1.0/containers)")
	}
	if code, resp, _ := e.do(t, "GET", "/1.0/nope", ""); code != 404 || resp.Type != api.ErrorResponse {
		t.Fatalf("unknown path: %d %+v", code, resp)
	}
}

func TestCreateWithStartAndCancel(t *testing.T) {
	e := newTestEnv(t)
	e.uploadImage(t, "busybox", "bb")
	// lodge's "start" extension: create and start in one operation.
	_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","start":true,"source":{"type":"image","alias":"bb"}}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("create+start: %+v", op)
	}
	if st, _ := e.drv.State(context.Background(), "c1"); st.Status != "Running" {
		t.Fatalf("after create with start: %v", st.Status)
	}

	// A create cancelled while it unpacks leaves nothing behind.
	e2 := newTestEnv(t)
	e2.uploadImage(t, "busybox", "bb")
	e2.unpackGate = make(chan struct{})
	_, resp, _ = e2.do(t, "POST", "/1.0/instances", `{"name":"c2","source":{"type":"image","alias":"bb"}}`)
	var op api.Operation
	json.Unmarshal(resp.Metadata, &op)
	if !op.MayCancel {
		t.Fatal("create is not cancellable")
	}
	if code, r, _ := e2.do(t, "DELETE", resp.Operation, ""); code != 200 {
		t.Fatalf("cancel: %d %s", code, r.Error)
	}
	if done := e2.wait(t, resp); done.StatusCode != api.Cancelled {
		t.Fatalf("cancelled create: %+v", done)
	}
	if code, _, _ := e2.do(t, "GET", "/1.0/instances/c2", ""); code != 404 {
		t.Fatalf("row left after cancel: %d", code)
	}
	if e2.pool.Exists(storage.Volume{Kind: storage.KindContainer, Name: "c2"}) || e2.drv.Defined("c2") {
		t.Fatal("leftovers after cancel")
	}
}

// The driver's limit checks and live updates run as with liblxc: a limit
// the host cannot apply is a 400 that changes nothing; one it can reaches
// the running instance at once.
func TestLiveLimits(t *testing.T) {
	e := newTestEnv(t)
	e.uploadImage(t, "busybox", "bb")
	_, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","start":true,"source":{"type":"image","alias":"bb"}}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("create: %+v", op)
	}
	e.drv.CheckLimitsFunc = func(cfg map[string]string) error {
		if cfg["limits.cpu"] == "64" {
			return fmt.Errorf("limits.cpu: this host has 2 CPUs: %w", instances.ErrInvalid)
		}
		return nil
	}
	if code, resp, _ := e.do(t, "PATCH", "/1.0/instances/c1", `{"config":{"limits.cpu":"64"}}`); code != 400 || !strings.Contains(resp.Error, "2 CPUs") {
		t.Fatalf("limit the host cannot apply: %d %s", code, resp.Error)
	}
	if in, _ := e.db.GetInstance(context.Background(), "c1"); in.Config["limits.cpu"] != "" {
		t.Fatalf("a refused limit was stored: %v", in.Config)
	}
	_, resp, _ = e.do(t, "PATCH", "/1.0/instances/c1", `{"config":{"limits.memory":"256MiB"}}`)
	if op := e.wait(t, resp); op.StatusCode != api.Success {
		t.Fatalf("patch: %+v", op)
	}
	if got := e.drv.Limits("c1")["limits.memory"]; got != "256MiB" {
		t.Fatalf("live limits of the running instance: %q", got)
	}
}
