//go:build linux && cgo

package lxc

import (
	"context"
	"fmt"
	"os"

	golxc "github.com/lxc/go-lxc"
	"golang.org/x/sys/unix"
)

// OpenPTY is instances.Driver's: the pty comes from the container's
// devpts instance (liblxc's devpts fd), so inside the container the slave is
// a /dev/pts/N of its own.
func (d *Driver) OpenPTY(ctx context.Context, name string, uid, gid uint32) (*os.File, *os.File, error) {
	c, err := d.container(name)
	if err != nil {
		return nil, nil, err
	}
	defer golxc.Release(c)
	devpts, err := c.DevptsFd()
	if err != nil {
		return nil, nil, fmt.Errorf("container %q: devpts: %w", name, err)
	}
	defer devpts.Close()
	ptmx, err := unix.Openat(int(devpts.Fd()), "ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("container %q: open ptmx: %w", name, err)
	}
	master := os.NewFile(uintptr(ptmx), "ptmx")
	if err := unix.IoctlSetPointerInt(ptmx, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("container %q: unlock pty: %w", name, err)
	}
	peer, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(ptmx), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		master.Close()
		return nil, nil, fmt.Errorf("container %q: open pty peer: %w", name, errno)
	}
	slave := os.NewFile(peer, "pts")
	if err := unix.Fchown(int(peer), int(uid), int(gid)); err != nil {
		master.Close()
		slave.Close()
		return nil, nil, fmt.Errorf("container %q: chown pty: %w", name, err)
	}
	return master, slave, nil
}
