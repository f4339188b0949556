package migration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"lodge/api"
	"lodge/idmap"
)

// srcVols sends the directories of a map: "" is the instance's volume.
type srcVols map[string]string

func (s srcVols) Path(_ context.Context, snap string) (string, func(), error) {
	d, ok := s[snap]
	if !ok {
		return "", nil, errors.New("no such volume " + snap)
	}
	return d, func() {}, nil
}

// tgtVols receives every tree into one volume directory, as LXD's
// generic driver does, and "snapshots" it with cp -a.
type tgtVols struct {
	root     string
	mu       sync.Mutex
	transfer *Transfer
	snapped  []string
	failIn   string // Prepare or Snapshot fails with this text
}

func (v *tgtVols) main() string         { return filepath.Join(v.root, "c1") }
func (v *tgtVols) snap(n string) string { return filepath.Join(v.root, "snaps", n) }

func (v *tgtVols) Prepare(_ context.Context, t *Transfer) error {
	v.mu.Lock()
	v.transfer = t
	v.mu.Unlock()
	if v.failIn == "prepare" {
		return errors.New("pool is read-only")
	}
	if t.Refresh {
		for _, n := range t.Delete {
			os.RemoveAll(v.snap(n))
		}
		return nil
	}
	return os.MkdirAll(v.main(), 0o700)
}

func (v *tgtVols) Dir(_ context.Context, snap string) (string, error) { return v.main(), nil }

func (v *tgtVols) Snapshot(_ context.Context, s api.InstanceSnapshot) error {
	if v.failIn == "snapshot" {
		return errors.New("no space for snapshots")
	}
	os.MkdirAll(filepath.Join(v.root, "snaps"), 0o700)
	if out, err := exec.Command("cp", "-a", v.main(), v.snap(s.Name)).CombinedOutput(); err != nil {
		return errors.New(string(out))
	}
	v.mu.Lock()
	v.snapped = append(v.snapped, s.Name)
	v.mu.Unlock()
	return nil
}

// converse runs a source and a target over two real websocket pairs
// (control and fs) and returns both results.
func converse(t *testing.T, s SourceArgs, d TargetArgs) (srcErr, tgtErr error) {
	t.Helper()
	ca, cb := wsPair(t)
	fa, fb := wsPair(t)
	s.Control, s.FS = ca, fa
	d.Control, d.FS = cb, fb
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		err := RunSource(ctx, s)
		// The caller closes the connections when the conversation ends.
		ca.Close()
		fa.Close()
		done <- err
	}()
	tgtErr = RunTarget(ctx, d)
	cb.Close()
	fb.Close()
	return <-done, tgtErr
}

func snapRec(name string, created int64) api.InstanceSnapshot {
	return api.InstanceSnapshot{Name: name, Architecture: "x86_64", CreatedAt: timeAt(created),
		Config: map[string]string{"volatile.last_state.idmap": "[]", "limits.cpu": "1"}, Devices: map[string]map[string]string{}, Profiles: []string{"default"}}
}

// volumeTree lays out a volume as LXD sends it: rootfs/ and metadata.
func volumeTree(t *testing.T, hostname string, mtime int64) string {
	d := t.TempDir()
	writeTree(t, d, map[string]string{
		"rootfs/etc/hostname": hostname + "\n",
		"rootfs/bin/sh":       "->busybox",
		"metadata.yaml":       "architecture: x86_64\n",
		"templates/hosts.tpl": "127.0.0.1 {{ container.name }}\n",
		"backup.yaml":         "container: {}\n",
	})
	mt := timeAt(mtime)
	os.Chtimes(filepath.Join(d, "rootfs/etc/hostname"), mt, mt)
	return d
}

