package migration

import (
	"fmt"
	"math"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"lodge/idmap"
	"lodge/migration/pb"
)

// IdmapToPB converts an on-disk map for the offer header (an empty list,
// not an absent one, when the files are not shifted).
func IdmapToPB(s idmap.Set) []*pb.IDMapType {
	out := make([]*pb.IDMapType, 0, len(s))
	for _, e := range s {
		out = append(out, &pb.IDMapType{
			Isuid:    proto.Bool(e.IsUID),
			Isgid:    proto.Bool(e.IsGID),
			Hostid:   proto.Int32(int32(e.HostID)),
			Nsid:     proto.Int32(int32(e.NSID)),
			Maprange: proto.Int32(int32(e.Range)),
		})
	}
	return out
}

// IdmapFromPB converts the offered map, refusing entries that could not
// be a real map.
func IdmapFromPB(l []*pb.IDMapType) (idmap.Set, error) {
	s := idmap.Set{}
	for _, e := range l {
		s = append(s, idmap.Entry{
			IsUID: e.GetIsuid(), IsGID: e.GetIsgid(),
			HostID: int64(e.GetHostid()), NSID: int64(e.GetNsid()), Range: int64(e.GetMaprange()),
		})
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("the source's idmap: %w", err)
	}
	return s, nil
}

// SourceIdmap is the map a lodge source announces for a volume: how its
// rootfs is shifted on disk now, read from the owner of rootfs/ (lodge
// shifts whole trees, so the top tells the map).
func SourceIdmap(volumeDir string) (idmap.Set, error) {
	m, err := idmap.Current(filepath.Join(volumeDir, "rootfs"))
	if err != nil {
		return nil, err
	}
	if m.UIDBase > math.MaxInt32-idmap.Size || m.GIDBase > math.MaxInt32-idmap.Size {
		return nil, fmt.Errorf("rootfs of %s is owned by %d:%d, beyond what the migration header can carry", volumeDir, m.UIDBase, m.GIDBase)
	}
	return idmap.SetOf(m), nil
}

// RemapVolume gives a received volume's rootfs/ lodge's map to, undoing
// the source's on-disk map from; the volume's other files (metadata.yaml,
// templates/, backup.yaml) stay as they came.
func RemapVolume(volumeDir string, from idmap.Set, to idmap.Map) error {
	rootfs := filepath.Join(volumeDir, "rootfs")
	if err := idmap.Remap(rootfs, from, to); err != nil {
		return fmt.Errorf("map the received files into this server's id range: %w", err)
	}
	return nil
}
