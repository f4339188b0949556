package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"lodge/idmap"
)

// Optimized backups of btrfs pools carry btrfs send streams instead of
// file trees: backup/optimized_header.yaml, then backup/snapshots/NAME.bin
// (the first whole, each next one relative to the one before) and
// backup/container.bin (relative to the last snapshot), as LXD 5.0 writes
// them. The streams hold the ids as they are on disk, which the index
// records in volatile.last_state.idmap.

// OptimizedHeader is backup/optimized_header.yaml (LXD's
// BTRFSMetaDataHeader): the subvolumes of each volume.
type OptimizedHeader struct {
	Subvolumes []OptimizedSubvolume `yaml:"subvolumes"`
}

// OptimizedSubvolume is one subvolume; Path "/" is the volume itself.
type OptimizedSubvolume struct {
	Path     string `yaml:"path"`
	Snapshot string `yaml:"snapshot"`
	Readonly bool   `yaml:"readonly"`
	UUID     string `yaml:"uuid"`
}

// OptimizedSection is one subvolume to send.
type OptimizedSection struct {
	// Name is the snapshot's name ("" for the instance).
	Name string
	// Subvolume is the volume's subvolume (the directory holding rootfs/);
	// snapshots' must be read-only.
	Subvolume string
}

// OptimizedSource is what WriteOptimized puts in a tarball.
type OptimizedSource struct {
	Index *Index
	// Volume is the instance's subvolume; a read-only snapshot of it is
	// sent, so it may be in use.
	Volume string
	// Snapshots are the snapshots' subvolumes, oldest first.
	Snapshots []OptimizedSection
	// Map is how the subvolumes are owned on disk (recorded in the index).
	Map idmap.Map
	// TempDir is a directory on the same btrfs filesystem for the
	// read-only snapshot and the spooled streams (a tar entry needs its
	// size before its data).
	TempDir     string
	Compression string
}

