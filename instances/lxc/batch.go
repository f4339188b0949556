//go:build linux && cgo

package lxc

import (
	"bufio"
	"context"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"lodge/instances"
)

// maxDirectSocketName is how long liblxc lets "lxcpath/name/command" be
// before it hashes the command socket's name instead (sun_path less the
// leading NUL and the terminator).
const maxDirectSocketName = 106

// commandSockets lists the abstract command sockets of running liblxc
// monitors, one read of /proc/net/unix.
func commandSockets() (map[string]bool, error) {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if p := line[i+1:]; strings.HasPrefix(p, "@") && strings.HasSuffix(p, "/command") {
			out[p[1:]] = true
		}
	}
	return out, sc.Err()
}

// monitorAnswers tells whether name's liblxc monitor takes a connection on
// its command socket: a container whose monitor died (killed, out of
// memory) is STOPPED to liblxc and to a list (States), whatever its init
// does, so Status says the same. One connect, no command sent.
func (d *Driver) monitorAnswers(name string) bool {
	sock := d.lxcpath + "/" + name + "/command"
	if len(sock) > maxDirectSocketName {
		return false // hashed name: ask liblxc
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Connect(fd, &unix.SockaddrUnix{Name: "@" + sock}) == nil
}

// States is instances.Driver's: a container whose monitor has no
// command socket is stopped, which one read of /proc/net/unix tells for all
// of them; only the others are asked through liblxc.
func (d *Driver) States(ctx context.Context, names []string) map[string]instances.State {
	socks, err := commandSockets()
	out := make(map[string]instances.State, len(names))
	var mu sync.Mutex
	var live []string
	for _, n := range names {
		sock := d.lxcpath + "/" + n + "/command"
		if err == nil && len(sock) <= maxDirectSocketName && !socks[sock] {
			if d.defined(n) {
				out[n] = instances.State{Status: instances.StatusStopped}
			}
			continue
		}
		live = append(live, n)
	}
	if len(live) == 0 {
		return out
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				st, ok := d.fastState(n, skipPeers)
				if !ok {
					var err error
					if st, err = d.state(n, skipPeers); err != nil {
						continue
					}
				}
				mu.Lock()
				out[n] = st
				mu.Unlock()
			}
		}()
	}
	for _, n := range live {
		work <- n
	}
	close(work)
	wg.Wait()
	return out
}

// Statuses is instances.Driver's: as States, stopped containers are told
// by one read of /proc/net/unix; the others are asked their status only
// (liblxc's command socket), without cgroup or network reads.
func (d *Driver) Statuses(ctx context.Context, names []string) map[string]instances.Status {
	socks, err := commandSockets()
	out := make(map[string]instances.Status, len(names))
	var mu sync.Mutex
	work := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				if st, err := d.Status(ctx, n); err == nil {
					mu.Lock()
					out[n] = st
					mu.Unlock()
				}
			}
		}()
	}
	for _, n := range names {
		sock := d.lxcpath + "/" + n + "/command"
		if err == nil && len(sock) <= maxDirectSocketName && !socks[sock] {
			if d.defined(n) {
				mu.Lock()
				out[n] = instances.StatusStopped
				mu.Unlock()
			}
			continue
		}
		work <- n
	}
	close(work)
	wg.Wait()
	return out
}
