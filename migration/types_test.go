package migration

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"lodge/migration/pb"
)

func rsyncOffer(x, d, c, bidi *bool) *pb.MigrationHeader {
	return &pb.MigrationHeader{Fs: pb.MigrationFSType_RSYNC.Enum(), RsyncFeatures: &pb.RsyncFeatures{Xattrs: x, Delete: d, Compress: c, Bidirectional: bidi}}
}

var yes, no = proto.Bool(true), proto.Bool(false)

func TestMatchTypes(t *testing.T) {
	btrfs := Type{FS: pb.MigrationFSType_BTRFS, Features: []string{FeatureMigrationHeader, FeatureHeaderSubvolumes, FeatureHeaderSubvolumeUUIDs}}
	tests := []struct {
		name  string
		offer *pb.MigrationHeader
		ours  []Type
		want  []Type
		err   string
	}{
		{"LXD dir pool, all features", header(RsyncType(true)), []Type{RsyncType(true)},
			[]Type{{pb.MigrationFSType_RSYNC, []string{"xattrs", "delete", "compress", "bidirectional"}}}, ""},
		{"source without compression", rsyncOffer(yes, yes, no, yes), []Type{RsyncType(true)},
			[]Type{{pb.MigrationFSType_RSYNC, []string{"xattrs", "delete", "bidirectional"}}}, ""},
		{"target without compression", header(RsyncType(true)), []Type{RsyncType(false)},
			[]Type{{pb.MigrationFSType_RSYNC, []string{"xattrs", "delete", "bidirectional"}}}, ""},
		// No bidirectional: an old peer, assumed to have LXD 3.7's three.
		{"peer without bidirectional", rsyncOffer(no, no, no, nil), []Type{RsyncType(true)},
			[]Type{{pb.MigrationFSType_RSYNC, []string{"xattrs", "delete", "compress"}}}, ""},
		{"no rsync features at all", &pb.MigrationHeader{Fs: pb.MigrationFSType_RSYNC.Enum()}, []Type{RsyncType(false)},
			[]Type{{pb.MigrationFSType_RSYNC, []string{"xattrs", "delete"}}}, ""},
		// A btrfs pool's offer lists rsync as the fallback.
		{"btrfs offer, rsync target", header(btrfs, RsyncType(true)), []Type{RsyncType(true)},
			[]Type{{pb.MigrationFSType_RSYNC, []string{"xattrs", "delete", "compress", "bidirectional"}}}, ""},
		{"btrfs to btrfs", header(btrfs, RsyncType(true)), []Type{btrfs, RsyncType(true)},
			[]Type{btrfs, {pb.MigrationFSType_RSYNC, []string{"xattrs", "delete", "compress", "bidirectional"}}}, ""},
		{"rsync offer, btrfs-only target", header(RsyncType(true)), []Type{btrfs}, nil, "no matching migration types found: offered [RSYNC RSYNC], this server has [BTRFS]"},
	}
	for _, tc := range tests {
		got, err := matchTypes(tc.offer, pb.MigrationFSType_RSYNC, tc.ours)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.EqualFunc(got, tc.want, func(a, b Type) bool { return a.FS == b.FS && slices.Equal(a.Features, b.Features) }) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}

	// A refresh by btrfs needs subvolume UUIDs; without them rsync is used.
	offer := header(Type{FS: pb.MigrationFSType_BTRFS, Features: []string{FeatureMigrationHeader}}, RsyncType(true))
	offer.Refresh = proto.Bool(true)
	got, err := matchTypes(offer, pb.MigrationFSType_RSYNC, []Type{btrfs, RsyncType(true)})
	if err != nil || len(got) != 1 || got[0].FS != pb.MigrationFSType_RSYNC {
		t.Errorf("btrfs refresh without uuids: %v %v", got, err)
	}
}

// The offer carries every rsync flag, false ones included, and the
// preferred type's own features.
func TestHeaderFeatures(t *testing.T) {
	h := header(RsyncType(false))
	r := h.GetRsyncFeatures()
	if r.Compress == nil || r.GetCompress() || !r.GetXattrs() || !r.GetDelete() || !r.GetBidirectional() {
		t.Errorf("rsync features %v", r)
	}
	h = header(Type{FS: pb.MigrationFSType_BTRFS}, RsyncType(true))
	if h.GetFs() != pb.MigrationFSType_BTRFS || h.BtrfsFeatures.MigrationHeader == nil || h.BtrfsFeatures.GetMigrationHeader() ||
		h.BtrfsFeatures.HeaderSubvolumeUuids != nil || !h.GetRsyncFeatures().GetCompress() {
		t.Errorf("btrfs header %v", h)
	}
	if got := rsyncFeatureArgs([]string{"xattrs", "delete", "compress", "bidirectional"}); !slices.Equal(got,
		[]string{"--xattrs", "--filter=-x security.selinux", "--delete", "--compress", "--compress-level=2"}) {
		t.Errorf("rsync args %q", got)
	}
}

func TestCompareSnapshots(t *testing.T) {
	at := func(s int64) SnapshotRef { return SnapshotRef{CreatedAt: timeAt(s)} }
	named := func(n string, r SnapshotRef) SnapshotRef { r.Name = n; return r }
	src := []SnapshotRef{named("a", at(100)), named("b", at(200)), named("c", at(300))}
	tgt := []SnapshotRef{named("a", at(100)), named("b", at(250)), named("x", at(50))}
	sync, del := compareSnapshots(src, tgt)
	if !slices.Equal(sync, []int{1, 2}) || !slices.Equal(del, []int{1, 2}) {
		t.Errorf("sync %v del %v", sync, del)
	}
}
