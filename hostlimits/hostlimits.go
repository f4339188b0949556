// Package hostlimits raises the kernel limits that many full-OS containers
// on one host run into, and reports what it found and changed. It never
// lowers a value: an administrator's higher setting stays.
//
// The values follow LXD's production-setup guide, with what a run of
// 1,000 systemd containers on one host showed on top: each systemd holds
// about six inotify instances, uses kernel keyrings in its user namespace,
// and each container is a neighbour entry on the bridge.
package hostlimits

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Setting is one sysctl lodged wants at least at Min.
type Setting struct {
	Key string // sysctl name, as sysctl(8) prints it
	Min int64
	Why string
}

// Density is what lodged raises at start.
var Density = []Setting{
	{"fs.inotify.max_user_instances", 1048576, "each systemd container holds about six inotify instances; the default 128 stops the 21st"},
	{"fs.inotify.max_user_watches", 1048576, "systemd and journald watch many paths per container"},
	{"fs.inotify.max_queued_events", 1048576, "bursts of events from many containers starting at once"},
	{"kernel.keys.maxkeys", 2000, "systemd in a user namespace creates keyrings; the default 200 per user is shared by every container mapped to that uid range"},
	{"kernel.keys.maxbytes", 2000000, "the keyring bytes that go with kernel.keys.maxkeys"},
	{"net.ipv4.neigh.default.gc_thresh3", 8192, "every container is a neighbour entry on the bridge; past 1024 the table overflows"},
	{"net.ipv4.neigh.default.gc_thresh2", 4096, "keeps neighbour garbage collection from churning below gc_thresh3"},
	{"net.ipv6.neigh.default.gc_thresh3", 8192, "the IPv6 neighbour table, as for IPv4"},
	{"net.ipv6.neigh.default.gc_thresh2", 4096, "as for IPv4"},
	{"kernel.pid_max", 4194304, "1,000 systemd containers run well over the default 32768 processes and threads"},
	{"vm.max_map_count", 262144, "memory maps of many processes (databases in containers need more than 65530)"},
	{"fs.aio-max-nr", 524288, "asynchronous I/O contexts used by databases in many containers"},
}

// State is one setting as found, and what Apply did with it.
type State struct {
	Setting
	Was     int64 // the value found (-1 if unreadable)
	Now     int64 // the value after Apply
	Changed bool
	Err     error
}

// path maps a sysctl name to its file under root (/proc/sys).
func path(root, key string) string {
	return filepath.Join(root, strings.ReplaceAll(key, ".", "/"))
}

func read(root, key string) (int64, error) {
	b, err := os.ReadFile(path(root, key))
	if err != nil {
		return -1, err
	}
	// Some files hold several numbers (fs.inotify ones hold one); the
	// first is the one these settings mean.
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1, fmt.Errorf("%s: empty", key)
	}
	return strconv.ParseInt(f[0], 10, 64)
}

// Apply raises every setting below its minimum under root ("/proc/sys" on
// a host) and returns what it found and did. A setting it cannot read or
// write carries the error; the others are applied regardless.
func Apply(root string, settings []Setting) []State {
	out := make([]State, 0, len(settings))
	for _, s := range settings {
		st := State{Setting: s}
		st.Was, st.Err = read(root, s.Key)
		st.Now = st.Was
		if st.Err == nil && st.Was < s.Min {
			if err := os.WriteFile(path(root, s.Key), []byte(strconv.FormatInt(s.Min, 10)), 0o644); err != nil {
				st.Err = fmt.Errorf("raise %s from %d to %d: %w", s.Key, st.Was, s.Min, err)
			} else {
				st.Now, st.Changed = s.Min, true
			}
		}
		out = append(out, st)
	}
	return out
}

// Short is a limit's state in a few words, for the API and the CLI.
func (s State) Short() string {
	switch {
	case s.Err != nil:
		return fmt.Sprintf("%s: not raised (%v)", s.Key, s.Err)
	case s.Changed:
		return fmt.Sprintf("%s = %d (raised from %d)", s.Key, s.Now, s.Was)
	default:
		return fmt.Sprintf("%s = %d", s.Key, s.Now)
	}
}

// Errors joins the errors of the settings that could not be applied.
func Errors(states []State) error {
	var errs []error
	for _, s := range states {
		if s.Err != nil {
			errs = append(errs, s.Err)
		}
	}
	return errors.Join(errs...)
}
