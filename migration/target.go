package migration

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"lodge/api"
	"lodge/idmap"
	"lodge/instances"
	"lodge/migration/pb"
)

// Transfer is what a target learns from the source before any data
// arrives, for the caller to make its records and volume.
type Transfer struct {
	// Snapshots to receive, oldest first, as records (from the offer, or
	// with only a name from a source too old to send them).
	Snapshots []api.InstanceSnapshot
	// Delete are the target's own snapshots to remove first (refresh:
	// missing on the source or made at another time).
	Delete []string
	// Idmap is how the source's files are shifted on disk (empty: not).
	Idmap idmap.Set
	// Index is the source's index header (nil from a source without one).
	Index *IndexHeader
	// Refresh: the instance's volume exists and is brought up to date.
	Refresh bool
	// Final: the source runs and sends its volume a second time.
	Final bool
	// FS is the negotiated transport: rsync, or btrfs send streams, which
	// the pool adopts as its volumes (Prepare makes no volume then).
	FS pb.MigrationFSType
	// Features are the negotiated features of that transport.
	Features []string
	// SparseLists: the source names its sparse files after each rsync
	// run, and the target punches their holes (see sparse.go).
	SparseLists bool
}

// TargetVolumes is the storage side of a target.
type TargetVolumes interface {
	// Prepare is called once the offer is accepted and the index header
	// read: delete t.Delete, make the snapshot records and the volume (or
	// check it exists, on refresh).
	Prepare(ctx context.Context, t *Transfer) error
	// Dir returns the directory the tree of snapshot snap (or of the
	// instance's own volume when snap is "") is received into. LXD sends
	// each snapshot's whole tree, so a driver may return the instance's
	// volume for every snapshot and snapshot it afterwards.
	Dir(ctx context.Context, snap string) (string, error)
	// Snapshot is called when snapshot snap's tree has arrived in
	// Dir(snap) (and been remapped): make the snapshot.
	Snapshot(ctx context.Context, snap api.InstanceSnapshot) error
}

// Limits bound what a target accepts from a source it may not trust.
type Limits struct {
	// MaxVolumeBytes refuses a source whose header claims a bigger volume
	// (the offer's volumeSize, the index header's volume size); 0: no check.
	MaxVolumeBytes int64
	// MaxBytes stops a run once more than this arrived on the fs
	// connection; MinFree stops it when the destination's filesystem has
	// less free space than this. 0: no limit.
	MaxBytes int64
	MinFree  uint64
	// MaxSnapshots refuses an offer with more snapshots (0: 10000).
	MaxSnapshots      int
	MaxControlMessage int64
	MaxIndexHeader    int64
}

// TargetArgs describe one incoming migration.
type TargetArgs struct {
	Control, FS Conn
	Name        string
	// Types are what the target pool can receive (RsyncType).
	Types []Type
	// Refresh: the instance exists; Existing are its snapshots.
	Refresh  bool
	Existing []SnapshotRef
	// InstanceOnly: receive no snapshots even if offered.
	InstanceOnly bool
	// Map, when set, is the map the received rootfs trees are shifted
	// into, from the source's on-disk map; nil keeps the source's ids.
	Map *idmap.Map
	// Confine the receiving rsync (see RecvOptions.Confine).
	Confine  bool
	Limits   Limits
	Volumes  TargetVolumes
	Progress ProgressFunc
}

// RunTarget drives the target's side: read and match the offer, answer,
// read the index header, receive the volumes (snapshots first, each
// snapshotted in turn), then tell the source the result. A failure
// before the answer is sent closes without a message, as LXD does (the
// source reads it from the dropped connection); later ones are reported
// with MigrationControl. A failure the source reports ends the run with
// its message. The caller reverts what Prepare and Snapshot made when
// RunTarget fails.
func RunTarget(ctx context.Context, a TargetArgs) error {
	ctl := NewControl(a.Control, a.Limits.MaxControlMessage)
	var offer pb.MigrationHeader
	if err := ctl.Recv(&offer); err != nil {
		return fmt.Errorf("read the migration offer: %w", err)
	}
	answer, t, err := a.answer(&offer)
	if err != nil {
		return err
	}
	if err := ctl.Send(answer); err != nil {
		return fmt.Errorf("answer the migration offer: %w", err)
	}

	// From here on the source may report a failure at any time.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	peer := make(chan error, 1)
	go func() {
		err := ctl.RecvResult()
		if err == nil {
			err = errors.New("the source reported success before the transfer ended")
		}
		if _, ok := err.(*PeerError); !ok {
			err = fmt.Errorf("the source's control connection: %w", err)
		}
		peer <- err
		cancel(err)
	}()
	err = a.receive(ctx, answer, t)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
			select {
			case perr := <-peer:
				return perr
			default:
			}
			err = fmt.Errorf("%w (%v)", err, cause)
		}
		_ = ctl.SendResult(err)
		return err
	}
	return ctl.SendResult(nil)
}

