//go:build linux && cgo

// Package lxc runs lodge's containers with liblxc through go-lxc. It is the
// only package that imports go-lxc.
package lxc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	golxc "github.com/lxc/go-lxc"

	"lodge/instances"
	"lodge/trace"
)

// Driver implements instances.Driver on one liblxc lxcpath.
type Driver struct {
	lxcpath string
	log     *slog.Logger
	// Helper is the binary re-executed for forkstart and forkexecd
	// (lodged itself; tests point it at their own test binary).
	Helper string
	// LXCFS is where lodged's lxcfs is mounted ("" for none); containers
	// get its /proc files bind-mounted. StartLXCFS sets it.
	LXCFS string
	// lxcfsUp is closed once the lxcfs StartLXCFS began is up or failed
	// (nil when none was started): Define waits for it.
	lxcfsUp chan struct{}
	// StopHook, if set, is the command liblxc runs after a container
	// stops, followed by the container's name (and liblxc's own: name,
	// section, hook type); LXC_TARGET says stop or reboot.
	StopHook []string

	mc metricsCache

	// live lets a list skip liblxc for running containers (fastate.go).
	live liveCache

	// ownSysfs: containers start from a mount namespace with a sysfs of
	// lodged's network namespace, which the mounted /sys is not (sysfs.go).
	ownSysfs bool

	// zyg forks the helper of each exec (zygote.go), made on first use.
	zygOnce sync.Once
	zyg     *zygote
}

// New returns a driver whose containers live in lxcpath.
func New(lxcpath string, log *slog.Logger) (*Driver, error) {
	if err := os.MkdirAll(lxcpath, 0o711); err != nil {
		return nil, fmt.Errorf("lxcpath %s: %w", lxcpath, err)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	d := &Driver{lxcpath: lxcpath, log: log, Helper: self}
	if need, why := needOwnSysfs(); need {
		d.ownSysfs = true
		log.Info("lodged runs in a network namespace that /sys does not show; containers start from a mount namespace with a sysfs of its own", "difference", why)
	}
	return d, nil
}

// Version is liblxc's version.
func Version() string { return golxc.Version() }

func (d *Driver) dir(name string) string        { return filepath.Join(d.lxcpath, name) }
func (d *Driver) configPath(name string) string { return filepath.Join(d.lxcpath, name, "config") }

func (d *Driver) defined(name string) bool {
	_, err := os.Stat(d.configPath(name))
	return err == nil
}

// container loads a go-lxc handle; callers must Release it.
func (d *Driver) container(name string) (*golxc.Container, error) {
	if !d.defined(name) {
		return nil, fmt.Errorf("container %q: %w", name, instances.ErrNotFound)
	}
	c, err := golxc.NewContainer(name, d.lxcpath)
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", name, err)
	}
	return c, nil
}

// Define implements instances.Driver. The config is checked by liblxc's own
// parser before it replaces the previous one.
func (d *Driver) Define(ctx context.Context, spec instances.Spec) error {
	defer trace.Step(ctx, "liblxc: write and check the config")()
	// A CPU count becomes a set balanced against the running containers.
	spec.Config = d.resolveCPUs(spec.Name, spec.Config, "")
	text, err := RenderConfig(d.lxcpath, spec)
	if err != nil {
		return err
	}
	if d.lxcfsUp != nil {
		// A container defined before lxcfs answers would silently get
		// none of its views (the bind mounts are optional).
		<-d.lxcfsUp
	}
	for _, e := range lxcfsEntries(d.LXCFS) {
		text += "lxc.mount.entry = " + e + "\n"
	}
	if len(d.StopHook) > 0 {
		text += stopHookLine(d.StopHook, spec.Name)
	}
	if err := os.MkdirAll(d.dir(spec.Name), 0o700); err != nil {
		return fmt.Errorf("container %q: %w", spec.Name, err)
	}
	tmp := d.configPath(spec.Name) + ".new"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		return fmt.Errorf("container %q: write config: %w", spec.Name, err)
	}
	if err := checkConfig(spec.Name, d.lxcpath, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, d.configPath(spec.Name)); err != nil {
		return fmt.Errorf("container %q: %w", spec.Name, err)
	}
	return nil
}

func checkConfig(name, lxcpath, path string) error {
	c, err := golxc.NewContainer(name+"-check", lxcpath)
	if err != nil {
		return fmt.Errorf("container %q: %w", name, err)
	}
	defer golxc.Release(c)
	if err := c.LoadConfigFile(path); err != nil {
		return instances.Invalidf("container %q: liblxc refused the generated config (check raw.lxc): %v", name, err)
	}
	return nil
}

