package idmap

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"lodge/test/gate"

	"golang.org/x/sys/unix"
)

// LXD's map of a Debian host: separate uid and gid ranges of 10^9 ids.
var lxdSet = Set{
	{IsUID: true, HostID: 1000000, NSID: 0, Range: 1000000000},
	{IsGID: true, HostID: 1000000, NSID: 0, Range: 1000000000},
}

func TestSet(t *testing.T) {
	tests := []struct {
		set  Set
		id   int64
		uid  bool
		want int64
	}{
		{lxdSet, 1000000, true, 0},
		{lxdSet, 1001000, false, 1000},
		{lxdSet, 0, true, 65534}, // host root's file: nobody inside
		{Set{}, 33, true, 33},    // not shifted: ids are container ids
		{Set{{IsUID: true, IsGID: true, HostID: 100000, NSID: 1000, Range: 10}}, 100005, false, 1005},
	}
	for _, tc := range tests {
		if got := tc.set.ContainerID(tc.id, tc.uid); got != tc.want {
			t.Errorf("%v.ContainerID(%d, %v) = %d, want %d", tc.set, tc.id, tc.uid, got, tc.want)
		}
	}
	for _, bad := range []Set{{{IsUID: true, HostID: 1, Range: 0}}, {{HostID: 1, Range: 1}}, {{IsUID: true, HostID: -1, Range: 5}}, {{IsGID: true, HostID: 1 << 32, Range: 5}}} {
		if bad.Validate() == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	// The JSON of volatile.last_state.idmap, LXD's keys.
	data, _ := json.Marshal(SetOf(Map{1000000, 1000000})[:1])
	if string(data) != `[{"Isuid":true,"Isgid":false,"Hostid":1000000,"Nsid":0,"Maprange":65536}]` {
		t.Errorf("JSON %s", data)
	}
	if len(SetOf(Privileged)) != 0 {
		t.Error("the identity has entries")
	}
}

// Remap takes a tree shifted by LXD's map into one of lodge's: owners,
// the file capability's root and ACL ids.
func TestRemapTree(t *testing.T) {
	gate.Root(t, "chown")
	root := t.TempDir()
	f := filepath.Join(root, "f")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(f, nil, 0o755))
	must(os.Chown(f, 1001000, 1000033))
	must(os.Chown(root, 1000000, 1000000))
	must(unix.Setxattr(f, "system.posix_acl_access", acl([3]uint32{0x01, 7, 0xffffffff}, [3]uint32{aclUser, 6, 1001000}, [3]uint32{0x04, 5, 0xffffffff}, [3]uint32{0x10, 7, 0xffffffff}, [3]uint32{0x20, 5, 0xffffffff}), 0))
	capsOK := unix.Setxattr(f, "security.capability", caps(vfsCapRevision3, 1<<10, 1000000), 0) == nil
	root0 := filepath.Join(root, "rootowned")
	must(os.WriteFile(root0, nil, 0o644))

	to := Map{2000000, 3000000}
	must(Remap(root, lxdSet, to))
	var st unix.Stat_t
	must(unix.Lstat(f, &st))
	if st.Uid != 2001000 || st.Gid != 3000033 {
		t.Errorf("f: %d:%d", st.Uid, st.Gid)
	}
	must(unix.Lstat(root0, &st))
	if st.Uid != 2065534 || st.Gid != 3065534 {
		t.Errorf("a host-root file (nobody inside) became %d:%d", st.Uid, st.Gid)
	}
	if cur, _ := Current(root); cur != to {
		t.Errorf("Current %+v", cur)
	}
	a := getxattr(f, "system.posix_acl_access")
	if len(a) < 20 || binary.LittleEndian.Uint32(a[16:]) != 2001000 {
		t.Errorf("ACL %x", a)
	}
	if capsOK {
		if v := getxattr(f, "security.capability"); !bytes.Equal(v, caps(vfsCapRevision3, 1<<10, 2000000)) {
			t.Errorf("caps %x", v)
		}
	}
}