func btrfs(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "btrfs", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

func runBtrfs(ctx context.Context, args ...string) error {
	out, err := btrfs(ctx, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("btrfs %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// WriteOptimized streams an optimized backup of btrfs subvolumes to w.
func WriteOptimized(ctx context.Context, w io.Writer, src OptimizedSource) (Stats, error) {
	var st Stats
	comp := src.Compression
	if comp == "" {
		comp = DefaultCompression
	}
	if src.Index == nil || src.Index.Config == nil || src.Index.Config.Container == nil {
		return st, errors.New("backup: write: the index needs config.container")
	}
	plain := Source{Index: src.Index}
	for _, s := range src.Snapshots {
		plain.Snapshots = append(plain.Snapshots, Section{Name: s.Name})
	}
	ix := *src.Index
	cfg := *ix.Config
	ix.Config = &cfg
	if err := prepareIndex(&ix, plain); err != nil {
		return st, err
	}
	t := true
	ix.Optimized, ix.OptimizedHeader, ix.Backend = &t, &t, "btrfs"
	disk := DiskMapOf(src.Map)
	ix.Config.Container.Config[LastStateIdmapKey] = disk
	if ix.Config.Container.ExpandedConfig != nil {
		ix.Config.Container.ExpandedConfig[LastStateIdmapKey] = disk
	}
	for _, s := range ix.Config.Snapshots {
		s.Config[LastStateIdmapKey] = disk
	}
	if err := ix.Validate(); err != nil {
		return st, fmt.Errorf("backup: write: %w", err)
	}
	work, err := os.MkdirTemp(src.TempDir, ".backup-")
	if err != nil {
		return st, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(work)
	// The instance as it is now, read-only (send needs it so).
	// LXD reads an optimized backup's config from backup.yaml inside the
	// volume, so the snapshot sent carries one that says what the index
	// says; it is made read-only after.
	ro := filepath.Join(work, "container")
	if err := runBtrfs(ctx, "subvolume", "snapshot", src.Volume, ro); err != nil {
		return st, fmt.Errorf("backup: %w", err)
	}
	defer runBtrfs(context.Background(), "subvolume", "delete", ro)
	by, err := yaml.Marshal(ix.Config)
	if err != nil {
		return st, err
	}
	os.Remove(filepath.Join(ro, "backup.yaml"))
	if err := os.WriteFile(filepath.Join(ro, "backup.yaml"), by, 0o400); err != nil {
		return st, fmt.Errorf("backup: %w", err)
	}
	if err := runBtrfs(ctx, "property", "set", "-ts", ro, "ro", "true"); err != nil {
		return st, fmt.Errorf("backup: %w", err)
	}
	var header OptimizedHeader
	type stream struct{ name, file string }
	var streams []stream
	parent := ""
	send := func(name, subvol, file string) error {
		f, err := os.Create(file)
		if err != nil {
			return err
		}
		defer f.Close()
		args := []string{"send", "-q"}
		if parent != "" {
			args = append(args, "-p", parent)
		}
		cmd := btrfs(ctx, append(args, subvol)...)
		cmd.Stdout = f
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("backup: btrfs send %s: %v: %s", subvol, err, strings.TrimSpace(stderr.String()))
		}
		parent = subvol
		streams = append(streams, stream{name, file})
		return nil
	}
	for i, s := range src.Snapshots {
		header.Subvolumes = append(header.Subvolumes, OptimizedSubvolume{Path: "/", Snapshot: s.Name, Readonly: true})
		if err := send("backup/snapshots/"+s.Name+".bin", s.Subvolume, filepath.Join(work, fmt.Sprintf("s%d.bin", i))); err != nil {
			return st, err
		}
	}
	header.Subvolumes = append(header.Subvolumes, OptimizedSubvolume{Path: "/"})
	if err := send("backup/container.bin", ro, filepath.Join(work, "container.bin")); err != nil {
		return st, err
	}
	zw, err := NewCompressor(ctx, w, comp)
	if err != nil {
		return st, err
	}
	tw := tar.NewWriter(zw)
	bw := &treeWriter{ctx: ctx, tw: tw, st: &st, now: time.Now(), buf: make([]byte, 1<<20)}
	err = func() error {
		data, err := yaml.Marshal(&ix)
		if err != nil {
			return err
		}
		if err := bw.file("backup/index.yaml", data, 0o644); err != nil {
			return err
		}
		data, err = yaml.Marshal(&header)
		if err != nil {
			return err
		}
		if err := bw.file("backup/optimized_header.yaml", data, 0o644); err != nil {
			return err
		}
		for _, s := range streams {
			f, err := os.Open(s.file)
			if err != nil {
				return err
			}
			fi, _ := f.Stat()
			hdr := &tar.Header{Name: s.name, Typeflag: tar.TypeReg, Mode: 0o600, Size: fi.Size(), ModTime: bw.now, Format: tar.FormatPAX}
			err = tw.WriteHeader(hdr)
			if err == nil {
				var n int64
				n, err = io.CopyBuffer(tw, f, bw.buf)
				st.Bytes += n
				st.Entries++
			}
			f.Close()
			if err != nil {
				return err
			}
		}
		return nil
	}()
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	return st, err
}

// OptimizedTarget receives an optimized backup's subvolumes.
type OptimizedTarget interface {
	// ReceiveDir is an empty directory on the target pool's btrfs
	// filesystem, below which streams are received; the caller removes
	// it (and the subvolumes left in it) afterwards.
	ReceiveDir() (string, error)
	// Received hands over section snap's volume ("" is the instance): a
	// subvolume (read-only for a snapshot, writable for the instance)
	// whose owners are in the new instance's map, for the caller to
	// move into place.
	Received(snap, subvol string) error
}

// ExtractOptimized receives an optimized backup's streams with btrfs
// receive (confined with --chroot), then checks and fixes each volume as
// Extract does for tarballs: owners mapped from the recorded disk map to
// the new instance's, device nodes beyond the harmless ones refused,
// xattrs other than user.*, capabilities and ACLs removed.
func (r *Reader) ExtractOptimized(t OptimizedTarget, opt Options) (Stats, error) {
	var st Stats
	ix := r.Index
	if !ix.IsOptimized() {
		return st, invalidf("not an optimized backup: use Extract")
	}
	dir, err := t.ReceiveDir()
	if err != nil {
		return st, err
	}
	recv, out := filepath.Join(dir, "recv"), filepath.Join(dir, "out")
	for _, d := range []string{recv, out} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return st, fmt.Errorf("backup: %w", err)
		}
	}
	order := append(append([]string{}, ix.Snapshots...), "")
	pos := 0
	for {
		if err := r.ctx.Err(); err != nil {
			return st, err
		}
		hdr, err := r.tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, invalidf("read tarball: %v", err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return st, err
		}
		snap, isSnap, kind, _, ok := classify(name)
		switch {
		case !ok:
			return st, invalidf("unexpected entry %q: not part of LXD's backup layout", hdr.Name)
		case kind == kindTop:
			continue
		case kind == kindOptHeader:
			if hdr.Size > maxIndexSize {
				return st, invalidf("%s is %d bytes; the limit is %d", hdr.Name, hdr.Size, maxIndexSize)
			}
			b, err := io.ReadAll(r.tr)
			if err != nil {
				return st, invalidf("read %s: %v", hdr.Name, err)
			}
			var h OptimizedHeader
			if err := yaml.Unmarshal(b, &h); err != nil {
				return st, invalidf("%s: %v", hdr.Name, err)
			}
			for _, sv := range h.Subvolumes {
				if sv.Path != "/" {
					return st, invalidf("%s: nested subvolume %q (in %s); lodge restores a volume's own subvolume only", hdr.Name, sv.Path, sectionName(sv.Snapshot))
				}
			}
			r.OptimizedHeader = b
			continue
		case kind != kindBin:
			return st, invalidf("entry %q in an optimized backup, which holds only btrfs streams", hdr.Name)
		}
		if hdr.Typeflag != tar.TypeReg {
			return st, invalidf("entry %q must be a regular file", hdr.Name)
		}
		want := ""
		if isSnap {
			want = snap
		}
		if pos >= len(order) || order[pos] != want {
			next := "nothing more"
			if pos < len(order) {
				next = sectionName(order[pos])
			}
			return st, invalidf("entry %q is out of order: backup/index.yaml lists %v, expecting %s", hdr.Name, ix.Snapshots, next)
		}
		var sfs unix.Statfs_t
		if err := unix.Statfs(dir, &sfs); err == nil {
			free := int64(sfs.Bavail) * sfs.Bsize
			if opt.MaxBytes > 0 && opt.MaxBytes < free {
				free = opt.MaxBytes
			}
			if hdr.Size > free {
				return st, fmt.Errorf("backup: entry %s is %d bytes, more than the %d bytes left on the target: %w", hdr.Name, hdr.Size, free, errTooBig)
			}
		}
		sub, err := receive(r.ctx, recv, r.tr)
		if err != nil {
			return st, fmt.Errorf("backup: %s: %w", hdr.Name, err)
		}
		st.Bytes += hdr.Size
		vol := filepath.Join(out, fmt.Sprintf("%d", pos))
		if err := runBtrfs(r.ctx, "subvolume", "snapshot", sub, vol); err != nil {
			return st, fmt.Errorf("backup: %w", err)
		}
		if err := r.volumeFiles(vol, want); err != nil {
			return st, err
		}
		disk, err := r.diskMapOf(want)
		if err != nil {
			return st, err
		}
		n, err := sanitize(vol, sectionName(want), disk, opt.Map, &st)
		st.Entries += n
		if err != nil {
			return st, err
		}
		if want != "" {
			if err := runBtrfs(r.ctx, "property", "set", "-ts", vol, "ro", "true"); err != nil {
				return st, fmt.Errorf("backup: %w", err)
			}
		}
		if err := t.Received(want, vol); err != nil {
			return st, err
		}
		pos++
	}
	if pos != len(order) {
		return st, invalidf("the tarball has no stream for %s, which backup/index.yaml lists", sectionName(order[pos]))
	}
	return st, nil
}

// volumeFiles checks what a received volume holds beside rootfs/: LXD's
// backup.yaml (which must agree with the index, which lodge builds the
// instance from), metadata.yaml (kept as Metadata) and templates/; they
// are removed, as lodge's volumes hold the rootfs only.
func (r *Reader) volumeFiles(vol, snap string) error {
	ents, err := os.ReadDir(vol)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	sawRootfs := false
	for _, e := range ents {
		p := filepath.Join(vol, e.Name())
		switch e.Name() {
		case "rootfs":
			if !e.IsDir() {
				return invalidf("%s: rootfs is not a directory", sectionName(snap))
			}
			sawRootfs = true
			continue
		case "backup.yaml", "metadata.yaml":
			if !e.Type().IsRegular() {
				return invalidf("%s: %s is not a regular file", sectionName(snap), e.Name())
			}
			b, err := readLimited(p, maxIndexSize)
			if err != nil {
				return invalidf("%s/%s: %v", sectionName(snap), e.Name(), err)
			}
			if snap == "" && e.Name() == "backup.yaml" {
				var other Config
				if err := yaml.Unmarshal(b, &other); err != nil {
					return invalidf("%s/backup.yaml: %v", sectionName(snap), err)
				}
				if err := r.Index.agrees(&other); err != nil {
					return err
				}
			}
			if snap == "" && e.Name() == "metadata.yaml" && len(b) <= maxMetadataSize {
				r.Metadata = b
			}
		case "templates":
		default:
			return invalidf("%s: unexpected %q beside rootfs/ in the received volume", sectionName(snap), e.Name())
		}
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	if !sawRootfs {
		return invalidf("%s: the received volume has no rootfs/", sectionName(snap))
	}
	return nil
}

func readLimited(p string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("larger than %d bytes", limit)
	}
	return b, err
}

func (r *Reader) diskMapOf(snap string) (DiskMap, error) {
	v := r.Index.Config.Container.Config[LastStateIdmapKey]
	if snap != "" {
		if sc := r.Index.SnapshotConfig(snap); sc != nil {
			if sv, ok := sc.Config[LastStateIdmapKey]; ok {
				v = sv
			}
		}
	}
	return ParseDiskMap(v)
}

// receive runs btrfs receive on one stream into dir and returns the one
// subvolume it made.
func receive(ctx context.Context, dir string, stream io.Reader) (string, error) {
	before, _ := os.ReadDir(dir)
	seen := map[string]bool{}
	for _, e := range before {
		seen[e.Name()] = true
	}
	cmd := btrfs(ctx, "receive", "-e", "--chroot", dir)
	cmd.Stdin = stream
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", invalidf("btrfs receive: %v: %s", err, strings.TrimSpace(out.String()))
	}
	// Whatever remains of the stream (padding) is drained by the tar reader.
	after, _ := os.ReadDir(dir)
	var made []string
	for _, e := range after {
		if !seen[e.Name()] {
			made = append(made, e.Name())
		}
	}
	if len(made) != 1 {
		return "", invalidf("btrfs receive made %d subvolumes (%v); a volume's stream makes one", len(made), made)
	}
	return filepath.Join(dir, made[0]), nil
}

// sanitize brings a received volume in line with what Extract writes.
func sanitize(vol, sect string, disk DiskMap, m idmap.Map, st *Stats) (int64, error) {
	s := &section{name: sect, disk: disk, m: m}
	var n int64
	var rootDev uint64
	// A hard-linked inode is met once per name but fixed once.
	seen := map[uint64]bool{}
	err := filepath.WalkDir(vol, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var sb unix.Stat_t
		if err := unix.Lstat(p, &sb); err != nil {
			return err
		}
		if p == vol {
			rootDev = sb.Dev
		} else if sb.Dev != rootDev {
			return invalidf("%s: a nested subvolume at %s; lodge restores a volume's own subvolume only", sect, strings.TrimPrefix(p, vol))
		}
		rel := strings.TrimPrefix(p, vol)
		typ := sb.Mode & unix.S_IFMT
		if typ == unix.S_IFBLK || typ == unix.S_IFCHR && !devices[[2]int64{int64(unix.Major(sb.Rdev)), int64(unix.Minor(sb.Rdev))}] {
			kind := "character"
			if typ == unix.S_IFBLK {
				kind = "block"
			}
			return invalidf("%s%s: %s device %d:%d; an import may only hold null, zero, full, random, urandom, tty, console and ptmx", sect, rel, kind, unix.Major(sb.Rdev), unix.Minor(sb.Rdev))
		}
		n++
		if sb.Nlink > 1 && typ != unix.S_IFDIR {
			if seen[sb.Ino] {
				return nil
			}
			seen[sb.Ino] = true
		}
		isLink := typ == unix.S_IFLNK
		// Extended attributes: keep what Extract keeps, mapped.
		hdr := &tar.Header{Name: sect + rel, PAXRecords: map[string]string{}}
		if !isLink {
			names, _ := readXattr(func(b []byte) (int, error) { return unix.Llistxattr(p, b) })
			for _, a := range bytes.Split(bytes.TrimRight(names, "\x00"), []byte{0}) {
				if len(a) == 0 {
					continue
				}
				v, err := readXattr(func(b []byte) (int, error) { return unix.Lgetxattr(p, string(a), b) })
				if err != nil {
					continue
				}
				hdr.PAXRecords["SCHILY.xattr."+string(a)] = string(v)
				if err := unix.Lremovexattr(p, string(a)); err != nil && !errors.Is(err, unix.ENODATA) {
					return fmt.Errorf("backup: %s%s: remove %s: %w", sect, rel, a, err)
				}
			}
		}
		uid := int(m.HostUID(disk.ContainerUID(int64(sb.Uid))))
		gid := int(m.HostGID(disk.ContainerGID(int64(sb.Gid))))
		if err := unix.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("backup: %s%s: %w", sect, rel, err)
		}
		if isLink {
			return nil
		}
		if sb.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
			if err := unix.Chmod(p, sb.Mode&0o7777); err != nil {
				return err
			}
		}
		return s.setXattrsPath(p, hdr, st)
	})
	return n, err
}
