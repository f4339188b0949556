package storage

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Layout maps volumes to directories under a pool root, the same way for
// every driver: images/FP, containers/NAME, containers-snapshots/NAME/SNAP.
type Layout struct{ Root string }

// Dirs are the top-level directories of a pool.
var Dirs = []string{"images", "containers", "containers-snapshots", "custom", "custom-snapshots"}

// Init creates the pool's directories.
func (l Layout) Init() error {
	for _, d := range Dirs {
		if err := os.MkdirAll(filepath.Join(l.Root, d), 0o711); err != nil {
			return fmt.Errorf("storage pool %s: %w", l.Root, err)
		}
	}
	return nil
}

// Path of a volume.
func (l Layout) Path(vol Volume) string {
	if vol.IsSnapshot() {
		p, s := vol.Split()
		return filepath.Join(l.Root, string(p.Kind)+"-snapshots", p.Name, s)
	}
	return filepath.Join(l.Root, string(vol.Kind), vol.Name)
}

// Exists tells whether vol's tree (directory or subvolume) is there.
func (l Layout) Exists(vol Volume) bool {
	_, err := os.Lstat(l.Path(vol))
	return err == nil
}

// CheckNew refuses a volume with a bad name or one that exists already:
// the first step of every driver's create.
func (l Layout) CheckNew(vol Volume) error {
	if err := vol.Validate(); err != nil {
		return err
	}
	if l.Exists(vol) {
		return fmt.Errorf("volume %s: %w", vol, ErrExists)
	}
	return nil
}

// CreateDir makes vol an empty directory (a custom volume on the dir and
// overlay drivers).
func (l Layout) CreateDir(vol Volume) error {
	if err := l.CheckNew(vol); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(l.Path(vol)), 0o711); err != nil {
		return err
	}
	return os.Mkdir(l.Path(vol), 0o755)
}

// MakeEmptyTree makes dir (0700) with an empty rootfs (0755) in it: the
// content of an empty container volume (CreateEmptyContainer) on drivers
// whose volumes are plain directories. dir may exist (a subvolume).
func MakeEmptyTree(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		return err
	}
	return os.Chmod(filepath.Join(dir, "rootfs"), 0o755)
}

// SnapshotsDir holds vol's snapshots.
func (l Layout) SnapshotsDir(vol Volume) string {
	return filepath.Join(l.Root, string(vol.Kind)+"-snapshots", vol.Name)
}

// Staging returns a fresh staging path next to where vol will live; the
// ".tmp-" prefix lets Cleanup find what a crash left.
func (l Layout) Staging(vol Volume) (string, error) {
	dst := l.Path(vol)
	if err := os.MkdirAll(filepath.Dir(dst), 0o711); err != nil {
		return "", err
	}
	f, err := os.MkdirTemp(filepath.Dir(dst), ".tmp-"+filepath.Base(dst)+"-")
	if err != nil {
		return "", err
	}
	return f, os.Remove(f)
}

// Leftovers lists staging entries a crash left in the pool.
func (l Layout) Leftovers() []string {
	var out []string
	for _, d := range Dirs {
		m, _ := filepath.Glob(filepath.Join(l.Root, d, ".tmp-*"))
		out = append(out, m...)
		m, _ = filepath.Glob(filepath.Join(l.Root, d, "*", ".tmp-*"))
		out = append(out, m...)
	}
	return out
}

// CopyTree copies src to dst (which must not exist) with cp -a, keeping
// owners, modes, device nodes, hardlinks and xattrs (overlay whiteouts and
// opaque markers too), reflinking where the filesystem can.
func CopyTree(ctx context.Context, src, dst string) error {
	out, err := Command(ctx, "cp", "-a", "--reflink=auto", src, dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("copy %s: %v: %s", src, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Command is exec.CommandContext for helpers that write into a pool: they
// die with lodged, so a crash leaves no copy still writing into a staging
// directory that startup recovery removes.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// TreeUsage sums the blocks of a tree, counting hardlinked files once.
func TreeUsage(root string) (int64, error) {
	seen := map[uint64]bool{}
	var total int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		if st.Nlink > 1 && !d.IsDir() {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		total += st.Blocks * 512
		return nil
	})
	return total, err
}

// IsMountpoint tells whether path is a mount point in lodged's mount
// namespace. statx says so in one call (STATX_ATTR_MOUNT_ROOT, Linux 5.8);
// mountinfo, which has a line per mount on the host (thousands with many
// containers) and costs milliseconds to read, is the fallback for kernels
// without it.
func IsMountpoint(path string) bool {
	var stx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_DONT_SYNC, unix.STATX_TYPE, &stx)
	if err != nil {
		return false
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 {
		return stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
	}
	return inMountinfo(path)
}

// inMountinfo tells whether path is a mount point by /proc/self/mountinfo.
func inMountinfo(path string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	path = filepath.Clean(path)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMount(fields[4]) == path {
			return true
		}
	}
	return false
}

// unescapeMount undoes mountinfo's octal escapes (\040 for space...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &c); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// RenameDirs renames a volume's directory and its snapshots directory, the
// same for every driver whose volumes are directories or subvolumes.
func RenameDirs(l Layout, vol Volume, newName string, exists func(Volume) bool) error {
	nv := Volume{Kind: vol.Kind, Name: newName}
	if err := nv.Validate(); err != nil {
		return err
	}
	if vol.IsSnapshot() != nv.IsSnapshot() {
		return fmt.Errorf("rename %s to %s: a snapshot stays a snapshot", vol, nv)
	}
	if vol.IsSnapshot() {
		p1, _ := vol.Split()
		p2, _ := nv.Split()
		if p1 != p2 {
			return fmt.Errorf("rename %s to %s: a snapshot keeps its instance", vol, nv)
		}
	}
	if !exists(vol) {
		return fmt.Errorf("volume %s: %w", vol, ErrNotFound)
	}
	if exists(nv) {
		return fmt.Errorf("volume %s: %w", nv, ErrExists)
	}
	if err := os.Rename(l.Path(vol), l.Path(nv)); err != nil {
		return fmt.Errorf("rename %s: %w", vol, err)
	}
	if !vol.IsSnapshot() {
		if err := os.Rename(l.SnapshotsDir(vol), l.SnapshotsDir(nv)); err != nil && !os.IsNotExist(err) {
			os.Rename(l.Path(nv), l.Path(vol))
			return fmt.Errorf("rename snapshots of %s: %w", vol, err)
		}
	}
	return nil
}

// Volumes lists the volumes of a kind, snapshots included ("inst/snap"),
// skipping staging entries.
func (l Layout) Volumes(kind Kind) ([]Volume, error) {
	var out []Volume
	ents, err := os.ReadDir(filepath.Join(l.Root, string(kind)))
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			out = append(out, Volume{Kind: kind, Name: e.Name()})
		}
	}
	parents, _ := os.ReadDir(filepath.Join(l.Root, string(kind)+"-snapshots"))
	for _, p := range parents {
		if strings.HasPrefix(p.Name(), ".") {
			continue
		}
		snaps, _ := os.ReadDir(filepath.Join(l.Root, string(kind)+"-snapshots", p.Name()))
		for _, s := range snaps {
			if !strings.HasPrefix(s.Name(), ".") {
				out = append(out, Volume{Kind: kind, Name: p.Name() + "/" + s.Name()})
			}
		}
	}
	return out, nil
}
