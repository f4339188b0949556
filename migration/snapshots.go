package migration

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"lodge/api"
	"lodge/migration/pb"
)

// architectures are LXD's architecture ids (shared/osarch), which the
// Snapshot message carries instead of names.
var architectures = map[int32]string{
	1: "i686", 2: "x86_64", 3: "armv7l", 4: "aarch64", 5: "ppc", 6: "ppc64",
	7: "ppc64le", 8: "s390x", 9: "mips", 10: "mips64", 11: "riscv32",
	12: "riscv64", 13: "armv6l", 14: "armv8l",
}

// ArchitectureID is LXD's id of an architecture name (0 if unknown).
func ArchitectureID(name string) int32 {
	for id, n := range architectures {
		if n == name {
			return id
		}
	}
	return 0
}

// ArchitectureName is the name of LXD architecture id ("" if unknown).
func ArchitectureName(id int32) string { return architectures[id] }

// unixOrZero is what LXD sends for a time: Go's Unix() of the UTC time,
// so the zero time is -62135596800.
func unixOrZero(t time.Time) int64 { return t.UTC().Unix() }

// fromUnix reads a date LXD sent: 0 and the zero time's value mean unset.
func fromUnix(v int64) time.Time {
	if v <= 0 {
		return time.Time{}
	}
	return time.Unix(v, 0).UTC()
}

// snapshotToPB converts a snapshot record for the offer header; config
// and devices are sent in key order.
func snapshotToPB(s api.InstanceSnapshot) *pb.Snapshot {
	out := &pb.Snapshot{
		Name:         proto.String(s.Name),
		Profiles:     slices.Clone(s.Profiles),
		Ephemeral:    proto.Bool(s.Ephemeral),
		Architecture: proto.Int32(ArchitectureID(s.Architecture)),
		Stateful:     proto.Bool(s.Stateful),
		CreationDate: proto.Int64(unixOrZero(s.CreatedAt)),
		LastUsedDate: proto.Int64(unixOrZero(s.LastUsedAt)),
		ExpiryDate:   proto.Int64(unixOrZero(s.ExpiresAt)),
	}
	for _, k := range slices.Sorted(maps.Keys(s.Config)) {
		out.LocalConfig = append(out.LocalConfig, &pb.Config{Key: proto.String(k), Value: proto.String(s.Config[k])})
	}
	for _, name := range slices.Sorted(maps.Keys(s.Devices)) {
		d := &pb.Device{Name: proto.String(name)}
		for _, k := range slices.Sorted(maps.Keys(s.Devices[name])) {
			d.Config = append(d.Config, &pb.Config{Key: proto.String(k), Value: proto.String(s.Devices[name][k])})
		}
		out.LocalDevices = append(out.LocalDevices, d)
	}
	return out
}

// snapshotFromPB converts an offered snapshot into a record.
func snapshotFromPB(s *pb.Snapshot) api.InstanceSnapshot {
	out := api.InstanceSnapshot{
		Name:         s.GetName(),
		Architecture: ArchitectureName(s.GetArchitecture()),
		Config:       map[string]string{},
		Devices:      map[string]map[string]string{},
		Profiles:     slices.Clone(s.GetProfiles()),
		Ephemeral:    s.GetEphemeral(),
		Stateful:     s.GetStateful(),
		CreatedAt:    fromUnix(s.GetCreationDate()),
		LastUsedAt:   fromUnix(s.GetLastUsedDate()),
	}
	out.ExpiresAt = fromUnix(s.GetExpiryDate())
	for _, c := range s.GetLocalConfig() {
		out.Config[c.GetKey()] = c.GetValue()
	}
	for _, d := range s.GetLocalDevices() {
		m := map[string]string{}
		for _, c := range d.GetConfig() {
			m[c.GetKey()] = c.GetValue()
		}
		out.Devices[d.GetName()] = m
	}
	if out.Profiles == nil {
		out.Profiles = []string{}
	}
	return out
}

// ValidSnapshotName refuses names that cannot be a snapshot: empty, "."
// and "..", or with a slash or a control character (LXD's rules, which
// also keep the name from being read as a path).
func ValidSnapshotName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 255 {
		return fmt.Errorf("invalid snapshot name %q", name)
	}
	if strings.ContainsAny(name, "/\\") {
		return fmt.Errorf("invalid snapshot name %q: it contains a slash", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("invalid snapshot name %q: it contains a control character", name)
		}
	}
	return nil
}

// SnapshotRef identifies a snapshot for --refresh: LXD compares names and
// creation dates (to the second).
type SnapshotRef struct {
	Name      string
	CreatedAt time.Time
}

// compareSnapshots tells which source snapshots the target must receive
// and which of its own it must delete first: any snapshot missing on the
// other side or created at another time (LXD's CompareSnapshots).
func compareSnapshots(source, target []SnapshotRef) (sync []int, del []int) {
	same := func(a, b SnapshotRef) bool { return a.CreatedAt.Unix() == b.CreatedAt.Unix() }
	src := map[string]SnapshotRef{}
	for _, s := range source {
		src[s.Name] = s
	}
	tgt := map[string]SnapshotRef{}
	for i, t := range target {
		tgt[t.Name] = t
		if s, ok := src[t.Name]; !ok || !same(s, t) {
			del = append(del, i)
		}
	}
	for i, s := range source {
		if t, ok := tgt[s.Name]; !ok || !same(s, t) {
			sync = append(sync, i)
		}
	}
	return sync, del
}
