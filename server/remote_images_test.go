package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lodge/api"
	"lodge/images"
	"lodge/remotes"
	"lodge/remotes/remotestest"
	"lodge/server/daemon"
	"lodge/storage"
)

// newRemoteEnv is a server with the real image store and unpack, and a
// simplestreams server on loopback serving the remotestest fixture.
func newRemoteEnv(t *testing.T) (*testEnv, *remotestest.Fixture, *remotestest.Server, string) {
	t.Helper()
	storeDir := filepath.Join(t.TempDir(), "images")
	store, err := images.NewStore(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	env := newTestEnv(t, func(deps *daemon.Deps) {
		deps.Images, deps.Unpack = store, images.Unpack
		deps.RemoteHTTP = remotes.HTTPOptions{StallTimeout: 2 * time.Second, HeaderTimeout: 2 * time.Second}
	})
	fx := remotestest.Build(t, t.TempDir(), "")
	srv := remotestest.Serve(t, fx)
	return env, fx, srv, storeDir
}

func launchBody(name, server, alias string) string {
	return fmt.Sprintf(`{"name":%q,"source":{"type":"image","server":%q,"protocol":"simplestreams","alias":%q}}`, name, server, alias)
}

func storeFiles(t *testing.T, dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestRemoteLaunchSimplestreams(t *testing.T) {
	e, fx, srv, storeDir := newRemoteEnv(t)
	code, resp, _ := e.do(t, "POST", "/1.0/instances", launchBody("rm1", srv.URL, "busybox"))
	if code != 202 {
		t.Fatalf("launch: %d %s", code, resp.Error)
	}
	op := e.wait(t, resp)
	if op.StatusCode != api.Success {
		t.Fatalf("op: %s", op.Err)
	}
	// The alias picks the newest host-arch build, squashfs preferred.
	im, err := e.db.GetImage(context.Background(), fx.NewestSquashfs)
	if err != nil {
		t.Fatalf("image not in db: %v", err)
	}
	if !im.Cached || !im.AutoUpdate || im.Architecture != remotes.HostArchitecture() {
		t.Errorf("image row: %+v", im)
	}
	src, err := e.db.GetImageSource(context.Background(), fx.NewestSquashfs)
	if err != nil || src.Server != srv.URL || src.Protocol != "simplestreams" || src.Alias != "busybox" {
		t.Errorf("source: %+v %v", src, err)
	}
	if p, _ := op.Metadata["download_progress"].(string); !strings.HasPrefix(p, "rootfs: 100%") {
		t.Errorf("download_progress: %v", op.Metadata)
	}
	in, err := e.db.GetInstance(context.Background(), "rm1")
	if err != nil || in.ImageFingerprint != fx.NewestSquashfs || in.Config["image.os"] != "busybox" {
		t.Fatalf("instance: %+v %v", in, err)
	}
	// The squashfs went through unsquashfs into the image volume.
	vol := e.pool.Path(storage.Volume{Kind: storage.KindImage, Name: fx.NewestSquashfs})
	if b, err := os.ReadFile(filepath.Join(vol, "rootfs", "etc", "lodge-build")); err != nil || !strings.HasPrefix(string(b), "20240102_00:00") {
		t.Fatalf("unpacked rootfs: %q %v", b, err)
	}
	// A second launch uses the cache: no new download.
	n := len(storeFiles(t, storeDir))
	code, resp, _ = e.do(t, "POST", "/1.0/instances", launchBody("rm2", srv.URL, "busybox"))
	if op := e.wait(t, resp); code != 202 || op.StatusCode != api.Success {
		t.Fatalf("second launch: %d %s", code, op.Err)
	}
	if got := len(storeFiles(t, storeDir)); got != n {
		t.Errorf("store grew from %d to %d files", n, got)
	}
	// Other forms: the other architecture by name, an older build by fingerprint prefix, a root.tar.xz split, a unified tarball.
	for i, ref := range []string{"busybox/" + fx.OtherArch, fx.OlderSquashfs[:12], fx.NewestRootxz[:16], fx.NewestUnified} {
		body := fmt.Sprintf(`{"name":"rmx%d","source":{"type":"image","server":%q,"protocol":"simplestreams","fingerprint":%q}}`, i, srv.URL, ref)
		if i == 0 {
			body = launchBody(fmt.Sprintf("rmx%d", i), srv.URL, ref)
		}
		code, resp, _ := e.do(t, "POST", "/1.0/instances", body)
		if code != 202 {
			t.Fatalf("%s: %d %s", ref, code, resp.Error)
		}
		if op := e.wait(t, resp); op.StatusCode != api.Success {
			t.Fatalf("%s: %s", ref, op.Err)
		}
	}
	for _, fp := range []string{fx.Other, fx.OlderSquashfs, fx.NewestRootxz, fx.NewestUnified} {
		if _, err := e.db.GetImage(context.Background(), fp); err != nil {
			t.Errorf("image %s not imported: %v", fp[:12], err)
		}
	}
	vol = e.pool.Path(storage.Volume{Kind: storage.KindImage, Name: fx.NewestRootxz})
	if _, err := os.Stat(filepath.Join(vol, "rootfs", "etc", "hostname")); err != nil {
		t.Errorf("root.tar.xz unpack: %v", err)
	}
}

func TestRemoteConcurrentLaunches(t *testing.T) {
	e, fx, srv, _ := newRemoteEnv(t)
	gate := make(chan struct{})
	srv.Gate = gate
	var wg sync.WaitGroup
	resps := make([]api.Response, 10)
	for i := range resps {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			code, resp, _ := e.do(t, "POST", "/1.0/instances", launchBody(fmt.Sprintf("rmc%d", i), srv.URL, "busybox"))
			if code != 202 {
				t.Errorf("launch %d: %d %s", i, code, resp.Error)
			}
			resps[i] = resp
		}(i)
	}
	wg.Wait()
	close(gate) // all ten are waiting now
	for i, resp := range resps {
		if resp.Type == "" {
			continue
		}
		if op := e.wait(t, resp); op.StatusCode != api.Success {
			t.Errorf("launch %d: %s", i, op.Err)
		}
	}
	items := 0
	im, _ := e.db.GetImage(context.Background(), fx.NewestSquashfs)
	if im.Fingerprint == "" {
		t.Fatal("image not imported")
	}
	// Exactly one request for the rootfs, whatever the number of launches.
	for path, n := range srvCounts(srv, fx) {
		items++
		if n != 1 {
			t.Errorf("%s fetched %d times", path, n)
		}
	}
	if items == 0 {
		t.Fatal("no rootfs request seen")
	}
}

// srvCounts returns the request counts of the newest build's squashfs.
func srvCounts(srv *remotestest.Server, fx *remotestest.Fixture) map[string]int {
	out := map[string]int{}
	b, _ := os.ReadFile(filepath.Join(fx.Dir, "streams", "v1", "images.json"))
	var p struct {
		Products map[string]struct {
			Versions map[string]struct {
				Items map[string]struct {
					Path string `json:"path"`
				} `json:"items"`
			} `json:"versions"`
		} `json:"products"`
	}
	json.Unmarshal(b, &p)
	for key, prod := range p.Products {
		if !strings.HasPrefix(key, "busybox:1:"+fx.HostArch) {
			continue
		}
		it := prod.Versions["20240102_00:00"].Items["squashfs"]
		out["/"+it.Path] = srv.Count("/" + it.Path)
	}
	return out
}

func TestRemoteImageCopy(t *testing.T) {
	e, fx, srv, _ := newRemoteEnv(t)
	body := fmt.Sprintf(`{"source":{"type":"image","mode":"pull","server":%q,"protocol":"simplestreams","alias":"busybox/1/%s"},"aliases":[{"name":"bb"}],"auto_update":true}`, srv.URL, fx.OtherArch)
	code, resp, _ := e.do(t, "POST", "/1.0/images", body, "Content-Type", "application/json")
	if code != 202 {
		t.Fatalf("copy: %d %s", code, resp.Error)
	}
	op := e.wait(t, resp)
	if op.StatusCode != api.Success || op.Metadata["fingerprint"] != fx.Other {
		t.Fatalf("op: %s %v", op.Err, op.Metadata)
	}
	im, err := e.db.GetImage(context.Background(), fx.Other)
	if err != nil || im.Cached || !im.AutoUpdate {
		t.Fatalf("image: %+v %v", im, err)
	}
	a, err := e.db.GetAlias(context.Background(), "bb")
	if err != nil || a.Fingerprint != fx.Other {
		t.Fatalf("alias: %+v %v", a, err)
	}
	// The copy by fingerprint of a unified item, then of an already-cached image: it stops being a cache entry.
	_, resp, _ = e.do(t, "POST", "/1.0/instances", launchBody("rmcp", srv.URL, "busybox"))
	e.wait(t, resp)
	body = fmt.Sprintf(`{"source":{"type":"image","server":%q,"protocol":"simplestreams","fingerprint":%q},"aliases":[{"name":"bb2"}]}`, srv.URL, fx.NewestSquashfs[:10])
	code, resp, _ = e.do(t, "POST", "/1.0/images", body, "Content-Type", "application/json")
	if op := e.wait(t, resp); code != 202 || op.StatusCode != api.Success {
		t.Fatalf("copy cached: %d %s", code, op.Err)
	}
	if im, _ := e.db.GetImage(context.Background(), fx.NewestSquashfs); im.Cached {
		t.Error("still marked cached after an explicit copy")
	}
	// Bad requests change nothing.
	for _, b := range []string{
		`{"source":{"type":"image","protocol":"simplestreams","alias":"busybox"}}`,
		fmt.Sprintf(`{"source":{"type":"image","server":%q,"protocol":"gopher","alias":"busybox"}}`, srv.URL),
		fmt.Sprintf(`{"source":{"type":"image","server":%q,"protocol":"simplestreams","alias":"busybox"},"aliases":[{"name":"a b"}]}`, srv.URL),
		`{"source":{"type":"url","url":"http://x"}}`,
	} {
		if code, resp, _ := e.do(t, "POST", "/1.0/images", b, "Content-Type", "application/json"); code != 400 {
			t.Errorf("%s: %d %s", b, code, resp.Error)
		}
	}
}

func TestRemoteBrokenDownloads(t *testing.T) {
	e, fx, srv, storeDir := newRemoteEnv(t)
	before := storeFiles(t, storeDir)
	for _, c := range []struct {
		alias, fp string
		want      []string
	}{
		{"tampered", fx.Tampered, []string{"fingerprint mismatch", fx.Tampered}},
		{"truncated", fx.Truncated, []string{"truncated", srv.URL}},
		{"stalled", fx.Stalled, []string{"no data for", srv.URL}},
	} {
		code, resp, _ := e.do(t, "POST", "/1.0/instances", launchBody("rm-"+c.alias, srv.URL, c.alias))
		if code != 202 {
			t.Fatalf("%s: %d %s", c.alias, code, resp.Error)
		}
		op := e.wait(t, resp)
		if op.StatusCode != api.Failure {
			t.Fatalf("%s: op %s", c.alias, op.Status)
		}
		for _, w := range c.want {
			if !strings.Contains(op.Err, w) {
				t.Errorf("%s: error %q lacks %q", c.alias, op.Err, w)
			}
		}
		if _, err := e.db.GetImage(context.Background(), c.fp); err == nil {
			t.Errorf("%s: image row left", c.alias)
		}
		if _, err := e.db.GetInstance(context.Background(), "rm-"+c.alias); err == nil {
			t.Errorf("%s: instance row left", c.alias)
		}
		if got := storeFiles(t, storeDir); len(got) != len(before) {
			t.Errorf("%s: store has %v", c.alias, got)
		}
	}
	// The tampered error names the published and the actual hash.
	code, resp, _ := e.do(t, "POST", "/1.0/instances", launchBody("rm-t2", srv.URL, "tampered"))
	if op := e.wait(t, resp); code != 202 || len(hexWords(op.Err)) < 2 {
		t.Errorf("tampered error should name two hashes: %q", op.Err)
	}
}

func hexWords(s string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == ':' }) {
		if len(w) == 64 && strings.Trim(w, "0123456789abcdef") == "" {
			out = append(out, w)
		}
	}
	return out
}