// Start implements instances.Driver: a re-exec of the helper binary calls
// liblxc's daemonizing start, so the container's monitor is not a child of
// lodged and survives it.
func (d *Driver) Start(ctx context.Context, name string) error {
	defer trace.Step(ctx, "liblxc: start")()
	c, err := d.container(name)
	if err != nil {
		return err
	}
	defer golxc.Release(c)
	if c.Running() {
		return fmt.Errorf("container %q is already running: %w", name, instances.ErrBusy)
	}
	d.live.forget(name)
	// A fresh console log per boot, so a failure shows this boot's messages.
	os.Remove(filepath.Join(d.dir(name), "console.log"))
	cmd := exec.CommandContext(ctx, d.Helper, "forkstart", name, d.lxcpath, d.configPath(name))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	tr := trace.From(ctx)
	if tr != nil {
		cmd.Env = append(cmd.Environ(), helperTraceEnv+"=1")
	}
	if d.ownSysfs {
		cmd.Env = append(cmd.Environ(), ownSysfsEnv+"=1")
	}
	forked := time.Now()
	err = cmd.Run()
	last := traceHelper(tr, "forkstart", forked, &out)
	tr.Add("forkstart: exit, reaped", last, time.Since(last))
	if err != nil {
		return d.startError(ctx, name, fmt.Sprintf("%v: %s", err, strings.TrimSpace(out.String())))
	}
	// An init that dies at once fails the start (earlydeath.go).
	endWatch := trace.Step(ctx, "watch init until it is past its start")
	pid := c.InitPid()
	kind := initKindOf(configValue(d.configPath(name), "lxc.signal.halt"))
	outcome, err := watchInit(pid, kind)
	endWatch()
	tr.Mark("watch: " + outcome.String())
	if err != nil {
		d.log.Warn("could not watch a new container's init; taken as running", "container", name, "err", err)
	}
	if outcome == initDied {
		// The monitor has seen it too once the container reads STOPPED:
		// its console log is complete then.
		c.Wait(golxc.STOPPED, 5*time.Second)
		return d.startError(ctx, name, "the container stopped right after it started")
	}
	if pid > 0 {
		d.live.remember(name, pid)
	}
	return nil
}

// configValue is the last value of key in a config file lodged wrote ("" if
// none): liblxc itself reports some keys in another form (signals as
// numbers).
func configValue(path, key string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	v := ""
	for _, l := range strings.Split(string(b), "\n") {
		if k, val, ok := strings.Cut(l, "="); ok && strings.TrimSpace(k) == key {
			v = strings.TrimSpace(val)
		}
	}
	return v
}

func (d *Driver) startError(ctx context.Context, name, what string) error {
	tail := tailFiles(2048, filepath.Join(d.dir(name), "console.log"), filepath.Join(d.dir(name), "lxc.log"))
	msg := fmt.Sprintf("container %q: start failed: %s", name, what)
	if tail = strings.TrimSpace(tail); tail != "" {
		msg += "\n--- end of its console and liblxc log ---\n" + tail
	}
	if hint := startHint(tail); hint != "" {
		msg += "\n" + hint
	}
	return errors.New(msg)
}

// startHint turns a liblxc failure users meet often into what to do.
func startHint(log string) string {
	switch {
	case strings.Contains(log, "Permission denied - Failed to mount"):
		return "hint: the container is unprivileged, so its root is an unprivileged uid on the host and must be able to reach " +
			"the source of each disk device: make the source's parent directories traversable (chmod o+x) or its owner " +
			"the container's, or set security.privileged=true on a new instance"
	case strings.Contains(log, "Too many open files") || strings.Contains(log, "inotify"):
		return "hint: the host ran out of inotify instances or file descriptors; raise fs.inotify.max_user_instances (lodged raises it at start)"
	}
	return ""
}

// Stop implements instances.Driver.
func (d *Driver) Stop(ctx context.Context, name string, timeout time.Duration, force bool) error {
	// Until it returns, a list asks liblxc, which says STOPPING.
	defer d.live.beginStop(name)()
	c, err := d.container(name)
	if err != nil {
		return err
	}
	defer golxc.Release(c)
	if !c.Running() {
		return fmt.Errorf("container %q: %w", name, instances.ErrNotRunning)
	}
	if !force {
		if c.State() == golxc.FROZEN {
			_ = c.Unfreeze()
		}
		if err := c.Shutdown(timeout); err == nil {
			return nil
		}
		d.log.Info("clean shutdown timed out, killing", "container", name, "timeout", timeout)
	}
	if err := c.Stop(); err != nil {
		if !c.Running() {
			return nil
		}
		return fmt.Errorf("container %q: stop: %w", name, err)
	}
	return nil
}

// Freeze implements instances.Driver.
func (d *Driver) Freeze(ctx context.Context, name string) error {
	c, err := d.container(name)
	if err != nil {
		return err
	}
	defer golxc.Release(c)
	if !c.Running() {
		return fmt.Errorf("container %q: freeze: %w", name, instances.ErrNotRunning)
	}
	if err := c.Freeze(); err != nil {
		return fmt.Errorf("container %q: freeze: %w", name, err)
	}
	return nil
}