// answer checks the offer and builds the answer and the Transfer.
func (a *TargetArgs) answer(offer *pb.MigrationHeader) (*pb.MigrationHeader, *Transfer, error) {
	lim := a.Limits
	if lim.MaxSnapshots == 0 {
		lim.MaxSnapshots = 10000
	}
	if n := len(offer.GetSnapshotNames()); n > lim.MaxSnapshots {
		return nil, nil, fmt.Errorf("the source offers %d snapshots, more than the %d this server accepts", n, lim.MaxSnapshots)
	}
	seen := map[string]bool{}
	for _, n := range offer.GetSnapshotNames() {
		if err := ValidSnapshotName(n); err != nil {
			return nil, nil, fmt.Errorf("the source offers a snapshot this server refuses: %w", err)
		}
		if seen[n] {
			return nil, nil, fmt.Errorf("the source offers snapshot %q twice", n)
		}
		seen[n] = true
	}
	if v := offer.GetVolumeSize(); v < 0 || lim.MaxVolumeBytes > 0 && v > lim.MaxVolumeBytes {
		return nil, nil, fmt.Errorf("the source claims a volume of %d bytes; this server accepts at most %d", v, lim.MaxVolumeBytes)
	}
	if offer.Criu != nil && offer.GetCriu() != pb.CRIUType_NONE {
		return nil, nil, fmt.Errorf("the source offers a live migration (CRIU %s); lodge has no CRIU: copy a running instance with --stateless", offer.GetCriu())
	}
	ids, err := IdmapFromPB(offer.GetIdmap())
	if err != nil {
		return nil, nil, err
	}
	// LXD's source never sets refresh; the target knows, and the match
	// depends on it.
	offer.Refresh = proto.Bool(a.Refresh)
	types, err := matchTypes(offer, pb.MigrationFSType_RSYNC, a.Types)
	if err != nil {
		return nil, nil, err
	}
	if _, ok := a.Volumes.(SubvolumeReceiver); types[0].FS != pb.MigrationFSType_RSYNC && (types[0].FS != pb.MigrationFSType_BTRFS || !ok) {
		return nil, nil, fmt.Errorf("negotiated %s, which this pool cannot receive", types[0].FS)
	}
	answer := header(types...)
	answer.IndexHeaderVersion = proto.Uint32(min(offer.GetIndexHeaderVersion(), IndexHeaderVersion))
	answer.Refresh = proto.Bool(a.Refresh)
	answer.Predump = proto.Bool(false)
	t := &Transfer{Idmap: ids, Refresh: a.Refresh, FS: types[0].FS, Features: types[0].Features}
	if offer.Criu != nil {
		answer.Criu = pb.CRIUType_NONE.Enum()
		t.Final = true
	}

	// The snapshot records: sent whole by LXD since 2.x; only names by
	// older sources.
	var snaps []api.InstanceSnapshot
	if len(offer.GetSnapshots()) == len(offer.GetSnapshotNames()) {
		for i, s := range offer.GetSnapshots() {
			if s.GetName() != offer.GetSnapshotNames()[i] {
				return nil, nil, fmt.Errorf("the source's snapshot list and records disagree at %d (%q, %q)", i, offer.GetSnapshotNames()[i], s.GetName())
			}
			snaps = append(snaps, snapshotFromPB(s))
		}
	} else {
		for _, n := range offer.GetSnapshotNames() {
			snaps = append(snaps, api.InstanceSnapshot{Name: n, Config: map[string]string{}, Devices: map[string]map[string]string{}, Profiles: []string{}})
		}
	}
	if a.InstanceOnly {
		snaps = nil
	}
	if a.Refresh {
		src := make([]SnapshotRef, len(snaps))
		for i, s := range snaps {
			src[i] = SnapshotRef{Name: s.Name, CreatedAt: s.CreatedAt}
		}
		sync, del := compareSnapshots(src, a.Existing)
		var keep []api.InstanceSnapshot
		for _, i := range sync {
			keep = append(keep, snaps[i])
		}
		snaps = keep
		for _, i := range del {
			t.Delete = append(t.Delete, a.Existing[i].Name)
		}
	}
	t.Snapshots = snaps
	answer.SnapshotNames = []string{}
	for _, s := range snaps {
		answer.SnapshotNames = append(answer.SnapshotNames, s.Name)
		answer.Snapshots = append(answer.Snapshots, snapshotToPB(s))
	}
	return answer, t, nil
}

