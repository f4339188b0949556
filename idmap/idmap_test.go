package idmap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lodge/test/gate"

	"golang.org/x/sys/unix"
)

func TestParseSubid(t *testing.T) {
	tests := []struct {
		in   string
		want Range
		ok   bool
	}{
		{"", Range{}, false},
		{"root:1000000:1000000000\n", Range{1000000, 1000000000}, true},
		{"alice:100000:65536\nroot:200000:65536\n", Range{200000, 65536}, true},
		{"root:100000:1000\nroot:300000:70000\n", Range{300000, 70000}, true}, // too small a range is skipped
		{"root:x:65536\n", Range{}, false},
		{"# comment\nroot:0:65536\n", Range{}, false}, // start 0 would map onto host root
	}
	for _, tc := range tests {
		got, ok := parseSubid([]byte(tc.in), "root")
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseSubid(%q) = %v %v, want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestEnsureRootRange(t *testing.T) {
	dir := t.TempDir()
	uid, gid := filepath.Join(dir, "subuid"), filepath.Join(dir, "subgid")
	os.WriteFile(uid, []byte("alice:100000:65536"), 0o644) // no final newline
	os.WriteFile(gid, []byte("root:500000:131072\n"), 0o644)
	hostMap := filepath.Join(dir, "map")
	os.WriteFile(hostMap, []byte("         0          0 4294967295\n"), 0o644)
	r, err := ensureRootRange(uid, gid, hostMap, hostMap)
	if err != nil {
		t.Fatal(err)
	}
	if r.UID != DefaultRange || r.GID != (Range{500000, 131072}) {
		t.Fatalf("ranges: %+v", r)
	}
	b, _ := os.ReadFile(uid)
	if string(b) != "alice:100000:65536\nroot:1000000:1000000000\n" {
		t.Fatalf("subuid: %q", b)
	}
	// Idempotent: a second call adds nothing.
	if _, err := ensureRootRange(uid, gid, hostMap, hostMap); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(uid); !bytes.Equal(b, b2) {
		t.Fatalf("second call changed subuid: %q", b2)
	}
	if r.Slots() != 1 {
		t.Fatalf("slots with a 131072-id gid range: %d", r.Slots())
	}
}

// Inside a container root owns only the container's 65536 ids: no range
// past them is written or used (an unpack would fail with EINVAL), and the
// error says why.
func TestEnsureRootRangeInsideAContainer(t *testing.T) {
	dir := t.TempDir()
	uid, gid := filepath.Join(dir, "subuid"), filepath.Join(dir, "subgid")
	ctMap := filepath.Join(dir, "map")
	os.WriteFile(ctMap, []byte("         0    1000000      65536\n"), 0o644)
	if _, err := ensureRootRange(uid, gid, ctMap, ctMap); err == nil || !strings.Contains(err.Error(), "maps 0-65535") {
		t.Fatalf("missing range inside a container: %v", err)
	}
	if _, err := os.Stat(uid); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("subuid written inside a container: %v", err)
	}
	// A range the package or an admin wrote is refused the same way.
	os.WriteFile(uid, []byte("root:1000000:1000000000\n"), 0o644)
	os.WriteFile(gid, []byte("root:1000000:1000000000\n"), 0o644)
	if _, err := ensureRootRange(uid, gid, ctMap, ctMap); err == nil || !strings.Contains(err.Error(), "not mapped") {
		t.Fatalf("unmapped range inside a container: %v", err)
	}
	// A map of several extents that together cover the range is enough.
	os.WriteFile(uid, []byte("root:100000:65536\n"), 0o644)
	os.WriteFile(gid, []byte("root:100000:65536\n"), 0o644)
	os.WriteFile(ctMap, []byte("0 5000000 100000\n100000 6000000 30000\n130000 7000000 40000\n"), 0o644)
	if r, err := ensureRootRange(uid, gid, ctMap, ctMap); err != nil || r.UID != (Range{100000, 65536}) {
		t.Fatalf("range covered by three extents: %+v %v", r, err)
	}
}

func TestMapAndSlots(t *testing.T) {
	r := Ranges{UID: DefaultRange, GID: DefaultRange}
	m := r.Shared()
	tests := []struct{ got, want int64 }{
		{m.HostUID(0), 1000000}, {m.HostGID(5), 1000005}, {m.HostUID(70000), 1065534},
		{m.ContainerUID(1000033), 33}, {m.ContainerUID(0), 65534}, {m.ContainerUID(1065536), 65534},
		{Privileged.HostUID(7), 7}, {Privileged.ContainerUID(7), 7},
		{r.Isolated(2).UIDBase, 1131072},
	}
	for i, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("case %d: %d, want %d", i, tc.got, tc.want)
		}
	}
	if n, err := r.FreeSlot(map[int64]bool{1: true, 2: true, 4: true}); err != nil || n != 3 {
		t.Errorf("FreeSlot: %d %v", n, err)
	}
	small := Ranges{UID: Range{100000, Size}, GID: Range{100000, Size}}
	if _, err := small.FreeSlot(nil); err == nil || !strings.Contains(err.Error(), "no free") {
		t.Errorf("FreeSlot with no room: %v", err)
	}
}

