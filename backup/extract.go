package backup

import (
	"archive/tar"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"lodge/idmap"
)

// beneath is how every path inside a section is resolved: by the kernel,
// below the section's rootfs, with no symlink followed (a tarball's own
// symlinks included), no ".." out and no mount crossed.
const beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// devices are the character devices an image or a backup may carry in its
// rootfs (liblxc mounts a fresh /dev over them anyway): null, zero, full,
// random, urandom, tty, console, ptmx, and overlayfs whiteouts (0:0).
var devices = map[[2]int64]bool{
	{1, 3}: true, {1, 5}: true, {1, 7}: true, {1, 8}: true, {1, 9}: true,
	{5, 0}: true, {5, 1}: true, {5, 2}: true, {0, 0}: true,
}

// section is one rootfs being written.
type section struct {
	name   string // backup/container or backup/snapshots/NAME
	root   string
	rootFd int
	disk   DiskMap
	m      idmap.Map
	// budget is what file data may still take: the target's free space
	// (and Options.MaxBytes).
	budget int64
	inodes int64 // free inodes, -1 when the filesystem does not count them
	// files are the non-directories written, the only hard link targets.
	files map[string]bool
	dirs  []dirTime
	// parent caches the last parent directory opened.
	parentRel string
	parentFd  int
	sawTop    bool
	buf       []byte
}

type dirTime struct {
	rel   string
	times [2]unix.Timespec
}

func mkdirAll(p string) error { return os.MkdirAll(p, 0o755) }

func openSection(root, name string, disk DiskMap, opt Options) (*section, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("backup: open %s: %w", root, err)
	}
	s := &section{name: name, root: root, rootFd: fd, disk: disk, m: opt.Map, files: map[string]bool{}, parentFd: -1, buf: make([]byte, 1<<20)}
	names, err := readNames(fd)
	if err == nil && len(names) > 0 {
		err = fmt.Errorf("%s is not empty", root)
	}
	var sfs unix.Statfs_t
	if err == nil {
		err = unix.Fstatfs(fd, &sfs)
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("backup: import target: %w", err)
	}
	s.budget = int64(sfs.Bavail) * sfs.Bsize
	if opt.MaxBytes > 0 && opt.MaxBytes < s.budget {
		s.budget = opt.MaxBytes
	}
	s.inodes = -1
	if sfs.Files > 0 {
		s.inodes = int64(sfs.Ffree)
	}
	// Until the tarball says otherwise, the rootfs belongs to the
	// container's root.
	if err := unix.Fchown(fd, int(s.m.HostUID(0)), int(s.m.HostGID(0))); err != nil {
		s.close()
		return nil, fmt.Errorf("backup: chown %s: %w", root, err)
	}
	return s, nil
}

func (s *section) close() {
	if s.parentFd >= 0 {
		unix.Close(s.parentFd)
		s.parentFd = -1
	}
	if s.rootFd >= 0 {
		unix.Close(s.rootFd)
		s.rootFd = -1
	}
}

// finish sets the directories' times (which writing their entries
// changed) and closes the section.
func (s *section) finish() error {
	defer s.close()
	if s.parentFd >= 0 {
		unix.Close(s.parentFd)
		s.parentFd = -1
	}
	for i := len(s.dirs) - 1; i >= 0; i-- {
		d := s.dirs[i]
		fd := s.rootFd
		if d.rel != "" {
			var err error
			fd, err = unix.Openat2(s.rootFd, d.rel, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: beneath})
			if err != nil {
				return fmt.Errorf("backup: %s/rootfs/%s: %w", s.name, d.rel, err)
			}
		}
		err := setTimes(fd, d.times)
		if fd != s.rootFd {
			unix.Close(fd)
		}
		if err != nil {
			return fmt.Errorf("backup: set times of %s/rootfs/%s: %w", s.name, d.rel, err)
		}
	}
	return nil
}

func (s *section) owner(hdr *tar.Header) (int, int) {
	uid := s.m.HostUID(s.disk.ContainerUID(int64(hdr.Uid)))
	gid := s.m.HostGID(s.disk.ContainerGID(int64(hdr.Gid)))
	return int(uid), int(gid)
}

func times(hdr *tar.Header) [2]unix.Timespec {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	return [2]unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
}