// Unfreeze implements instances.Driver.
func (d *Driver) Unfreeze(ctx context.Context, name string) error {
	c, err := d.container(name)
	if err != nil {
		return err
	}
	defer golxc.Release(c)
	if !c.Running() {
		return fmt.Errorf("container %q: unfreeze: %w", name, instances.ErrNotRunning)
	}
	switch c.State() {
	case golxc.FROZEN:
		if err := c.Unfreeze(); err != nil {
			return fmt.Errorf("container %q: unfreeze: %w", name, err)
		}
	case golxc.FREEZING:
		// A freeze whose caller died half-way (a lodged killed during a
		// snapshot): liblxc's monitor still says FREEZING, whatever the
		// cgroup says, and refuses attach. go-lxc thaws only FROZEN, and
		// only liblxc's own thaw resets the monitor's state: finish the
		// freeze, then thaw.
		if err := c.Freeze(); err != nil {
			return fmt.Errorf("container %q: finish a freeze left half-done: %w", name, err)
		}
		if err := c.Unfreeze(); err != nil {
			return fmt.Errorf("container %q: unfreeze: %w", name, err)
		}
	}
	return nil
}

// Delete implements instances.Driver: it removes the runtime config and logs,
// never the rootfs, which belongs to the storage pool.
func (d *Driver) Delete(ctx context.Context, name string) error {
	if name == "" || strings.ContainsAny(name, "/") || name == "." || name == ".." {
		return instances.Invalidf("container %q: invalid name", name)
	}
	if d.defined(name) {
		c, err := d.container(name)
		if err == nil {
			running := c.Running()
			golxc.Release(c)
			if running {
				return fmt.Errorf("container %q is running: %w", name, instances.ErrBusy)
			}
		}
	}
	d.live.forget(name)
	// A monitor that has just stopped may still be writing its last log
	// lines here, so a removal can race with a new file: try again.
	var err error
	for i := 0; i < 20; i++ {
		if err = os.RemoveAll(d.dir(name)); err == nil || !errors.Is(err, syscall.ENOTEMPTY) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("container %q: %w", name, err)
	}
	return nil
}

// List implements instances.Driver.
func (d *Driver) List(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(d.lxcpath)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && d.defined(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

var statusOf = map[golxc.State]instances.Status{
	golxc.STOPPED:  instances.StatusStopped,
	golxc.STARTING: instances.StatusStarting,
	golxc.RUNNING:  instances.StatusRunning,
	golxc.STOPPING: instances.StatusStopping,
	golxc.ABORTING: instances.StatusStopping,
	golxc.FREEZING: instances.StatusRunning,
	golxc.FROZEN:   instances.StatusFrozen,
	golxc.THAWED:   instances.StatusRunning,
}

// State implements instances.Driver. Everything is read from liblxc, the
// cgroups and the container's network namespace on the host side; nothing
// runs inside the container.
func (d *Driver) State(ctx context.Context, name string) (instances.State, error) {
	return d.state(name, askPeers)
}

// state is State; peers as for interfaces.
func (d *Driver) state(name string, peers peerNames) (instances.State, error) {
	c, err := d.container(name)
	if err != nil {
		return instances.State{}, err
	}
	defer golxc.Release(c)
	st := instances.State{Status: statusOf[c.State()]}
	if st.Status == "" {
		st.Status = instances.StatusError
	}
	if st.Status == instances.StatusStopped {
		return st, nil
	}
	st.PID = c.InitPid()
	if st.PID > 0 {
		fillLive(&st, payloadCgroups("/sys/fs/cgroup", st.PID), peers)
		if st.Status == instances.StatusRunning {
			d.live.remember(name, st.PID)
		}
	}
	return st, nil
}

// ConsoleLog implements instances.Driver: the tail of the console log.
func (d *Driver) ConsoleLog(ctx context.Context, name string, maxBytes int) (string, error) {
	return tailFiles(maxBytes, filepath.Join(d.dir(name), "console.log")), nil
}

// tailFiles returns the last bytes of each file, an equal share each.
func tailFiles(maxBytes int, files ...string) string {
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil || len(data) == 0 {
			continue
		}
		if share := maxBytes / len(files); len(data) > share {
			data = data[len(data)-share:]
		}
		b.Write(data)
		if !bytes.HasSuffix(data, []byte("\n")) {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Status is instances.Driver's: from /proc and the cgroup for a running
// container whose init is remembered, else one query to the monitor.
func (d *Driver) Status(ctx context.Context, name string) (instances.Status, error) {
	// The list's rule (fastRunning), without a liblxc handle (a config
	// parse) and a round trip to the monitor: the check every exec makes.
	// A list has already seen the monitor's socket; here one connect does.
	if _, ok := d.fastRunning(name); ok && d.monitorAnswers(name) {
		return instances.StatusRunning, nil
	}
	c, err := d.container(name)
	if err != nil {
		return "", err
	}
	defer golxc.Release(c)
	st := statusOf[c.State()]
	if st == "" {
		st = instances.StatusError
	}
	return st, nil
}
