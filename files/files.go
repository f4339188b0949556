// Package files reads and writes inside a container's root filesystem
// without ever leaving it: every path is resolved by the kernel with
// openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) below a directory fd of the
// container's root, and the last component is handled without following
// symlinks. A hostile container can plant symlinks anywhere; they resolve
// inside its root, as the container itself would see them.
package files

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"lodge/errdefs"

	"golang.org/x/sys/unix"
)

var (
	ErrNotFound = errdefs.New(errdefs.ErrNotFound, "no such file or directory")
	ErrInvalid  = errdefs.New(errdefs.ErrInvalid, "invalid request")
)

// invalidf is a refused request whose message stands on its own;
// errors.Is(err, ErrInvalid) holds.
func invalidf(format string, a ...any) error {
	return errdefs.Wrap(ErrInvalid, fmt.Errorf(format, a...))
}

// Root is an open container root.
type Root struct {
	fd int
}

// Open opens dir (a rootfs, or /proc/PID/root of a running container so its
// own mounts are seen) as a root.
func Open(dir string) (*Root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open container root: %w", err)
	}
	return &Root{fd: fd}, nil
}

// Close releases the root.
func (r *Root) Close() error { return unix.Close(r.fd) }

const resolve = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// split cleans p as an absolute path in the container and splits it into
// its parent directory and last component.
func split(p string) (dir, base string, err error) {
	if p == "" {
		return "", "", invalidf("empty path")
	}
	if strings.ContainsRune(p, 0) {
		return "", "", invalidf("path contains a NUL byte")
	}
	clean := path.Clean("/" + p)
	if clean == "/" {
		return "/", ".", nil
	}
	return path.Dir(clean), path.Base(clean), nil
}

func (r *Root) openat2(p string, flags uint64) (int, error) {
	fd, err := unix.Openat2(r.fd, p, &unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: resolve})
	if err != nil {
		return -1, wrap(p, err)
	}
	return fd, nil
}

func wrap(p string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%s: %w", p, ErrNotFound)
	case errors.Is(err, unix.ENOTDIR):
		return invalidf("%s: a path component is not a directory", p)
	case errors.Is(err, unix.ELOOP):
		return invalidf("%s: too many levels of symbolic links, or a /proc magic link", p)
	case errors.Is(err, unix.EXDEV):
		return invalidf("%s: path leaves the container", p)
	}
	return fmt.Errorf("%s: %w", p, err)
}

// parent opens the directory that holds p's last component.
func (r *Root) parent(p string) (int, string, error) {
	dir, base, err := split(p)
	if err != nil {
		return -1, "", err
	}
	fd, err := unix.Openat2(r.fd, dir, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolve})
	if err != nil {
		// Name the path asked for, not just its parent.
		return -1, "", wrap(path.Clean("/"+p), err)
	}
	return fd, base, nil
}

// Info describes one entry.
type Info struct {
	Type    string // file, directory, symlink, or other (fifo, device, socket)
	UID     int
	GID     int
	Mode    uint32 // permission bits
	Size    int64
	ModTime time.Time
	Target  string // symlink target
}

func infoOf(st *unix.Stat_t) Info {
	in := Info{UID: int(st.Uid), GID: int(st.Gid), Mode: st.Mode & 0o7777, Size: st.Size,
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec)}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		in.Type = "file"
	case unix.S_IFDIR:
		in.Type = "directory"
	case unix.S_IFLNK:
		in.Type = "symlink"
	default:
		in.Type = "other"
	}
	return in
}

// Lstat describes p without following a final symlink.
func (r *Root) Lstat(p string) (Info, error) {
	pfd, base, err := r.parent(p)
	if err != nil {
		return Info{}, err
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return Info{}, wrap(p, err)
	}
	in := infoOf(&st)
	if in.Type == "symlink" {
		buf := make([]byte, 4096)
		n, err := unix.Readlinkat(pfd, base, buf)
		if err != nil {
			return Info{}, wrap(p, err)
		}
		in.Target = string(buf[:n])
	}
	return in, nil
}

// OpenFile opens the regular file p for reading. A final symlink is not
// followed, and FIFOs and devices are refused rather than read (a read of a
// FIFO would hang).
func (r *Root) OpenFile(p string) (*os.File, Info, error) {
	pfd, base, err := r.parent(p)
	if err != nil {
		return nil, Info{}, err
	}
	defer unix.Close(pfd)
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, Info{}, wrap(p, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, Info{}, wrap(p, err)
	}
	in := infoOf(&st)
	if in.Type != "file" {
		unix.Close(fd)
		return nil, in, invalidf("%s is a %s, not a regular file", p, describe(st.Mode))
	}
	// Regular files ignore O_NONBLOCK, but clear it for plain blocking reads.
	_ = unix.SetNonblock(fd, false)
	return os.NewFile(uintptr(fd), p), in, nil
}

func describe(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFIFO:
		return "FIFO"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFLNK:
		return "symlink"
	}
	return "special file"
}

// ReadDir lists the names in directory p (which may be reached through
// symlinks inside the container).
func (r *Root) ReadDir(p string) ([]string, Info, error) {
	_, _, err := split(p)
	if err != nil {
		return nil, Info{}, err
	}
	fd, err := r.openat2(path.Clean("/"+p), unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, Info{}, err
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, Info{}, wrap(p, err)
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, Info{}, wrap(p, err)
	}
	return names, infoOf(&st), nil
}

