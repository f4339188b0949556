//go:build linux && cgo

package lxc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	golxc "github.com/lxc/go-lxc"
	"golang.org/x/sys/unix"

	"lodge/instances"
)

// Disk hotplug: a helper (lodged forkmount) makes a detached bind mount of
// the source in the host's mount namespace (open_tree), sets it read-only
// and idmapped as asked (mount_setattr), then enters the container's mount
// namespace and attaches it at the path resolved inside the container's
// root (move_mount). Unplug is an umount in that namespace. The helper is
// a fresh process because entering a mount namespace needs a thread whose
// filesystem context is not shared, which the daemon's threads are.

// AttachMount implements instances.MountHotplugger.
func (d *Driver) AttachMount(ctx context.Context, name string, m instances.Mount) error {
	if _, err := mountEntry(m); err != nil {
		return instances.Invalidf("container %q: %v", name, err)
	}
	pid, err := d.runningPID(name)
	if err != nil {
		return err
	}
	flags := []string{"rw", "dir", "noshift"}
	if m.ReadOnly {
		flags[0] = "ro"
	}
	if m.IsFile {
		flags[1] = "file"
	}
	if m.Shift {
		flags[2] = "shift"
	}
	return d.helper(ctx, name, "forkmount", strconv.Itoa(pid), filepath.Clean(m.Source), filepath.Clean(m.Path), strings.Join(flags, ","))
}

// DetachMount implements instances.MountHotplugger.
func (d *Driver) DetachMount(ctx context.Context, name, path string) error {
	if !filepath.IsAbs(path) || filepath.Clean(path) == "/" {
		return instances.Invalidf("container %q: unmount %q: the path must be absolute and not /", name, path)
	}
	pid, err := d.runningPID(name)
	if err != nil {
		return err
	}
	return d.helper(ctx, name, "forkumount", strconv.Itoa(pid), filepath.Clean(path))
}

func (d *Driver) runningPID(name string) (int, error) {
	c, err := d.container(name)
	if err != nil {
		return 0, err
	}
	defer golxc.Release(c)
	if !c.Running() {
		return 0, fmt.Errorf("container %q: %w", name, instances.ErrNotRunning)
	}
	pid := c.InitPid()
	if pid <= 0 {
		return 0, fmt.Errorf("container %q: %w", name, instances.ErrNotRunning)
	}
	return pid, nil
}

func (d *Driver) helper(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, d.Helper, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if strings.HasPrefix(msg, "invalid: ") {
			return instances.Invalidf("container %q: %s", name, strings.TrimPrefix(msg, "invalid: "))
		}
		return fmt.Errorf("container %q: %s: %v: %s", name, args[0], err, msg)
	}
	return nil
}

// forkMount is the helper's side of AttachMount.
func forkMount(pidArg, source, target, flagArg string) int {
	runtime.LockOSThread()
	pid, err := strconv.Atoi(pidArg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad pid", pidArg)
		return 2
	}
	flags := map[string]bool{}
	for _, f := range strings.Split(flagArg, ",") {
		flags[f] = true
	}
	if err := attach(pid, source, target, flags["ro"], flags["file"], flags["shift"]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func attach(pid int, source, target string, ro, isFile, shift bool) error {
	fi, err := os.Stat(source)
	if err != nil {
		return fmt.Errorf("invalid: disk source %s: %v", source, err)
	}
	if fi.IsDir() == isFile {
		return fmt.Errorf("invalid: disk source %s: a directory must be mounted on a directory, a file on a file", source)
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, source, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("bind %s: open_tree: %w", source, err)
	}
	defer unix.Close(tree)
	var attr unix.MountAttr
	if ro {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	rootUID, rootGID, identity, err := nsRoot(pid)
	if err != nil {
		return err
	}
	if shift && !identity {
		userns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("user namespace of pid %d: %w", pid, err)
		}
		defer unix.Close(userns)
		attr.Attr_set |= unix.MOUNT_ATTR_IDMAP
		attr.Userns_fd = uint64(userns)
	}
	if attr.Attr_set != 0 {
		if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, &attr); err != nil {
			if attr.Attr_set&unix.MOUNT_ATTR_IDMAP != 0 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM)) {
				return fmt.Errorf("invalid: disk source %s: its filesystem does not support idmapped mounts on this kernel (%v); unset shift, or give the source to the container's ids", source, err)
			}
			return fmt.Errorf("bind %s: mount_setattr: %w", source, err)
		}
	}
	if err := enterMountNS(pid); err != nil {
		return err
	}
	// From here "/" is the container's root.
	dst, err := mountPoint(target, isFile, rootUID, rootGID)
	if err != nil {
		return err
	}
	defer unix.Close(dst)
	if err := unix.MoveMount(tree, "", dst, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount %s on %s in the container: move_mount: %w", source, target, err)
	}
	return nil
}

