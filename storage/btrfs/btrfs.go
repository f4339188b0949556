// Package btrfs is the btrfs storage driver: every volume is a subvolume;
// instances and snapshots are btrfs snapshots (copy-on-write clones, made in
// milliseconds whatever the image size). The pool's filesystem is an
// existing btrfs directory, a block device, or a loop file lodged creates
// and mounts (again at each start).
package btrfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"lodge/storage"
)

// Driver is a btrfs pool rooted at a directory on btrfs.
type Driver struct {
	l      storage.Layout
	source string
}

// New opens a btrfs pool at root, which must be on btrfs.
func New(root, source string) (*Driver, error) {
	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, fmt.Errorf("storage pool %s: %w", root, err)
	}
	if !IsBtrfs(root) {
		return nil, fmt.Errorf("storage pool %s: not on a btrfs filesystem", root)
	}
	l := storage.Layout{Root: root}
	if err := l.Init(); err != nil {
		return nil, err
	}
	if source == "" {
		source = root
	}
	return &Driver{l: l, source: source}, nil
}

// IsBtrfs tells whether path is on a btrfs filesystem.
func IsBtrfs(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.BTRFS_SUPER_MAGIC
}

// CreateLoop makes a sparse file of size bytes formatted as btrfs.
func CreateLoop(ctx context.Context, file string, size int64) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("loop file %s: %w", file, err)
	}
	err = f.Truncate(size)
	f.Close()
	if err == nil {
		err = run(ctx, "mkfs.btrfs", "-q", file)
	}
	if err != nil {
		os.Remove(file)
		return fmt.Errorf("loop file %s: %w", file, err)
	}
	return nil
}

// Format makes a btrfs filesystem on a block device that has none.
func Format(ctx context.Context, dev string) error {
	if out, _ := exec.CommandContext(ctx, "blkid", "-o", "value", "-s", "TYPE", dev).Output(); len(strings.TrimSpace(string(out))) > 0 {
		if t := strings.TrimSpace(string(out)); t != "btrfs" {
			return fmt.Errorf("device %s already holds a %s filesystem; lodge will not overwrite it", dev, t)
		}
		return nil
	}
	return run(ctx, "mkfs.btrfs", "-q", dev)
}

// MountSource mounts a loop file or block device on target unless
// something is mounted there already.
func MountSource(ctx context.Context, source, target string) error {
	if err := os.MkdirAll(target, 0o711); err != nil {
		return err
	}
	if storage.IsMountpoint(target) {
		return nil
	}
	fi, err := os.Stat(source)
	if err != nil {
		return fmt.Errorf("btrfs source %s: %w", source, err)
	}
	args := []string{"-t", "btrfs"}
	if fi.Mode().IsRegular() {
		args = append(args, "-o", "loop")
	}
	if err := run(ctx, "mount", append(args, source, target)...); err != nil {
		return fmt.Errorf("mount btrfs %s on %s: %w", source, target, err)
	}
	return nil
}