// WriteOptions are the owner and mode of a written entry; a UID or GID of -1
// leaves the writer's, Mode 0 picks 0644 (files) or 0755 (directories).
type WriteOptions struct {
	UID, GID int
	Mode     uint32
	Append   bool
}

// WriteFile writes r to p. Unless appending, the data goes to a temporary
// file in the same directory that is renamed over p only when complete, so a
// transfer cut half-way leaves the old file in place; a symlink at p is
// replaced, never followed.
func (r *Root) WriteFile(p string, src io.Reader, opt WriteOptions) error {
	pfd, base, err := r.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if base == "." || base == "/" {
		return invalidf("%s is a directory", p)
	}
	mode := opt.Mode
	if mode == 0 {
		mode = 0o644
	}
	if opt.Append {
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, mode)
		if err != nil {
			return wrap(p, err)
		}
		f := os.NewFile(uintptr(fd), p)
		defer f.Close()
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			return invalidf("%s is not a regular file", p)
		}
		_ = unix.SetNonblock(fd, false)
		if _, err := io.Copy(f, src); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		return f.Close()
	}
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return invalidf("%s is a directory", p)
	}
	var tmp string
	var fd int
	for i := 0; ; i++ {
		tmp = ".lodge-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + base
		if len(tmp) > 255 {
			tmp = tmp[:255]
		}
		fd, err = unix.Openat(pfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == nil || !errors.Is(err, unix.EEXIST) || i > 10 {
			break
		}
	}
	if err != nil {
		return wrap(p, err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	ok := false
	defer func() {
		if !ok {
			f.Close()
			_ = unix.Unlinkat(pfd, tmp, 0)
		}
	}()
	// A 1 MiB buffer: the source is a network body, where os.File's
	// ReadFrom would fall back to 32 KiB copies.
	sr := &sourceReader{r: src}
	if _, err := io.CopyBuffer(struct{ io.Writer }{f}, sr, make([]byte, 1<<20)); err != nil {
		if sr.err != nil {
			return fmt.Errorf("%s: transfer cut: %w", p, err)
		}
		return fmt.Errorf("%s: writing in the instance: %w", p, err)
	}
	if err := owner(fd, opt); err != nil {
		return wrap(p, err)
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return wrap(p, err)
	}
	if err := f.Close(); err != nil {
		return wrap(p, err)
	}
	if err := unix.Renameat(pfd, tmp, pfd, base); err != nil {
		return wrap(p, err)
	}
	ok = true
	return nil
}

// owner applies opt's owner; -1 leaves an id as created (the writer's).
func owner(fd int, opt WriteOptions) error {
	if opt.UID < 0 && opt.GID < 0 {
		return nil
	}
	return unix.Fchown(fd, opt.UID, opt.GID)
}

// Mkdir creates directory p; an existing directory only gets owner and mode.
func (r *Root) Mkdir(p string, opt WriteOptions) error {
	pfd, base, err := r.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	mode := opt.Mode
	if mode == 0 {
		mode = 0o755
	}
	if base != "." {
		if err := unix.Mkdirat(pfd, base, mode); err != nil && !errors.Is(err, unix.EEXIST) {
			return wrap(p, err)
		}
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			return invalidf("%s exists and is not a directory", p)
		}
		return wrap(p, err)
	}
	defer unix.Close(fd)
	if err := owner(fd, opt); err != nil {
		return wrap(p, err)
	}
	return wrap2(p, unix.Fchmod(fd, mode))
}

func wrap2(p string, err error) error {
	if err == nil {
		return nil
	}
	return wrap(p, err)
}

// MkdirAll creates p and its missing parents with opt.
func (r *Root) MkdirAll(p string, opt WriteOptions) error {
	clean := path.Clean("/" + p)
	cur := ""
	for _, part := range strings.Split(clean, "/")[1:] {
		if part == "" {
			continue
		}
		cur += "/" + part
		if in, err := r.lstatFollow(cur); err == nil && in.Type == "directory" {
			continue
		}
		if err := r.Mkdir(cur, opt); err != nil {
			return err
		}
	}
	return nil
}

// lstatFollow stats p following symlinks inside the root.
func (r *Root) lstatFollow(p string) (Info, error) {
	fd, err := r.openat2(p, unix.O_PATH)
	if err != nil {
		return Info{}, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return Info{}, wrap(p, err)
	}
	return infoOf(&st), nil
}

// Symlink creates p pointing at target (stored as given: it resolves inside
// the container when the container follows it).
func (r *Root) Symlink(p, target string, opt WriteOptions) error {
	pfd, base, err := r.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if target == "" || strings.ContainsRune(target, 0) {
		return invalidf("symlink %s needs a target", p)
	}
	_ = unix.Unlinkat(pfd, base, 0)
	if err := unix.Symlinkat(target, pfd, base); err != nil {
		return wrap(p, err)
	}
	if opt.UID < 0 && opt.GID < 0 {
		return nil
	}
	return wrap2(p, unix.Fchownat(pfd, base, opt.UID, opt.GID, unix.AT_SYMLINK_NOFOLLOW))
}

// Remove deletes p: a file, symlink or empty directory.
func (r *Root) Remove(p string) error {
	pfd, base, err := r.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if base == "." {
		return invalidf("refusing to remove the container's root")
	}
	err = unix.Unlinkat(pfd, base, 0)
	if errors.Is(err, unix.EISDIR) {
		err = unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR)
		if errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
			return invalidf("%s is a directory that is not empty", p)
		}
	}
	return wrap2(p, err)
}

// sourceReader remembers a read error, so a failed copy can say whether the
// sender went away or the write failed (a full disk).
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}
