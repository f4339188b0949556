package migration

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"lodge/api"
	"lodge/idmap"
	"lodge/migration/pb"
)

// SourceVolumes is the storage side of a source.
type SourceVolumes interface {
	// Path returns the directory to send for snapshot snap, or for the
	// instance's own volume when snap is "": the volume's tree (rootfs/
	// and its metadata), mounted until done is called.
	Path(ctx context.Context, snap string) (dir string, done func(), err error)
}

// SourceArgs describe one outgoing migration.
type SourceArgs struct {
	Control, FS Conn
	// Name is the instance's name, used in progress reports and errors.
	Name string
	// Types are what the instance's pool can send, preferred first
	// (RsyncType for lodge's pools).
	Types []Type
	// Snapshots to send, oldest first; nil for an instance-only copy.
	Snapshots []api.InstanceSnapshot
	// Idmap is how the volume's files are shifted on disk now (nil: not
	// shifted, container ids are host ids), which the target undoes.
	Idmap idmap.Set
	// Index is the index header's content (LXD's backup.yaml).
	Index *BackupConfig
	// Running: the instance runs and is copied without CRIU (LXD's
	// stateless copy): the offer says criu NONE and the instance's volume
	// is sent twice, the second pass only what changed.
	Running bool
	// Freeze, if set, freezes the running instance for each pass over its
	// volume (what LXD does for dir pools); thaw is called after the pass.
	Freeze func(ctx context.Context) (thaw func(), err error)
	// AllowInconsistent: files vanishing while they are read is no error
	// and the running instance is not frozen.
	AllowInconsistent bool
	BWLimit           string
	// Confine the sending rsync (see SendOptions.Confine).
	Confine           bool
	Volumes           SourceVolumes
	Progress          ProgressFunc
	MaxControlMessage int64
}

// RunSource drives the source's side: offer, answer, index header, the
// volumes (snapshots oldest first, then the instance's, then for a
// running instance a final pass), then the target's verdict. On a failure
// of its own it tells the target over the control channel.
func RunSource(ctx context.Context, a SourceArgs) error {
	ctl := NewControl(a.Control, a.MaxControlMessage)
	err := runSource(ctx, ctl, a)
	if err != nil {
		if _, peer := err.(*PeerError); !peer {
			_ = ctl.SendResult(err)
		}
	}
	return err
}