// top applies the rootfs entry's owner, mode and xattrs to the root.
func (s *section) top(hdr *tar.Header, st *Stats) error {
	if s.sawTop {
		return invalidf("entry %q appears twice", hdr.Name)
	}
	s.sawTop = true
	uid, gid := s.owner(hdr)
	if err := unix.Fchown(s.rootFd, uid, gid); err != nil {
		return fmt.Errorf("backup: %s: %w", hdr.Name, err)
	}
	if err := unix.Fchmod(s.rootFd, uint32(hdr.Mode&0o7777)); err != nil {
		return fmt.Errorf("backup: %s: %w", hdr.Name, err)
	}
	if err := s.setXattrs(s.rootFd, hdr, st); err != nil {
		return err
	}
	s.dirs = append(s.dirs, dirTime{rel: "", times: times(hdr)})
	st.Entries++
	return nil
}

// parent opens the directory holding rel, below the rootfs.
func (s *section) parent(rel string) (int, string, error) {
	dir, base := path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		return s.rootFd, base, nil
	}
	if s.parentFd >= 0 && s.parentRel == dir {
		return s.parentFd, base, nil
	}
	fd, err := unix.Openat2(s.rootFd, dir, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: beneath})
	if err != nil {
		switch {
		case errors.Is(err, unix.ELOOP):
			return -1, "", invalidf("entry %s/rootfs/%s: a symlink is in its way (%s); entries are never written through symlinks", s.name, rel, dir)
		case errors.Is(err, unix.ENOENT):
			return -1, "", invalidf("entry %s/rootfs/%s comes before its directory %s", s.name, rel, dir)
		case errors.Is(err, unix.ENOTDIR):
			return -1, "", invalidf("entry %s/rootfs/%s: %s is not a directory", s.name, rel, dir)
		case errors.Is(err, unix.EXDEV):
			return -1, "", fmt.Errorf("backup: entry %s/rootfs/%s: a mount point is in the way (%s)", s.name, rel, dir)
		}
		return -1, "", fmt.Errorf("backup: open %s/rootfs/%s: %w", s.name, dir, err)
	}
	if s.parentFd >= 0 {
		unix.Close(s.parentFd)
	}
	s.parentFd, s.parentRel = fd, dir
	return fd, base, nil
}

func (s *section) write(r io.Reader, rel string, hdr *tar.Header, st *Stats) error {
	full := s.name + "/rootfs/" + rel
	if s.inodes >= 0 {
		if s.inodes == 0 {
			return fmt.Errorf("backup: %s: the target filesystem has no free inodes left", full)
		}
		s.inodes--
	}
	pfd, base, err := s.parent(rel)
	if err != nil {
		return err
	}
	uid, gid := s.owner(hdr)
	perm := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeDir:
		err := unix.Mkdirat(pfd, base, 0o700)
		if errors.Is(err, unix.EEXIST) {
			return invalidf("entry %s appears twice", full)
		}
		if err != nil {
			return fmt.Errorf("backup: mkdir %s: %w", full, err)
		}
		fd, err := unix.Openat2(pfd, base, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: beneath})
		if err != nil {
			return fmt.Errorf("backup: open %s: %w", full, err)
		}
		defer unix.Close(fd)
		if err := fixFd(fd, uid, gid, perm); err != nil {
			return fmt.Errorf("backup: %s: %w", full, err)
		}
		if err := s.setXattrs(fd, hdr, st); err != nil {
			return err
		}
		s.dirs = append(s.dirs, dirTime{rel: rel, times: times(hdr)})
	case tar.TypeReg, tar.TypeChar, tar.TypeBlock, tar.TypeFifo, tar.TypeSymlink, tar.TypeLink:
		if err := s.writeNonDir(r, pfd, base, rel, full, hdr, uid, gid, perm, st); err != nil {
			return err
		}
		s.files[rel] = true
	default:
		return invalidf("entry %s: unsupported tar entry type %q", full, string(hdr.Typeflag))
	}
	st.Entries++
	return nil
}

