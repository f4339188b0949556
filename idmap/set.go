package idmap

import (
	"fmt"
	"math"
)

// Entry is one range of an LXD-style id map, as LXD records it in
// volatile.last_state.idmap and sends it in a migration: host ids
// HostID..HostID+Range-1 are container ids NSID... uid and gid ranges are
// usually separate entries; one entry may be both.
type Entry struct {
	IsUID  bool  `json:"Isuid"`
	IsGID  bool  `json:"Isgid"`
	HostID int64 `json:"Hostid"`
	NSID   int64 `json:"Nsid"`
	Range  int64 `json:"Maprange"`
}

// Set is a whole map; empty means the files are not shifted (container
// ids are host ids: never started, or privileged).
type Set []Entry

// SetOf is the Set of one of lodge's maps (empty for the identity).
func SetOf(m Map) Set {
	if m.IsIdentity() {
		return Set{}
	}
	return Set{
		{IsUID: true, HostID: m.UIDBase, NSID: 0, Range: Size},
		{IsGID: true, HostID: m.GIDBase, NSID: 0, Range: Size},
	}
}

// Validate refuses entries that map nothing or overflow 32-bit ids.
func (s Set) Validate() error {
	for _, e := range s {
		if !e.IsUID && !e.IsGID {
			return fmt.Errorf("idmap entry %+v maps neither uids nor gids", e)
		}
		if e.Range <= 0 || e.HostID < 0 || e.NSID < 0 ||
			e.HostID+e.Range > math.MaxUint32 || e.NSID+e.Range > math.MaxUint32 {
			return fmt.Errorf("idmap entry %+v is out of range", e)
		}
	}
	return nil
}

// toContainer maps an on-disk id into the container; false if no entry
// covers it.
func (s Set) toContainer(id int64, uid bool) (int64, bool) {
	for _, e := range s {
		if (uid && !e.IsUID) || (!uid && !e.IsGID) {
			continue
		}
		if id >= e.HostID && id < e.HostID+e.Range {
			return id - e.HostID + e.NSID, true
		}
	}
	return 0, false
}

// ContainerID tells what on-disk id id is inside a container whose files
// are shifted by s: itself when s is empty, nobody (65534) when s does not
// cover it (the kernel shows such a file as nobody's).
func (s Set) ContainerID(id int64, uid bool) int64 {
	if len(s) == 0 {
		return id
	}
	if ns, ok := s.toContainer(id, uid); ok {
		return ns
	}
	return 65534
}

// Remap shifts every entry under rootfs from the on-disk map from (an
// LXD-style set, as a migration source sends it) to lodge's map to:
// owners, file capabilities (made the container root's) and POSIX ACL
// ids. Container ids beyond what to maps become nobody (65534).
func Remap(rootfs string, from Set, to Map) error {
	if err := from.Validate(); err != nil {
		return err
	}
	tr := translator{
		uid: func(id int64) int64 { return to.UIDBase + clamp(from.ContainerID(id, true)) },
		gid: func(id int64) int64 { return to.GIDBase + clamp(from.ContainerID(id, false)) },
		to:  to,
	}
	return walkShift(rootfs, tr)
}
