// Package pools turns a pool's database record (name, driver, config) into
// an open storage.Driver: it creates the backing storage (directories, a
// btrfs loop file or device), mounts it again at each start, and destroys
// what it created.
package pools

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"lodge/storage"
	"lodge/storage/btrfs"
	"lodge/storage/dir"
	"lodge/storage/overlay"
)

// Drivers lodge supports, in the order GET /1.0 lists them.
var Drivers = []string{"btrfs", "dir", "overlay"}

// keys each driver accepts in its config.
var keys = map[string][]string{
	"dir":     {"source"},
	"overlay": {"source"},
	"btrfs":   {"source", "size"},
}

// Manager creates and opens pools under a state directory.
type Manager struct{ StateDir string }

func (m Manager) mountPoint(name string) string {
	return filepath.Join(m.StateDir, "storage-pools", name)
}
func (m Manager) loopFile(name string) string {
	return filepath.Join(m.StateDir, "disks", name+".img")
}

// DefaultDriver is what the first pool uses: btrfs where the state
// directory already is on btrfs (cheap clones, real snapshots, quotas), else
// overlay, which makes launches instant on any filesystem without a loop
// file of fixed size.
func (m Manager) DefaultDriver() string {
	os.MkdirAll(m.StateDir, 0o711)
	if btrfs.IsBtrfs(m.StateDir) {
		return "btrfs"
	}
	return "overlay"
}

