package daemon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"lodge/api"
	"lodge/errdefs"
	"lodge/files"
	"lodge/idmap"
	"lodge/instances"
)

// execEnv builds the process environment as LXD does: defaults, then the
// instance's environment.* config, then the request's variables.
func execEnv(rootfs string, cfg map[string]string, req api.InstanceExecPost) map[string]string {
	env := map[string]string{
		"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG": "C.UTF-8",
		"HOME": "/root",
		"USER": "root",
	}
	if req.User != 0 {
		env["HOME"], env["USER"] = "/", ""
		if name, home, ok := lookupPasswd(rootfs, req.User); ok {
			env["HOME"], env["USER"] = home, name
		}
		if env["USER"] == "" {
			delete(env, "USER")
		}
	}
	if req.Interactive {
		env["TERM"] = "xterm"
	}
	for k, v := range cfg {
		if name, ok := strings.CutPrefix(k, "environment."); ok {
			env[name] = v
		}
	}
	for k, v := range req.Environment {
		env[k] = v
	}
	return env
}

// lookupPasswd reads the container's /etc/passwd from its rootfs (host side,
// never following symlinks out of it: the file is opened relative to rootfs).
func lookupPasswd(rootfs string, uid uint32) (name, home string, ok bool) {
	p := filepath.Join(rootfs, "etc", "passwd")
	if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
		return "", "", false
	}
	f, err := os.Open(p)
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	want := strconv.FormatUint(uint64(uid), 10)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), ":")
		if len(parts) >= 6 && parts[2] == want {
			return parts[0], parts[5], true
		}
	}
	return "", "", false
}

// commandMissing reports whether cmd cannot be found in the container,
// resolving paths inside its root (symlinks included) with openat2.
func (d *Daemon) commandMissing(ctx context.Context, name, cmd, path string) bool {
	st, err := d.inst.State(ctx, name)
	if err != nil || st.PID <= 0 {
		return false
	}
	root, err := unix.Open(fmt.Sprintf("/proc/%d/root", st.PID), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(root)
	var candidates []string
	switch {
	case strings.HasPrefix(cmd, "/"):
		candidates = []string{cmd}
	case strings.Contains(cmd, "/"):
		return false // relative to the cwd: not worth guessing
	default:
		for _, dir := range strings.Split(path, ":") {
			if strings.HasPrefix(dir, "/") {
				candidates = append(candidates, filepath.Join(dir, cmd))
			}
		}
	}
	for _, c := range candidates {
		fd, err := unix.Openat2(root, c, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
		if err == nil {
			unix.Close(fd)
			return false
		}
	}
	return true
}

// openPTY allocates the exec's terminal inside the container, so the
// process sees a /dev/pts/N of its own.
func (d *Daemon) openPTY(ctx context.Context, name string, uid, gid uint32) (*os.File, *os.File, error) {
	// The slave is owned by the exec's user as the host sees it.
	m := d.fileIDMap(ctx, name)
	return d.inst.OpenPTY(ctx, name, uint32(m.HostUID(int64(uid))), uint32(m.HostGID(int64(gid))))
}

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

// PrepareExec checks an exec request against the instance (it must run)
// and returns the process environment: LXD's defaults, the instance's
// environment.* config, then the request's variables.
func (d *Daemon) PrepareExec(ctx context.Context, name string, req api.InstanceExecPost) (map[string]string, error) {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(req.Command) == 0 || req.Command[0] == "" {
		return nil, errdefs.Invalidf("exec: no command given")
	}
	if req.RecordOutput {
		return nil, errdefs.Invalidf("exec: record-output is not supported; use wait-for-websocket")
	}
	if req.Cwd != "" && !strings.HasPrefix(req.Cwd, "/") {
		return nil, errdefs.Invalidf("exec: cwd %q must be an absolute path", req.Cwd)
	}
	if st := d.liveStatus(ctx, in); st != instances.StatusRunning {
		return nil, errdefs.Invalidf("instance %q is not running (%s); start it first with lodge start %s", name, strings.ToLower(string(st)), name)
	}
	return execEnv(d.rootfsPath(in), d.mustExpand(ctx, in).Config, req), nil
}

// Exec starts a process in a running instance; its stdio are spec's files.
func (d *Daemon) Exec(ctx context.Context, name string, spec instances.ExecSpec) (instances.Process, error) {
	proc, err := d.inst.Exec(ctx, name, spec)
	if err != nil {
		return nil, err
	}
	d.events.lifecycle("instance-exec", InstanceURL(name), map[string]any{"command": spec.Argv})
	return proc, nil
}

// OpenPTY allocates an exec's terminal inside the container, so the
// process sees a /dev/pts/N of its own, owned by the exec's user (uid and
// gid as the container sees them).
func (d *Daemon) OpenPTY(ctx context.Context, name string, uid, gid uint32) (*os.File, *os.File, error) {
	return d.openPTY(ctx, name, uid, gid)
}

// CommandMissing reports whether cmd cannot be found in the container
// (so that an exit status of 127 can be explained).
func (d *Daemon) CommandMissing(ctx context.Context, name, cmd, path string) bool {
	return d.commandMissing(ctx, name, cmd, path)
}

// PrepareConsole checks a console request: a text console of a running instance.
func (d *Daemon) PrepareConsole(ctx context.Context, name string, req api.InstanceConsolePost) error {
	in, err := d.getInstance(ctx, name)
	if err != nil {
		return err
	}
	if req.Type != "" && req.Type != "console" {
		return errdefs.Invalidf("console type %q: containers only have a text console", req.Type)
	}
	if st := d.liveStatus(ctx, in); st != instances.StatusRunning {
		return errdefs.Invalidf("instance %q is not running; its console log is at lodge console %s --show-log", name, name)
	}
	return nil
}

// AttachConsole connects tty (the slave of a pty the caller owns) to the
// instance's /dev/console until the process returned is signalled.
func (d *Daemon) AttachConsole(ctx context.Context, name string, tty *os.File) (instances.Process, error) {
	return d.inst.Console(ctx, name, tty)
}

// OpenRoot opens an instance's root as the container sees it (files API).
func (d *Daemon) OpenRoot(ctx context.Context, name string) (*files.Root, error) {
	return d.openRoot(ctx, name)
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
