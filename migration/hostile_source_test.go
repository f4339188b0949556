package migration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"lodge/api"
	"lodge/migration/pb"
)

// rawSource is a hand-driven source: the test speaks the protocol itself.
type rawSource struct {
	ctl    *Control
	ctlRaw *websocket.Conn
	fs     *fsStream
	done   chan error // the target's result
	vols   *tgtVols
}

func startTarget(t *testing.T, edit func(*TargetArgs)) *rawSource {
	ca, cb := wsPair(t)
	fa, fb := wsPair(t)
	tv := &tgtVols{root: t.TempDir()}
	d := TargetArgs{Name: "c1", Types: []Type{RsyncType(true)}, Volumes: tv, Control: cb, FS: fb,
		Limits: Limits{MaxVolumeBytes: 10 << 30, MaxIndexHeader: 1 << 20, MaxSnapshots: 100}}
	if edit != nil {
		edit(&d)
	}
	r := &rawSource{ctl: NewControl(ca, 0), ctlRaw: ca, fs: newFSStream(fa), done: make(chan error, 1), vols: tv}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := RunTarget(ctx, d)
		cb.Close()
		fb.Close()
		r.done <- err
	}()
	return r
}

func goodOffer() *pb.MigrationHeader {
	h := header(RsyncType(true))
	h.IndexHeaderVersion = proto.Uint32(1)
	h.Predump = proto.Bool(false)
	return h
}

// Claims the target will not honour are refused before anything is
// written, with a message that says what was claimed.
func TestHostileOffers(t *testing.T) {
	tests := []struct {
		name string
		edit func(*pb.MigrationHeader)
		err  string
	}{
		{"volume of 10^12 bytes", func(h *pb.MigrationHeader) { h.VolumeSize = proto.Int64(1e12) }, "claims a volume of 1000000000000 bytes; this server accepts at most 10737418240"},
		{"snapshot named ..", func(h *pb.MigrationHeader) { h.SnapshotNames = []string{".."} }, `invalid snapshot name ".."`},
		{"snapshot with a slash", func(h *pb.MigrationHeader) { h.SnapshotNames = []string{"../../etc"} }, "contains a slash"},
		{"snapshot twice", func(h *pb.MigrationHeader) { h.SnapshotNames = []string{"a", "a"} }, `snapshot "a" twice`},
		{"too many snapshots", func(h *pb.MigrationHeader) {
			for i := range 101 {
				h.SnapshotNames = append(h.SnapshotNames, "s"+string(rune('a'+i%26))+strings.Repeat("x", i))
			}
		}, "offers 101 snapshots"},
		{"idmap of nothing", func(h *pb.MigrationHeader) {
			h.Idmap = []*pb.IDMapType{{Isuid: proto.Bool(true), Isgid: proto.Bool(false), Hostid: proto.Int32(-5), Nsid: proto.Int32(0), Maprange: proto.Int32(0)}}
		}, "out of range"},
		{"live migration", func(h *pb.MigrationHeader) { h.Criu = pb.CRIUType_CRIU_RSYNC.Enum() }, "lodge has no CRIU"},
	}
	for _, tc := range tests {
		r := startTarget(t, nil)
		h := goodOffer()
		tc.edit(h)
		if err := r.ctl.Send(h); err != nil {
			t.Fatal(err)
		}
		err := <-r.done
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
		if r.vols.transfer != nil {
			t.Errorf("%s: Prepare was called", tc.name)
		}
	}

	// A text frame where the offer should be.
	r := startTarget(t, nil)
	r.ctlRaw.WriteMessage(websocket.TextMessage, []byte(`{"fs":0}`))
	if err := <-r.done; err == nil || !strings.Contains(err.Error(), "text frame") {
		t.Errorf("text frame: %v", err)
	}
}

// The index header: a claimed size beyond the limit gets a 400 reply the
// source can read, and an oversized header is refused.
func TestHostileIndexHeaders(t *testing.T) {
	r := startTarget(t, nil)
	r.ctl.Send(goodOffer())
	var answer pb.MigrationHeader
	if err := r.ctl.Recv(&answer); err != nil {
		t.Fatal(err)
	}
	_, err := sendIndexHeader(r.fs, &IndexHeader{Config: &BackupConfig{Volume: &api.StorageVolume{Config: map[string]string{"size": "1000000000000"}}}})
	if err == nil || !strings.Contains(err.Error(), "refused the migration index header: the source claims a volume of 1000000000000 bytes") {
		t.Errorf("source side: %v", err)
	}
	if err := <-r.done; err == nil || !strings.Contains(err.Error(), "1000000000000") {
		t.Errorf("target side: %v", err)
	}

	r = startTarget(t, nil)
	r.ctl.Send(goodOffer())
	r.ctl.Recv(&answer)
	big, _ := json.Marshal(map[string]string{"x": strings.Repeat("x", 2<<20)})
	r.fs.Write(big)
	r.fs.CloseWrite()
	if err := <-r.done; err == nil || !strings.Contains(err.Error(), "larger than 1048576 bytes") {
		t.Errorf("oversized header: %v", err)
	}
}

// A volume whose rootfs is a symlink (to the host's /), or whose
// metadata points at host files, is refused once received.
func TestHostileVolumeLayout(t *testing.T) {
	for name, tree := range map[string]map[string]string{
		"rootfs symlink":   {"rootfs": "->/", "metadata.yaml": "x"},
		"template symlink": {"rootfs/etc/hostname": "x", "templates/hosts.tpl": "->/etc/shadow"},
		"metadata symlink": {"rootfs/etc/hostname": "x", "metadata.yaml": "->/etc/shadow"},
		"no rootfs":        {"metadata.yaml": "x"},
	} {
		s, d, _ := baseArgs(t)
		dir := t.TempDir()
		writeTree(t, dir, tree)
		s.Snapshots, s.Index.VolumeSnapshots = nil, nil
		s.Volumes = srcVols{"": dir}
		serr, terr := converse(t, s, d)
		if terr == nil || !strings.Contains(terr.Error(), "rootfs") || serr == nil {
			t.Errorf("%s: target %v, source %v", name, terr, serr)
		}
	}
}

// The byte budget stops a transfer that sends more than announced.
func TestReceiveBudget(t *testing.T) {
	s, d, _ := baseArgs(t)
	big := filepath.Join(s.Volumes.(srcVols)[""], "rootfs/big")
	f, _ := os.Create(big)
	for range 64 {
		f.Write([]byte(strings.Repeat("incompressible? no, but no compression here", 1<<12)))
	}
	f.Close()
	d.Types = []Type{RsyncType(false)}
	d.Limits.MaxBytes = 1 << 20
	serr, terr := converse(t, s, d)
	if terr == nil || !strings.Contains(terr.Error(), "more than 1048576 bytes arrived") || serr == nil {
		t.Errorf("target %v, source %v", terr, serr)
	}
}

// The free-space watch stops a run that would fill the destination.
func TestReceiveMinFree(t *testing.T) {
	s, d, _ := baseArgs(t)
	d.Limits.MinFree = 1 << 62
	serr, terr := converse(t, s, d)
	if terr == nil || !strings.Contains(terr.Error(), "bytes kept free") || serr == nil {
		t.Errorf("target %v, source %v", terr, serr)
	}
}
