//go:build linux && cgo

package lxc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// A start is failed if the container's init dies at once: liblxc reports
// RUNNING as soon as init is exec'd, and an init that cannot run (systemd
// out of inotify instances or keys, a broken image) exits right after. The
// start watches the new init until it shows it is past its own start, so
// that such a death fails the start with its console log, and a healthy
// container costs no fixed wait:
//
//   - systemd is past the point where it fails for want of host resources
//     once it has set up its manager, which it does before it moves itself
//     into its init.scope cgroup: the watch ends when /proc/PID/cgroup
//     says init.scope.
//   - busybox init, once it runs its first inittab entry (a child).
//   - any other init gets the whole window: only a death, or the window's
//     end, ends the watch.
//
// The watch polls init's pidfd, so a death ends it at once, and looks for
// the sign of life every earlyDeathTick. earlyDeathWindow bounds it: an
// init that has shown no sign of life by then is taken as running (the
// guarantee lodge gave before: a death in the first 150 ms fails the
// start). systemd gets a longer bound, since it normally shows its
// init.scope within tens of milliseconds and a loaded host that slows
// its start must not let a failing one through.
const (
	earlyDeathWindow        = 150 * time.Millisecond
	earlyDeathWindowSystemd = 500 * time.Millisecond
	earlyDeathTick          = 2 * time.Millisecond
)

// initKind is how the watch tells an init past its start, from the halt
// signal the config gives it (haltSignal).
type initKind int

const (
	initOther initKind = iota
	initSystemd
	initBusybox
)

func initKindOf(haltSignal string) initKind {
	switch haltSignal {
	case "SIGRTMIN+3":
		return initSystemd
	case "SIGUSR2":
		return initBusybox
	}
	return initOther
}

// watchOutcome is how a watch ended.
type watchOutcome int

const (
	initAlive   watchOutcome = iota // showed a sign of life
	initDied                        // died within the window
	initTimeout                     // neither within the window: taken as running
)

func (o watchOutcome) String() string {
	return [...]string{"init is past its start", "init died", "no sign either way within the window"}[o]
}

// watchInit watches the container's init (pid) until it shows it is past
// its start, dies, or the window ends. A pid that cannot be watched (it has
// gone already) is a death.
func watchInit(pid int, kind initKind) (watchOutcome, error) {
	if pid <= 0 {
		return initDied, nil
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return initDied, nil
	}
	if err != nil {
		return initTimeout, fmt.Errorf("pidfd of init %d: %w", pid, err)
	}
	defer unix.Close(fd)
	window := earlyDeathWindow
	if kind == initSystemd {
		window = earlyDeathWindowSystemd
	}
	deadline := time.Now().Add(window)
	for {
		if alive(pid, kind) {
			return initAlive, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return initTimeout, nil
		}
		wait := min(left, earlyDeathTick)
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, int(wait.Milliseconds())+1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return initTimeout, fmt.Errorf("poll the pidfd of init %d: %w", pid, err)
		}
		if n > 0 {
			return initDied, nil
		}
	}
}

// alive tells whether init shows it is past its start.
func alive(pid int, kind initKind) bool {
	switch kind {
	case initSystemd:
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		return err == nil && bytes.Contains(b, []byte("/init.scope\n"))
	case initBusybox:
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		return err == nil && len(bytes.TrimSpace(b)) > 0
	}
	return false
}
