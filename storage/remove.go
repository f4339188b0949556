package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// beneath is how RemoveBeneath resolves every path below the root it was
// given: the kernel refuses a symlink (ELOOP), a ".." out of the root and
// a mount point (EXDEV) instead of following them.
const beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// RemoveBeneath removes root/rel and everything below it, the way every
// delete in a storage pool goes:
//
//   - rel's directories are resolved by the kernel below root (openat2
//     RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_XDEV): a symlink or a
//     mount point on the way is refused, never followed, so a volume
//     directory replaced by a link to a host directory cannot take the
//     host's files with it;
//   - the last component, when it is a symlink or a file, is unlinked
//     itself (a link is removed, not what it points to);
//   - the walk below never follows a symlink and stops with an error at a
//     mount point (a bind mount left inside a rootfs), before deleting
//     anything in it;
//   - a btrfs subvolume met on the way is destroyed with the
//     BTRFS_IOC_SNAP_DESTROY ioctl (read-only snapshots included).
//
// A missing path is not an error. rel must be a relative path below root.
func RemoveBeneath(root, rel string) error {
	rel = filepath.Clean(rel)
	if rel == "." || rel == ".." || filepath.IsAbs(rel) || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("remove %q in %s: not a path below it", rel, root)
	}
	rootFd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rootFd)
	dir, base := filepath.Split(rel)
	pfd := rootFd
	if dir = strings.TrimSuffix(dir, "/"); dir != "" {
		pfd, err = unix.Openat2(rootFd, dir, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: beneath})
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return refused(filepath.Join(root, dir), root, err)
		}
		defer unix.Close(pfd)
	}
	full := filepath.Join(root, rel)
	if err := checkNoMounts(pfd, base, full, root); err != nil {
		return err
	}
	return removeAt(pfd, base, full, root)
}

// checkNoMounts refuses a directory with something mounted on or below
// it: the walk would stop there anyway (RESOLVE_NO_XDEV), but a btrfs
// subvolume is destroyed whole by one ioctl, which would detach the mount
// (the mounted files survive, the user's mount does not). The mount table
// is matched against the kernel's own name for the opened directory.
func checkNoMounts(pfd int, name, path, root string) error {
	fd, err := unix.Openat2(pfd, name, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: beneath})
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		return nil // gone, a file, or a symlink: unlinked without a walk
	}
	if err != nil {
		return refused(path, root, err)
	}
	defer unix.Close(fd)
	canon, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return err
	}
	if m := mountBelow(canon); m != "" {
		return fmt.Errorf("remove %s: %s is mounted inside it; lodge does not delete across mounts (unmount it first)", path, m)
	}
	return nil
}

// mountBelow returns a mount point at or below dir in lodged's mount
// namespace, or "".
func mountBelow(dir string) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 {
			if mp := unescapeMount(f[4]); mp == dir || Under(mp, dir) {
				return mp
			}
		}
	}
	return ""
}

// refused names why a path was not followed.
func refused(p, root string, err error) error {
	switch {
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("remove %s: it is, or goes through, a symlink; lodge does not follow links out of %s (remove the link by hand if it is stray)", p, root)
	case errors.Is(err, unix.EXDEV):
		return fmt.Errorf("remove %s: it is, or goes through, a mount point; lodge does not delete across mounts (unmount it first)", p)
	case errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("remove %s: a component on the way is not a directory", p)
	}
	return &os.PathError{Op: "open", Path: p, Err: err}
}

// removeAt removes name in the directory pfd and everything below it;
// path is its full name for messages.
func removeAt(pfd int, name, path, root string) error {
	// Anything but a directory (a symlink included) is unlinked itself.
	err := unix.Unlinkat(pfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) {
		return &os.PathError{Op: "unlink", Path: path, Err: err}
	}
	fd, err := unix.Openat2(pfd, name, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: beneath})
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return refused(path, root, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return &os.PathError{Op: "stat", Path: path, Err: err}
	}
	sub := isSubvolume(fd, &st)
	if sub {
		// A subvolume goes whole, content included, unless it holds
		// nested subvolumes: those go first, below.
		err := snapDestroy(pfd, name)
		if err == nil {
			unix.Close(fd)
			return nil
		}
		if !errors.Is(err, unix.ENOTEMPTY) {
			unix.Close(fd)
			return &os.PathError{Op: "delete subvolume", Path: path, Err: err}
		}
	}
	f := os.NewFile(uintptr(fd), path)
	names, err := f.Readdirnames(-1)
	if err != nil {
		f.Close()
		return err
	}
	for _, n := range names {
		if err := removeAt(fd, n, filepath.Join(path, n), root); err != nil {
			f.Close()
			return err
		}
	}
	f.Close()
	if sub {
		err = snapDestroy(pfd, name)
	} else {
		err = unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR)
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "remove", Path: path, Err: err}
	}
	return nil
}

// isSubvolume tells whether the open directory fd is the top of a btrfs
// subvolume (inode 256 on btrfs).
func isSubvolume(fd int, st *unix.Stat_t) bool {
	if st.Ino != 256 {
		return false
	}
	var fs unix.Statfs_t
	return unix.Fstatfs(fd, &fs) == nil && fs.Type == unix.BTRFS_SUPER_MAGIC
}

// btrfsVolArgs is struct btrfs_ioctl_vol_args.
type btrfsVolArgs struct {
	fd   int64
	name [4088]byte
}

// btrfsIocSnapDestroy is BTRFS_IOC_SNAP_DESTROY, _IOW(0x94, 15, struct btrfs_ioctl_vol_args).
const btrfsIocSnapDestroy = 0x5000940f

// snapDestroy deletes subvolume name in directory pfd, as `btrfs subvolume
// delete` does, but by a name relative to a directory already resolved
// below the pool.
func snapDestroy(pfd int, name string) error {
	var args btrfsVolArgs
	if len(name) >= len(args.name) {
		return unix.ENAMETOOLONG
	}
	copy(args.name[:], name)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(pfd), btrfsIocSnapDestroy, uintptr(unsafe.Pointer(&args)))
	if errno != 0 {
		return errno
	}
	return nil
}

// Remove removes path, which must lie below the pool's root, with
// RemoveBeneath.
func (l Layout) Remove(path string) error {
	rel, err := filepath.Rel(l.Root, path)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("remove %s: not below storage pool %s", path, l.Root)
	}
	return RemoveBeneath(l.Root, rel)
}

// RemoveVolume removes vol's tree and, for a container or custom volume
// (not a snapshot), its snapshots directory.
func (l Layout) RemoveVolume(vol Volume) error {
	if err := vol.Validate(); err != nil {
		return err
	}
	if err := l.Remove(l.Path(vol)); err != nil {
		return fmt.Errorf("volume %s: delete: %w", vol, err)
	}
	if !vol.IsSnapshot() && vol.Kind != KindImage {
		if err := l.Remove(l.SnapshotsDir(vol)); err != nil {
			return fmt.Errorf("volume %s: delete snapshots: %w", vol, err)
		}
	}
	return nil
}
