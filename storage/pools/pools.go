// Package pools turns a pool's database record (name, driver, config) into
// an open storage.Driver: it creates the backing storage (directories, a
// btrfs loop file or device), mounts it again at each start, and destroys
// what it created.
package pools

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"lodge/netparse"
	"lodge/storage"
	"lodge/storage/btrfs"
	"lodge/storage/dir"
	"lodge/storage/overlay"
)

// Drivers lodge supports, in the order GET /1.0 lists them.
var Drivers = []string{"btrfs", "dir", "overlay"}

// keys each driver accepts in its config.
var keys = map[string][]string{
	"dir":     {"source", "rsync.bwlimit", "rsync.compression"},
	"overlay": {"source", "rsync.bwlimit", "rsync.compression"},
	"btrfs":   {"source", "size", "rsync.bwlimit", "rsync.compression"},
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
	var st unix.Statfs_t
	if unix.Statfs(m.StateDir, &st) != nil {
		return "overlay"
	}
	return defaultDriverOn(int64(st.Type))
}

// defaultDriverOn picks the default pool's driver for a state directory on
// a filesystem of this statfs type: btrfs on btrfs; dir on overlayfs, which
// the kernel refuses as an overlay's upper layer (lodged inside a lodge or
// LXD container whose root is an overlay); overlay elsewhere.
func defaultDriverOn(fsType int64) string {
	switch fsType {
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "dir"
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
		switch k {
		case "size":
			if _, err := ParseSize(v); err != nil {
				return err
			}
		case "rsync.bwlimit":
			if _, err := netparse.ParseByteRate(v); err != nil {
				return fmt.Errorf("rsync.bwlimit %q: give a rate per second, such as 10M (MiB/s), 10MB (MB/s) or 500K", v)
			}
		case "rsync.compression":
			switch v {
			case "", "true", "false":
			default:
				return fmt.Errorf("rsync.compression %q: use true or false", v)
			}
		}
	}
	return nil
}

// Pool is a pool's record: what Create is told of the pools that exist.
type Pool struct {
	Name, Driver string
	Config       map[string]string
}

// Create makes a pool's backing storage and returns its config completed
// with what lodged chose (source, size), as LXD records it. A directory
// source is stored with its symlinks resolved, and must be empty (or be
// this pool already: its marker); see checkSource for what is refused.
// others are the pools that exist, whose sources a new one must stay out of.
func (m Manager) Create(ctx context.Context, name, driver string, cfg map[string]string, others []Pool) (map[string]string, error) {
	if err := Validate(driver, cfg); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k, v := range cfg {
		out[k] = v
	}
	root := ""
	mounted := false
	switch driver {
	case "dir", "overlay":
		if out["source"] == "" {
			out["source"] = m.mountPoint(name)
		}
		src, err := m.checkSource(name, out["source"], others)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(src, 0o711); err != nil {
			return nil, fmt.Errorf("storage pool %q: source %s: %w", name, src, err)
		}
		out["source"], root = src, src
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
			root, mounted = m.mountPoint(name), true
		case strings.HasPrefix(src, "/dev/"):
			if err := m.checkDevice(name, src, others); err != nil {
				return nil, err
			}
			if err := btrfs.Format(ctx, src); err != nil {
				return nil, fmt.Errorf("storage pool %q: %w", name, err)
			}
			root, mounted = m.mountPoint(name), true
		default:
			src, err := m.checkSource(name, src, others)
			if err != nil {
				return nil, err
			}
			fi, err := os.Stat(src)
			if err != nil || !fi.IsDir() {
				return nil, fmt.Errorf("storage pool %q: source %s must be a block device or an existing directory on btrfs", name, src)
			}
			if !btrfs.IsBtrfs(src) {
				return nil, fmt.Errorf("storage pool %q: source %s is not on a btrfs filesystem", name, src)
			}
			out["source"], root = src, src
		}
	}
	if mounted {
		// A loop file or device: what is on it decides, once mounted.
		if err := btrfs.MountSource(ctx, out["source"], root); err != nil {
			m.undoMount(name, out["source"], root)
			return nil, fmt.Errorf("storage pool %q: %w", name, err)
		}
		if err := m.checkEmpty(name, root, out["source"]); err != nil {
			m.undoMount(name, out["source"], root)
			return nil, err
		}
	}
	if err := storage.WriteMarker(root, storage.Marker{Pool: name, StateDir: storage.Resolve(m.StateDir), Driver: driver, Created: time.Now().UTC()}); err != nil {
		if mounted {
			m.undoMount(name, out["source"], root)
		}
		return nil, fmt.Errorf("storage pool %q: %w", name, err)
	}
	if _, err := m.Open(ctx, name, driver, out); err != nil {
		m.Destroy(ctx, name, driver, out, nil)
		return nil, err
	}
	return out, nil
}

