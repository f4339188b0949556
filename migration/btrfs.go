package migration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"lodge/api"
	"lodge/migration/pb"
	"lodge/netparse"
)

// LXD's BTRFS transport: between two btrfs pools each volume travels as
// a btrfs send stream instead of an rsync run. The first snapshot goes
// whole, each later one relative to the one before, the instance's
// volume relative to the last snapshot: a copy moves each block once, and
// the target's snapshots share their blocks as the source's do. With the
// migration_header feature the source first sends LXD's subvolume header
// (JSON) as its own exchange; each stream is then one exchange (binary
// frames, then the empty text frame), in the order snapshots, instance.
// A refresh uses rsync (matchTypes: it needs header_subvolume_uuids,
// which lodge does not offer).

// BtrfsType is what a btrfs pool sends and receives by preference.
func BtrfsType() Type {
	return Type{FS: pb.MigrationFSType_BTRFS, Features: []string{FeatureMigrationHeader, FeatureHeaderSubvolumes}}
}

// SubvolumeSender is a source pool whose volumes are btrfs subvolumes.
type SubvolumeSender interface {
	// Subvolume returns a read-only subvolume holding snapshot snap's
	// volume, or the instance's as it is now when snap is "", released
	// by done.
	Subvolume(ctx context.Context, snap string) (path string, done func(), err error)
}

// SubvolumeReceiver is a target pool that takes btrfs send streams.
type SubvolumeReceiver interface {
	// ReceiveDir returns an empty directory on the pool's btrfs
	// filesystem, below which the streams are received; the pool removes
	// it, with whatever is left in it, when the transfer ends.
	ReceiveDir(ctx context.Context) (string, error)
	// PlaceSubvolume makes the subvolume at dir (received, checked and
	// remapped; read-only for a snapshot) snapshot s's volume, with its
	// record, or the instance's volume when s is nil.
	PlaceSubvolume(ctx context.Context, s *api.InstanceSnapshot, dir string) error
}

// subvolumeHeader is LXD's BTRFSMetaDataHeader: every subvolume of every
// volume sent, "/" being the volume's own.
type subvolumeHeader struct {
	Subvolumes []subvolumeEntry `json:"subvolumes"`
}

type subvolumeEntry struct {
	Path     string `json:"path"`
	Snapshot string `json:"snapshot"`
	Readonly bool   `json:"readonly"`
	UUID     string `json:"uuid,omitempty"`
}

// maxSubvolumeHeader bounds the header a target reads.
const maxSubvolumeHeader = 4 << 20

func btrfsCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "btrfs", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	return cmd
}

// sendSubvolumes sends the volumes of snapshots send (oldest first) and
// the instance's as btrfs send streams.
func sendSubvolumes(ctx context.Context, a SourceArgs, t Type, fs *fsStream, send []string) error {
	sv, ok := a.Volumes.(SubvolumeSender)
	if !ok {
		return fmt.Errorf("instance %q: the pool cannot send btrfs streams", a.Name)
	}
	if slices.Contains(t.Features, FeatureMigrationHeader) {
		var h subvolumeHeader
		for _, s := range send {
			h.Subvolumes = append(h.Subvolumes, subvolumeEntry{Path: "/", Snapshot: s, Readonly: true})
		}
		h.Subvolumes = append(h.Subvolumes, subvolumeEntry{Path: "/"})
		if err := fs.sendJSON(h, "the subvolume header"); err != nil {
			return err
		}
	}
	rate, err := netparse.ParseByteRate(a.BWLimit)
	if err != nil {
		return fmt.Errorf("instance %q: the pool's rsync.bwlimit: %w", a.Name, err)
	}
	parent, parentDone := "", func() {}
	defer func() { parentDone() }()
	sendOne := func(snap string) error {
		path, done, err := sv.Subvolume(ctx, snap)
		if err != nil {
			return err
		}
		name := a.Name + volumeSuffix(snap)
		var w io.Writer = fs
		if rate > 0 {
			w = &throttled{w: fs, rate: rate, start: time.Now()}
		}
		err = sendStream(ctx, name, path, parent, fs, w, newCounter(name, a.Progress))
		parentDone()
		parent, parentDone = path, done
		return err
	}
	for _, s := range send {
		if err := sendOne(s); err != nil {
			return err
		}
	}
	return sendOne("")
}

// throttled holds writes to rate bytes per second on average: rsync's
// --bwlimit for the btrfs streams, which rsync does not carry.
type throttled struct {
	w     io.Writer
	rate  float64
	start time.Time
	n     int64
}

func (t *throttled) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	t.n += int64(n)
	if ahead := time.Duration(float64(t.n)/t.rate*float64(time.Second)) - time.Since(t.start); ahead > 0 {
		time.Sleep(ahead)
	}
	return n, err
}

