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

// A tree view holds only the volume's merged rootfs, writes through it
// land in the volume, and what release or, after a crash, Cleanup leaves
// is nothing.
func TestTreeView(t *testing.T) {
	gate.Integration(t, "mounts overlayfs")
	ctx := context.Background()
	d, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.unmountAll)
	img := storage.Volume{Kind: storage.KindImage, Name: "img"}
	if err := d.CreateImage(ctx, img, func(dir string) error {
		os.MkdirAll(filepath.Join(dir, "rootfs", "etc"), 0o755)
		return os.WriteFile(filepath.Join(dir, "rootfs", "etc", "hostname"), []byte("img\n"), 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	c := storage.Volume{Kind: storage.KindContainer, Name: "c"}
	if err := d.Clone(ctx, img, c); err != nil {
		t.Fatal(err)
	}
	var _ storage.TreeViewer = d
	view, release, err := d.TreeView(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(view)
	if len(ents) != 1 || ents[0].Name() != "rootfs" {
		t.Fatalf("view holds %v, want rootfs alone", ents)
	}
	if b, _ := os.ReadFile(filepath.Join(view, "rootfs/etc/hostname")); string(b) != "img\n" {
		t.Fatalf("view's rootfs: %q", b)
	}
	if err := os.WriteFile(filepath.Join(view, "rootfs/new"), []byte("via view"), 0o644); err != nil {
		t.Fatal(err)
	}
	release()
	if _, err := os.Lstat(view); err == nil {
		t.Fatal("released view still there")
	}
	if b, _ := os.ReadFile(filepath.Join(d.Path(c), "upper", "new")); string(b) != "via view" {
		t.Fatalf("write through the view: %q", b)
	}
	// A crash: the view is left mounted; Cleanup takes it away.
	view, _, err = d.TreeView(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	d.Cleanup()
	if _, err := os.Lstat(view); err == nil || storage.IsMountpoint(filepath.Join(view, "rootfs")) {
		t.Fatalf("Cleanup left the view %s", view)
	}
	if b, _ := os.ReadFile(filepath.Join(d.Path(c), "upper", "new")); string(b) != "via view" {
		t.Fatal("Cleanup of a view touched the volume")
	}
	if err := d.Delete(ctx, c); err != nil {
		t.Fatal(err)
	}
}
