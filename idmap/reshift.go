package idmap

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// A re-shift (security.privileged or security.idmap.* changed on a stopped
// instance) moves a whole rootfs from one map to another at the next
// start, and must survive being cut short by a SIGKILL or a power cut:
//
//   - ShiftMarker, beside the rootfs, records the maps, fsynced before the
//     first entry changes; while it is there, Reshift resumes that shift
//     (then goes on to the wanted map if it has changed since);
//   - each entry is shifted idempotently: maps are disjoint blocks, so an
//     entry already owned in the target map is done, and ACL ids are
//     moved only when they are in the source map;
//   - chown clears setuid/setgid bits and file capabilities: before such
//     an entry is chowned, its mode and new capabilities are appended to
//     ShiftJournal (fsynced) and replayed on resume;
//   - the rootfs's top directory, which Current reads, goes last, then
//     the marker and journal are removed.

// ShiftMarker and ShiftJournal are the files Reshift keeps beside a rootfs
// (in its volume's directory) while it works.
const (
	ShiftMarker  = ".lodge-shift"
	ShiftJournal = ".lodge-shift-journal"
)

type shiftRecord struct {
	From Map `json:"from"`
	To   Map `json:"to"`
}

// journalEntry restores what chown cleared on one file.
type journalEntry struct {
	Path string `json:"path"`
	Mode uint32 `json:"mode"`
	Caps string `json:"caps,omitempty"` // base64 of the new security.capability
}

// reshiftHook lets tests kill the process at a chosen step.
var reshiftHook func(step, path string)

// Reshift brings rootfs to map want, resuming first a shift a crash cut
// short; it reports whether it changed anything. The caller runs it with
// the instance stopped, before starting it.
func Reshift(rootfs string, want Map) (bool, error) {
	dir := filepath.Dir(rootfs)
	marker := filepath.Join(dir, ShiftMarker)
	changed := false
	if b, err := os.ReadFile(marker); err == nil {
		var rec shiftRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return false, fmt.Errorf("rootfs %s: shift marker %s: %w", rootfs, marker, err)
		}
		if err := runShift(rootfs, rec.From, rec.To, true); err != nil {
			return true, err
		}
		changed = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("rootfs %s: %w", rootfs, err)
	}
	cur, err := Current(rootfs)
	if err != nil {
		return changed, err
	}
	if cur == want {
		return changed, nil
	}
	if !disjoint(cur, want) {
		return changed, fmt.Errorf("rootfs %s: cannot shift between overlapping id maps %d and %d", rootfs, cur.UIDBase, want.UIDBase)
	}
	if err := writeSynced(marker, mustJSON(shiftRecord{From: cur, To: want})); err != nil {
		return changed, fmt.Errorf("rootfs %s: write shift marker: %w", rootfs, err)
	}
	return true, runShift(rootfs, cur, want, false)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func disjoint(a, b Map) bool {
	in := func(x, base int64) bool { return x >= base && x < base+Size }
	return !in(a.UIDBase, b.UIDBase) && !in(b.UIDBase, a.UIDBase) && !in(a.GIDBase, b.GIDBase) && !in(b.GIDBase, a.GIDBase)
}

