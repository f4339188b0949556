package backup

import (
	"encoding/json"
	"fmt"
	"strings"

	"lodge/idmap"
)

// LastStateIdmapKey records, in LXD's config, how the ids on disk map into
// the container: a JSON list of ranges, "[]" for unshifted (container ids
// stored as they are, as in an image or a privileged container).
const LastStateIdmapKey = "volatile.last_state.idmap"

// idmapEntry is one range in LXD's JSON idmap.
type idmapEntry struct {
	Isuid    bool  `json:"Isuid"`
	Isgid    bool  `json:"Isgid"`
	Hostid   int64 `json:"Hostid"`
	Nsid     int64 `json:"Nsid"`
	Maprange int64 `json:"Maprange"`
}

// DiskMap translates the ids stored in a backup (host ids of the machine
// that took it) back into container ids.
type DiskMap struct{ entries []idmapEntry }

// ParseDiskMap reads a volatile.last_state.idmap value; "" and "[]" mean
// unshifted.
func ParseDiskMap(v string) (DiskMap, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "[]" {
		return DiskMap{}, nil
	}
	var es []idmapEntry
	if err := json.Unmarshal([]byte(v), &es); err != nil {
		return DiskMap{}, invalidf("%s: %v", LastStateIdmapKey, err)
	}
	if len(es) > 64 {
		return DiskMap{}, invalidf("%s: %d ranges; at most 64", LastStateIdmapKey, len(es))
	}
	for _, e := range es {
		if e.Hostid < 0 || e.Nsid < 0 || e.Maprange <= 0 || e.Hostid+e.Maprange > 1<<32 || e.Nsid+e.Maprange > 1<<32 {
			return DiskMap{}, invalidf("%s: bad range %+v", LastStateIdmapKey, e)
		}
	}
	return DiskMap{entries: es}, nil
}

// DiskMapOf is the JSON LXD records for lodge's map m ("[]" for the identity).
func DiskMapOf(m idmap.Map) string {
	if m.IsIdentity() {
		return "[]"
	}
	b, _ := json.Marshal([]idmapEntry{
		{Isuid: true, Hostid: m.UIDBase, Maprange: idmap.Size},
		{Isgid: true, Hostid: m.GIDBase, Maprange: idmap.Size},
	})
	return string(b)
}

// IsIdentity tells an unshifted disk.
func (d DiskMap) IsIdentity() bool { return len(d.entries) == 0 }

// ContainerUID maps a stored uid into the container; ids no range covers
// become nobody (65534), as the kernel shows them.
func (d DiskMap) ContainerUID(id int64) int64 { return d.back(id, true) }

// ContainerGID is ContainerUID for groups.
func (d DiskMap) ContainerGID(id int64) int64 { return d.back(id, false) }

func (d DiskMap) back(id int64, uid bool) int64 {
	if len(d.entries) == 0 {
		return id
	}
	for _, e := range d.entries {
		if (uid && e.Isuid || !uid && e.Isgid) && id >= e.Hostid && id < e.Hostid+e.Maprange {
			return e.Nsid + id - e.Hostid
		}
	}
	return 65534
}

func (d DiskMap) String() string {
	if len(d.entries) == 0 {
		return "unshifted"
	}
	var b strings.Builder
	for i, e := range d.entries {
		if i > 0 {
			b.WriteString(", ")
		}
		kind := "u"
		if e.Isgid && !e.Isuid {
			kind = "g"
		} else if e.Isgid {
			kind = "b"
		}
		fmt.Fprintf(&b, "%s %d %d %d", kind, e.Nsid, e.Hostid, e.Maprange)
	}
	return b.String()
}
