package migration

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"lodge/migration/pb"
)

// Feature names, as LXD spells them in its negotiation.
const (
	FeatureXattrs        = "xattrs"
	FeatureDelete        = "delete"
	FeatureCompress      = "compress"
	FeatureBidirectional = "bidirectional"

	FeatureMigrationHeader      = "migration_header"
	FeatureHeaderSubvolumes     = "header_subvolumes"
	FeatureHeaderSubvolumeUUIDs = "header_subvolume_uuids"
)

// IndexHeaderVersion is the highest index header version lodge speaks.
const IndexHeaderVersion uint32 = 1

// Type is one transport a pool can use, with the optional features it has.
type Type struct {
	FS       pb.MigrationFSType
	Features []string
}

// RsyncType is what every filesystem pool of lodge offers and accepts:
// rsync with all of LXD's features. compress=false drops compression
// (LXD's rsync.compression=false).
func RsyncType(compress bool) Type {
	f := []string{FeatureXattrs, FeatureDelete}
	if compress {
		f = append(f, FeatureCompress)
	}
	return Type{FS: pb.MigrationFSType_RSYNC, Features: append(f, FeatureBidirectional)}
}

// legacyRsyncFeatures is what a peer that does not announce bidirectional
// negotiation (LXD before 3.8) is assumed to support; LXD fixes this list.
var legacyRsyncFeatures = []string{FeatureXattrs, FeatureDelete, FeatureCompress}

// header builds a MigrationHeader from types, the first preferred, as
// LXD's TypesToHeader does: fs is the preferred type; its zfs or btrfs
// features are listed when it is one of those; the first rsync type
// anywhere in the list gives rsyncFeatures, every flag present (false when
// missing), so that the peer can fall back to rsync.
func header(types ...Type) *pb.MigrationHeader {
	var pref Type
	if len(types) > 0 {
		pref = types[0]
	}
	h := &pb.MigrationHeader{Fs: pref.FS.Enum()}
	has := func(t Type, f string) *bool { return proto.Bool(slices.Contains(t.Features, f)) }
	switch pref.FS {
	case pb.MigrationFSType_ZFS:
		h.ZfsFeatures = &pb.ZfsFeatures{Compress: has(pref, FeatureCompress)}
		if slices.Contains(pref.Features, FeatureMigrationHeader) {
			h.ZfsFeatures.MigrationHeader = proto.Bool(true)
		}
	case pb.MigrationFSType_BTRFS:
		h.BtrfsFeatures = &pb.BtrfsFeatures{
			MigrationHeader:  has(pref, FeatureMigrationHeader),
			HeaderSubvolumes: has(pref, FeatureHeaderSubvolumes),
		}
		if slices.Contains(pref.Features, FeatureHeaderSubvolumeUUIDs) {
			h.BtrfsFeatures.HeaderSubvolumeUuids = proto.Bool(true)
		}
	}
	for _, t := range types {
		if t.FS != pb.MigrationFSType_RSYNC && t.FS != pb.MigrationFSType_BLOCK_AND_RSYNC {
			continue
		}
		h.RsyncFeatures = &pb.RsyncFeatures{
			Xattrs:        has(t, FeatureXattrs),
			Delete:        has(t, FeatureDelete),
			Compress:      has(t, FeatureCompress),
			Bidirectional: has(t, FeatureBidirectional),
		}
		break
	}
	return h
}

// offeredFeatures lists the features h announces for transport fs.
func offeredFeatures(h *pb.MigrationHeader, fs pb.MigrationFSType) []string {
	var out []string
	add := func(on bool, name string) {
		if on {
			out = append(out, name)
		}
	}
	switch fs {
	case pb.MigrationFSType_RSYNC:
		r := h.GetRsyncFeatures()
		add(r.GetXattrs(), FeatureXattrs)
		add(r.GetDelete(), FeatureDelete)
		add(r.GetCompress(), FeatureCompress)
		add(r.GetBidirectional(), FeatureBidirectional)
		if !slices.Contains(out, FeatureBidirectional) {
			return slices.Clone(legacyRsyncFeatures)
		}
	case pb.MigrationFSType_ZFS:
		z := h.GetZfsFeatures()
		add(z.GetCompress(), FeatureCompress)
		add(z.GetMigrationHeader(), FeatureMigrationHeader)
	case pb.MigrationFSType_BTRFS:
		b := h.GetBtrfsFeatures()
		add(b.GetMigrationHeader(), FeatureMigrationHeader)
		add(b.GetHeaderSubvolumes(), FeatureHeaderSubvolumes)
		add(b.GetHeaderSubvolumeUuids(), FeatureHeaderSubvolumeUUIDs)
	}
	return out
}

// matchTypes finds the transports both sides have, as LXD's MatchTypes:
// the peer's fs type and then the fallback are tried against each of ours
// in our order; a match carries the features both have. A refresh by zfs
// or btrfs needs their header features, else that type is skipped.
func matchTypes(peer *pb.MigrationHeader, fallback pb.MigrationFSType, ours []Type) ([]Type, error) {
	offered := []pb.MigrationFSType{peer.GetFs(), fallback}
	var out []Type
	for _, o := range ours {
		for i, fs := range offered {
			if fs != o.FS || i == 1 && fs == offered[0] {
				continue // (LXD lists a type offered twice twice.)
			}
			theirs := offeredFeatures(peer, fs)
			var common []string
			for _, f := range o.Features {
				if slices.Contains(theirs, f) {
					common = append(common, f)
				}
			}
			if peer.GetRefresh() {
				if o.FS == pb.MigrationFSType_ZFS && !slices.Contains(common, FeatureMigrationHeader) {
					continue
				}
				if o.FS == pb.MigrationFSType_BTRFS && !slices.Contains(common, FeatureHeaderSubvolumeUUIDs) {
					continue
				}
			}
			out = append(out, Type{FS: o.FS, Features: common})
		}
	}
	if len(out) == 0 {
		var a, b []string
		for _, fs := range offered {
			a = append(a, fs.String())
		}
		for _, o := range ours {
			b = append(b, o.FS.String())
		}
		return nil, fmt.Errorf("no matching migration types found: offered %v, this server has %v", a, b)
	}
	return out, nil
}

// rsyncArgFeatures keeps the features that become rsync arguments.
func rsyncArgFeatures(features []string) []string {
	var out []string
	for _, f := range features {
		if f == FeatureXattrs || f == FeatureDelete || f == FeatureCompress {
			out = append(out, f)
		}
	}
	return out
}
