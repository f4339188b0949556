package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"lodge/api"
	"lodge/idmap"
)

// Section is one root filesystem to back up.
type Section struct {
	// Name is the snapshot's name ("" for the instance itself).
	Name string
	// Rootfs is the directory holding the tree (a volume's rootfs).
	Rootfs string
}

// Source is what Write puts in a tarball.
type Source struct {
	// Index describes the backup; Write fills its snapshot list from
	// Snapshots, sets optimized to false and records the ownership of the
	// tarball (volatile.last_state.idmap "[]": container ids).
	Index *Index
	// Rootfs is the instance's tree.
	Rootfs string
	// Snapshots are the snapshots' trees, oldest first (none for an
	// instance-only backup).
	Snapshots []Section
	// Map is how the trees are owned on disk; the tarball holds container
	// ids, as an image does, so that any host imports it with its own map.
	Map idmap.Map
	// Metadata is written as metadata.yaml beside the instance's rootfs
	// (the image's; LXD keeps it there), if set.
	Metadata []byte
	// Compression is one of Compressions ("" is gzip).
	Compression string
	// Progress, if set, is called with the bytes of file data written so far.
	Progress func(int64)
}

// Stats counts what a Write or Extract handled.
type Stats struct {
	Entries int64
	Bytes   int64
	// Skipped counts entries left out: sockets on write; templates,
	// unsupported xattrs and text ACLs on import.
	Skipped int64
}

// Write streams a backup of src to w: the index first, then each
// snapshot's tree, then the instance's, read in place (no staging copy).
// Paths are opened relative to directory descriptors with O_NOFOLLOW, so a
// running container swapping a directory for a symlink cannot make the
// writer read outside its tree; mounts inside a tree are not entered.
func Write(ctx context.Context, w io.Writer, src Source) (Stats, error) {
	var st Stats
	comp := src.Compression
	if comp == "" {
		comp = DefaultCompression
	}
	if src.Index == nil || src.Index.Config == nil || src.Index.Config.Container == nil {
		return st, errors.New("backup: write: the index needs config.container")
	}
	ix := *src.Index
	cfg := *ix.Config
	ix.Config = &cfg
	if err := prepareIndex(&ix, src); err != nil {
		return st, err
	}
	if err := ix.Validate(); err != nil {
		return st, fmt.Errorf("backup: write: %w", err)
	}
	zw, err := NewCompressor(ctx, w, comp)
	if err != nil {
		return st, err
	}
	tw := tar.NewWriter(zw)
	bw := &treeWriter{ctx: ctx, tw: tw, m: src.Map, st: &st, progress: src.Progress, buf: make([]byte, 1<<20)}
	err = bw.writeAll(&ix, src)
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	return st, err
}

// prepareIndex makes the index say what the tarball holds.
func prepareIndex(ix *Index, src Source) error {
	f := false
	ix.Optimized, ix.OptimizedHeader = &f, &f
	ix.Type = "container"
	c := *ix.Config.Container
	c.Config = copyMap(c.Config)
	c.ExpandedConfig = copyMap(c.ExpandedConfig)
	c.Config[LastStateIdmapKey] = "[]"
	if c.ExpandedConfig != nil {
		c.ExpandedConfig[LastStateIdmapKey] = "[]"
	}
	// LXD's import looks for the root disk in devices or expanded_devices
	// and refuses a backup without one.
	if !hasRoot(c.Devices) && !hasRoot(c.ExpandedDevices) {
		devs := map[string]map[string]string{}
		for k, v := range c.ExpandedDevices {
			devs[k] = v
		}
		devs["root"] = map[string]string{"type": "disk", "path": "/", "pool": ix.Pool}
		c.ExpandedDevices = devs
	}
	ix.Config.Container = &c
	ix.Snapshots = nil
	if len(src.Snapshots) == 0 {
		ix.Config.Snapshots, ix.Config.VolumeSnapshots = nil, nil
		return nil
	}
	snaps := ix.Config.Snapshots
	ix.Config.Snapshots = nil
	vsnaps := map[string]*VolumeSnapshot{}
	for _, v := range ix.Config.VolumeSnapshots {
		if v != nil {
			vsnaps[v.Name] = v
		}
	}
	ix.Config.VolumeSnapshots = nil
	for _, s := range src.Snapshots {
		var sc *api.InstanceSnapshot
		for _, c := range snaps {
			if c != nil && c.Name == s.Name {
				cc := *c
				sc = &cc
			}
		}
		if sc == nil {
			return fmt.Errorf("backup: write: snapshot %q has no entry in config.snapshots", s.Name)
		}
		sc.Config = copyMap(sc.Config)
		sc.Config[LastStateIdmapKey] = "[]"
		ix.Snapshots = append(ix.Snapshots, s.Name)
		ix.Config.Snapshots = append(ix.Config.Snapshots, sc)
		vs := vsnaps[s.Name]
		if vs == nil {
			vs = &VolumeSnapshot{Name: s.Name, Config: map[string]string{}, ContentType: "filesystem", CreatedAt: sc.CreatedAt}
		}
		ix.Config.VolumeSnapshots = append(ix.Config.VolumeSnapshots, vs)
	}
	return nil
}

