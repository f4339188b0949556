// Package idmap maps container ids to host ids for unprivileged containers:
// it finds (or writes) root's subordinate id range in /etc/subuid and
// /etc/subgid, allocates per-container ranges from it, and shifts a root
// filesystem's ownership from one mapping to another (owners, file
// capabilities and POSIX ACLs), once, when an image volume is unpacked or
// a container needs a map of its own.
package idmap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Size is how many ids each container gets mapped: 0-65535, enough for
// every distribution's users, nobody (65534) and systemd's dynamic users.
const Size = 65536

// Map is one container's mapping: container id n is host id Base+n for
// n < Size. Base 0 is the identity (a privileged container).
type Map struct {
	UIDBase, GIDBase int64
}

// Privileged is the identity map.
var Privileged = Map{}

// IsIdentity tells a privileged container's map.
func (m Map) IsIdentity() bool { return m.UIDBase == 0 && m.GIDBase == 0 }

// HostUID maps a container uid to the host; ids outside the map become
// the container's nobody (65534), as the kernel shows unmapped ids.
func (m Map) HostUID(id int64) int64 { return m.UIDBase + clamp(id) }

// HostGID is HostUID for groups.
func (m Map) HostGID(id int64) int64 { return m.GIDBase + clamp(id) }

// ContainerUID maps a host uid back into the container (65534 if unmapped).
func (m Map) ContainerUID(id int64) int64 { return back(id, m.UIDBase) }

// ContainerGID is ContainerUID for groups.
func (m Map) ContainerGID(id int64) int64 { return back(id, m.GIDBase) }

func clamp(id int64) int64 {
	if id < 0 || id >= Size {
		return 65534
	}
	return id
}

func back(id, base int64) int64 {
	if base == 0 && id < Size {
		return id
	}
	if id < base || id >= base+Size {
		return 65534
	}
	return id - base
}

// Range is a subordinate id range from /etc/subuid or /etc/subgid.
type Range struct{ Start, Count int64 }

// Ranges are root's uid and gid ranges.
type Ranges struct{ UID, GID Range }

// DefaultRange is what lodged writes for root when it has none: LXD's
// 1000000:1000000000, room for 15,000 isolated containers.
var DefaultRange = Range{Start: 1000000, Count: 1000000000}

// parseSubid returns the first range of user in a subuid/subgid file.
func parseSubid(data []byte, user string) (Range, bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(f) != 3 || f[0] != user {
			continue
		}
		start, err1 := strconv.ParseInt(f[1], 10, 64)
		count, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 == nil && err2 == nil && count >= Size && start > 0 {
			return Range{start, count}, true
		}
	}
	return Range{}, false
}

// EnsureRootRange reads root's range from subuid and subgid, appending
// DefaultRange to a file that has none of at least Size ids.
//
// A range is used (or written) only if this process's user namespace maps
// all of it. Inside a container (lodge in lodge) root owns just the ids of
// the container's own map, 65536 of them: a range past those would make
// every image unpack fail with EINVAL, so EnsureRootRange then returns an
// error, writes nothing, and lodged runs its containers privileged inside
// that namespace (still confined by the outer container's map).
func EnsureRootRange(subuid, subgid string) (Ranges, error) {
	return ensureRootRange(subuid, subgid, "/proc/self/uid_map", "/proc/self/gid_map")
}

func ensureRootRange(subuid, subgid, uidMap, gidMap string) (Ranges, error) {
	var out Ranges
	for _, f := range []struct {
		path, nsMap string
		r           *Range
	}{{subuid, uidMap, &out.UID}, {subgid, gidMap, &out.GID}} {
		data, err := os.ReadFile(f.path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return out, fmt.Errorf("read %s: %w", f.path, err)
		}
		mapped, err := os.ReadFile(f.nsMap)
		if err != nil {
			return out, fmt.Errorf("read this user namespace's map: %w", err)
		}
		if r, ok := parseSubid(data, "root"); ok {
			if !nsMaps(mapped, r) {
				return out, fmt.Errorf("root's range %d-%d in %s is not mapped in this user namespace (%s maps %s): lodged runs inside a container",
					r.Start, r.Start+r.Count-1, f.path, f.nsMap, describeMap(mapped))
			}
			*f.r = r
			continue
		}
		if !nsMaps(mapped, DefaultRange) {
			return out, fmt.Errorf("no range for root in %s, and %d-%d is not mapped in this user namespace (%s maps %s): lodged runs inside a container",
				f.path, DefaultRange.Start, DefaultRange.Start+DefaultRange.Count-1, f.nsMap, describeMap(mapped))
		}
		line := fmt.Sprintf("root:%d:%d\n", DefaultRange.Start, DefaultRange.Count)
		if len(data) > 0 && !bytes.HasSuffix(data, []byte("\n")) {
			line = "\n" + line
		}
		fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return out, fmt.Errorf("add root's range to %s: %w", f.path, err)
		}
		_, err = fh.WriteString(line)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return out, fmt.Errorf("add root's range to %s: %w", f.path, err)
		}
		*f.r = DefaultRange
	}
	return out, nil
}

// Shared is the map every non-isolated container gets: the first Size ids
// of root's range.
func (r Ranges) Shared() Map { return Map{UIDBase: r.UID.Start, GIDBase: r.GID.Start} }

// Slots is how many isolated ranges fit after the shared one.
func (r Ranges) Slots() int64 { return min(r.UID.Count, r.GID.Count)/Size - 1 }

// Isolated is the map of isolated slot n (1-based): a Size block of its own.
func (r Ranges) Isolated(slot int64) Map {
	return Map{UIDBase: r.UID.Start + slot*Size, GIDBase: r.GID.Start + slot*Size}
}

// FreeSlot picks the lowest isolated slot not in used.
func (r Ranges) FreeSlot(used map[int64]bool) (int64, error) {
	for n := int64(1); n <= r.Slots(); n++ {
		if !used[n] {
			return n, nil
		}
	}
	return 0, fmt.Errorf("no free isolated id range left in root's subordinate range (%d slots of %d ids)", r.Slots(), Size)
}

// nsMaps tells whether every id of r is mapped by a user namespace's
// uid_map or gid_map text ("inside outside count" lines).
func nsMaps(mapText []byte, r Range) bool {
	next := r.Start
	end := r.Start + r.Count
	// The extents of a map do not overlap; walk them until none extends
	// the covered prefix [r.Start, next).
	for grew := true; grew && next < end; {
		grew = false
		for _, l := range strings.Split(string(mapText), "\n") {
			f := strings.Fields(l)
			if len(f) != 3 {
				continue
			}
			in, err1 := strconv.ParseInt(f[0], 10, 64)
			n, err2 := strconv.ParseInt(f[2], 10, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			if in <= next && next < in+n {
				next = in + n
				grew = true
			}
		}
	}
	return next >= end
}

// describeMap renders a map's inside ranges for a message: "0-65535".
func describeMap(mapText []byte) string {
	var parts []string
	for _, l := range strings.Split(string(mapText), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		in, err1 := strconv.ParseInt(f[0], 10, 64)
		n, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 == nil && err2 == nil {
			parts = append(parts, fmt.Sprintf("%d-%d", in, in+n-1))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ",")
}
