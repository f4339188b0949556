package pools

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"lodge/storage"
	"lodge/storage/btrfs"
	"lodge/storage/storagetest"
	"lodge/test/gate"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"20GiB": 20 << 30, "500MB": 500e6, "1024": 1024, "1 KiB": 1024} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GiB", "-1GiB", "10XB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := Validate("zfs", nil); err == nil {
		t.Error("zfs accepted")
	}
	if err := Validate("dir", map[string]string{"size": "1GiB"}); err == nil {
		t.Error("size accepted on dir")
	}
	if err := Validate("btrfs", map[string]string{"size": "lots"}); err == nil {
		t.Error("bad size accepted")
	}
	if err := Validate("btrfs", map[string]string{"size": "1GiB", "user.x": "y"}); err != nil {
		t.Error(err)
	}
}

// A pool's migrations: rsync.bwlimit takes rsync's rates, rsync.compression
// a boolean, on every driver.
func TestValidateRsyncKeys(t *testing.T) {
	for _, drv := range Drivers {
		if err := Validate(drv, map[string]string{"rsync.bwlimit": "10M", "rsync.compression": "true"}); err != nil {
			t.Errorf("%s: %v", drv, err)
		}
		if err := Validate(drv, map[string]string{"rsync.bwlimit": "fast"}); err == nil || !strings.Contains(err.Error(), "10M") {
			t.Errorf("%s: bwlimit fast: %v", drv, err)
		}
		if err := Validate(drv, map[string]string{"rsync.compression": "maybe"}); err == nil {
			t.Errorf("%s: compression maybe accepted", drv)
		}
	}
}

