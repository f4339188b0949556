package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"lodge/errdefs"
	"lodge/files"
	"lodge/idmap"
	"lodge/instances"
)

// openRoot opens the instance's root as the container sees it: through
// /proc/PID/root while it runs (its own mounts included), else its rootfs.
func (d *Daemon) openRoot(ctx context.Context, name string) (*files.Root, error) {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return nil, err
	}
	st := d.liveStatus(ctx, in)
	if st == instances.StatusRunning || st == instances.StatusFrozen {
		full, err := d.inst.State(ctx, name)
		if err == nil && full.PID > 0 {
			if r, err := files.Open(fmt.Sprintf("/proc/%d/root", full.PID)); err == nil {
				return r, nil
			}
		}
	}
	rootfs, err := d.instanceRootfs(ctx, in)
	if err != nil {
		return nil, err
	}
	return files.Open(rootfs)
}

// ShiftNewFiles gives the files made under root since then by a session
// that ran as host root (sftp), which carry raw container ids, the
// instance's shifted ids.
func (d *Daemon) ShiftNewFiles(ctx context.Context, name, root string, since time.Time) error {
	if m := d.fileIDMap(ctx, name); !m.IsIdentity() {
		return idmap.FixUnshifted(root, m, since)
	}
	return nil
}

// RootPath is where an instance's root is on the host, for a session
// that serves files from it: /proc/PID/root while it runs (its own mounts
// included), else its mounted rootfs.
func (d *Daemon) RootPath(ctx context.Context, name string) (string, error) {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return "", err
	}
	if st := d.liveStatus(ctx, in); st == instances.StatusRunning || st == instances.StatusFrozen {
		if full, err := d.inst.State(ctx, name); err == nil && full.PID > 0 {
			return fmt.Sprintf("/proc/%d/root", full.PID), nil
		}
		return d.rootfsPath(in), nil
	}
	return d.instanceRootfs(ctx, in)
}

// File is what is at a path in an instance: its metadata (owners as the
// container sees them), a directory's entries, or a regular file open
// for reading (the caller closes it).
type File struct {
	files.Info
	Names   []string
	Content *os.File
}

// ReadFile reads what is at path in an instance, never following a
// symlink out of its root.
func (d *Daemon) ReadFile(ctx context.Context, name, path string) (File, error) {
	root, err := d.openRoot(ctx, name)
	if err != nil {
		return File{}, err
	}
	defer root.Close()
	m := d.fileIDMap(ctx, name)
	var f File
	if f.Info, err = root.Lstat(path); err != nil {
		return File{}, fmt.Errorf("instance %q: %w", name, err)
	}
	switch f.Type {
	case "directory":
		f.Names, f.Info, err = root.ReadDir(path)
	case "symlink":
	default:
		f.Content, f.Info, err = root.OpenFile(path)
	}
	if err != nil {
		return File{}, fmt.Errorf("instance %q: %w", name, err)
	}
	// Owners as the container sees them.
	f.UID, f.GID = int(m.ContainerUID(int64(f.UID))), int(m.ContainerGID(int64(f.GID)))
	return f, nil
}

// FileWrite is a file, directory or symlink to make in an instance: a
// file's content comes from Body, a symlink's target is Target; owners are
// container ids (-1: its root).
type FileWrite struct {
	Type   string // file (or ""), directory, symlink
	Body   io.Reader
	Target string
	files.WriteOptions
}

// WriteFile makes a file, directory or symlink at path in an instance.
func (d *Daemon) WriteFile(ctx context.Context, name, path string, fw FileWrite) error {
	root, err := d.openRoot(ctx, name)
	if err != nil {
		return err
	}
	defer root.Close()
	// Owners are container ids (default: its root), stored shifted.
	opt := fw.WriteOptions
	if m := d.fileIDMap(ctx, name); !m.IsIdentity() {
		opt.UID = int(m.HostUID(int64(max(opt.UID, 0))))
		opt.GID = int(m.HostGID(int64(max(opt.GID, 0))))
	}
	switch fw.Type {
	case "", "file":
		err = root.WriteFile(path, fw.Body, opt)
	case "directory":
		err = root.Mkdir(path, opt)
	case "symlink":
		err = root.Symlink(path, fw.Target, opt)
	default:
		return errdefs.Invalidf("X-LXD-type %q: use file, directory or symlink", fw.Type)
	}
	if err != nil {
		return fmt.Errorf("instance %q: %w", name, err)
	}
	return nil
}

// RemoveFile removes a file, a symlink or an empty directory in an instance.
func (d *Daemon) RemoveFile(ctx context.Context, name, path string) error {
	root, err := d.openRoot(ctx, name)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.Remove(path); err != nil {
		return fmt.Errorf("instance %q: %w", name, err)
	}
	return nil
}
