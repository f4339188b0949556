package idmap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Current tells the map a root filesystem is owned by, from its top
// directory, which belongs to the container's root (id 0).
func Current(rootfs string) (Map, error) {
	var st unix.Stat_t
	if err := unix.Lstat(rootfs, &st); err != nil {
		return Map{}, fmt.Errorf("rootfs %s: %w", rootfs, err)
	}
	return Map{UIDBase: int64(st.Uid), GIDBase: int64(st.Gid)}, nil
}

// Shift changes the ownership of every entry under rootfs (not following
// symlinks, not crossing into other filesystems) from map from to map to:
// owners, the root id of file capabilities and the ids in POSIX ACLs. The
// setuid and setgid bits, which chown clears, are restored. The top
// directory, which Current reads, is shifted last: a shift cut short by a
// crash is redone in full.
func Shift(rootfs string, from, to Map) error {
	if from == to {
		return nil
	}
	return walkShift(rootfs, mapTranslator(from, to))
}

// translator gives an entry its new owner ids; to is the map the tree is
// shifted into (file capabilities get its root).
type translator struct {
	uid, gid func(int64) int64
	to       Map
}

func mapTranslator(from, to Map) translator {
	return translator{
		uid: func(id int64) int64 { return to.UIDBase + clamp(back(id, from.UIDBase)) },
		gid: func(id int64) int64 { return to.GIDBase + clamp(back(id, from.GIDBase)) },
		to:  to,
	}
}