func TestDirCreateDestroy(t *testing.T) {
	m := Manager{StateDir: t.TempDir()}
	ctx := context.Background()
	cfg, err := m.Create(ctx, "p1", "dir", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg["source"] != filepath.Join(m.StateDir, "storage-pools", "p1") {
		t.Fatalf("source %q", cfg["source"])
	}
	if err := storage.CheckMarker(cfg["source"], m.StateDir, "p1"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Open(ctx, "p1", "dir", cfg); err != nil {
		t.Fatal(err)
	}
	rem, err := m.Destroy(ctx, "p1", "dir", cfg, nil)
	if err != nil || rem.Forgotten != "" || len(rem.Left) > 0 {
		t.Fatal(rem, err)
	}
	if _, err := os.Stat(cfg["source"]); !os.IsNotExist(err) {
		t.Fatalf("pool directory left: %v", err)
	}
}

// The scenario: a directory holding another tool's data.
func TestCreateRefusesNonEmptySource(t *testing.T) {
	m := Manager{StateDir: t.TempDir()}
	old := filepath.Join(t.TempDir(), "old")
	storagetest.Plant(t, filepath.Join(old, "containers", "web01", "data"))
	for _, drv := range []string{"dir", "overlay"} {
		_, err := m.Create(context.Background(), "p2", drv, map[string]string{"source": old}, nil)
		if err == nil || !strings.Contains(err.Error(), "is not empty (containers/)") || !strings.Contains(err.Error(), "pick an empty directory") {
			t.Fatalf("%s: %v", drv, err)
		}
	}
	storagetest.Intact(t, filepath.Join(old, "containers", "web01", "data"))
	for _, d := range storage.Dirs {
		if _, err := os.Stat(filepath.Join(old, d)); d != "containers" && !os.IsNotExist(err) {
			t.Fatalf("%s created in a refused source", d)
		}
	}
	// An empty directory (a filesystem's lost+found aside) is fine, and
	// stays when the pool goes.
	empty := filepath.Join(t.TempDir(), "empty")
	os.MkdirAll(filepath.Join(empty, "lost+found"), 0o700)
	cfg, err := m.Create(context.Background(), "p3", "dir", map[string]string{"source": empty}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Destroy(context.Background(), "p3", "dir", cfg, nil); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 1 || ents[0].Name() != "lost+found" {
		t.Fatalf("after destroy: %v", ents)
	}
}

func TestCreateRefusesWrongSources(t *testing.T) {
	tmp := t.TempDir()
	state := filepath.Join(tmp, "state")
	m := Manager{StateDir: state}
	ctx := context.Background()
	other := filepath.Join(tmp, "other")
	os.MkdirAll(other, 0o755)
	os.Symlink("/etc", filepath.Join(tmp, "etc-link"))
	os.Symlink("/", filepath.Join(tmp, "root-link"))
	os.Symlink(other, filepath.Join(tmp, "other-link"))
	others := []Pool{{Name: "p0", Driver: "dir", Config: map[string]string{"source": other}}}
	etcContainers := func() bool { _, err := os.Stat("/etc/containers"); return err == nil }
	before := etcContainers()
	for src, want := range map[string]string{
		"/etc":                                 "system directory",
		"/":                                    "system directory",
		"/usr/lib/pool":                        "inside the system directory /usr",
		"/var":                                 "system directory",
		filepath.Join(tmp, "etc-link"):         "resolves to /etc",
		filepath.Join(tmp, "etc-link", "pool"): "inside the system directory /etc",
		filepath.Join(tmp, "root-link"):        "resolves to /",
		state:                                  "holds lodged's state directory",
		tmp:                                    "holds lodged's state directory",
		filepath.Join(state, "images"):         "inside lodged's state directory",
		filepath.Join(state, "storage-pools", "x"): "inside lodged's state directory",
		other:                            `storage pool "p0"'s already`,
		filepath.Join(tmp, "other-link"): `storage pool "p0"'s already`,
		filepath.Join(other, "sub"):      `inside storage pool "p0"`,
		"relative/path":                  "absolute path",
	} {
		for _, drv := range []string{"dir", "overlay", "btrfs"} {
			_, err := m.Create(ctx, "p1", drv, map[string]string{"source": src}, others)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s source=%s: %v (want %q)", drv, src, err, want)
			}
		}
	}
	// Above another pool.
	inner := Pool{Name: "p9", Driver: "dir", Config: map[string]string{"source": filepath.Join(tmp, "outer", "inner")}}
	if _, err := m.Create(ctx, "p1", "dir", map[string]string{"source": filepath.Join(tmp, "outer")}, []Pool{inner}); err == nil || !strings.Contains(err.Error(), `holds storage pool "p9"`) {
		t.Errorf("above another pool: %v", err)
	}
	// A loop-file pool occupies its mount point.
	loop := Pool{Name: "bt", Driver: "btrfs", Config: map[string]string{"source": filepath.Join(state, "disks", "bt.img")}}
	os.MkdirAll(filepath.Dir(loop.Config["source"]), 0o700)
	os.WriteFile(loop.Config["source"], nil, 0o600)
	if got := m.places(loop); len(got) != 1 || got[0] != storage.Resolve(m.mountPoint("bt")) {
		t.Errorf("places of a loop pool: %v", got)
	}
	if etcContainers() != before {
		t.Fatal("/etc/containers was created or removed")
	}
	// This pool's default place is lodge's own.
	if _, err := m.Create(ctx, "p1", "dir", map[string]string{"source": m.mountPoint("p1")}, others); err != nil {
		t.Fatal(err)
	}
}

func TestCreateMarkerOfAnotherDaemon(t *testing.T) {
	m := Manager{StateDir: t.TempDir()}
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "pool")
	cfg, err := m.Create(ctx, "p1", "dir", map[string]string{"source": src}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The record lost (a restored database): the same pool is taken back.
	if _, err := m.Create(ctx, "p1", "dir", cfg, nil); err != nil {
		t.Fatalf("taking back: %v", err)
	}
	if _, err := m.Create(ctx, "p2", "dir", cfg, nil); err == nil || !strings.Contains(err.Error(), `storage pool "p1", which it has no record of`) {
		t.Fatalf("under another name: %v", err)
	}
	m2 := Manager{StateDir: t.TempDir()}
	if _, err := m2.Create(ctx, "p1", "dir", cfg, nil); err == nil || !strings.Contains(err.Error(), m.StateDir) {
		t.Fatalf("another daemon's pool: %v", err)
	}
}

func TestDestroyRemovesOnlyWhatLodgeMade(t *testing.T) {
	m := Manager{StateDir: t.TempDir()}
	ctx := context.Background()
	cfg, err := m.Create(ctx, "p1", "dir", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	root := cfg["source"]
	d, _ := m.Open(ctx, "p1", "dir", cfg)
	img := storage.Volume{Kind: storage.KindImage, Name: "fp1"}
	if err := d.CreateImage(ctx, img, func(dir string) error { return os.MkdirAll(filepath.Join(dir, "rootfs"), 0o755) }); err != nil {
		t.Fatal(err)
	}
	// What lodge has no record of, beside what it knows.
	storagetest.Plant(t, filepath.Join(root, "containers", "web01", "data"))
	storagetest.Plant(t, filepath.Join(root, "images", "unknown", "data"))
	os.MkdirAll(filepath.Join(root, "custom", ".tmp-data-1"), 0o700) // a staging leftover: lodge's
	rem, err := m.Destroy(ctx, "p1", "dir", cfg, []storage.Volume{img, {Kind: storage.KindImage, Name: "never-unpacked"}})
	if err != nil || rem.Forgotten != "" {
		t.Fatal(rem, err)
	}
	storagetest.Intact(t, filepath.Join(root, "containers", "web01", "data"))
	storagetest.Intact(t, filepath.Join(root, "images", "unknown", "data"))
	if d.Exists(img) {
		t.Fatal("known image volume left")
	}
	if len(rem.Left) != 2 || !strings.Contains(rem.Left[0], "images (holds unknown)") || !strings.Contains(rem.Left[1], "containers (holds web01)") {
		t.Fatalf("left: %q", rem.Left)
	}
	if _, err := os.Stat(filepath.Join(root, "custom")); !os.IsNotExist(err) {
		t.Fatalf("an empty pool directory stayed: %v", err)
	}
	// The marker stays with what is left: the same pool can be created again there.
	if err := storage.CheckMarker(root, m.StateDir, "p1"); err != nil {
		t.Fatal(err)
	}
}

// A symlink planted for a top-level directory: the delete is refused
// instead of emptying the link's target.
func TestDestroyDoesNotFollowLinks(t *testing.T) {
	m := Manager{StateDir: t.TempDir()}
	ctx := context.Background()
	cfg, err := m.Create(ctx, "p1", "dir", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	host := t.TempDir()
	storagetest.Plant(t, filepath.Join(host, "fp1", "data"))
	os.Remove(filepath.Join(cfg["source"], "images"))
	os.Symlink(host, filepath.Join(cfg["source"], "images"))
	if _, err := m.Destroy(ctx, "p1", "dir", cfg, []storage.Volume{{Kind: storage.KindImage, Name: "fp1"}}); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("destroy through a link: %v", err)
	}
	storagetest.Intact(t, filepath.Join(host, "fp1", "data"))
}

// A pool whose marker is missing or another daemon's is forgotten: no
// file of it is touched.
func TestDestroyForgets(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		plant func(root string)
		want  string
	}{
		{"no marker", func(root string) { os.Remove(filepath.Join(root, storage.MarkerFile)) }, "no lodge pool marker"},
		{"another state dir", func(root string) {
			storage.WriteMarker(root, storage.Marker{Pool: "p1", StateDir: "/var/lib/other-lodge", Driver: "dir"})
		}, "/var/lib/other-lodge"},
		{"another pool", func(root string) {
			storage.WriteMarker(root, storage.Marker{Pool: "p7", StateDir: "STATE", Driver: "dir"})
		}, `not "p1"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := Manager{StateDir: t.TempDir()}
			src := filepath.Join(t.TempDir(), "pool")
			cfg, err := m.Create(ctx, "p1", "dir", map[string]string{"source": src}, nil)
			if err != nil {
				t.Fatal(err)
			}
			storagetest.Plant(t, filepath.Join(src, "containers", "web01", "data"))
			storagetest.Plant(t, filepath.Join(src, "images", "fp1", "data"))
			c.plant(src)
			if b, err := os.ReadFile(filepath.Join(src, storage.MarkerFile)); err == nil {
				os.WriteFile(filepath.Join(src, storage.MarkerFile), []byte(strings.ReplaceAll(string(b), "STATE", m.StateDir)), 0o600)
			}
			rem, err := m.Destroy(ctx, "p1", "dir", cfg, []storage.Volume{{Kind: storage.KindImage, Name: "fp1"}})
			if err != nil || !strings.Contains(rem.Forgotten, c.want) {
				t.Fatalf("%+v %v", rem, err)
			}
			storagetest.Intact(t, filepath.Join(src, "containers", "web01", "data"))
			storagetest.Intact(t, filepath.Join(src, "images", "fp1", "data"))
			for _, d := range storage.Dirs {
				if _, err := os.Stat(filepath.Join(src, d)); err != nil {
					t.Fatalf("%s removed: %v", d, err)
				}
			}
		})
	}
}

// Pools made by an older lodge have no marker: one in lodge's own place
// for it gets one when opened (lodge made that directory); one elsewhere
// keeps working unmarked and is only forgotten at delete.
func TestOpenAdoptsOnlyLodgesOwnPlace(t *testing.T) {
	m := Manager{StateDir: t.TempDir()}
	ctx := context.Background()
	own := m.mountPoint("old")
	storagetest.Plant(t, filepath.Join(own, "containers", "c1", "rootfs", "f"))
	cfg := map[string]string{"source": own}
	if _, err := m.Open(ctx, "old", "dir", cfg); err != nil {
		t.Fatal(err)
	}
	if err := storage.CheckMarker(own, m.StateDir, "old"); err != nil {
		t.Fatalf("not adopted: %v", err)
	}
	elsewhere := filepath.Join(t.TempDir(), "srv-old")
	storagetest.Plant(t, filepath.Join(elsewhere, "containers", "web01", "data"))
	cfg2 := map[string]string{"source": elsewhere}
	d, err := m.Open(ctx, "p2", "dir", cfg2)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Exists(storage.Volume{Kind: storage.KindContainer, Name: "web01"}) {
		t.Fatal("the unmarked pool does not work")
	}
	if _, err := storage.ReadMarker(elsewhere); err == nil {
		t.Fatal("a pool outside lodge's place was adopted")
	}
	rem, err := m.Destroy(ctx, "p2", "dir", cfg2, nil)
	if err != nil || rem.Forgotten == "" {
		t.Fatal(rem, err)
	}
	storagetest.Intact(t, filepath.Join(elsewhere, "containers", "web01", "data"))
}

func TestBtrfsLoopCreateDestroy(t *testing.T) {
	gate.Integration(t, "makes a btrfs loop file")
	m := Manager{StateDir: t.TempDir()}
	ctx := context.Background()
	cfg, err := m.Create(ctx, "st-loop", "btrfs", map[string]string{"size": "300MiB"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Destroy(ctx, "st-loop", "btrfs", cfg, nil) })
	if cfg["source"] != filepath.Join(m.StateDir, "disks", "st-loop.img") {
		t.Fatalf("source %q", cfg["source"])
	}
	d, err := m.Open(ctx, "st-loop", "btrfs", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d.Info().Name != "btrfs" {
		t.Fatal(d.Info())
	}
	total := func() uint64 {
		var st unix.Statfs_t
		unix.Statfs(m.mountPoint("st-loop"), &st)
		return st.Blocks * uint64(st.Bsize)
	}
	before := total()
	if err := m.Resize(ctx, "st-loop", "btrfs", cfg, 200<<20); err == nil {
		t.Fatal("shrinking accepted")
	}
	if err := m.Resize(ctx, "st-loop", "btrfs", cfg, 600<<20); err != nil {
		t.Fatal(err)
	}
	if after := total(); after < before+200<<20 {
		t.Fatalf("pool did not grow: %d -> %d", before, after)
	}
	others := []Pool{{Name: "st-loop", Driver: "btrfs", Config: cfg}}
	// Nothing inside another pool.
	sub := filepath.Join(m.StateDir, "storage-pools", "st-loop", "custom", "nested")
	os.MkdirAll(sub, 0o700)
	if _, err := m.Create(ctx, "st-path", "btrfs", map[string]string{"source": sub}, others); err == nil || !strings.Contains(err.Error(), "inside") {
		t.Fatalf("a source inside another pool: %v", err)
	}
	os.Remove(sub)
	// An existing empty btrfs directory as source of a second pool (on a
	// filesystem of the test's own).
	tmp := t.TempDir()
	mnt := filepath.Join(tmp, "st-mnt")
	if err := btrfs.CreateLoop(ctx, filepath.Join(tmp, "st-other.img"), 256<<20); err != nil {
		t.Fatal(err)
	}
	if err := btrfs.MountSource(ctx, filepath.Join(tmp, "st-other.img"), mnt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { btrfs.UnmountSource(mnt) })
	storagetest.Plant(t, filepath.Join(mnt, "theirs", "data"))
	if _, err := m.Create(ctx, "st-path", "btrfs", map[string]string{"source": mnt}, others); err == nil || !strings.Contains(err.Error(), "not empty (theirs/)") {
		t.Fatalf("a non-empty btrfs directory: %v", err)
	}
	os.Mkdir(filepath.Join(mnt, "pool"), 0o755)
	cfg2, err := m.Create(ctx, "st-path", "btrfs", map[string]string{"source": filepath.Join(mnt, "pool")}, others)
	if err != nil {
		t.Fatal(err)
	}
	if rem, err := m.Destroy(ctx, "st-path", "btrfs", cfg2, nil); err != nil || rem.Forgotten != "" || len(rem.Left) > 0 {
		t.Fatal(rem, err)
	}
	storagetest.Intact(t, filepath.Join(mnt, "theirs", "data"))
	// The loop pool with a foreign file planted in it: forgotten once its
	// marker is gone, the loop file kept; then taken back and deleted.
	root := m.mountPoint("st-loop")
	storagetest.Plant(t, filepath.Join(root, "custom", "theirs"))
	os.Rename(filepath.Join(root, storage.MarkerFile), filepath.Join(root, "marker.saved"))
	if rem, err := m.Destroy(ctx, "st-loop", "btrfs", cfg, nil); err != nil || rem.Forgotten == "" {
		t.Fatal(rem, err)
	}
	if _, err := os.Stat(cfg["source"]); err != nil {
		t.Fatalf("loop file of a forgotten pool removed: %v", err)
	}
	if _, err := m.Open(ctx, "st-loop", "btrfs", cfg); err != nil {
		t.Fatal(err)
	}
	os.Rename(filepath.Join(root, "marker.saved"), filepath.Join(root, storage.MarkerFile))
	if rem, err := m.Destroy(ctx, "st-loop", "btrfs", cfg, nil); err != nil || len(rem.Left) != 1 {
		t.Fatal(rem, err)
	}
	if _, err := os.Stat(cfg["source"]); err != nil {
		t.Fatalf("loop file removed with data left in it: %v", err)
	}
	m.Open(ctx, "st-loop", "btrfs", cfg)
	os.Remove(filepath.Join(root, "custom", "theirs"))
	os.Remove(filepath.Join(root, "marker.saved"))
	if rem, err := m.Destroy(ctx, "st-loop", "btrfs", cfg, nil); err != nil || len(rem.Left) != 0 || rem.Forgotten != "" {
		t.Fatal(rem, err)
	}
	if _, err := os.Stat(cfg["source"]); !os.IsNotExist(err) {
		t.Fatalf("loop file left: %v", err)
	}
	if _, err := m.Create(ctx, "st-bad", "btrfs", map[string]string{"source": t.TempDir()}, nil); err == nil {
		t.Fatal("a non-btrfs directory accepted as btrfs source")
	}
}

// lodge's own place for a pool with an older lodge's empty layout in it
// (its database reset) is taken; with anything in those directories not.
func TestCreateOwnPlaceWithEmptyLayout(t *testing.T) {
	m := Manager{StateDir: t.TempDir()}
	ctx := context.Background()
	for _, d := range storage.Dirs {
		os.MkdirAll(filepath.Join(m.mountPoint("default"), d), 0o711)
	}
	storagetest.Plant(t, filepath.Join(m.mountPoint("p2"), "containers", "c1", "f"))
	if _, err := m.Create(ctx, "p2", "dir", nil, nil); err == nil {
		t.Fatal("a non-empty layout taken")
	}
	if _, err := m.Create(ctx, "default", "overlay", nil, nil); err != nil {
		t.Fatal(err)
	}
	// Elsewhere, even empty directories count.
	src := t.TempDir()
	os.Mkdir(filepath.Join(src, "containers"), 0o711)
	if _, err := m.Create(ctx, "p3", "dir", map[string]string{"source": src}, nil); err == nil {
		t.Fatal("a directory holding containers/ taken")
	}
}

// The default pool follows the state directory's filesystem; on overlayfs
// (lodged inside a container) overlay cannot stack, so dir is the default.
func TestDefaultDriverOn(t *testing.T) {
	for fs, want := range map[int64]string{
		unix.BTRFS_SUPER_MAGIC:     "btrfs",
		unix.OVERLAYFS_SUPER_MAGIC: "dir",
		unix.EXT4_SUPER_MAGIC:      "overlay",
		unix.TMPFS_MAGIC:           "overlay",
	} {
		if got := defaultDriverOn(fs); got != want {
			t.Errorf("default driver on fs %#x: %s, want %s", fs, got, want)
		}
	}
}
