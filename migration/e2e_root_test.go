package migration

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"lodge/idmap"
	"lodge/test/gate"
)

func needRoot(t *testing.T) {
	t.Helper()
	gate.Integration(t, "owners, devices, mount namespaces")
}

// capV3 is a security.capability value: cap_net_bind_service, effective,
// for the namespace whose root is host uid rootid.
func capV3(rootid uint32) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b, 0x03000001)
	binary.LittleEndian.PutUint32(b[4:], 1<<10)
	binary.LittleEndian.PutUint32(b[20:], rootid)
	return b
}

func aclUser(uid uint32) []byte {
	b := make([]byte, 4+5*8)
	binary.LittleEndian.PutUint32(b, 2)
	ents := [][3]uint32{{0x01, 7, 0xffffffff}, {0x02, 6, uid}, {0x04, 5, 0xffffffff}, {0x10, 7, 0xffffffff}, {0x20, 5, 0xffffffff}}
	for i, e := range ents {
		binary.LittleEndian.PutUint16(b[4+8*i:], uint16(e[0]))
		binary.LittleEndian.PutUint16(b[6+8*i:], uint16(e[1]))
		binary.LittleEndian.PutUint32(b[8+8*i:], e[2])
	}
	return b
}

// richVolume makes a volume as an unprivileged LXD container leaves it
// on disk, shifted by base: files of several owners, a sparse file, a
// symlink, a device node, a user xattr, a file capability and an ACL.
func richVolume(t *testing.T, base uint32, hostname string, mtime int64) string {
	d := volumeTree(t, hostname, mtime)
	r := filepath.Join(d, "rootfs")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(r, "home/alice"), 0o750))
	must(os.WriteFile(filepath.Join(r, "home/alice/notes"), []byte("alice's"), 0o600))
	must(os.WriteFile(filepath.Join(r, "var-www"), []byte("www"), 0o644))
	f, err := os.Create(filepath.Join(r, "sparse"))
	must(err)
	must(f.Truncate(64 << 20))
	f.WriteAt([]byte("end"), 64<<20-3)
	f.Close()
	must(unix.Mknod(filepath.Join(r, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(os.WriteFile(filepath.Join(r, "ping"), []byte("#!/bin/true\n"), 0o755))
	must(unix.Setxattr(filepath.Join(r, "var-www"), "user.origin", []byte("lxd"), 0))
	must(unix.Setxattr(filepath.Join(r, "home/alice/notes"), "system.posix_acl_access", aclUser(base+33), 0))
	// Everything owned by the container's root, then some by others.
	filepath.Walk(d, func(p string, _ os.FileInfo, _ error) error {
		if rel, _ := filepath.Rel(d, p); rel == "rootfs" || len(rel) > 6 && rel[:7] == "rootfs/" {
			return os.Lchown(p, int(base), int(base))
		}
		return nil
	})
	must(os.Chown(filepath.Join(r, "home/alice"), int(base+1000), int(base+1000)))
	must(os.Chown(filepath.Join(r, "home/alice/notes"), int(base+1000), int(base+1000)))
	must(os.Chown(filepath.Join(r, "var-www"), int(base+33), int(base+33)))
	must(unix.Setxattr(filepath.Join(r, "ping"), "security.capability", capV3(base), 0))
	return d
}

// An unprivileged LXD-style container (files shifted by 1000000) arrives
// on lodge shifted into lodge's range (2000000), with owners, a sparse
// file, a device node, xattrs, an ACL and a file capability intact, two
// snapshots then the volume, through the confined receiver.
func TestConversationOwnersAndSpecialFiles(t *testing.T) {
	needRoot(t)
	s, d, tv := baseArgs(t)
	const base = 1000000
	s.Volumes = srcVols{"snap0": richVolume(t, base, "snap0", 1000), "snap1": richVolume(t, base, "snap1", 2000), "": richVolume(t, base, "main", 3000)}
	s.Idmap = idmap.SetOf(idmap.Map{UIDBase: base, GIDBase: base})
	to := idmap.Map{UIDBase: 2000000, GIDBase: 2000000}
	d.Map = &to
	d.Confine = true
	s.Confine = true
	d.Limits = Limits{MinFree: 1 << 20, MaxBytes: 1 << 30}
	serr, terr := converse(t, s, d)
	if serr != nil || terr != nil {
		t.Fatalf("source: %v\ntarget: %v", serr, terr)
	}
	if len(tv.transfer.Idmap) != 2 || tv.transfer.Idmap[0].HostID != base {
		t.Errorf("idmap %+v", tv.transfer.Idmap)
	}
	for _, vol := range []string{tv.snap("snap0"), tv.snap("snap1"), tv.main()} {
		r := filepath.Join(vol, "rootfs")
		own := map[string][2]uint32{"": {2000000, 2000000}, "home/alice": {2001000, 2001000}, "home/alice/notes": {2001000, 2001000},
			"var-www": {2000033, 2000033}, "null": {2000000, 2000000}, "bin/sh": {2000000, 2000000}}
		for p, want := range own {
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(r, p), &st); err != nil {
				t.Fatal(err)
			}
			if st.Uid != want[0] || st.Gid != want[1] {
				t.Errorf("%s/%s: %d:%d, want %d:%d", vol, p, st.Uid, st.Gid, want[0], want[1])
			}
			if p == "null" && (st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3)) {
				t.Errorf("device node: mode %o rdev %x", st.Mode, st.Rdev)
			}
		}
		var st unix.Stat_t
		unix.Stat(filepath.Join(r, "sparse"), &st)
		if st.Size != 64<<20 || st.Blocks*512 > 1<<20 {
			t.Errorf("sparse file: size %d, %d bytes allocated", st.Size, st.Blocks*512)
		}
		buf := make([]byte, 64)
		if n, _ := unix.Getxattr(filepath.Join(r, "var-www"), "user.origin", buf); string(buf[:n]) != "lxd" {
			t.Errorf("user xattr %q", buf[:n])
		}
		n, _ := unix.Getxattr(filepath.Join(r, "ping"), "security.capability", buf)
		if !bytes.Equal(buf[:n], capV3(2000000)) {
			t.Errorf("file capability %x, want %x", buf[:n], capV3(2000000))
		}
		n, _ = unix.Getxattr(filepath.Join(r, "home/alice/notes"), "system.posix_acl_access", buf)
		if !bytes.Equal(buf[:n], aclUser(2000033)) {
			t.Errorf("ACL %x", buf[:n])
		}
		// Outside rootfs/ the files stay the host's.
		unix.Lstat(filepath.Join(vol, "metadata.yaml"), &st)
		if st.Uid != 0 {
			t.Errorf("metadata.yaml owned by %d", st.Uid)
		}
	}
	if got := readFile(t, filepath.Join(tv.snap("snap1"), "rootfs/etc/hostname")); got != "snap1\n" {
		t.Errorf("snap1 hostname %q", got)
	}
}

// lodge as the source announces the map its files are shifted by, and a
// privileged (unshifted) volume announces none.
func TestSourceIdmap(t *testing.T) {
	needRoot(t)
	d := richVolume(t, 1065536, "x", 1)
	s, err := SourceIdmap(d)
	if err != nil || len(s) != 2 || s[0].HostID != 1065536 || !s[0].IsUID || s[1].Range != idmap.Size {
		t.Errorf("shifted: %+v %v", s, err)
	}
	d = volumeTree(t, "x", 1)
	if s, err := SourceIdmap(d); err != nil || len(s) != 0 {
		t.Errorf("unshifted: %+v %v", s, err)
	}
}
