package daemon

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"lodge/api"
	"lodge/images"
	"lodge/remotes"
	"lodge/remotes/remotestest"
)

func TestImageRefreshAndExpiry(t *testing.T) {
	e := newDaemonEnv(t, remoteDeps(t))
	ctx := context.Background()
	fxA := remotestest.Build(t, t.TempDir(), "")
	fxB := remotestest.Build(t, t.TempDir(), "")
	// One server whose tree is swapped: a new build of every alias appears.
	var dir atomic.Value
	dir.Store(fxA.Dir)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.FileServer(http.Dir(dir.Load().(string))).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.ok(t)(e.d.CopyImage(ctx, api.ImagesPost{ImagePut: api.ImagePut{AutoUpdate: true, Public: true},
		Source:  &api.ImagesPostSource{Type: "image", Server: srv.URL, Protocol: "simplestreams", Alias: "busybox"},
		Aliases: []api.ImageAliasesPost{{Name: "bb"}}}))
	refresh := func() api.Operation {
		t.Helper()
		a, err := e.db.GetAlias(context.Background(), "bb")
		if err != nil {
			t.Fatal(err)
		}
		return e.ok(t)(e.d.RefreshImage(ctx, a.Fingerprint))
	}
	if op := refresh(); op.StatusCode != api.Success || op.Metadata["refreshed"] != false {
		t.Fatalf("refresh with nothing new: %s %v", op.Err, op.Metadata)
	}
	dir.Store(fxB.Dir)
	e.d.rm.mu.Lock()
	e.d.rm.sources = nil // forget the cached index
	e.d.rm.mu.Unlock()
	op := refresh()
	if op.StatusCode != api.Success || op.Metadata["refreshed"] != true || op.Metadata["fingerprint"] != fxB.NewestSquashfs {
		t.Fatalf("refresh: %s %v", op.Err, op.Metadata)
	}
	a, _ := e.db.GetAlias(context.Background(), "bb")
	nu, err := e.db.GetImage(context.Background(), fxB.NewestSquashfs)
	if a.Fingerprint != fxB.NewestSquashfs || err != nil || !nu.Public || !nu.AutoUpdate || nu.Cached {
		t.Fatalf("after refresh: alias %s, image %+v %v", a.Fingerprint, nu, err)
	}
	if _, err := e.db.GetImage(context.Background(), fxA.NewestSquashfs); err == nil {
		t.Error("the old image was kept")
	}
	// The periodic task does the same: back to tree A.
	dir.Store(fxA.Dir)
	e.d.rm.mu.Lock()
	e.d.rm.sources = nil
	e.d.rm.mu.Unlock()
	e.d.autoUpdateImages(context.Background())
	if a, _ := e.db.GetAlias(context.Background(), "bb"); a.Fingerprint != fxA.NewestSquashfs {
		t.Errorf("auto-update: alias at %s", a.Fingerprint)
	}
	// Cache expiry: an image cached by a launch goes after N unused days, not while an instance uses it.
	e.ok(t)(e.d.CreateInstance(ctx, api.InstancesPost{Name: "rm-exp",
		Source: api.InstanceSource{Type: "image", Server: srv.URL, Protocol: "simplestreams", Alias: "busybox/" + fxA.OtherArch}}))
	if err := e.d.UpdateServerConfig(ctx, map[string]string{"images.remote_cache_expiry": "2"}, Update{Patch: true}); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(72 * time.Hour)
	if gone := e.d.expireCachedImages(context.Background(), later); len(gone) != 0 {
		t.Fatalf("expired while in use: %v", gone)
	}
	e.db.DeleteInstance(context.Background(), "rm-exp")
	if gone := e.d.expireCachedImages(context.Background(), time.Now()); len(gone) != 0 {
		t.Fatalf("expired too early: %v", gone)
	}
	gone := e.d.expireCachedImages(context.Background(), later)
	if len(gone) != 1 || gone[0] != fxA.Other {
		t.Fatalf("expiry: %v", gone)
	}
	// Images copied on purpose never expire.
	if _, err := e.db.GetImage(context.Background(), fxA.NewestSquashfs); err != nil {
		t.Error("a copied image expired")
	}
}

// remoteDeps gives a daemon env the real image store and unpack, with
// download limits short enough for tests.
func remoteDeps(t *testing.T) func(*Deps) {
	store, err := images.NewStore(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	return func(deps *Deps) {
		deps.Images, deps.Unpack = store, images.Unpack
		deps.RemoteHTTP = remotes.HTTPOptions{StallTimeout: 2 * time.Second, HeaderTimeout: 2 * time.Second}
	}
}