func writeSynced(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(p))
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// runShift moves every entry of rootfs from one map to the other; resume
// replays the journal first.
func runShift(rootfs string, from, to Map, resume bool) error {
	dir := filepath.Dir(rootfs)
	jpath := filepath.Join(dir, ShiftJournal)
	if resume {
		if err := replayJournal(jpath, to); err != nil {
			return fmt.Errorf("rootfs %s: resume shift: %w", rootfs, err)
		}
	}
	journal, err := os.OpenFile(jpath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer journal.Close()
	var rootDev uint64
	var top unix.Stat_t
	err = filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
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
		if err := shiftEntry(p, &st, from, to, journal); err != nil {
			return fmt.Errorf("shift %s: %w", p, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := shiftEntry(rootfs, &top, from, to, journal); err != nil {
		return fmt.Errorf("shift %s: %w", rootfs, err)
	}
	if reshiftHook != nil {
		reshiftHook("top", rootfs)
	}
	if err := syncDir(rootfs); err != nil {
		return err
	}
	journal.Close()
	os.Remove(jpath)
	if err := os.Remove(filepath.Join(dir, ShiftMarker)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(dir)
}

func inMap(uid, gid int64, m Map) bool {
	return uid >= m.UIDBase && uid < m.UIDBase+Size && gid >= m.GIDBase && gid < m.GIDBase+Size
}

// shiftEntry shifts one entry unless it is owned in map to already.
func shiftEntry(p string, st *unix.Stat_t, from, to Map, journal *os.File) error {
	if inMap(int64(st.Uid), int64(st.Gid), to) {
		return nil
	}
	isLink := st.Mode&unix.S_IFMT == unix.S_IFLNK
	if !isLink {
		// ACL ids first: moved only when in the source map, so doing it
		// again after a crash changes nothing.
		for _, name := range []string{"system.posix_acl_access", "system.posix_acl_default"} {
			if acl := getxattr(p, name); acl != nil {
				na, err := shiftACLOnce(acl, from, to)
				if err != nil {
					return err
				}
				if err := unix.Setxattr(p, name, na, 0); err != nil {
					return fmt.Errorf("shift %s: %w", name, err)
				}
			}
		}
	}
	var caps []byte
	if !isLink && st.Mode&unix.S_IFMT == unix.S_IFREG {
		if c := getxattr(p, "security.capability"); c != nil {
			nc, err := ShiftCaps(c, from, to)
			if err != nil {
				return err
			}
			caps = nc
		}
	}
	special := !isLink && (st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 || caps != nil)
	if special {
		e := journalEntry{Path: p, Mode: st.Mode & 0o7777}
		if caps != nil {
			e.Caps = base64.StdEncoding.EncodeToString(caps)
		}
		if _, err := journal.Write(append(mustJSON(e), '\n')); err != nil {
			return err
		}
		if err := journal.Sync(); err != nil {
			return err
		}
	}
	uid := to.UIDBase + clamp(back(int64(st.Uid), from.UIDBase))
	gid := to.GIDBase + clamp(back(int64(st.Gid), from.GIDBase))
	if err := unix.Lchown(p, int(uid), int(gid)); err != nil {
		return err
	}
	if reshiftHook != nil {
		reshiftHook("chowned", p)
	}
	if special {
		return restore(p, st.Mode&0o7777, caps)
	}
	return nil
}

func restore(p string, mode uint32, caps []byte) error {
	if mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
		if err := unix.Chmod(p, mode); err != nil {
			return err
		}
	}
	if caps != nil {
		if err := unix.Setxattr(p, "security.capability", caps, 0); err != nil {
			return fmt.Errorf("restore file capabilities: %w", err)
		}
	}
	return nil
}

// replayJournal puts back the modes and capabilities of files a crash
// may have caught between their chown and their restore.
func replayJournal(jpath string, to Map) error {
	f, err := os.Open(jpath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e journalEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue // a record torn by the crash: its chown never ran
		}
		var st unix.Stat_t
		if err := unix.Lstat(e.Path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || !inMap(int64(st.Uid), int64(st.Gid), to) {
			continue // gone, or not chowned yet: the walk will do it
		}
		var caps []byte
		if e.Caps != "" {
			if caps, err = base64.StdEncoding.DecodeString(e.Caps); err != nil {
				continue
			}
		}
		if err := restore(e.Path, e.Mode, caps); err != nil {
			return fmt.Errorf("%s: %w", e.Path, err)
		}
	}
	return sc.Err()
}

// shiftACLOnce moves the ids of an ACL from map from to map to, leaving
// ids already in map to (and others) as they are.
func shiftACLOnce(v []byte, from, to Map) ([]byte, error) {
	if len(v) < 4 || binary.LittleEndian.Uint32(v) != aclVersion || (len(v)-4)%8 != 0 {
		return nil, fmt.Errorf("POSIX ACL: unexpected layout (%d bytes)", len(v))
	}
	out := append([]byte(nil), v...)
	for off := 4; off < len(out); off += 8 {
		tag := binary.LittleEndian.Uint16(out[off:])
		id := int64(binary.LittleEndian.Uint32(out[off+4:]))
		var fb, tb int64
		switch tag {
		case aclUser:
			fb, tb = from.UIDBase, to.UIDBase
		case aclGroup:
			fb, tb = from.GIDBase, to.GIDBase
		default:
			continue
		}
		if id >= tb && id < tb+Size || id < fb || id >= fb+Size {
			continue
		}
		binary.LittleEndian.PutUint32(out[off+4:], uint32(tb+id-fb))
	}
	return out, nil
}

// ShiftPending tells whether a re-shift of rootfs was cut short (for
// startup messages and tests).
func ShiftPending(rootfs string) bool {
	_, err := os.Lstat(filepath.Join(filepath.Dir(rootfs), ShiftMarker))
	return err == nil
}