// Validate checks a pool's driver and config keys.
func Validate(driver string, cfg map[string]string) error {
	allowed, ok := keys[driver]
	if !ok {
		return fmt.Errorf("storage driver %q is not supported; use one of %s", driver, strings.Join(Drivers, ", "))
	}
	for k, v := range cfg {
		if strings.HasPrefix(k, "user.") || strings.HasPrefix(k, "volatile.") {
			continue
		}
		known := false
		for _, a := range allowed {
			known = known || a == k
		}
		if !known {
			return fmt.Errorf("storage pool config key %q is not supported by the %s driver (known: %s)", k, driver, strings.Join(allowed, ", "))
		}
		if k == "size" {
			if _, err := ParseSize(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Create makes a pool's backing storage and returns its config completed
// with what lodged chose (source, size), as LXD records it.
func (m Manager) Create(ctx context.Context, name, driver string, cfg map[string]string) (map[string]string, error) {
	if err := Validate(driver, cfg); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k, v := range cfg {
		out[k] = v
	}
	switch driver {
	case "dir", "overlay":
		if out["source"] == "" {
			out["source"] = m.mountPoint(name)
		}
		if err := os.MkdirAll(out["source"], 0o711); err != nil {
			return nil, fmt.Errorf("storage pool %q: source %s: %w", name, out["source"], err)
		}
	case "btrfs":
		src := out["source"]
		switch {
		case src == "":
			size := int64(0)
			if out["size"] != "" {
				size, _ = ParseSize(out["size"])
			} else {
				size = m.defaultLoopSize()
				out["size"] = fmt.Sprintf("%dGiB", size>>30)
			}
			if size < 256<<20 {
				return nil, fmt.Errorf("storage pool %q: size %s is too small for btrfs; give at least 256MiB", name, out["size"])
			}
			file := m.loopFile(name)
			if err := btrfs.CreateLoop(ctx, file, size); err != nil {
				return nil, fmt.Errorf("storage pool %q: %w", name, err)
			}
			out["source"] = file
		case strings.HasPrefix(src, "/dev/"):
			if err := btrfs.Format(ctx, src); err != nil {
				return nil, fmt.Errorf("storage pool %q: %w", name, err)
			}
		default:
			fi, err := os.Stat(src)
			if err != nil || !fi.IsDir() {
				return nil, fmt.Errorf("storage pool %q: source %s must be a block device or an existing directory on btrfs", name, src)
			}
			if !btrfs.IsBtrfs(src) {
				return nil, fmt.Errorf("storage pool %q: source %s is not on a btrfs filesystem", name, src)
			}
		}
	}
	d, err := m.Open(ctx, name, driver, out)
	if err != nil {
		m.Destroy(ctx, name, driver, out)
		return nil, err
	}
	_ = d
	return out, nil
}

// defaultLoopSize is LXD's: a fifth of the free space, 5 to 30 GiB.
func (m Manager) defaultLoopSize() int64 {
	var st unix.Statfs_t
	size := int64(5 << 30)
	if unix.Statfs(m.StateDir, &st) == nil {
		size = int64(st.Bavail) * int64(st.Bsize) / 5
	}
	size = size >> 30 << 30
	return min(max(size, 5<<30), 30<<30)
}

// Open opens a pool recorded earlier, mounting its filesystem if needed.
func (m Manager) Open(ctx context.Context, name, driver string, cfg map[string]string) (storage.Driver, error) {
	src := cfg["source"]
	switch driver {
	case "dir":
		return dir.New(src)
	case "overlay":
		return overlay.New(src)
	case "btrfs":
		fi, err := os.Stat(src)
		if err != nil {
			return nil, fmt.Errorf("storage pool %q: source %s: %w", name, src, err)
		}
		if fi.IsDir() {
			return btrfs.New(src, src)
		}
		if err := btrfs.MountSource(ctx, src, m.mountPoint(name)); err != nil {
			return nil, fmt.Errorf("storage pool %q: %w", name, err)
		}
		return btrfs.New(m.mountPoint(name), src)
	}
	return nil, fmt.Errorf("storage pool %q: unknown driver %q", name, driver)
}

// Destroy removes what Create made: the pool's directories, its mount and
// its loop file. An existing directory given as source keeps everything
// that is not lodge's.
func (m Manager) Destroy(ctx context.Context, name, driver string, cfg map[string]string) error {
	src := cfg["source"]
	root := src
	if driver == "btrfs" {
		if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
			root = m.mountPoint(name)
		}
	}
	if d, err := m.Open(ctx, name, driver, cfg); err == nil {
		for _, k := range storage.Dirs {
			ents, _ := os.ReadDir(filepath.Join(root, k))
			for _, e := range ents {
				vol := storage.Volume{Kind: storage.Kind(k), Name: e.Name()}
				if strings.HasSuffix(k, "-snapshots") || strings.HasPrefix(e.Name(), ".") {
					continue
				}
				if err := d.Delete(ctx, vol); err != nil {
					return err
				}
			}
		}
		if c, ok := d.(interface{ Cleanup() }); ok {
			c.Cleanup()
		}
	}
	for _, k := range storage.Dirs {
		os.RemoveAll(filepath.Join(root, k))
	}
	if driver == "btrfs" && root == m.mountPoint(name) {
		if err := btrfs.UnmountSource(root); err != nil {
			return err
		}
		if src == m.loopFile(name) {
			os.Remove(src)
		}
	}
	if root == m.mountPoint(name) {
		os.Remove(root)
	}
	return nil
}

// ParseSize reads "20GiB", "500MB", "1073741824".
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := map[string]int64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}
	i := len(s)
	for i > 0 && (s[i-1] < '0' || s[i-1] > '9') {
		i--
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	u, ok := units[strings.ToUpper(strings.TrimSpace(s[i:]))]
	if err != nil || !ok || n <= 0 {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (e.g. 20GiB, 500MB)", s)
	}
	return n * u, nil
}

// Keys lists the config keys a driver accepts (for messages and docs).
func Keys(driver string) []string {
	k := append([]string(nil), keys[driver]...)
	sort.Strings(k)
	return k
}

// Resize grows a btrfs loop-file pool to size bytes.
func (m Manager) Resize(ctx context.Context, name, driver string, cfg map[string]string, size int64) error {
	if driver != "btrfs" {
		return fmt.Errorf("storage pool %q: the %s driver has no size to change", name, driver)
	}
	src := cfg["source"]
	if fi, err := os.Stat(src); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("storage pool %q: only a loop-file pool can be resized (source %s)", name, src)
	}
	return btrfs.GrowLoop(ctx, src, m.mountPoint(name), size)
}