// undoMount undoes what Create did for a loop file or device it then
// refused: the mount, the loop file it made, the mount point.
func (m Manager) undoMount(name, src, root string) {
	btrfs.UnmountSource(root)
	if src == m.loopFile(name) {
		os.Remove(src)
	}
	unix.Rmdir(root)
}

// systemDirs are never a pool source; below systemTrees nothing is.
var (
	systemDirs = []string{"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32",
		"/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var",
		"/var/cache", "/var/lib", "/var/log", "/var/mail", "/var/spool", "/var/tmp"}
	systemTrees = []string{"/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sbin", "/sys", "/usr"}
)

// checkSource refuses a directory source lodge must not make a pool in and
// returns it with its symlinks resolved: a system directory, lodge's state
// directory (or a parent of it, or anything in it but this pool's default
// place), another pool's source (or anything below or above it), and an
// existing directory that is neither empty nor this pool already.
func (m Manager) checkSource(name, src string, others []Pool) (string, error) {
	if !filepath.IsAbs(src) {
		return "", fmt.Errorf("storage pool %q: source %q must be an absolute path", name, src)
	}
	resolved := storage.Resolve(src)
	shown := resolved
	if filepath.Clean(src) != resolved {
		shown = fmt.Sprintf("%s (which resolves to %s)", src, resolved)
	}
	for _, d := range systemDirs {
		if resolved == d {
			return "", fmt.Errorf("storage pool %q: source %s is a system directory; lodge creates its own directories in a pool's source (and removes them with the pool), so give it a directory of its own, e.g. /srv/lodge-%s", name, shown, name)
		}
	}
	for _, d := range systemTrees {
		if storage.Under(resolved, d) {
			return "", fmt.Errorf("storage pool %q: source %s is inside the system directory %s; give lodge a directory of its own, e.g. /srv/lodge-%s", name, shown, d, name)
		}
	}
	state := storage.Resolve(m.StateDir)
	switch {
	case resolved == state || storage.Under(state, resolved):
		return "", fmt.Errorf("storage pool %q: source %s holds lodged's state directory %s; leave out source= (lodge then uses %s) or give a directory outside it", name, shown, state, m.mountPoint(name))
	case storage.Under(resolved, state) && resolved != storage.Resolve(m.mountPoint(name)):
		return "", fmt.Errorf("storage pool %q: source %s is inside lodged's state directory %s, where lodged keeps its own files; leave out source= (lodge then uses %s) or give a directory outside it", name, shown, state, m.mountPoint(name))
	}
	for _, o := range others {
		if o.Name == name {
			continue
		}
		for _, p := range m.places(o) {
			switch {
			case resolved == p:
				return "", fmt.Errorf("storage pool %q: source %s is storage pool %q's already; a directory holds one pool", name, shown, o.Name)
			case storage.Under(resolved, p):
				return "", fmt.Errorf("storage pool %q: source %s is inside storage pool %q (%s); give a directory outside every pool", name, shown, o.Name, p)
			case storage.Under(p, resolved):
				return "", fmt.Errorf("storage pool %q: source %s holds storage pool %q (%s); give a directory outside every pool", name, shown, o.Name, p)
			}
		}
	}
	fi, err := os.Stat(resolved)
	if os.IsNotExist(err) {
		return resolved, nil
	}
	if err != nil {
		return "", fmt.Errorf("storage pool %q: source %s: %w", name, shown, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("storage pool %q: source %s is not a directory", name, shown)
	}
	return resolved, m.checkEmpty(name, resolved, src)
}

// checkEmpty refuses a pool root that holds anything (a filesystem's
// lost+found aside) unless it carries this pool's marker of this lodged.
// In lodge's own place for the pool, empty directories of a pool's layout
// (an older lodge's, whose database was reset) do not count.
func (m Manager) checkEmpty(name, root, src string) error {
	ents, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("storage pool %q: source %s: %w", name, src, err)
	}
	own := storage.SamePath(root, m.mountPoint(name))
	var names []string
	marked := false
	for _, e := range ents {
		switch {
		case e.Name() == storage.MarkerFile:
			marked = true
		case e.Name() == "lost+found":
		case own && e.IsDir() && slices.Contains(storage.Dirs, e.Name()) && emptyDir(filepath.Join(root, e.Name())):
		case e.IsDir():
			names = append(names, e.Name()+"/")
		default:
			names = append(names, e.Name())
		}
	}
	if marked {
		mk, err := storage.ReadMarker(root)
		switch {
		case err != nil:
			return fmt.Errorf("storage pool %q: source %s: %w", name, src, err)
		case !storage.SamePath(mk.StateDir, m.StateDir):
			return fmt.Errorf("storage pool %q: source %s is storage pool %q of the lodged whose state directory is %s; lodge does not share a pool between daemons, so give an empty directory", name, src, mk.Pool, mk.StateDir)
		case mk.Pool != name:
			return fmt.Errorf("storage pool %q: source %s is this lodged's storage pool %q, which it has no record of any more; create the pool under that name to take it back, or give an empty directory", name, src, mk.Pool)
		}
		return nil // this very pool, whose record was lost: taken back
	}
	if len(names) == 0 {
		return nil
	}
	list := strings.Join(names[:min(len(names), 3)], ", ")
	if len(names) > 3 {
		list += ", ..."
	}
	return fmt.Errorf("storage pool source %s is not empty (%s): lodge only creates pools in an empty directory or a block device, and would later delete what it finds there as its own; pick an empty directory or remove its contents", src, list)
}