func (s *section) writeNonDir(r io.Reader, pfd int, base, rel, full string, hdr *tar.Header, uid, gid int, perm uint32, st *Stats) error {
	exists := func(err error) error {
		if errors.Is(err, unix.EEXIST) {
			return invalidf("entry %s appears twice", full)
		}
		return fmt.Errorf("backup: create %s: %w", full, err)
	}
	tm := times(hdr)
	switch hdr.Typeflag {
	case tar.TypeReg:
		if hdr.Size > s.budget {
			return fmt.Errorf("backup: entry %s is %d bytes, more than the %d bytes left on the target: %w", full, hdr.Size, max(s.budget, 0), errTooBig)
		}
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return exists(err)
		}
		f := os.NewFile(uintptr(fd), full)
		defer f.Close()
		n, err := copySparse(f, io.LimitReader(r, hdr.Size), s.buf)
		if err == nil && n < hdr.Size {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return fmt.Errorf("backup: write %s: %w", full, err)
		}
		s.budget -= n
		st.Bytes += n
		if err := fixFd(fd, uid, gid, perm); err != nil {
			return fmt.Errorf("backup: %s: %w", full, err)
		}
		if err := s.setXattrs(fd, hdr, st); err != nil {
			return err
		}
		return setTimes(fd, tm)
	case tar.TypeSymlink:
		if hdr.Linkname == "" || strings.ContainsRune(hdr.Linkname, 0) {
			return invalidf("entry %s: empty symlink target", full)
		}
		// The target is stored as it is: lodge never follows it on the
		// host (files are reached inside the container's root).
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return exists(err)
		}
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil {
			return invalidf("entry %s: hard link to %q: not a clean relative path", full, hdr.Linkname)
		}
		prefix := s.name + "/rootfs/"
		trel, ok := strings.CutPrefix(target, prefix)
		if !ok || !s.files[trel] {
			return invalidf("entry %s: hard link to %q, which is not a file written earlier in %s/rootfs", full, hdr.Linkname, s.name)
		}
		tdir, tbase := path.Split(trel)
		tfd := s.rootFd
		if tdir = strings.TrimSuffix(tdir, "/"); tdir != "" {
			tfd, err = unix.Openat2(s.rootFd, tdir, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: beneath})
			if err != nil {
				return invalidf("entry %s: hard link target %q: %v", full, hdr.Linkname, err)
			}
			defer unix.Close(tfd)
		}
		if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
			return exists(err)
		}
		return nil // a second name: owner, mode and times are the first's
	case tar.TypeChar, tar.TypeBlock:
		if hdr.Typeflag == tar.TypeBlock || !devices[[2]int64{hdr.Devmajor, hdr.Devminor}] {
			kind := "character"
			if hdr.Typeflag == tar.TypeBlock {
				kind = "block"
			}
			return invalidf("entry %s: %s device %d:%d; an import may only hold null, zero, full, random, urandom, tty, console and ptmx (and 0:0 whiteouts)", full, kind, hdr.Devmajor, hdr.Devminor)
		}
		if err := unix.Mknodat(pfd, base, unix.S_IFCHR|0o600, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			return exists(err)
		}
	case tar.TypeFifo:
		if err := unix.Mknodat(pfd, base, unix.S_IFIFO|0o600, 0); err != nil {
			return exists(err)
		}
	}
	// Symlinks, devices and FIFOs: through an O_PATH descriptor of the
	// entry just made (never opened, never followed).
	fd, err := unix.Openat2(pfd, base, &unix.OpenHow{Flags: unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: beneath})
	if err != nil {
		return fmt.Errorf("backup: open %s: %w", full, err)
	}
	defer unix.Close(fd)
	if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("backup: chown %s: %w", full, err)
	}
	proc := fmt.Sprintf("/proc/self/fd/%d", fd)
	if hdr.Typeflag != tar.TypeSymlink {
		if err := unix.Chmod(proc, perm); err != nil {
			return fmt.Errorf("backup: chmod %s: %w", full, err)
		}
		if err := s.setXattrsPath(proc, hdr, st); err != nil {
			return err
		}
		return unix.UtimesNanoAt(unix.AT_FDCWD, proc, tm[:], 0)
	}
	return unix.UtimesNanoAt(pfd, base, tm[:], unix.AT_SYMLINK_NOFOLLOW)
}

// setTimes sets an open entry's times (through its /proc/self/fd link:
// utimensat has no AT_EMPTY_PATH).
func setTimes(fd int, tm [2]unix.Timespec) error {
	return unix.UtimesNanoAt(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), tm[:], 0)
}

var errTooBig = errors.New("the backup is larger than the space left")