func runSource(ctx context.Context, ctl *Control, a SourceArgs) error {
	if len(a.Types) == 0 {
		return fmt.Errorf("instance %q: no migration types to offer", a.Name)
	}
	offer := header(a.Types...)
	offer.IndexHeaderVersion = proto.Uint32(IndexHeaderVersion)
	if a.Running {
		offer.Criu = pb.CRIUType_NONE.Enum()
	}
	offer.Idmap = IdmapToPB(a.Idmap)
	offer.Predump = proto.Bool(false)
	offer.SnapshotNames = []string{}
	for _, s := range a.Snapshots {
		offer.SnapshotNames = append(offer.SnapshotNames, s.Name)
		offer.Snapshots = append(offer.Snapshots, snapshotToPB(s))
	}
	if err := ctl.Send(offer); err != nil {
		return fmt.Errorf("send the migration offer: %w", err)
	}
	var answer pb.MigrationHeader
	if err := ctl.Recv(&answer); err != nil {
		return fmt.Errorf("the target did not answer the migration offer: %w", err)
	}
	types, err := matchTypes(&answer, pb.MigrationFSType_RSYNC, a.Types)
	if err != nil {
		return fmt.Errorf("negotiate a migration type: %w", err)
	}
	t := types[0]
	if _, ok := a.Volumes.(SubvolumeSender); t.FS != pb.MigrationFSType_RSYNC && (t.FS != pb.MigrationFSType_BTRFS || !ok) {
		return fmt.Errorf("negotiate a migration type: the target chose %s, which this pool cannot send", t.FS)
	}
	if c := answer.Criu; c != nil && *c != pb.CRIUType_NONE {
		return fmt.Errorf("the target wants a live (CRIU) migration, which lodge cannot do")
	}

	send := slices.Clone(offer.SnapshotNames)
	index := &IndexHeader{Config: a.Index, RsyncVersion: localRsyncVersion(), SparseLists: t.FS == pb.MigrationFSType_RSYNC}
	if answer.GetRefresh() {
		// Only what the target asked for, in our order.
		want := answer.GetSnapshotNames()
		send = slices.DeleteFunc(send, func(n string) bool { return !slices.Contains(want, n) })
		if a.Index != nil {
			cfg := *a.Index
			cfg.VolumeSnapshots = slices.DeleteFunc(slices.Clone(cfg.VolumeSnapshots), func(v *VolumeSnapshot) bool { return !slices.Contains(want, v.Name) })
			cfg.Snapshots = slices.DeleteFunc(slices.Clone(cfg.Snapshots), func(v *api.InstanceSnapshot) bool { return !slices.Contains(want, v.Name) })
			index.Config = &cfg
		}
	}

	// The target may report a failure at any time from now on; it also
	// sends its verdict last. When our side of the transfer fails because
	// the target gave up, its message is the better error.
	verdict := make(chan error, 1)
	go func() { verdict <- ctl.RecvResult() }()
	peerReason := func(err error) error {
		select {
		case v := <-verdict:
			if pe, ok := v.(*PeerError); ok {
				return pe
			}
		case <-time.After(2 * time.Second):
		}
		return err
	}

	fs := newFSStream(a.FS)
	sparseLists := false
	if answer.GetIndexHeaderVersion() > 0 {
		resp, err := sendIndexHeader(fs, index)
		if err != nil {
			return peerReason(err)
		}
		sparseLists = resp.SparseLists && index.SparseLists
	}
	if t.FS == pb.MigrationFSType_BTRFS {
		// A read-only snapshot is taken of a running instance's volume:
		// consistent without a freeze, and no second pass (LXD's btrfs
		// source sends none either).
		if err := sendSubvolumes(ctx, a, t, fs, send); err != nil {
			return peerReason(err)
		}
		return waitVerdict(ctx, verdict)
	}
	opts := SendOptions{Features: t.Features, BWLimit: a.BWLimit, AllowInconsistent: a.AllowInconsistent, Progress: a.Progress, Confine: a.Confine}
	sendOne := func(snap string, freeze bool) error {
		dir, done, err := a.Volumes.Path(ctx, snap)
		if err != nil {
			return err
		}
		defer done()
		if freeze && a.Freeze != nil && !a.AllowInconsistent {
			thaw, err := a.Freeze(ctx)
			if err != nil {
				return fmt.Errorf("instance %q: freeze for a consistent copy: %w", a.Name, err)
			}
			defer thaw()
		}
		name := a.Name
		if snap != "" {
			name += "/" + snap
		}
		if !sparseLists {
			return sendDir(ctx, name, dir, fs, opts)
		}
		// The walk runs beside rsync's own.
		listed := make(chan []string, 1)
		go func() { listed <- sparseFiles(dir) }()
		if err := sendDir(ctx, name, dir, fs, opts); err != nil {
			return err
		}
		return sendSparseList(fs, <-listed)
	}
	for _, s := range send {
		if err := sendOne(s, false); err != nil {
			return peerReason(err)
		}
	}
	if err := sendOne("", a.Running); err != nil {
		return peerReason(err)
	}
	// The target expects the final pass exactly when it answered NONE.
	if answer.Criu != nil && answer.GetCriu() == pb.CRIUType_NONE {
		if err := sendOne("", true); err != nil {
			return peerReason(err)
		}
	}
	return waitVerdict(ctx, verdict)
}

// waitVerdict waits for the target's result once everything is sent.
func waitVerdict(ctx context.Context, verdict <-chan error) error {
	var err error
	select {
	case err = <-verdict:
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	if err != nil {
		if _, peer := err.(*PeerError); peer {
			return err
		}
		return fmt.Errorf("wait for the target's result: %w", err)
	}
	return nil
}
