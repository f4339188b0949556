package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"lodge/instances/fake"
	"lodge/server/db"
	"lodge/storage"
	"lodge/storage/dir"
	"lodge/storage/pools"
)

// fakePools records what the server asks of its pool manager.
type fakePools struct {
	def     string
	created map[string]map[string]string
	// root stands for the state directory: a pool made without a source
	// goes below it, as the real manager puts it in STATE/storage-pools.
	root string
}

func (f *fakePools) Create(ctx context.Context, name, driver string, cfg map[string]string, others []pools.Pool) (map[string]string, error) {
	f.created[name+":"+driver] = cfg
	if cfg["source"] == "" {
		cfg["source"] = filepath.Join(f.root, "storage-pools", name)
	}
	return cfg, nil
}
func (f *fakePools) Open(ctx context.Context, name, driver string, cfg map[string]string) (storage.Driver, error) {
	return dir.New(cfg["source"])
}
func (f *fakePools) Destroy(ctx context.Context, name, driver string, cfg map[string]string, known []storage.Volume) (pools.Removal, error) {
	return pools.Removal{}, nil
}
func (f *fakePools) DefaultDriver() string { return f.def }
func (f *fakePools) Resize(ctx context.Context, name, driver string, cfg map[string]string, size int64) error {
	return fmt.Errorf("storage pool %q: %s pools cannot be resized", name, driver)
}

func TestDefaultPoolChoice(t *testing.T) {
	for _, def := range []string{"btrfs", "overlay"} {
		tmp := t.TempDir()
		d, err := db.Open(context.Background(), filepath.Join(tmp, "db", "lodge.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		fp := &fakePools{def: def, created: map[string]map[string]string{}, root: tmp}
		dm := New(Config{Dir: tmp}, Deps{DB: d, Instances: fake.New(), Pools: fp})
		if err := dm.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		row, err := d.GetStoragePool(context.Background(), "default")
		if err != nil || row.Driver != def {
			t.Fatalf("%s: default pool %+v %v", def, row, err)
		}
		cfg, ok := fp.created["default:"+def]
		if !ok {
			t.Fatalf("%s: not created: %v", def, fp.created)
		}
		// On btrfs the subvolumes go in the state directory itself, no loop file.
		if def == "btrfs" && cfg["source"] != filepath.Join(tmp, "storage-pools", "default") {
			t.Fatalf("btrfs default source %q", cfg["source"])
		}
		dm.Close()
	}
	// A state directory from before pools were recorded keeps its dir pool.
	tmp := t.TempDir()
	os.MkdirAll(filepath.Join(tmp, "storage-pools", "default", "containers", "old1"), 0o700)
	d, _ := db.Open(context.Background(), filepath.Join(tmp, "db", "lodge.db"))
	defer d.Close()
	dm := New(Config{Dir: tmp}, Deps{DB: d, Instances: fake.New(), Pools: &fakePools{def: "overlay", created: map[string]map[string]string{}, root: tmp}})
	if err := dm.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if row, _ := d.GetStoragePool(context.Background(), "default"); row.Driver != "dir" {
		t.Fatalf("legacy pool: %+v", row)
	}
	dm.Close()
}