func walkShift(rootfs string, tr translator) error {
	var rootDev uint64
	var top unix.Stat_t
	// A hardlinked inode is met once per name but shifted once.
	seen := map[uint64]bool{}
	err := filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if p == rootfs {
			rootDev, top = st.Dev, st
			return nil
		} else if st.Dev != rootDev {
			return filepath.SkipDir
		}
		if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		if err := shiftOne(p, &st, tr); err != nil {
			return fmt.Errorf("shift %s: %w", p, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := shiftOne(rootfs, &top, tr); err != nil {
		return fmt.Errorf("shift %s: %w", rootfs, err)
	}
	return nil
}

func shiftOne(p string, st *unix.Stat_t, tr translator) error {
	uid := tr.uid(int64(st.Uid))
	gid := tr.gid(int64(st.Gid))
	isLink := st.Mode&unix.S_IFMT == unix.S_IFLNK
	var caps []byte
	if !isLink && st.Mode&unix.S_IFMT == unix.S_IFREG {
		caps = getxattr(p, "security.capability")
	}
	if err := unix.Lchown(p, int(uid), int(gid)); err != nil {
		return err
	}
	if isLink {
		return nil
	}
	// chown drops setuid/setgid and file capabilities; put them back.
	if st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
		if err := unix.Chmod(p, st.Mode&0o7777); err != nil {
			return err
		}
	}
	if caps != nil {
		nc, err := ShiftCaps(caps, Map{}, tr.to)
		if err != nil {
			return err
		}
		if err := unix.Setxattr(p, "security.capability", nc, 0); err != nil {
			return fmt.Errorf("restore file capabilities: %w", err)
		}
	}
	for _, name := range []string{"system.posix_acl_access", "system.posix_acl_default"} {
		if acl := getxattr(p, name); acl != nil {
			na, err := shiftACL(acl, tr)
			if err != nil {
				return err
			}
			if err := unix.Setxattr(p, name, na, 0); err != nil {
				return fmt.Errorf("shift %s: %w", name, err)
			}
		}
	}
	return nil
}

func getxattr(p, name string) []byte {
	buf := make([]byte, 256)
	for {
		n, err := unix.Getxattr(p, name, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil || n <= 0 {
			return nil
		}
		return buf[:n]
	}
}

// Capability xattr layout (linux/capability.h): magic_etc, then two
// {permitted, inheritable} u32 pairs, then (v3) the namespace root uid.
const (
	vfsCapRevision2 = 0x02000000
	vfsCapRevision3 = 0x03000000
	vfsCapRevMask   = 0xFF000000
	vfsCapV2Size    = 4 + 2*8
	vfsCapV3Size    = vfsCapV2Size + 4
)

// ShiftCaps rewrites a security.capability value for a file now owned by
// map to: inside a user namespace the kernel honours file capabilities
// only when their root id is the namespace's root on the host, so they
// become v3 with root id to.UIDBase (v2, the identity's form, for a
// privileged container).
func ShiftCaps(v []byte, from, to Map) ([]byte, error) {
	if len(v) < 4 {
		return nil, fmt.Errorf("file capabilities: %d bytes", len(v))
	}
	magic := binary.LittleEndian.Uint32(v)
	rev := magic & vfsCapRevMask
	if rev != vfsCapRevision2 && rev != vfsCapRevision3 || len(v) < vfsCapV2Size {
		return nil, fmt.Errorf("file capabilities: unsupported revision %#x", rev)
	}
	flags := magic &^ vfsCapRevMask
	body := v[4:vfsCapV2Size]
	if to.UIDBase == 0 {
		out := make([]byte, vfsCapV2Size)
		binary.LittleEndian.PutUint32(out, vfsCapRevision2|flags)
		copy(out[4:], body)
		return out, nil
	}
	out := make([]byte, vfsCapV3Size)
	binary.LittleEndian.PutUint32(out, vfsCapRevision3|flags)
	copy(out[4:], body)
	binary.LittleEndian.PutUint32(out[vfsCapV2Size:], uint32(to.UIDBase))
	return out, nil
}

// POSIX ACL xattr layout: a u32 version (2), then entries of u16 tag,
// u16 perm, u32 id; only ACL_USER and ACL_GROUP entries carry an id.
const (
	aclVersion = 2
	aclUser    = 0x02
	aclGroup   = 0x08
)

// ShiftACL moves the ids of an ACL xattr value from map from to map to.
func ShiftACL(v []byte, from, to Map) ([]byte, error) {
	return shiftACL(v, mapTranslator(from, to))
}

func shiftACL(v []byte, tr translator) ([]byte, error) {
	if len(v) < 4 || binary.LittleEndian.Uint32(v) != aclVersion || (len(v)-4)%8 != 0 {
		return nil, fmt.Errorf("POSIX ACL: unexpected layout (%d bytes)", len(v))
	}
	out := append([]byte(nil), v...)
	for off := 4; off < len(out); off += 8 {
		tag := binary.LittleEndian.Uint16(out[off:])
		id := int64(binary.LittleEndian.Uint32(out[off+4:]))
		switch tag {
		case aclUser:
			id = tr.uid(id)
		case aclGroup:
			id = tr.gid(id)
		default:
			continue
		}
		binary.LittleEndian.PutUint32(out[off+4:], uint32(id))
	}
	return out, nil
}

// FixUnshifted gives entries under root that carry raw container ids
// (below the map's base: made by a helper running as host root, such as
// the SFTP server) and changed since the given time their shifted ids; the
// time limit keeps it off anything the helper did not touch. A no-op for
// the identity.
func FixUnshifted(root string, m Map, since time.Time) error {
	if m.IsIdentity() {
		return nil
	}
	// "/." resolves a root given as a symlink (/proc/PID/root).
	root = strings.TrimSuffix(root, "/") + "/."
	var rootDev uint64
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return nil
		}
		if p == root {
			rootDev = st.Dev
		} else if st.Dev != rootDev {
			return filepath.SkipDir
		}
		if int64(st.Uid) >= m.UIDBase && int64(st.Gid) >= m.GIDBase {
			return nil
		}
		// File times come from the kernel's coarse clock, a tick behind.
		if time.Unix(st.Ctim.Sec, st.Ctim.Nsec).Before(since.Add(-100 * time.Millisecond)) {
			return nil
		}
		raw := Map{}
		from := Map{UIDBase: m.UIDBase, GIDBase: m.GIDBase}
		if int64(st.Uid) < m.UIDBase {
			from.UIDBase = raw.UIDBase
		}
		if int64(st.Gid) < m.GIDBase {
			from.GIDBase = raw.GIDBase
		}
		return shiftOne(p, &st, mapTranslator(from, m))
	})
}
