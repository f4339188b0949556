package btrfs

import (
	"fmt"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Subvolumes are made by ioctl, as btrfs-progs does, without running it:
// executing `btrfs` cost 2-3 ms of every launch on this pool, more than
// the snapshot itself on a quiet filesystem.

// volArgsV2 is struct btrfs_ioctl_vol_args_v2 (4,096 bytes).
type volArgsV2 struct {
	fd      int64
	transid uint64
	flags   uint64
	unused  [4]uint64
	name    [4040]byte
}

// The kernel's struct is 4,096 bytes: this fails to compile otherwise.
var _ = [1]struct{}{}[unsafe.Sizeof(volArgsV2{})-4096]

const (
	// iocSnapCreateV2 is BTRFS_IOC_SNAP_CREATE_V2, _IOW(0x94, 23, struct btrfs_ioctl_vol_args_v2).
	iocSnapCreateV2 = 0x50009417
	// iocSubvolCreateV2 is BTRFS_IOC_SUBVOL_CREATE_V2, _IOW(0x94, 24, struct btrfs_ioctl_vol_args_v2).
	iocSubvolCreateV2 = 0x50009418
	// subvolReadOnly is BTRFS_SUBVOL_RDONLY.
	subvolReadOnly = 1 << 1
)

// makeSubvolume creates subvolume dst: empty, or a snapshot of subvolume
// src when src is not "".
func makeSubvolume(src, dst string, readonly bool) error {
	what := "create subvolume " + dst
	if src != "" {
		what = fmt.Sprintf("snapshot %s to %s", src, dst)
	}
	var args volArgsV2
	name := filepath.Base(dst)
	if len(name) >= len(args.name) {
		return fmt.Errorf("%s: %w", what, unix.ENAMETOOLONG)
	}
	copy(args.name[:], name)
	if readonly {
		args.flags = subvolReadOnly
	}
	parent, err := unix.Open(filepath.Dir(dst), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer unix.Close(parent)
	req := uintptr(iocSubvolCreateV2)
	if src != "" {
		sfd, err := unix.Open(src, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		defer unix.Close(sfd)
		args.fd = int64(sfd)
		req = iocSnapCreateV2
	}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(parent), req, uintptr(unsafe.Pointer(&args))); errno != 0 {
		return fmt.Errorf("%s: %w", what, errno)
	}
	return nil
}

// qgroupLimitArgs is struct btrfs_ioctl_qgroup_limit_args.
type qgroupLimitArgs struct {
	qgroupid uint64
	flags    uint64
	maxRfer  uint64
	maxExcl  uint64
	rsvRfer  uint64
	rsvExcl  uint64
}

const (
	// iocQgroupLimit is BTRFS_IOC_QGROUP_LIMIT, _IOR(0x94, 43, struct btrfs_ioctl_qgroup_limit_args).
	iocQgroupLimit = 0x8030942b
	// qgroupLimitMaxRfer is BTRFS_QGROUP_LIMIT_MAX_RFER.
	qgroupLimitMaxRfer = 1 << 0
)

// errQuotasOff is what the kernel answers a qgroup request on a filesystem
// whose quotas were never enabled.
var errQuotasOff = unix.ENOTCONN

// limitReferenced limits what subvolume path references to bytes (0: no
// limit), as `btrfs qgroup limit` does: a start with no size limit made
// that command's 2 ms on every start.
func limitReferenced(path string, bytes int64) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	// qgroupid 0: the subvolume fd is in. No limit is the all-ones value.
	args := qgroupLimitArgs{flags: qgroupLimitMaxRfer, maxRfer: ^uint64(0)}
	if bytes > 0 {
		args.maxRfer = uint64(bytes)
	}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), iocQgroupLimit, uintptr(unsafe.Pointer(&args))); errno != 0 {
		return errno
	}
	return nil
}