func hasRoot(devs map[string]map[string]string) bool {
	for _, d := range devs {
		if d["type"] == "disk" && d["path"] == "/" {
			return true
		}
	}
	return false
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

type treeWriter struct {
	ctx      context.Context
	tw       *tar.Writer
	m        idmap.Map
	st       *Stats
	progress func(int64)
	buf      []byte
	// links maps an inode with several names to the first name written
	// in this section.
	links map[[2]uint64]string
	now   time.Time
}

func (w *treeWriter) writeAll(ix *Index, src Source) error {
	w.now = time.Now()
	data, err := yaml.Marshal(ix)
	if err != nil {
		return err
	}
	if err := w.file("backup/index.yaml", data, 0o644); err != nil {
		return err
	}
	for _, s := range src.Snapshots {
		prefix := "backup/snapshots/" + s.Name
		if err := w.dir(prefix, 0o700); err != nil {
			return err
		}
		if err := w.tree(s.Rootfs, prefix+"/rootfs"); err != nil {
			return err
		}
	}
	if err := w.dir("backup/container", 0o700); err != nil {
		return err
	}
	data, err = yaml.Marshal(ix.Config)
	if err != nil {
		return err
	}
	if err := w.file("backup/container/backup.yaml", data, 0o400); err != nil {
		return err
	}
	if len(src.Metadata) > 0 {
		if err := w.file("backup/container/metadata.yaml", src.Metadata, 0o644); err != nil {
			return err
		}
	}
	return w.tree(src.Rootfs, "backup/container/rootfs")
}

func (w *treeWriter) file(name string, data []byte, mode int64) error {
	hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(data)), ModTime: w.now, Format: tar.FormatPAX}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := w.tw.Write(data)
	return err
}

func (w *treeWriter) dir(name string, mode int64) error {
	return w.tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: mode, ModTime: w.now, Format: tar.FormatPAX})
}

// tree writes the directory root as prefix and everything below it.
func (w *treeWriter) tree(root, prefix string) error {
	w.links = map[[2]uint64]string{}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("backup: open %s: %w", root, err)
	}
	defer unix.Close(fd)
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS|unix.STATX_MNT_ID, &stx); err != nil {
		return fmt.Errorf("backup: stat %s: %w", root, err)
	}
	if err := w.entry(fd, -1, "", prefix, &stx, root); err != nil {
		return err
	}
	return w.walk(fd, prefix, stx.Mnt_id, root)
}

