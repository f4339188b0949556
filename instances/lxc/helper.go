//go:build linux && cgo

package lxc

import (
	"encoding/json"
	"fmt"
	"os"
	"syscall"

	golxc "github.com/lxc/go-lxc"
	"golang.org/x/sys/unix"
)

// HelperMain runs the hidden subcommands lodged re-executes itself for:
// liblxc's start and attach fork, which is only safe in a fresh,
// single-purpose process, not in the multithreaded daemon. cmd/lodged calls
// it first thing; handled is false for any other command line.
func HelperMain(args []string) (handled bool, exitCode int) {
	if len(args) == 0 {
		return false, 0
	}
	switch args[0] {
	case "forkstart":
		if len(args) != 4 {
			fmt.Fprintln(os.Stderr, "usage: forkstart NAME LXCPATH CONFIG")
			return true, 2
		}
		return true, forkStart(args[1], args[2], args[3])
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
	case "forkexec":
		if len(args) != 4 {
			fmt.Fprintln(os.Stderr, "usage: forkexec NAME LXCPATH SPEC-JSON")
			return true, 2
		}
		return true, forkExec(args[1], args[2], args[3])
	}
	return false, 0
}

func forkStart(name, lxcpath, config string) int {
	c, err := golxc.NewContainer(name, lxcpath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// NewContainer already read LXCPATH/NAME/config; loading it again
	// would append list keys (lxc.idmap, lxc.mount.entry) a second time.
	c.ClearConfig()
	if err := c.LoadConfigFile(config); err != nil {
		fmt.Fprintf(os.Stderr, "load config %s: %v\n", config, err)
		return 1
	}
	c.SetVerbosity(golxc.Quiet)
	// Daemonized: liblxc forks the monitor off and returns once the
	// container is running, so the monitor's parent is not this process.
	if !c.Daemonize() {
		fmt.Fprintln(os.Stderr, "liblxc is not set to daemonize")
		return 1
	}
	if err := c.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// execRequest is what the daemon passes to forkexec.
type execRequest struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	Cwd  string   `json:"cwd"`
	UID  int      `json:"uid"`
	GID  int      `json:"gid"`
	TTY  bool     `json:"tty"`
}

// forkExec attaches a process to the container with this process's fds 0-2
// as its stdio, writes its host pid to fd 3, waits for it and exits with
// its status (128+n for a death by signal n).
func forkExec(name, lxcpath, specJSON string) int {
	var req execRequest
	if err := json.Unmarshal([]byte(specJSON), &req); err != nil {
		fmt.Fprintln(os.Stderr, "bad exec spec:", err)
		return 126
	}
	pidPipe := os.NewFile(3, "pid")
	if req.TTY {
		// A session of our own with the pty as controlling terminal; the
		// attached process inherits both, so shells get job control.
		if _, err := unix.Setsid(); err != nil {
			fmt.Fprintln(os.Stderr, "setsid:", err)
			return 126
		}
		if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
			fmt.Fprintln(os.Stderr, "TIOCSCTTY:", err)
			return 126
		}
	}
	c, err := golxc.NewContainer(name, lxcpath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 126
	}
	opts := golxc.AttachOptions{
		Namespaces: -1, Arch: -1, Cwd: req.Cwd, UID: req.UID, GID: req.GID,
		ClearEnv: true, Env: req.Env, StdinFd: 0, StdoutFd: 1, StderrFd: 2,
	}
	pid, err := c.RunCommandNoWait(req.Argv, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "attach to container %q: %v\n", name, err)
		return 126
	}
	fmt.Fprintf(pidPipe, "%d\n", pid)
	pidPipe.Close()
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "wait:", err)
			return 126
		}
		break
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
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
