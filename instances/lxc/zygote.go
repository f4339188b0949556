//go:build linux && cgo

package lxc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// zygote is lodged's end of the exec zygote (`lodged forkexecd`,
// helper_c.c): a small single-threaded process started on the first exec
// that forks one child per exec, so that an exec no longer pays for
// executing lodged and linking liblxc (about 2 ms here). A zygote that died
// is started again on the next exec.
type zygote struct {
	helper string

	mu   sync.Mutex
	sock int // lodged's end of the SOCK_SEQPACKET pair; -1 before the start
}

func newZygote(helper string) *zygote { return &zygote{helper: helper, sock: -1} }

// spawn starts the zygote; z.mu is held.
func (z *zygote) spawn() error {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("exec helper: socketpair: %w", err)
	}
	theirs := os.NewFile(uintptr(pair[1]), "forkexecd")
	defer theirs.Close()
	cmd := exec.Command(z.helper, "forkexecd")
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		unix.Close(pair[0])
		return fmt.Errorf("exec helper: start %s forkexecd: %w", z.helper, err)
	}
	go func() { _ = cmd.Wait() }()
	z.sock = pair[0]
	return nil
}

// fork asks the zygote for a child running fork_exec with files as its
// fds 0-4 (fd 0-2 the process's stdio, 3 the status pipe, 4 the request).
func (z *zygote) fork(name, lxcpath string, trace bool, files [5]*os.File) error {
	t := "0"
	if trace {
		t = "1"
	}
	msg := []byte(name + "\x00" + lxcpath + "\x00" + t + "\x00")
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	rights := unix.UnixRights(fds...)
	defer runtime.KeepAlive(files)
	z.mu.Lock()
	defer z.mu.Unlock()
	// A zygote that died (killed, or gone with a replaced binary) is
	// noticed here, as a broken pipe, and started again once.
	for attempt := 0; ; attempt++ {
		if z.sock < 0 {
			if err := z.spawn(); err != nil {
				return err
			}
		}
		err := unix.Sendmsg(z.sock, msg, rights, nil, unix.MSG_NOSIGNAL)
		if err == nil {
			return nil
		}
		unix.Close(z.sock)
		z.sock = -1
		if attempt > 0 || !(errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET)) {
			return fmt.Errorf("exec helper: %w", err)
		}
	}
}