// walk writes the entries of the open directory dfd, sorted by name.
func (w *treeWriter) walk(dfd int, prefix string, mnt uint64, hostPath string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	names, err := readNames(dfd)
	if err != nil {
		return fmt.Errorf("backup: read directory %s: %w", hostPath, err)
	}
	for _, n := range names {
		var stx unix.Statx_t
		err := unix.Statx(dfd, n, unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT, unix.STATX_BASIC_STATS|unix.STATX_MNT_ID, &stx)
		if errors.Is(err, unix.ENOENT) {
			continue // removed while the backup runs
		}
		if err != nil {
			return fmt.Errorf("backup: stat %s/%s: %w", hostPath, n, err)
		}
		name := prefix + "/" + n
		hp := hostPath + "/" + n
		if stx.Mode&unix.S_IFMT == unix.S_IFDIR {
			if stx.Mnt_id != mnt {
				// Something mounted inside the tree is not the instance's.
				w.st.Skipped++
				continue
			}
			cfd, err := unix.Openat(dfd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			if err != nil {
				return fmt.Errorf("backup: open %s: %w", hp, err)
			}
			err = w.entry(cfd, dfd, n, name, &stx, hp)
			if err == nil {
				err = w.walk(cfd, name, mnt, hp)
			}
			unix.Close(cfd)
			if err != nil {
				return err
			}
			continue
		}
		if err := w.entry(-1, dfd, n, name, &stx, hp); err != nil {
			return err
		}
	}
	return nil
}

func readNames(dfd int) ([]string, error) {
	nfd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(nfd), "dir")
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// entry writes one entry; fd is the entry itself when it is an open
// directory, else -1 (then it is reached as name in directory dfd).
func (w *treeWriter) entry(fd, dfd int, name, tarName string, stx *unix.Statx_t, hostPath string) error {
	mode := uint32(stx.Mode)
	hdr := &tar.Header{
		Name:     tarName,
		Mode:     int64(mode & 0o7777),
		Uid:      int(w.m.ContainerUID(int64(stx.Uid))),
		Gid:      int(w.m.ContainerGID(int64(stx.Gid))),
		ModTime:  time.Unix(stx.Mtime.Sec, int64(stx.Mtime.Nsec)),
		Format:   tar.FormatPAX,
		Typeflag: tar.TypeReg,
	}
	var file *os.File
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		target, err := readlinkat(dfd, name)
		if err != nil {
			return fmt.Errorf("backup: readlink %s: %w", hostPath, err)
		}
		hdr.Linkname = target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(stx.Rdev_major), int64(stx.Rdev_minor)
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	case unix.S_IFSOCK:
		w.st.Skipped++
		return nil
	case unix.S_IFREG:
		key := [2]uint64{uint64(stx.Dev_major)<<32 | uint64(stx.Dev_minor), stx.Ino}
		if stx.Nlink > 1 {
			if first, ok := w.links[key]; ok {
				hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
				break
			}
			w.links[key] = tarName
		}
		fd2, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("backup: open %s: %w", hostPath, err)
		}
		file = os.NewFile(uintptr(fd2), hostPath)
		defer file.Close()
		hdr.Size = int64(stx.Size)
	default:
		w.st.Skipped++
		return nil
	}
	if hdr.Typeflag != tar.TypeSymlink && hdr.Typeflag != tar.TypeLink {
		xfd := fd
		if file != nil {
			xfd = int(file.Fd())
		}
		x, err := w.xattrs(xfd, dfd, name)
		if err != nil {
			return fmt.Errorf("backup: xattrs of %s: %w", hostPath, err)
		}
		if len(x) > 0 {
			hdr.PAXRecords = x
		}
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("backup: %s: %w", hostPath, err)
	}
	w.st.Entries++
	if file == nil || hdr.Typeflag != tar.TypeReg {
		return nil
	}
	// Copy exactly the size announced: a file that grows or shrinks while
	// it is read is cut or padded with zeros, as LXD does.
	n, err := io.CopyBuffer(w.tw, &countingReader{r: io.LimitReader(file, hdr.Size), w: w}, w.buf)
	if err != nil {
		return fmt.Errorf("backup: read %s: %w", hostPath, err)
	}
	if n < hdr.Size {
		if _, err := io.CopyBuffer(w.tw, io.LimitReader(zeroReader{}, hdr.Size-n), w.buf); err != nil {
			return err
		}
	}
	return nil
}

type countingReader struct {
	r io.Reader
	w *treeWriter
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.w.st.Bytes += int64(n)
	if c.w.progress != nil && n > 0 {
		c.w.progress(c.w.st.Bytes)
	}
	return n, err
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func readlinkat(dfd int, name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(dfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, len(buf)*4)
	}
}

// xattrs returns an entry's extended attributes as PAX records, with the
// ids in file capabilities and POSIX ACLs unshifted to container ids.
// fd is the entry when open, else it is name in directory dfd (device
// nodes and FIFOs, read through /proc/self/fd without opening them).
func (w *treeWriter) xattrs(fd, dfd int, name string) (map[string]string, error) {
	var list func([]byte) (int, error)
	var get func(string, []byte) (int, error)
	if fd >= 0 {
		list = func(b []byte) (int, error) { return unix.Flistxattr(fd, b) }
		get = func(a string, b []byte) (int, error) { return unix.Fgetxattr(fd, a, b) }
	} else {
		p := "/proc/self/fd/" + strconv.Itoa(dfd) + "/" + name
		list = func(b []byte) (int, error) { return unix.Llistxattr(p, b) }
		get = func(a string, b []byte) (int, error) { return unix.Lgetxattr(p, a, b) }
	}
	names, err := readXattr(func(b []byte) (int, error) { return list(b) })
	if err != nil || len(names) == 0 {
		if errors.Is(err, unix.ENOTSUP) {
			err = nil
		}
		return nil, err
	}
	out := map[string]string{}
	for _, a := range bytes.Split(bytes.TrimRight(names, "\x00"), []byte{0}) {
		attr := string(a)
		v, err := readXattr(func(b []byte) (int, error) { return get(attr, b) })
		if errors.Is(err, unix.ENODATA) {
			continue
		}
		if err != nil {
			return nil, err
		}
		switch attr {
		case "security.capability":
			if nv, err := idmap.ShiftCaps(v, w.m, idmap.Privileged); err == nil {
				v = nv
			}
		case "system.posix_acl_access", "system.posix_acl_default":
			if nv, err := idmap.ShiftACL(v, w.m, idmap.Privileged); err == nil {
				v = nv
			}
		}
		out["SCHILY.xattr."+attr] = string(v)
	}
	return out, nil
}

func readXattr(call func([]byte) (int, error)) ([]byte, error) {
	buf := make([]byte, 1024)
	for {
		n, err := call(buf)
		if errors.Is(err, unix.ERANGE) {
			if len(buf) >= 1<<20 {
				return nil, err
			}
			buf = make([]byte, len(buf)*8)
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
