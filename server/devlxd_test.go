package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lodge/api"
	"lodge/server/daemon"
)

// With a guest API directory, lodged serves devlxd on a socket per running
// instance there (the directory its runtime config mounts at /dev/lxd);
// a caller that is in no container gets LXD's answer, never a config.
func TestGuestAPISockets(t *testing.T) {
	e := newTestEnv(t)
	dir := filepath.Join(e.dir, "devlxd")
	e.s = New(Config{Config: daemon.Config{Dir: e.dir, Version: "test"}, GuestAPIDir: dir}, e.deps)
	e.d, e.h = e.s.Daemon(), e.s.Handler()
	t.Cleanup(func() { e.s.guest.Shutdown(context.Background()) })
	e.uploadImage(t, "busybox", "bb")
	code, resp, _ := e.do(t, "POST", "/1.0/instances", `{"name":"c1","source":{"type":"image","alias":"bb"},"start":true,"config":{"user.secret":"s3"}}`)
	if code != 202 || e.wait(t, resp).StatusCode != api.Success {
		t.Fatalf("launch: %d %s", code, resp.Error)
	}
	sock := filepath.Join(dir, "c1", "sock")
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o666 {
		t.Fatalf("socket: %v %v", fi, err)
	}
	spec, _ := e.drv.Spec("c1")
	if m := spec.Mounts[len(spec.Mounts)-1]; m.Source != filepath.Join(dir, "c1") || m.Path != "/dev/lxd" || !m.ReadOnly {
		t.Errorf("mount: %+v", m)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	r, err := c.Get("http://lxd/1.0/config/user.secret")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode == 200 || strings.Contains(string(b), "s3") {
		t.Errorf("a process in no container read %d %q", r.StatusCode, b)
	}
	code, resp, _ = e.do(t, "PUT", "/1.0/instances/c1/state", `{"action":"stop","force":true}`)
	if code != 202 || e.wait(t, resp).StatusCode != api.Success {
		t.Fatalf("stop: %d %s", code, resp.Error)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Error("the socket of a stopped instance stays")
	}
}

// The guest's image export is the main API's, for public images only.
func TestGuestExportImage(t *testing.T) {
	e := newTestEnv(t)
	fp := e.uploadImage(t, "busybox", "bb")
	export := func() (int, string) {
		w := httptest.NewRecorder()
		guestBackend{e.s}.ExportImage(w, httptest.NewRequest("GET", "/1.0/images/"+fp+"/export", nil), fp)
		return w.Code, w.Body.String()
	}
	if code, body := export(); code != 404 {
		t.Errorf("private image: %d %q", code, body)
	}
	if code, resp, _ := e.do(t, "PATCH", "/1.0/images/"+fp, `{"public":true}`); code != 200 {
		t.Fatalf("make public: %d %s", code, resp.Error)
	}
	if code, body := export(); code != 200 || body != "IMAGE busybox" {
		t.Errorf("public image: %d %q", code, body)
	}
}
