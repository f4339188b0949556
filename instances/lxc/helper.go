//go:build linux && cgo

package lxc

import (
	"fmt"
	"os"
	"strconv"

	golxc "github.com/lxc/go-lxc"
	"golang.org/x/sys/unix"
)

// HelperMain runs the hidden subcommands lodged re-executes itself for:
// liblxc's console loop and the hotplug mounts, which need a fresh,
// single-purpose process, not the multithreaded daemon. (forkstart and
// forkexecd, liblxc's start and attach, never reach it: helper_c.c runs them
// before the Go runtime starts.) cmd/lodged calls it first thing; handled
// is false for any other command line.
func HelperMain(args []string) (handled bool, exitCode int) {
	if len(args) == 0 {
		return false, 0
	}
	switch args[0] {
	case "forkconsole":
		if len(args) != 3 {
			fmt.Fprintln(os.Stderr, "usage: forkconsole NAME LXCPATH")
			return true, 2
		}
		return true, forkConsole(args[1], args[2])
	case "forkmount":
		if len(args) != 5 {
			fmt.Fprintln(os.Stderr, "usage: forkmount PID SOURCE TARGET FLAGS")
			return true, 2
		}
		return true, forkMount(args[1], args[2], args[3], args[4])
	case "forkumount":
		if len(args) != 3 {
			fmt.Fprintln(os.Stderr, "usage: forkumount PID TARGET")
			return true, 2
		}
		return true, forkUmount(args[1], args[2])
	}
	return false, 0
}

// execRequest is what the daemon passes to the exec helper on fd 4 (helper_c.c
// reads it): NUL-terminated fields.
type execRequest struct {
	Argv []string
	Env  []string
	Cwd  string
	UID  int
	GID  int
	TTY  bool
}

func (r execRequest) encode() []byte {
	var b []byte
	field := func(s string) { b = append(append(b, s...), 0) }
	tty := "0"
	if r.TTY {
		tty = "1"
	}
	for _, f := range []string{"1", r.Cwd, strconv.Itoa(r.UID), strconv.Itoa(r.GID), tty} {
		field(f)
	}
	for _, list := range [][]string{r.Argv, r.Env} {
		field(strconv.Itoa(len(list)))
		for _, s := range list {
			field(s)
		}
	}
	return b
}

// forkConsole runs liblxc's console loop between this process's stdio (a
// pty whose master the daemon holds) and the container's /dev/console. The
// pty is made our controlling terminal so that liblxc sees SIGWINCH when
// the daemon resizes it. No escape key: the client detaches by closing.
func forkConsole(name, lxcpath string) int {
	if _, err := unix.Setsid(); err == nil {
		_ = unix.IoctlSetInt(0, unix.TIOCSCTTY, 0)
	}
	c, err := golxc.NewContainer(name, lxcpath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	opts := golxc.ConsoleOptions{Tty: 0, StdinFd: 0, StdoutFd: 1, StderrFd: 2, EscapeCharacter: -1}
	if err := c.Console(opts); err != nil {
		fmt.Fprintf(os.Stderr, "console of container %q: %v\n", name, err)
		return 1
	}
	return 0
}