func TestRemoteResolveErrors(t *testing.T) {
	e, _, srv, _ := newRemoteEnv(t)
	code, resp, _ := e.do(t, "POST", "/1.0/instances", launchBody("rmnf", srv.URL, "nosuch/1"))
	if code != 404 || !strings.Contains(resp.Error, srv.URL) || !strings.Contains(resp.Error, "nosuch/1") {
		t.Errorf("not found: %d %s", code, resp.Error)
	}
	dead := srv.URL
	srv.Close()
	start := time.Now()
	code, resp, _ = e.do(t, "POST", "/1.0/instances", launchBody("rmdead", dead+"/x", "busybox"))
	if code != 502 || !strings.Contains(resp.Error, dead+"/x/streams/v1/index.json") {
		t.Errorf("unreachable: %d %s", code, resp.Error)
	}
	if time.Since(start) > 15*time.Second {
		t.Errorf("unreachable remote took %s", time.Since(start))
	}
	code, resp, _ = e.do(t, "POST", "/1.0/instances", `{"name":"rmbad","source":{"type":"image","server":"ftp://x","protocol":"simplestreams","alias":"a"}}`)
	if code != 400 {
		t.Errorf("ftp: %d %s", code, resp.Error)
	}
	if _, err := e.db.GetInstance(context.Background(), "rmdead"); err == nil {
		t.Error("instance row left after a failed resolve")
	}
}

