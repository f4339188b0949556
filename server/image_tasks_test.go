package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"lodge/api"
	"lodge/remotes/remotestest"
)

func TestImageRefreshAndExpiry(t *testing.T) {
	e, fxA, _, _ := newRemoteEnv(t)
	fxB := remotestest.Build(t, t.TempDir(), "")
	// One server whose tree is swapped: a new build of every alias appears.
	var dir atomic.Value
	dir.Store(fxA.Dir)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.FileServer(http.Dir(dir.Load().(string))).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	body := fmt.Sprintf(`{"auto_update":true,"public":true,"source":{"type":"image","server":%q,"protocol":"simplestreams","alias":"busybox"},"aliases":[{"name":"bb"}]}`, srv.URL)
	code, r, _ := e.do(t, "POST", "/1.0/images", body, "Content-Type", "application/json")
	if op := e.wait(t, r); code != 202 || op.StatusCode != api.Success {
		t.Fatalf("copy: %d %s", code, op.Err)
	}
	refresh := func() api.Operation {
		t.Helper()
		a, err := e.s.d.db.GetAlias(context.Background(), "bb")
		if err != nil {
			t.Fatal(err)
		}
		code, r, _ := e.do(t, "POST", "/1.0/images/"+a.Fingerprint+"/refresh", "")
		if code != 202 {
			t.Fatalf("refresh: %d %s", code, r.Error)
		}
		return e.wait(t, r)
	}
	if op := refresh(); op.StatusCode != api.Success || op.Metadata["refreshed"] != false {
		t.Fatalf("refresh with nothing new: %s %v", op.Err, op.Metadata)
	}
	dir.Store(fxB.Dir)
	e.s.d.rm.mu.Lock()
	e.s.d.rm.sources = nil // forget the cached index
	e.s.d.rm.mu.Unlock()
	op := refresh()
	if op.StatusCode != api.Success || op.Metadata["refreshed"] != true || op.Metadata["fingerprint"] != fxB.NewestSquashfs {
		t.Fatalf("refresh: %s %v", op.Err, op.Metadata)
	}
	a, _ := e.s.d.db.GetAlias(context.Background(), "bb")
	nu, err := e.s.d.db.GetImage(context.Background(), fxB.NewestSquashfs)
	if a.Fingerprint != fxB.NewestSquashfs || err != nil || !nu.Public || !nu.AutoUpdate || nu.Cached {
		t.Fatalf("after refresh: alias %s, image %+v %v", a.Fingerprint, nu, err)
	}
	if _, err := e.s.d.db.GetImage(context.Background(), fxA.NewestSquashfs); err == nil {
		t.Error("the old image was kept")
	}
	// The periodic task does the same: back to tree A.
	dir.Store(fxA.Dir)
	e.s.d.rm.mu.Lock()
	e.s.d.rm.sources = nil
	e.s.d.rm.mu.Unlock()
	e.s.d.autoUpdateImages(context.Background())
	if a, _ := e.s.d.db.GetAlias(context.Background(), "bb"); a.Fingerprint != fxA.NewestSquashfs {
		t.Errorf("auto-update: alias at %s", a.Fingerprint)
	}
	// Cache expiry: an image cached by a launch goes after N unused days, not while an instance uses it.
	code, r, _ = e.do(t, "POST", "/1.0/instances", launchBody("rm-exp", srv.URL, "busybox/"+fxA.OtherArch))
	if op := e.wait(t, r); code != 202 || op.StatusCode != api.Success {
		t.Fatalf("launch: %d %s", code, op.Err)
	}
	e.do(t, "PATCH", "/1.0", `{"config":{"images.remote_cache_expiry":"2"}}`)
	later := time.Now().Add(72 * time.Hour)
	if gone := e.s.d.expireCachedImages(context.Background(), later); len(gone) != 0 {
		t.Fatalf("expired while in use: %v", gone)
	}
	e.s.d.db.DeleteInstance(context.Background(), "rm-exp")
	if gone := e.s.d.expireCachedImages(context.Background(), time.Now()); len(gone) != 0 {
		t.Fatalf("expired too early: %v", gone)
	}
	gone := e.s.d.expireCachedImages(context.Background(), later)
	if len(gone) != 1 || gone[0] != fxA.Other {
		t.Fatalf("expiry: %v", gone)
	}
	// Images copied on purpose never expire.
	if _, err := e.s.d.db.GetImage(context.Background(), fxA.NewestSquashfs); err != nil {
		t.Error("a copied image expired")
	}
}