// receive reads the index header and the volumes.
func (a *TargetArgs) receive(ctx context.Context, answer *pb.MigrationHeader, t *Transfer) error {
	fs := newFSStream(a.FS)
	if answer.GetIndexHeaderVersion() > 0 {
		max := a.Limits.MaxIndexHeader
		if max <= 0 {
			max = DefaultMaxIndexHeader
		}
		h, err := recvIndexHeader(fs, max)
		if err != nil {
			return err
		}
		refusal := a.checkIndex(h)
		t.SparseLists = h.SparseLists && t.FS == pb.MigrationFSType_RSYNC
		if err := replyIndexHeader(fs, t.Refresh, t.SparseLists, refusal); err != nil {
			return err
		}
		if refusal != nil {
			return refusal
		}
		t.Index = h
	}
	if err := a.Volumes.Prepare(ctx, t); err != nil {
		return err
	}
	if t.FS == pb.MigrationFSType_BTRFS {
		return a.receiveSubvolumes(ctx, t, fs)
	}
	opts := RecvOptions{Features: t.Features, Progress: a.Progress, Confine: a.Confine, MaxBytes: a.Limits.MaxBytes, MinFree: a.Limits.MinFree, Dense: t.SparseLists}
	if t.Index != nil {
		opts.Negotiate = rsyncNegotiates(t.Index.RsyncVersion) && rsyncNegotiates(localRsyncVersion())
	}
	recvOne := func(snap string, passes int) (string, error) {
		dir, err := a.Volumes.Dir(ctx, snap)
		if err != nil {
			return "", err
		}
		name := a.Name
		if snap != "" {
			name += "/" + snap
		}
		for range passes {
			if err := recvDir(ctx, name, dir, fs, opts); err != nil {
				return "", err
			}
			if t.SparseLists {
				list, err := recvSparseList(fs)
				if err != nil {
					return "", err
				}
				if err := punchHoles(dir, list); err != nil {
					return "", fmt.Errorf("%s: %w", name, err)
				}
			}
		}
		return dir, a.settle(dir, t)
	}
	for _, s := range t.Snapshots {
		if _, err := recvOne(s.Name, 1); err != nil {
			return err
		}
		if err := a.Volumes.Snapshot(ctx, s); err != nil {
			return fmt.Errorf("snapshot %q: %w", s.Name, err)
		}
	}
	passes := 1
	if t.Final {
		passes = 2
	}
	_, err := recvOne("", passes)
	return err
}

// settle checks a received volume's layout and shifts its rootfs into
// this server's map.
func (a *TargetArgs) settle(dir string, t *Transfer) error {
	if err := CheckVolume(dir); err != nil {
		return err
	}
	if a.Map != nil {
		return RemapVolume(dir, t.Idmap, *a.Map)
	}
	return nil
}

// checkIndex refuses an index header whose claims the target will not
// honour.
func (a *TargetArgs) checkIndex(h *IndexHeader) error {
	if h.Config == nil || h.Config.Volume == nil || a.Limits.MaxVolumeBytes <= 0 {
		return nil
	}
	if v := h.Config.Volume.Config["size"]; v != "" {
		n, err := instances.ParseSize(v)
		if err != nil {
			return fmt.Errorf("the source's volume size %q: %w", v, err)
		}
		if n > a.Limits.MaxVolumeBytes {
			return fmt.Errorf("the source claims a volume of %d bytes (size=%s); this server accepts at most %d", n, v, a.Limits.MaxVolumeBytes)
		}
	}
	return nil
}

// CheckVolume verifies a received volume's layout: rootfs/ is a real
// directory, and nothing outside it is a symlink or a special file (a
// hostile source could otherwise point metadata.yaml or templates at the
// host's files, which lodge later reads). What is inside rootfs/ is the
// container's own business.
func CheckVolume(dir string) error {
	st, err := os.Lstat(filepath.Join(dir, "rootfs"))
	if err != nil {
		return fmt.Errorf("the received volume has no rootfs: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("the received volume's rootfs is not a directory (%s)", st.Mode().Type())
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "rootfs" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() && !d.IsDir() {
			return fmt.Errorf("the received volume has %s outside rootfs/ (%s), which this server refuses", rel, d.Type())
		}
		return nil
	})
}