func TestServerConfig(t *testing.T) {
	e := newTestEnv(t)
	code, resp, _ := e.do(t, "PATCH", "/1.0", `{"config":{"images.remote_cache_expiry":"5","images.auto_update_interval":24}}`)
	if code != 200 {
		t.Fatalf("patch: %d %s", code, resp.Error)
	}
	code, resp, _ = e.do(t, "PATCH", "/1.0", `{"config":{"images.remote_cache_expiry":"-1","nope.key":"1"}}`)
	if code != 400 || !strings.Contains(resp.Error, "nope.key") || !strings.Contains(resp.Error, "images.remote_cache_expiry") {
		t.Fatalf("bad patch: %d %s", code, resp.Error)
	}
	_, resp, hdr := e.do(t, "GET", "/1.0", "")
	var srv api.Server
	json.Unmarshal(resp.Metadata, &srv)
	if srv.Config["images.remote_cache_expiry"] != "5" || srv.Config["images.auto_update_interval"] != "24" {
		t.Fatalf("config: %v", srv.Config)
	}
	// PUT replaces: a key left out is unset. A stale ETag is refused.
	if code, resp, _ := e.do(t, "PUT", "/1.0", `{"config":{"images.auto_update_interval":"0"}}`, "If-Match", hdr.Get("Etag")); code != 200 {
		t.Fatalf("put: %d %s", code, resp.Error)
	}
	if code, _, _ := e.do(t, "PUT", "/1.0", `{"config":{}}`, "If-Match", hdr.Get("Etag")); code != 412 {
		t.Fatalf("stale etag: %d", code)
	}
	cfg, _ := e.db.Config(context.Background())
	if _, ok := cfg["images.remote_cache_expiry"]; ok || cfg["images.auto_update_interval"] != "0" {
		t.Fatalf("after put: %v", cfg)
	}
}