func caps(rev uint32, perm uint32, rootid uint32) []byte {
	n := vfsCapV2Size
	if rev == vfsCapRevision3 {
		n = vfsCapV3Size
	}
	b := make([]byte, n)
	binary.LittleEndian.PutUint32(b, rev|1) // effective flag
	binary.LittleEndian.PutUint32(b[4:], perm)
	if rev == vfsCapRevision3 {
		binary.LittleEndian.PutUint32(b[vfsCapV2Size:], rootid)
	}
	return b
}

func TestShiftCaps(t *testing.T) {
	shared := Map{1000000, 1000000}
	tests := []struct {
		name     string
		in       []byte
		from, to Map
		want     []byte
		err      bool
	}{
		{"v2 to v3", caps(vfsCapRevision2, 0x2000, 0), Privileged, shared, caps(vfsCapRevision3, 0x2000, 1000000), false},
		{"v3 to another range", caps(vfsCapRevision3, 0x2000, 1000000), shared, Map{1065536, 1065536}, caps(vfsCapRevision3, 0x2000, 1065536), false},
		{"v3 back to v2", caps(vfsCapRevision3, 0x2000, 1000000), shared, Privileged, caps(vfsCapRevision2, 0x2000, 0), false},
		{"garbage", []byte{1, 2}, Privileged, shared, nil, true},
		{"unknown revision", caps(0x05000000, 0, 0), Privileged, shared, nil, true},
	}
	for _, tc := range tests {
		got, err := ShiftCaps(tc.in, tc.from, tc.to)
		if (err != nil) != tc.err || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: %x %v, want %x", tc.name, got, err, tc.want)
		}
	}
}

func acl(entries ...[3]uint32) []byte {
	b := make([]byte, 4+8*len(entries))
	binary.LittleEndian.PutUint32(b, aclVersion)
	for i, e := range entries {
		binary.LittleEndian.PutUint16(b[4+8*i:], uint16(e[0]))
		binary.LittleEndian.PutUint16(b[6+8*i:], uint16(e[1]))
		binary.LittleEndian.PutUint32(b[8+8*i:], e[2])
	}
	return b
}

