package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lodge/api"
	"lodge/images/imagestest"
	"lodge/instances/fake"
	"lodge/server/db"
	"lodge/server/operations"
	"lodge/storage"
	"lodge/storage/dir"
)

// daemonEnv is a daemon on a fresh state directory with a real SQLite, a
// real dir pool, the fake runtime and the in-memory image store, driven
// without HTTP.
type daemonEnv struct {
	d    *Daemon
	db   *db.DB
	dir  string
	deps Deps
	drv  *fake.Driver
	pool *dir.Driver
	// unpackErr, if set, fails every unpack; unpackGate, if set, makes
	// the unpack wait for it or for cancellation.
	unpackErr  error
	unpackGate chan struct{}
}

func newDaemonEnv(t testing.TB, opts ...func(*Deps)) *daemonEnv {
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
	e := &daemonEnv{db: d, dir: tmp, drv: fake.New(), pool: pool}
	unpack := func(ctx context.Context, img, dst string) error {
		if e.unpackErr != nil {
			return e.unpackErr
		}
		if e.unpackGate != nil {
			select {
			case <-e.unpackGate:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := os.MkdirAll(filepath.Join(dst, "sbin"), 0o755); err != nil {
			return err
		}
		return os.Symlink("/bin/busybox", filepath.Join(dst, "sbin", "init"))
	}
	e.deps = Deps{DB: d, Instances: e.drv, Images: imagestest.New(filepath.Join(tmp, "images")), Unpack: unpack, Pool: pool}
	for _, o := range opts {
		o(&e.deps)
	}
	e.start(t)
	return e
}

// start makes a new daemon (a new lodged) over the env's state, without
// its start-up work (Start).
func (e *daemonEnv) start(t testing.TB) {
	e.d = New(Config{Dir: e.dir, Version: "test"}, e.deps)
	d := e.d
	t.Cleanup(func() { d.WaitOperations(); d.Close() })
}

// wait waits for op and returns its end.
func (e *daemonEnv) wait(t testing.TB, op *operations.Op) api.Operation {
	t.Helper()
	select {
	case <-op.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("operation %s did not end", op.ID())
	}
	return op.Render()
}

// ok returns what waits for the operation a call started and fails t
// unless it succeeded: e.ok(t)(e.d.DeleteInstance(ctx, "c1")).
func (e *daemonEnv) ok(t testing.TB) func(*operations.Op, error) api.Operation {
	return func(op *operations.Op, err error) api.Operation {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		o := e.wait(t, op)
		if o.StatusCode != api.Success {
			t.Fatalf("%s: %s", o.Description, o.Err)
		}
		return o
	}
}

// image imports an image whose os property is content, named alias.
func (e *daemonEnv) image(t testing.TB, content, alias string) string {
	t.Helper()
	ctx := context.Background()
	o := e.ok(t)(e.d.ImportImage(ctx, ImageUpload{Tarball: strings.NewReader("IMAGE " + content)}))
	fp, _ := o.Metadata["fingerprint"].(string)
	if alias != "" {
		if err := e.d.CreateAlias(ctx, api.ImageAliasesPost{ImageAliasesEntryPut: api.ImageAliasesEntryPut{Target: fp}, Name: alias}); err != nil {
			t.Fatal(err)
		}
	}
	return fp
}

// launch creates an instance from the image alias bb (with cfg), started if start.
func (e *daemonEnv) launch(t testing.TB, name string, cfg map[string]string, start bool) {
	t.Helper()
	e.ok(t)(e.d.CreateInstance(context.Background(), api.InstancesPost{InstancePut: api.InstancePut{Config: cfg}, Name: name, Start: start,
		Source: api.InstanceSource{Type: "image", Alias: "bb"}}))
}