func baseArgs(t *testing.T) (SourceArgs, TargetArgs, *tgtVols) {
	vols := srcVols{"snap0": volumeTree(t, "snap0", 1000), "snap1": volumeTree(t, "snap1", 2000), "": volumeTree(t, "main", 3000)}
	s := SourceArgs{
		Name:      "c1",
		Types:     []Type{RsyncType(true)},
		Snapshots: []api.InstanceSnapshot{snapRec("snap0", 1700000000), snapRec("snap1", 1700000100)},
		Idmap:     idmap.Set{},
		Index: &BackupConfig{
			Container:       &api.Instance{Name: "c1"},
			Volume:          &api.StorageVolume{Name: "c1", Config: map[string]string{}},
			VolumeSnapshots: []*VolumeSnapshot{{Name: "snap0"}, {Name: "snap1"}},
		},
		Volumes: vols,
	}
	tv := &tgtVols{root: t.TempDir()}
	d := TargetArgs{Name: "c1", Types: []Type{RsyncType(true)}, Volumes: tv}
	return s, d, tv
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A stopped instance with two snapshots goes across: snapshots in order,
// each snapshotted on the target, then the instance's volume; the
// target learns the snapshot records and the index header first.
func TestConversation(t *testing.T) {
	s, d, tv := baseArgs(t)
	var mu sync.Mutex
	var seen []string
	d.Progress = func(p Progress) { mu.Lock(); seen = append(seen, p.Volume); mu.Unlock() }
	serr, terr := converse(t, s, d)
	if serr != nil || terr != nil {
		t.Fatalf("source: %v\ntarget: %v", serr, terr)
	}
	if !slices.Equal(tv.snapped, []string{"snap0", "snap1"}) {
		t.Errorf("snapshots taken %v", tv.snapped)
	}
	for n, want := range map[string]string{tv.snap("snap0"): "snap0\n", tv.snap("snap1"): "snap1\n", tv.main(): "main\n"} {
		if got := readFile(t, filepath.Join(n, "rootfs/etc/hostname")); got != want {
			t.Errorf("%s: hostname %q, want %q", n, got, want)
		}
	}
	if l, _ := os.Readlink(filepath.Join(tv.main(), "rootfs/bin/sh")); l != "busybox" {
		t.Errorf("symlink %q", l)
	}
	tr := tv.transfer
	if len(tr.Snapshots) != 2 || tr.Snapshots[1].Name != "snap1" || tr.Snapshots[1].Config["limits.cpu"] != "1" ||
		tr.Snapshots[0].CreatedAt.Unix() != 1700000000 || !tr.Snapshots[0].ExpiresAt.IsZero() || tr.Final || tr.Refresh ||
		tr.Index == nil || tr.Index.Config.Container.Name != "c1" || len(tr.Idmap) != 0 || tr.Index.RsyncVersion != localRsyncVersion() {
		t.Errorf("transfer %+v", tr)
	}
	if !slices.Equal(tr.Features, []string{"xattrs", "delete", "compress", "bidirectional"}) {
		t.Errorf("features %v", tr.Features)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(seen, "c1/snap0") || !slices.Contains(seen, "c1") {
		t.Errorf("progress for %v", seen)
	}
}

// A file changed within the second of the snapshot before it, to content
// of the same size, still arrives: each snapshot's tree goes into the
// same volume, and a receiver comparing whole seconds would keep the
// snapshot's content in the instance.
func TestConversationSameSecondChange(t *testing.T) {
	s, d, tv := baseArgs(t)
	at := func(dir, content string, nsec int64) {
		p := filepath.Join(dir, "rootfs/etc/hostname")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		mt := time.Unix(1700000000, nsec)
		os.Chtimes(p, mt, mt)
	}
	vols := s.Volumes.(srcVols)
	at(vols["snap0"], "aaaa\n", 100e6)
	at(vols["snap1"], "bbbb\n", 200e6)
	at(vols[""], "cccc\n", 300e6)
	if serr, terr := converse(t, s, d); serr != nil || terr != nil {
		t.Fatalf("source: %v\ntarget: %v", serr, terr)
	}
	for n, want := range map[string]string{tv.snap("snap0"): "aaaa\n", tv.snap("snap1"): "bbbb\n", tv.main(): "cccc\n"} {
		if got := readFile(t, filepath.Join(n, "rootfs/etc/hostname")); got != want {
			t.Errorf("%s: %q, want %q", n, got, want)
		}
	}
}

// A running instance copied without CRIU: the offer says NONE, the
// volume goes twice, frozen for each pass; the second pass brings what
// changed in between.
func TestConversationRunning(t *testing.T) {
	s, d, tv := baseArgs(t)
	s.Snapshots, s.Index.VolumeSnapshots = nil, nil
	s.Running = true
	passes := 0
	s.Freeze = func(context.Context) (func(), error) {
		passes++
		if passes == 2 {
			// What the instance wrote between the passes.
			os.WriteFile(filepath.Join(s.Volumes.(srcVols)[""], "rootfs/late"), []byte("late"), 0o644)
		}
		return func() {}, nil
	}
	serr, terr := converse(t, s, d)
	if serr != nil || terr != nil {
		t.Fatalf("source: %v\ntarget: %v", serr, terr)
	}
	if passes != 2 || !tv.transfer.Final {
		t.Errorf("passes %d, final %v", passes, tv.transfer.Final)
	}
	if got := readFile(t, filepath.Join(tv.main(), "rootfs/late")); got != "late" {
		t.Errorf("second pass: %q", got)
	}
}

// --refresh: the target asks only for the snapshots it lacks (or has
// from another time) and deletes its extras first.
func TestConversationRefresh(t *testing.T) {
	s, d, tv := baseArgs(t)
	os.MkdirAll(tv.main(), 0o700)
	d.Refresh = true
	d.Existing = []SnapshotRef{{Name: "snap0", CreatedAt: timeAt(1700000000)}, {Name: "old", CreatedAt: timeAt(1600000000)}}
	serr, terr := converse(t, s, d)
	if serr != nil || terr != nil {
		t.Fatalf("source: %v\ntarget: %v", serr, terr)
	}
	if !slices.Equal(tv.snapped, []string{"snap1"}) || !slices.Equal(tv.transfer.Delete, []string{"old"}) || !tv.transfer.Refresh {
		t.Errorf("snapped %v, transfer %+v", tv.snapped, tv.transfer)
	}
	if n := len(tv.transfer.Index.Config.VolumeSnapshots); n != 1 {
		t.Errorf("index header lists %d volume snapshots, want only the requested one", n)
	}
	if got := readFile(t, filepath.Join(tv.main(), "rootfs/etc/hostname")); got != "main\n" {
		t.Errorf("main %q", got)
	}
}

// Failures reach the other side with their message: the target's
// (before and during the transfer) and the source's own.
func TestConversationFailures(t *testing.T) {
	s, d, tv := baseArgs(t)
	tv.failIn = "prepare"
	serr, terr := converse(t, s, d)
	if terr == nil || serr == nil || !strings.Contains(serr.Error(), "pool is read-only") {
		t.Errorf("prepare: source %v, target %v", serr, terr)
	}

	s, d, tv = baseArgs(t)
	tv.failIn = "snapshot"
	serr, terr = converse(t, s, d)
	if terr == nil || serr == nil || !strings.Contains(serr.Error(), "no space for snapshots") {
		t.Errorf("snapshot: source %v, target %v", serr, terr)
	}

	// The source cannot read a snapshot: the target hears why.
	s, d, _ = baseArgs(t)
	delete(s.Volumes.(srcVols), "snap1")
	serr, terr = converse(t, s, d)
	if serr == nil || terr == nil || !strings.Contains(terr.Error(), "no such volume snap1") {
		t.Errorf("source failure: source %v, target %v", serr, terr)
	}

	// No common transport: the target hangs up without answering.
	s, d, _ = baseArgs(t)
	d.Types = []Type{{FS: 1 /* BTRFS */}}
	serr, terr = converse(t, s, d)
	if terr == nil || !strings.Contains(terr.Error(), "no matching migration types") || serr == nil {
		t.Errorf("no match: source %v, target %v", serr, terr)
	}
}
