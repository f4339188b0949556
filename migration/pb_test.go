package migration

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"lodge/api"
	"lodge/idmap"
	"lodge/migration/pb"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The bytes below are written from the schema by hand (tag = field<<3 |
// wire type, varints, length prefixes), not produced by this package.
func TestEncodingGolden(t *testing.T) {
	offer := header(RsyncType(true))
	offer.IndexHeaderVersion = proto.Uint32(1)
	offer.Idmap = IdmapToPB(idmap.SetOf(idmap.Map{UIDBase: 1000000, GIDBase: 1000000}))
	offer.Predump = proto.Bool(false)
	offer.SnapshotNames = []string{}

	snap := snapshotToPB(api.InstanceSnapshot{
		Name:         "snap0",
		Config:       map[string]string{"k": "v"},
		Devices:      map[string]map[string]string{"eth0": {"type": "nic"}},
		Profiles:     []string{"default"},
		Architecture: "x86_64",
		CreatedAt:    time.Unix(1700000000, 0),
	})

	tests := []struct {
		name string
		msg  proto.Message
		want string
	}{
		{"success", &pb.MigrationControl{Success: proto.Bool(true), Message: proto.String("")}, "0801 1200"},
		{"failure", &pb.MigrationControl{Success: proto.Bool(false), Message: proto.String("boom")}, "0800 1204 626f6f6d"},
		// fs=RSYNC; two idmap entries (uid, then gid) 1000000/0/65536;
		// predump=false; rsyncFeatures all four true; indexHeaderVersion=1.
		{"offer", offer, "0800" +
			"1a0e 0801 1000 18c0843d 2000 28808004" +
			"1a0e 0800 1001 18c0843d 2000 28808004" +
			"3800" +
			"4208 0801 1001 1801 2001" +
			"6801"},
		// Zero last-used and expiry dates go as Go's Unix() of the zero
		// time, -62135596800, a ten-byte varint.
		{"snapshot", snap, "0a05736e617030 1206 0a016b 120176 1a0764656661756c74 2000" +
			"2a13 0a0465746830 120b 0a0474797065 12036e6963" +
			"3002 3800 4080e2cfaa06 488092b8c398feffffff01 508092b8c398feffffff01"},
	}
	for _, tc := range tests {
		got, err := proto.Marshal(tc.msg)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if want := unhex(t, tc.want); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got  %x\n want %x", tc.name, got, want)
		}
	}
}

// Required fields are enforced both ways, and presence survives a round
// trip: an absent criu is not CRIU_RSYNC.
func TestEncodingPresence(t *testing.T) {
	var h pb.MigrationHeader
	if err := proto.Unmarshal(unhex(t, "0800"), &h); err != nil {
		t.Fatal(err)
	}
	if h.Fs == nil || h.GetFs() != pb.MigrationFSType_RSYNC || h.Criu != nil {
		t.Errorf("fs=0 alone: fs %v criu %v", h.Fs, h.Criu)
	}
	h.Reset()
	if err := proto.Unmarshal(unhex(t, "0800 1000"), &h); err != nil || h.Criu == nil || h.GetCriu() != pb.CRIUType_CRIU_RSYNC {
		t.Errorf("criu=0 present: %v %v", h.Criu, err)
	}
	if err := proto.Unmarshal(unhex(t, "1002"), &h); err == nil {
		t.Error("a header without fs decoded")
	}
	var c pb.MigrationControl
	if err := proto.Unmarshal(unhex(t, "1200"), &c); err == nil {
		t.Error("a control message without success decoded")
	}
	if _, err := proto.Marshal(&pb.MigrationControl{Message: proto.String("x")}); err == nil {
		t.Error("a control message without success encoded")
	}
	if _, err := proto.Marshal(&pb.Snapshot{Name: proto.String("s")}); err == nil {
		t.Error("a snapshot without ephemeral/architecture/stateful encoded")
	}
	// A snapshot converted back keeps its record; the zero dates stay zero.
	in := api.InstanceSnapshot{Name: "s", Architecture: "aarch64", Stateful: true, CreatedAt: time.Unix(1700000000, 0).UTC(),
		Config: map[string]string{"volatile.last_state.idmap": "[]"}, Devices: map[string]map[string]string{}, Profiles: []string{"a", "b"}}
	data, err := proto.Marshal(snapshotToPB(in))
	if err != nil {
		t.Fatal(err)
	}
	var s pb.Snapshot
	if err := proto.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	out := snapshotFromPB(&s)
	if out.Name != in.Name || out.Architecture != "aarch64" || !out.Stateful || !out.CreatedAt.Equal(in.CreatedAt) ||
		!out.ExpiresAt.IsZero() || !out.LastUsedAt.IsZero() || out.Config["volatile.last_state.idmap"] != "[]" || len(out.Profiles) != 2 {
		t.Errorf("round trip: %+v", out)
	}
}

// One message per binary frame; a text frame on control is an error, and
// so is a message over the bound.
func TestControlFrames(t *testing.T) {
	a, b := wsPair(t)
	ca, cb := NewControl(a, 0), NewControl(b, 64)
	if err := ca.SendResult(nil); err != nil {
		t.Fatal(err)
	}
	mt, data, err := b.ReadMessage()
	if err != nil || mt != websocket.BinaryMessage || !bytes.Equal(data, unhex(t, "08011200")) {
		t.Fatalf("frame %d %x %v", mt, data, err)
	}
	a.WriteMessage(websocket.TextMessage, []byte("not protobuf"))
	if err := cb.RecvResult(); err == nil || !strings.Contains(err.Error(), "text frame") {
		t.Errorf("text frame: %v", err)
	}
	ca.SendResult(&PeerError{Message: strings.Repeat("x", 100)})
	if err := cb.RecvResult(); err == nil || !strings.Contains(err.Error(), "larger than 64") {
		t.Errorf("oversized: %v", err)
	}
	ca.SendResult(&PeerError{Message: "disk full"})
	if err := cb.RecvResult(); err == nil || err.Error() != "disk full" {
		t.Errorf("failure: %v", err)
	}
}