func TestShiftACL(t *testing.T) {
	const undefined = 0xffffffff
	in := acl([3]uint32{0x01, 7, undefined}, [3]uint32{aclUser, 6, 1000}, [3]uint32{aclGroup, 4, 33}, [3]uint32{0x20, 5, undefined})
	want := acl([3]uint32{0x01, 7, undefined}, [3]uint32{aclUser, 6, 2001000}, [3]uint32{aclGroup, 4, 3000033}, [3]uint32{0x20, 5, undefined})
	got, err := ShiftACL(in, Privileged, Map{2000000, 3000000})
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("ShiftACL: %x %v\nwant %x", got, err, want)
	}
	if _, err := ShiftACL([]byte{1, 0, 0, 0, 9}, Privileged, Map{1, 1}); err == nil {
		t.Fatal("bad ACL accepted")
	}
}

// TestShiftTree needs root (chown); it runs in the unit tier when root.
func TestShiftTree(t *testing.T) {
	gate.Root(t, "chown")
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(root, "etc", "shadow"), nil, 0o640))
	must(os.Chown(filepath.Join(root, "etc", "shadow"), 0, 42))
	must(os.WriteFile(filepath.Join(root, "su"), nil, 0o755))
	must(unix.Chmod(filepath.Join(root, "su"), 0o4755))
	must(os.Link(filepath.Join(root, "su"), filepath.Join(root, "su-link")))
	must(os.Symlink("/etc/shadow", filepath.Join(root, "link")))
	must(os.Lchown(filepath.Join(root, "link"), 1000, 1000))
	ping := filepath.Join(root, "ping")
	must(os.WriteFile(ping, nil, 0o755))
	capsOK := unix.Setxattr(ping, "security.capability", caps(vfsCapRevision2, 1<<13, 0), 0) == nil

	to := Map{1000000, 2000000}
	must(Shift(root, Privileged, to))
	own := func(p string) (uint32, uint32, uint32) {
		var st unix.Stat_t
		must(unix.Lstat(filepath.Join(root, p), &st))
		return st.Uid, st.Gid, st.Mode & 0o7777
	}
	checks := []struct {
		path           string
		uid, gid, mode uint32
	}{
		{"", 1000000, 2000000, 0o700}, {"etc/shadow", 1000000, 2000042, 0o640}, {"su", 1000000, 2000000, 0o4755},
		{"link", 1001000, 2001000, 0o777},
	}
	for _, c := range checks {
		u, g, m := own(c.path)
		if u != c.uid || g != c.gid || (c.path != "" && m != c.mode) {
			t.Errorf("%s: %d:%d %o, want %d:%d %o", c.path, u, g, m, c.uid, c.gid, c.mode)
		}
	}
	if cur, _ := Current(root); cur != to {
		t.Errorf("Current: %+v", cur)
	}
	if capsOK {
		v := getxattr(ping, "security.capability")
		if !bytes.Equal(v, caps(vfsCapRevision3, 1<<13, 1000000)) {
			t.Errorf("caps after shift: %x", v)
		}
	}
	// And back: the identity again.
	must(Shift(root, to, Privileged))
	if u, g, m := own("su"); u != 0 || g != 0 || m != 0o4755 {
		t.Errorf("su after shifting back: %d:%d %o", u, g, m)
	}
	// FixUnshifted gives raw ids (a file made by host root) shifted ones.
	// Only what changed since the session began.
	must(Shift(root, Privileged, to))
	must(os.WriteFile(filepath.Join(root, "before"), nil, 0o644))
	time.Sleep(300 * time.Millisecond)
	since := time.Now()
	must(os.WriteFile(filepath.Join(root, "pushed"), nil, 0o644))
	must(os.Chown(filepath.Join(root, "pushed"), 33, 33))
	must(FixUnshifted(root, to, since))
	if u, _, _ := own("before"); u != 0 {
		t.Errorf("a file older than the session was shifted: %d", u)
	}
	if u, g, _ := own("pushed"); u != 1000033 || g != 2000033 {
		t.Errorf("pushed after FixUnshifted: %d:%d", u, g)
	}
	if u, g, _ := own("etc/shadow"); u != 1000000 || g != 2000042 {
		t.Errorf("shifted file touched by FixUnshifted: %d:%d", u, g)
	}
}