func emptyDir(p string) bool {
	ents, err := os.ReadDir(p)
	return err == nil && len(ents) == 0
}

// checkDevice refuses a block device another pool uses.
func (m Manager) checkDevice(name, dev string, others []Pool) error {
	resolved := storage.Resolve(dev)
	for _, o := range others {
		if o.Name != name && o.Config["source"] != "" && storage.Resolve(o.Config["source"]) == resolved {
			return fmt.Errorf("storage pool %q: device %s is storage pool %q's already", name, dev, o.Name)
		}
	}
	return nil
}

// places are the directories a pool occupies, resolved: its source and,
// for a loop file or device, where lodged mounts it.
func (m Manager) places(p Pool) []string {
	src := p.Config["source"]
	if src == "" {
		return []string{storage.Resolve(m.mountPoint(p.Name))}
	}
	if fi, err := os.Stat(src); err == nil && !fi.IsDir() {
		return []string{storage.Resolve(m.mountPoint(p.Name))}
	}
	return []string{storage.Resolve(src)}
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
// A pool without a marker in lodge's own place for it (the state
// directory's storage-pools/NAME: made by an older lodge, which always
// made that directory itself) is given one; a pool elsewhere without one
// keeps working but stays unmarked, since an older lodge took any
// directory as source and what is in it may not be lodge's.
func (m Manager) Open(ctx context.Context, name, driver string, cfg map[string]string) (storage.Driver, error) {
	d, err := m.open(ctx, name, driver, cfg)
	if err != nil {
		return nil, err
	}
	root := d.Info().Root
	if _, err := storage.ReadMarker(root); errors.Is(err, fs.ErrNotExist) && storage.SamePath(root, m.mountPoint(name)) {
		// Best effort: without it, the pool works and a delete forgets it.
		_ = storage.WriteMarker(root, storage.Marker{Pool: name, StateDir: storage.Resolve(m.StateDir), Driver: driver, Created: time.Now().UTC()})
	}
	return d, nil
}

func (m Manager) open(ctx context.Context, name, driver string, cfg map[string]string) (storage.Driver, error) {
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

// Removal tells what a Destroy left on disk.
type Removal struct {
	// Forgotten says why nothing on disk was touched (the pool's marker
	// is missing or not this lodged's); empty when the pool was removed.
	Forgotten string `json:"forgotten,omitempty"`
	// Left lists lodge's directories that stayed because they still hold
	// what lodge has no record of.
	Left []string `json:"left,omitempty"`
}

// Destroy removes what lodge's records say lodge made for a pool, and
// nothing else: the volumes in known (the caller's records), staging
// directories a crash left, then the pool's top-level directories if they
// are empty (rmdir, never a recursive delete), then the marker, the
// mount, the loop file and lodge's own mount point or default directory.
// A pool whose marker is missing or names another state directory or pool
// is only forgotten: its files are not touched (Removal.Forgotten says
// why).
func (m Manager) Destroy(ctx context.Context, name, driver string, cfg map[string]string, known []storage.Volume) (Removal, error) {
	var rem Removal
	src := cfg["source"]
	root := src
	ownMount := false
	if driver == "btrfs" {
		if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
			root, ownMount = m.mountPoint(name), true
			if err := btrfs.MountSource(ctx, src, root); err != nil {
				unix.Rmdir(root)
				rem.Forgotten = fmt.Sprintf("its filesystem could not be mounted to look for its marker (%v)", err)
				return rem, nil
			}
		}
	}
	if err := storage.CheckMarker(root, m.StateDir, name); err != nil {
		if ownMount {
			if err := btrfs.UnmountSource(root); err != nil {
				return rem, fmt.Errorf("storage pool %q: %w", name, err)
			}
			unix.Rmdir(root)
		}
		rem.Forgotten = err.Error()
		return rem, nil
	}
	d, err := m.open(ctx, name, driver, cfg)
	if err != nil {
		return rem, err
	}
	for _, v := range known {
		if err := d.Delete(ctx, v); err != nil {
			return rem, fmt.Errorf("storage pool %q: %w", name, err)
		}
	}
	if c, ok := d.(interface{ Cleanup() }); ok {
		c.Cleanup()
	}
	for _, k := range storage.Dirs {
		p := filepath.Join(root, k)
		if err := unix.Rmdir(p); err != nil && !errors.Is(err, unix.ENOENT) {
			rem.Left = append(rem.Left, describe(p, err))
		}
	}
	if len(rem.Left) == 0 {
		if err := os.Remove(filepath.Join(root, storage.MarkerFile)); err != nil && !os.IsNotExist(err) {
			return rem, fmt.Errorf("storage pool %q: %w", name, err)
		}
	}
	if ownMount {
		if err := btrfs.UnmountSource(root); err != nil {
			return rem, fmt.Errorf("storage pool %q: %w", name, err)
		}
		if src == m.loopFile(name) && len(rem.Left) == 0 {
			os.Remove(src)
		}
		unix.Rmdir(root)
	} else if storage.SamePath(root, m.mountPoint(name)) && len(rem.Left) == 0 {
		if err := unix.Rmdir(root); err != nil && !errors.Is(err, unix.ENOENT) {
			rem.Left = append(rem.Left, describe(root, err))
		}
	}
	return rem, nil
}

// describe names a directory Destroy left and what is in it.
func describe(p string, err error) string {
	if !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
		return fmt.Sprintf("%s (%v)", p, err)
	}
	ents, _ := os.ReadDir(p)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	list := strings.Join(names[:min(len(names), 3)], ", ")
	if len(names) > 3 {
		list += ", ..."
	}
	return fmt.Sprintf("%s (holds %s)", p, list)
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
