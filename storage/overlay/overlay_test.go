package overlay

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"lodge/storage"
	"lodge/storage/storagetest"
	"lodge/test/gate"
)

func TestConformance(t *testing.T) {
	gate.Integration(t, "mounts overlayfs")
	storagetest.Run(t, func(t *testing.T) storage.Driver {
		d, err := New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.unmountAll)
		return d
	})
}

// unmountAll is the test's safety net so a failure leaves no mount behind.
func (d *Driver) unmountAll() {
	for _, p := range []string{"containers/*", "containers-snapshots/*/*"} {
		m, _ := filepathGlob(d.l.Root, p)
		for _, v := range m {
			unmountPath(v)
		}
	}
}

func TestConcurrentMountsDoNotStack(t *testing.T) {
	gate.Integration(t, "mounts overlayfs")
	ctx := context.Background()
	d, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.unmountAll)
	img := storage.Volume{Kind: storage.KindImage, Name: "img"}
	if err := d.CreateImage(ctx, img, func(dir string) error { return os.MkdirAll(filepath.Join(dir, "rootfs", "etc"), 0o755) }); err != nil {
		t.Fatal(err)
	}
	c := storage.Volume{Kind: storage.KindContainer, Name: "c"}
	if err := d.Clone(ctx, img, c); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); d.Mount(ctx, c) }()
	}
	wg.Wait()
	b, _ := os.ReadFile("/proc/self/mountinfo")
	if n := strings.Count(string(b), " "+filepath.Join(d.Path(c), "rootfs")+" "); n != 1 {
		t.Fatalf("%d mounts on the rootfs, want 1", n)
	}
	if err := d.Delete(ctx, c); err != nil {
		t.Fatal(err)
	}
}

func TestContainment(t *testing.T) {
	gate.Integration(t, "mounts overlayfs")
	d, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.unmountAll)
	storagetest.RunContainment(t, d, true)
}