// UnmountSource unmounts a pool's filesystem (the loop device goes with it).
func UnmountSource(target string) error {
	for storage.IsMountpoint(target) {
		if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
	return nil
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := storage.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Info implements storage.Driver.
func (d *Driver) Info() storage.Info {
	return storage.Info{Name: "btrfs", CheapClone: true, Snapshots: true, Source: d.source, Root: d.l.Root}
}

// Path implements storage.Driver.
func (d *Driver) Path(vol storage.Volume) string { return d.l.Path(vol) }

// Exists implements storage.Driver.
func (d *Driver) Exists(vol storage.Volume) bool { return d.l.Exists(vol) }

// CreateImage implements storage.Driver: a subvolume filled under a staging
// name, made read-only, then renamed into place.
func (d *Driver) CreateImage(ctx context.Context, vol storage.Volume, fill func(dir string) error) error {
	if err := d.l.CheckNew(vol); err != nil {
		return err
	}
	tmp, err := d.l.Staging(vol)
	if err != nil {
		return fmt.Errorf("volume %s: %w", vol, err)
	}
	if err := makeSubvolume("", tmp, false); err != nil {
		return fmt.Errorf("volume %s: %w", vol, err)
	}
	if err := os.Chmod(tmp, 0o700); err != nil {
		d.l.Remove(tmp)
		return err
	}
	if err := fill(tmp); err != nil {
		d.l.Remove(tmp)
		return err
	}
	if err := run(ctx, "btrfs", "property", "set", "-ts", tmp, "ro", "true"); err != nil {
		d.l.Remove(tmp)
		return fmt.Errorf("volume %s: %w", vol, err)
	}
	return d.place(tmp, vol)
}

func (d *Driver) place(tmp string, vol storage.Volume) error {
	if err := os.Rename(tmp, d.Path(vol)); err != nil {
		d.l.Remove(tmp)
		return fmt.Errorf("volume %s: %w", vol, err)
	}
	return nil
}

// snapshotInto snapshots src under a staging name and renames it to dst.
func (d *Driver) snapshotInto(ctx context.Context, src, dst storage.Volume, readonly bool) error {
	tmp, err := d.l.Staging(dst)
	if err != nil {
		return fmt.Errorf("volume %s: %w", dst, err)
	}
	if err := makeSubvolume(d.Path(src), tmp, readonly); err != nil {
		return fmt.Errorf("volume %s from %s: %w", dst, src, err)
	}
	return d.place(tmp, dst)
}

// Clone implements storage.Driver with a writable btrfs snapshot.
func (d *Driver) Clone(ctx context.Context, src, dst storage.Volume) error {
	if err := dst.Validate(); err != nil {
		return err
	}
	if !d.Exists(src) {
		return fmt.Errorf("volume %s: %w", src, storage.ErrNotFound)
	}
	if d.Exists(dst) {
		return fmt.Errorf("volume %s: %w", dst, storage.ErrExists)
	}
	return d.snapshotInto(ctx, src, dst, false)
}

// Snapshot implements storage.Driver with a read-only btrfs snapshot.
func (d *Driver) Snapshot(ctx context.Context, vol storage.Volume, snap string) error {
	sv := vol.Snapshot(snap)
	if err := sv.Validate(); err != nil {
		return err
	}
	if !d.Exists(vol) {
		return fmt.Errorf("volume %s: %w", vol, storage.ErrNotFound)
	}
	if d.Exists(sv) {
		return fmt.Errorf("snapshot %s: %w", sv, storage.ErrExists)
	}
	return d.snapshotInto(ctx, vol, sv, true)
}

// Restore implements storage.Driver: a writable snapshot of the snapshot is
// swapped in for the volume.
func (d *Driver) Restore(ctx context.Context, vol storage.Volume, snap string) error {
	sv := vol.Snapshot(snap)
	if !d.Exists(sv) {
		return fmt.Errorf("snapshot %s: %w", sv, storage.ErrNotFound)
	}
	return d.swapIn(ctx, sv, vol)
}

// swapIn replaces vol by a writable snapshot of src: made under a staging
// name, swapped with the old subvolume, which is then deleted.
func (d *Driver) swapIn(ctx context.Context, src, vol storage.Volume) error {
	tmp, err := d.l.Staging(vol)
	if err != nil {
		return err
	}
	if err := makeSubvolume(d.Path(src), tmp, false); err != nil {
		return fmt.Errorf("%s from %s: %w", vol, src, err)
	}
	dir := d.Path(vol)
	old := filepath.Join(filepath.Dir(dir), ".tmp-old-"+filepath.Base(dir))
	d.l.Remove(old)
	if err := os.Rename(dir, old); err != nil {
		d.l.Remove(tmp)
		return fmt.Errorf("%s from %s: %w", vol, src, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.Rename(old, dir)
		d.l.Remove(tmp)
		return fmt.Errorf("%s from %s: %w", vol, src, err)
	}
	return d.l.Remove(old)
}

// Delete implements storage.Driver, nested subvolumes (made inside a
// container) included: storage.RemoveBeneath destroys each subvolume by
// ioctl on a directory resolved below the pool, deepest first.
func (d *Driver) Delete(ctx context.Context, vol storage.Volume) error {
	return d.l.RemoveVolume(vol)
}

// Usage implements storage.Driver: the bytes only this volume holds
// (btrfs's "exclusive"), which is what a snapshot costs.
func (d *Driver) Usage(ctx context.Context, vol storage.Volume) (int64, error) {
	if !d.Exists(vol) {
		return -1, fmt.Errorf("volume %s: %w", vol, storage.ErrNotFound)
	}
	out, err := exec.CommandContext(ctx, "btrfs", "filesystem", "du", "-s", "--raw", d.Path(vol)).Output()
	if err != nil {
		return -1, nil
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if len(f) < 2 {
		return -1, nil
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return -1, nil
	}
	return n, nil
}

// Mount implements storage.Driver: subvolumes are always reachable.
func (d *Driver) Mount(ctx context.Context, vol storage.Volume) error {
	if !d.Exists(vol) {
		return fmt.Errorf("volume %s: %w", vol, storage.ErrNotFound)
	}
	return nil
}

// Unmount implements storage.Driver.
func (d *Driver) Unmount(ctx context.Context, vol storage.Volume) error { return nil }

// Rename implements storage.Driver (rename(2) moves subvolumes too).
func (d *Driver) Rename(ctx context.Context, vol storage.Volume, newName string) error {
	return storage.RenameDirs(d.l, vol, newName, d.Exists)
}

// Cleanup removes staging subvolumes a crash left behind.
func (d *Driver) Cleanup() {
	for _, m := range d.l.Leftovers() {
		d.l.Remove(m)
	}
}

// Volumes implements storage.Driver.
func (d *Driver) Volumes(kind storage.Kind) ([]storage.Volume, error) { return d.l.Volumes(kind) }

// CreateVolume implements storage.Driver with an empty subvolume.
func (d *Driver) CreateVolume(ctx context.Context, vol storage.Volume) error {
	if err := d.l.CheckNew(vol); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(d.Path(vol)), 0o711); err != nil {
		return err
	}
	if err := makeSubvolume("", d.Path(vol), false); err != nil {
		return fmt.Errorf("volume %s: %w", vol, err)
	}
	return os.Chmod(d.Path(vol), 0o755)
}

// CreateEmptyContainer implements storage.Driver: an empty subvolume
// holding an empty rootfs, made under a staging name.
func (d *Driver) CreateEmptyContainer(ctx context.Context, vol storage.Volume) error {
	if err := d.l.CheckNew(vol); err != nil {
		return err
	}
	if vol.Kind != storage.KindContainer || vol.IsSnapshot() {
		return fmt.Errorf("volume %s: only an instance's volume is made empty", vol)
	}
	tmp, err := d.l.Staging(vol)
	if err != nil {
		return fmt.Errorf("volume %s: %w", vol, err)
	}
	if err := makeSubvolume("", tmp, false); err != nil {
		return fmt.Errorf("volume %s: %w", vol, err)
	}
	if err := storage.MakeEmptyTree(tmp); err != nil {
		d.l.Remove(tmp)
		return fmt.Errorf("volume %s: %w", vol, err)
	}
	return d.place(tmp, vol)
}

// Adopt makes the subvolume at path, on this pool's filesystem (a
// received btrfs send stream), container volume or snapshot vol: it is
// renamed into place. path must be below the pool's root.
func (d *Driver) Adopt(ctx context.Context, vol storage.Volume, path string) error {
	if err := d.l.CheckNew(vol); err != nil {
		return err
	}
	if vol.Kind != storage.KindContainer {
		return fmt.Errorf("volume %s: only container volumes and their snapshots are adopted", vol)
	}
	rel, err := filepath.Rel(d.l.Root, path)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("volume %s: %s is not below the pool %s", vol, path, d.l.Root)
	}
	if err := os.MkdirAll(filepath.Dir(d.Path(vol)), 0o711); err != nil {
		return fmt.Errorf("volume %s: %w", vol, err)
	}
	// A read-only subvolume cannot be moved (its ".." changes): it is made
	// writable for the rename and read-only again after.
	ro := false
	if out, err := exec.CommandContext(ctx, "btrfs", "property", "get", "-ts", path, "ro").Output(); err == nil && strings.TrimSpace(string(out)) == "ro=true" {
		ro = true
		if err := run(ctx, "btrfs", "property", "set", "-ts", path, "ro", "false"); err != nil {
			return fmt.Errorf("volume %s: %w", vol, err)
		}
	}
	if err := os.Rename(path, d.Path(vol)); err != nil {
		return fmt.Errorf("volume %s: %w", vol, err)
	}
	if ro {
		if err := run(ctx, "btrfs", "property", "set", "-ts", d.Path(vol), "ro", "true"); err != nil {
			return fmt.Errorf("volume %s: %w", vol, err)
		}
	}
	return nil
}

// SetQuota implements storage.Quotaer with a qgroup limit on what the
// subvolume references (its apparent disk size). Quotas are enabled on the
// filesystem the first time one is set, as LXD does.
func (d *Driver) SetQuota(ctx context.Context, vol storage.Volume, bytes int64) error {
	if !d.Exists(vol) {
		return fmt.Errorf("volume %s: %w", vol, storage.ErrNotFound)
	}
	if bytes > 0 {
		if err := run(ctx, "btrfs", "quota", "enable", d.l.Root); err != nil {
			return fmt.Errorf("volume %s: enable quotas: %w", vol, err)
		}
	}
	if err := limitReferenced(d.Path(vol), bytes); err != nil {
		if bytes == 0 && errors.Is(err, errQuotasOff) {
			return nil // quotas were never enabled: nothing to remove
		}
		return fmt.Errorf("volume %s: set quota: %w", vol, err)
	}
	return nil
}

// Reset implements storage.Driver: a writable snapshot of the image
// swapped in for the volume.
func (d *Driver) Reset(ctx context.Context, vol, img storage.Volume) error {
	if !d.Exists(vol) {
		return fmt.Errorf("volume %s: %w", vol, storage.ErrNotFound)
	}
	if !d.Exists(img) {
		return fmt.Errorf("volume %s: %w", img, storage.ErrNotFound)
	}
	return d.swapIn(ctx, img, vol)
}

// GrowLoop enlarges a loop-file pool mounted at target to size bytes: the
// file grows, the loop device rereads its size, btrfs takes the space.
func GrowLoop(ctx context.Context, file, target string, size int64) error {
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	if size <= fi.Size() {
		return fmt.Errorf("loop file %s: new size %d is not larger than the current %d; pools only grow", file, size, fi.Size())
	}
	if err := os.Truncate(file, size); err != nil {
		return err
	}
	out, err := storage.Command(ctx, "losetup", "-j", file).Output()
	if err != nil {
		return fmt.Errorf("losetup -j %s: %w", file, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if dev, _, ok := strings.Cut(line, ":"); ok && dev != "" {
			if err := run(ctx, "losetup", "-c", dev); err != nil {
				return err
			}
		}
	}
	return run(ctx, "btrfs", "filesystem", "resize", "max", target)
}