// ErrTooBig is wrapped by errors for entries beyond the target's free space.
var ErrTooBig = errTooBig

// fixFd sets owner then mode (chown clears setuid and setgid bits).
func fixFd(fd, uid, gid int, perm uint32) error {
	if err := unix.Fchown(fd, uid, gid); err != nil {
		return err
	}
	return unix.Fchmod(fd, perm)
}

// copySparse copies r to f, seeking over blocks of zeros so that they
// stay holes, and returns the bytes read.
func copySparse(f *os.File, r io.Reader, buf []byte) (int64, error) {
	var n int64
	const blk = 64 << 10
	holeAtEnd := false
	for {
		m, err := io.ReadFull(r, buf)
		if m > 0 {
			chunk := buf[:m]
			for off := 0; off < len(chunk); off += blk {
				end := min(off+blk, len(chunk))
				b := chunk[off:end]
				if isZero(b) {
					if _, err := f.Seek(int64(len(b)), io.SeekCurrent); err != nil {
						return n, err
					}
					holeAtEnd = true
				} else {
					if _, err := f.Write(b); err != nil {
						return n, err
					}
					holeAtEnd = false
				}
				n += int64(len(b))
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return n, err
		}
	}
	if holeAtEnd {
		if err := f.Truncate(n); err != nil {
			return n, err
		}
	}
	return n, nil
}

func isZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.NativeEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// xattrsOf picks the extended attributes an import restores: user.*, file
// capabilities and POSIX ACLs (ids mapped to the new instance); trusted.*
// and other security.* names are the host's business and are dropped.
func (s *section) xattrsOf(hdr *tar.Header, st *Stats) (map[string][]byte, error) {
	var out map[string][]byte
	for k, v := range hdr.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.acl.") {
			st.Skipped++ // GNU tar's text ACLs: not restored
			continue
		}
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		val := []byte(v)
		switch {
		case strings.HasPrefix(name, "user."):
		case name == "security.capability":
			nv, err := idmap.ShiftCaps(val, idmap.Privileged, s.m)
			if err != nil {
				return nil, invalidf("entry %s: %v", hdr.Name, err)
			}
			val = nv
		case name == "system.posix_acl_access" || name == "system.posix_acl_default":
			nv, err := s.shiftACL(val)
			if err != nil {
				return nil, invalidf("entry %s: %v", hdr.Name, err)
			}
			val = nv
		default:
			st.Skipped++
			continue
		}
		if out == nil {
			out = map[string][]byte{}
		}
		out[name] = val
	}
	return out, nil
}

func (s *section) setXattrs(fd int, hdr *tar.Header, st *Stats) error {
	x, err := s.xattrsOf(hdr, st)
	if err != nil {
		return err
	}
	for k, v := range x {
		if err := unix.Fsetxattr(fd, k, v, 0); err != nil {
			return fmt.Errorf("backup: %s: set %s: %w", hdr.Name, k, err)
		}
	}
	return nil
}

func (s *section) setXattrsPath(p string, hdr *tar.Header, st *Stats) error {
	x, err := s.xattrsOf(hdr, st)
	if err != nil {
		return err
	}
	for k, v := range x {
		if err := unix.Setxattr(p, k, v, 0); err != nil {
			return fmt.Errorf("backup: %s: set %s: %w", hdr.Name, k, err)
		}
	}
	return nil
}

// shiftACL maps the ids of an ACL xattr from the backup's disk ids to the
// new instance's.
func (s *section) shiftACL(v []byte) ([]byte, error) {
	if len(v) < 4 || binary.LittleEndian.Uint32(v) != 2 || (len(v)-4)%8 != 0 {
		return nil, fmt.Errorf("POSIX ACL: unexpected layout (%d bytes)", len(v))
	}
	out := append([]byte(nil), v...)
	for off := 4; off < len(out); off += 8 {
		tag := binary.LittleEndian.Uint16(out[off:])
		id := int64(binary.LittleEndian.Uint32(out[off+4:]))
		switch tag {
		case 0x02:
			id = s.m.HostUID(s.disk.ContainerUID(id))
		case 0x08:
			id = s.m.HostGID(s.disk.ContainerGID(id))
		default:
			continue
		}
		binary.LittleEndian.PutUint32(out[off+4:], uint32(id))
	}
	return out, nil
}