// sendStream runs btrfs send for subvol (relative to parent) with its
// output as binary frames, then the empty text frame.
func sendStream(ctx context.Context, name, subvol, parent string, fs *fsStream, w io.Writer, cnt *counter) error {
	args := []string{"send", "-q"}
	if parent != "" {
		args = append(args, "-p", parent)
	}
	cmd := btrfsCommand(ctx, append(args, subvol)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	growPipe(out)
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 64 << 10}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("btrfs send failed: %s: %w", name, err)
	}
	_, cerr := copyBig(w, countingReader{out, cnt})
	if cerr != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	werr := cmd.Wait()
	cnt.final()
	if werr != nil || cerr != nil {
		return fmt.Errorf("btrfs send failed: %s: %v (%s)", name, firstErr(cerr, werr), strings.TrimSpace(stderr.String()))
	}
	if err := fs.CloseWrite(); err != nil {
		return fmt.Errorf("btrfs send failed: %s: %w", name, err)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// receiveSubvolumes receives the header and one stream per volume. All
// streams are received first, each read-only as it arrives: it is the
// parent the next one is applied to. Then each is made writable, checked
// and remapped as an rsync'd tree is, made read-only again if it is a
// snapshot, and handed to the pool. (A writable snapshot of each, made
// as it arrived, would keep the chain intact too, but btrfs writes out
// the received data before it snapshots it: up to 15 s per GiB here.)
func (a *TargetArgs) receiveSubvolumes(ctx context.Context, t *Transfer, fs *fsStream) error {
	sv, ok := a.Volumes.(SubvolumeReceiver)
	if !ok {
		return fmt.Errorf("instance %q: the pool cannot receive btrfs streams", a.Name)
	}
	if slices.Contains(t.Features, FeatureMigrationHeader) {
		if err := checkSubvolumeHeader(fs, t); err != nil {
			return err
		}
	}
	root, err := sv.ReceiveDir(ctx)
	if err != nil {
		return err
	}
	property := func(name string, args ...string) error {
		out, err := btrfsCommand(ctx, append([]string{"property", "set"}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	names := []string{}
	for _, s := range t.Snapshots {
		names = append(names, s.Name)
	}
	names = append(names, "")
	got := make([]string, len(names))
	for i, snap := range names {
		in := filepath.Join(root, fmt.Sprintf("in%d", i))
		if err := os.Mkdir(in, 0o700); err != nil {
			return err
		}
		if got[i], err = receiveStream(ctx, a.Name+volumeSuffix(snap), in, fs, a.recvOptions()); err != nil {
			return err
		}
	}
	for i, snap := range names {
		name := a.Name + volumeSuffix(snap)
		// -f: btrfs-progs clears the received UUID, which nothing needs now.
		if err := property(name, "-f", "-ts", got[i], "ro", "false"); err != nil {
			return err
		}
		if err := a.settle(got[i], t); err != nil {
			return err
		}
		if snap == "" {
			return sv.PlaceSubvolume(ctx, nil, got[i])
		}
		if err := property(name, "-ts", got[i], "ro", "true"); err != nil {
			return err
		}
		if err := sv.PlaceSubvolume(ctx, &t.Snapshots[i], got[i]); err != nil {
			return fmt.Errorf("snapshot %q: %w", snap, err)
		}
	}
	return nil
}

// volumeSuffix is "/snap" for a snapshot, "" for the instance.
func volumeSuffix(snap string) string {
	if snap == "" {
		return ""
	}
	return "/" + snap
}

// checkSubvolumeHeader reads the source's subvolume header and refuses
// one that does not list exactly the volumes the offer named, each as
// one subvolume: lodge does not make subvolumes inside a volume.
func checkSubvolumeHeader(fs *fsStream, t *Transfer) error {
	var h subvolumeHeader
	if err := fs.recvJSON(&h, maxSubvolumeHeader, "the subvolume header"); err != nil {
		return err
	}
	var want, got []string
	for _, s := range t.Snapshots {
		want = append(want, s.Name)
	}
	want = append(want, "")
	for _, s := range h.Subvolumes {
		if s.Path != "/" {
			return fmt.Errorf("the source's volume %q holds a subvolume at %s, which lodge does not receive: copy it with rsync (a dir or overlay pool on this server), or remove the subvolume first", volumeLabel(s.Snapshot), s.Path)
		}
		got = append(got, s.Snapshot)
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("the source's subvolume header lists volumes %q; the offer named %q", got, want)
	}
	return nil
}

func volumeLabel(snap string) string {
	if snap == "" {
		return "(the instance)"
	}
	return snap
}

// recvOptions are the limits of one stream, as of one rsync run.
func (a *TargetArgs) recvOptions() RecvOptions {
	return RecvOptions{Progress: a.Progress, MaxBytes: a.Limits.MaxBytes, MinFree: a.Limits.MinFree}
}

// receiveStream runs btrfs receive, confined to dir (--chroot), on the
// frames of one exchange, and returns the subvolume it made there.
func receiveStream(ctx context.Context, name, dir string, fs *fsStream, o RecvOptions) (string, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cmd := btrfsCommand(ctx, "receive", "-e", "--chroot", dir)
	in, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	growPipe(in)
	var out bytes.Buffer
	cmd.Stdout = &limitedBuffer{buf: &out, max: 64 << 10}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("btrfs receive failed: %s: %w", name, err)
	}
	if o.MinFree > 0 {
		go watchFree(ctx, dir, o.MinFree, cancel)
	}
	cnt := newCounter(name, o.Progress)
	src := o.incoming(fs, cnt, cancel)
	// Read to the exchange's end even once btrfs receive has stopped
	// (after the stream's end command, or failing), so that the next
	// exchange starts in step.
	_, cerr := copyDraining(in, src)
	in.Close()
	werr := cmd.Wait()
	cnt.final()
	if ctx.Err() != nil {
		return "", fmt.Errorf("btrfs receive failed: %s: %w (%s)", name, context.Cause(ctx), strings.TrimSpace(out.String()))
	}
	if werr != nil || cerr != nil {
		return "", fmt.Errorf("btrfs receive failed: %s: %v (%s)", name, firstErr(werr, cerr), strings.TrimSpace(out.String()))
	}
	made, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	if len(made) != 1 || !made[0].IsDir() {
		return "", fmt.Errorf("btrfs receive failed: %s: the stream made %d entries; a volume's stream makes one subvolume", name, len(made))
	}
	return filepath.Join(dir, made[0].Name()), nil
}