// nsRoot reads the host ids of the container's root from its id maps;
// identity is true for a privileged container.
func nsRoot(pid int) (uid, gid int, identity bool, err error) {
	read := func(f string) (int, bool, error) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f))
		if err != nil {
			return 0, false, err
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) == 3 && fs[0] == "0" {
				host, _ := strconv.Atoi(fs[1])
				return host, host == 0, nil
			}
		}
		return 0, false, fmt.Errorf("pid %d: no mapping for id 0 in %s", pid, f)
	}
	uid, identity, err = read("uid_map")
	if err == nil {
		gid, _, err = read("gid_map")
	}
	return uid, gid, identity, err
}

// enterMountNS moves the calling (locked) thread into pid's mount
// namespace; it first stops sharing its filesystem context, which setns
// requires and which Go's threads otherwise share.
func enterMountNS(pid int) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare CLONE_FS: %w", err)
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("mount namespace of pid %d: %w", pid, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("enter the mount namespace of pid %d: %w", pid, err)
	}
	return nil
}

// inRoot is how paths are resolved inside the container: its symlinks
// resolve within its root, /proc magic links not at all.
const inRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// mountPoint opens (creating if needed) the mount point target inside the
// current root; what it creates belongs to the container's root.
func mountPoint(target string, isFile bool, uid, gid int) (int, error) {
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(root)
	rel := strings.TrimPrefix(filepath.Clean(target), "/")
	parts := strings.Split(rel, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		last := i == len(parts)-1
		flags := uint64(unix.O_PATH | unix.O_CLOEXEC)
		if !last || !isFile {
			flags |= unix.O_DIRECTORY
		}
		fd, err := unix.Openat2(root, p, &unix.OpenHow{Flags: flags, Resolve: inRoot})
		if err == nil {
			if last {
				return fd, nil
			}
			unix.Close(fd)
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return -1, fmt.Errorf("invalid: mount point %s in the container: %s: %v", target, "/"+p, err)
		}
		parent, err := unix.Openat2(root, filepath.Dir(p), &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: inRoot})
		if err != nil {
			return -1, fmt.Errorf("invalid: mount point %s in the container: %v", target, err)
		}
		base := filepath.Base(p)
		if last && isFile {
			var fd int
			fd, err = unix.Openat(parent, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
			if err == nil {
				unix.Close(fd)
			}
		} else {
			err = unix.Mkdirat(parent, base, 0o755)
		}
		if err == nil {
			err = unix.Fchownat(parent, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
		}
		unix.Close(parent)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("create mount point %s in the container: %w", target, err)
		}
		fd, err = unix.Openat2(root, p, &unix.OpenHow{Flags: flags, Resolve: inRoot})
		if err != nil {
			return -1, fmt.Errorf("invalid: mount point %s in the container: %v", target, err)
		}
		if last {
			return fd, nil
		}
		unix.Close(fd)
	}
	return -1, fmt.Errorf("invalid: mount point %q", target)
}

// forkUmount is the helper's side of DetachMount.
func forkUmount(pidArg, target string) int {
	runtime.LockOSThread()
	pid, err := strconv.Atoi(pidArg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad pid", pidArg)
		return 2
	}
	if err := enterMountNS(pid); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	err = unix.Unmount(target, unix.UMOUNT_NOFOLLOW|unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		fmt.Fprintf(os.Stderr, "unmount %s in the container: %v\n", target, err)
		return 1
	}
	return 0
}
