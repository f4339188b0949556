package pools

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
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

func TestDirCreateDestroy(t *testing.T) {
	m := Manager{StateDir: t.TempDir()}
	ctx := context.Background()
	cfg, err := m.Create(ctx, "p1", "dir", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg["source"] != filepath.Join(m.StateDir, "storage-pools", "p1") {
		t.Fatalf("source %q", cfg["source"])
	}
	if _, err := m.Open(ctx, "p1", "dir", cfg); err != nil {
		t.Fatal(err)
	}
	if err := m.Destroy(ctx, "p1", "dir", cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg["source"]); !os.IsNotExist(err) {
		t.Fatalf("pool directory left: %v", err)
	}
}

func TestBtrfsLoopCreateDestroy(t *testing.T) {
	if os.Geteuid() != 0 || os.Getenv("LODGE_INTEGRATION") == "" {
		t.Skip("needs root and LODGE_INTEGRATION=1")
	}
	m := Manager{StateDir: t.TempDir()}
	ctx := context.Background()
	cfg, err := m.Create(ctx, "st-loop", "btrfs", map[string]string{"size": "300MiB"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Destroy(ctx, "st-loop", "btrfs", cfg) })
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
	// An existing btrfs directory as source of a second pool.
	sub := filepath.Join(m.StateDir, "storage-pools", "st-loop", "custom", "nested")
	os.MkdirAll(sub, 0o700)
	cfg2, err := m.Create(ctx, "st-path", "btrfs", map[string]string{"source": sub})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Destroy(ctx, "st-path", "btrfs", cfg2); err != nil {
		t.Fatal(err)
	}
	if err := m.Destroy(ctx, "st-loop", "btrfs", cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg["source"]); !os.IsNotExist(err) {
		t.Fatalf("loop file left: %v", err)
	}
	if _, err := m.Create(ctx, "st-bad", "btrfs", map[string]string{"source": t.TempDir()}); err == nil {
		t.Fatal("a non-btrfs directory accepted as btrfs source")
	}
}
