package daemon

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"lodge/api"
	"lodge/errdefs"
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
