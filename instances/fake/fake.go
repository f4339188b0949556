// Package fake is an in-memory instances.Driver for the server's and the
// daemon's tests, where starting real containers would only slow them
// down. It implements the whole interface, so those tests run the paths
// lodged runs with instances/lxc.
package fake

import (
	"context"
	"fmt"
	"maps"
	"os"
	"sync"
	"time"

	"github.com/creack/pty"

	"lodge/instances"
)

// Driver is a fake runtime. ExecFunc, if set, runs exec requests.
type Driver struct {
	mu       sync.Mutex
	defined  map[string]instances.Spec
	running  map[string]instances.Status
	ExecFunc func(spec instances.ExecSpec) int
	// FailDefine makes Define fail (to test rollback).
	FailDefine error
	// FailStart makes Start fail.
	FailStart error
	// FailDelete makes Delete fail.
	FailDelete error
	// CheckLimitsFunc, if set, answers CheckLimits (nil: every limit applies).
	CheckLimitsFunc func(cfg map[string]string) error
	// limits are the configs UpdateLimits applied, by container.
	limits map[string]map[string]string
	// fullReads counts full state reads by container (FullReads).
	fullReads map[string]int
	// mounts are the disks AttachMount added to running containers, by
	// container and path.
	mounts map[string]map[string]instances.Mount
	// FailAttach makes AttachMount fail.
	FailAttach error
}

var _ instances.Driver = (*Driver)(nil)

// New returns an empty fake runtime.
func New() *Driver {
	return &Driver{defined: map[string]instances.Spec{}, running: map[string]instances.Status{}}
}

func (d *Driver) Define(ctx context.Context, spec instances.Spec) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.FailDefine != nil {
		return d.FailDefine
	}
	d.defined[spec.Name] = spec
	return nil
}

// Spec is the spec name was last defined with.
func (d *Driver) Spec(name string) (instances.Spec, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.defined[name]
	return s, ok
}

// Defined reports whether a runtime config exists for name.
func (d *Driver) Defined(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.defined[name]
	return ok
}

func (d *Driver) get(name string) error {
	if _, ok := d.defined[name]; !ok {
		return fmt.Errorf("container %q: %w", name, instances.ErrNotFound)
	}
	return nil
}

func (d *Driver) Start(ctx context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.FailStart != nil {
		return d.FailStart
	}
	if err := d.get(name); err != nil {
		return err
	}
	d.running[name] = instances.StatusRunning
	return nil
}

func (d *Driver) Stop(ctx context.Context, name string, timeout time.Duration, force bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.running[name]; !ok {
		return fmt.Errorf("container %q: %w", name, instances.ErrNotRunning)
	}
	delete(d.running, name)
	delete(d.mounts, name)
	return nil
}

func (d *Driver) Freeze(ctx context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.running[name] = instances.StatusFrozen
	return nil
}

func (d *Driver) Unfreeze(ctx context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.running[name] = instances.StatusRunning
	return nil
}

func (d *Driver) Delete(ctx context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.FailDelete != nil {
		return d.FailDelete
	}
	if _, ok := d.running[name]; ok {
		return fmt.Errorf("container %q: %w", name, instances.ErrBusy)
	}
	delete(d.defined, name)
	return nil
}

func (d *Driver) State(ctx context.Context, name string) (instances.State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stateLocked(name, true)
}

// stateLocked is a container's state; full counts it as a full read
// (FullReads), as State and States are; Status and Statuses are not.
func (d *Driver) stateLocked(name string, full bool) (instances.State, error) {
	if err := d.get(name); err != nil {
		return instances.State{}, err
	}
	if full {
		if d.fullReads == nil {
			d.fullReads = map[string]int{}
		}
		d.fullReads[name]++
	}
	st, ok := d.running[name]
	if !ok {
		return instances.State{Status: instances.StatusStopped}, nil
	}
	return instances.State{Status: st, PID: 4242, Processes: 3, Interfaces: map[string]instances.Interface{
		"eth0": {Up: true, MTU: 1500, Addresses: []instances.Address{{Family: "inet", Address: "10.0.0.2", Prefix: 24, Scope: "global"}}},
	}}, nil
}

// FullReads is how many full states (State, States) were read of name.
func (d *Driver) FullReads(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fullReads[name]
}

func (d *Driver) Status(ctx context.Context, name string) (instances.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, err := d.stateLocked(name, false)
	return st.Status, err
}

// States reads the states of the names the runtime knows.
func (d *Driver) States(ctx context.Context, names []string) map[string]instances.State {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]instances.State, len(names))
	for _, n := range names {
		if st, err := d.stateLocked(n, true); err == nil {
			out[n] = st
		}
	}
	return out
}

// Statuses reads the run statuses of the names the runtime knows.
func (d *Driver) Statuses(ctx context.Context, names []string) map[string]instances.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]instances.Status, len(names))
	for _, n := range names {
		if st, err := d.stateLocked(n, false); err == nil {
			out[n] = st.Status
		}
	}
	return out
}

func (d *Driver) List(ctx context.Context) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for n := range d.defined {
		out = append(out, n)
	}
	return out, nil
}

type proc struct{ code int }

func (p proc) PID() int                              { return 1 }
func (p proc) Signal(os.Signal) error                { return nil }
func (p proc) Wait(ctx context.Context) (int, error) { return p.code, nil }

func (d *Driver) Exec(ctx context.Context, name string, spec instances.ExecSpec) (instances.Process, error) {
	d.mu.Lock()
	st := d.running[name]
	f := d.ExecFunc
	d.mu.Unlock()
	if st != instances.StatusRunning {
		return nil, fmt.Errorf("container %q: %w", name, instances.ErrNotRunning)
	}
	code := 0
	if f != nil {
		code = f(spec)
	}
	return proc{code}, nil
}

func (d *Driver) ConsoleLog(ctx context.Context, name string, maxBytes int) (string, error) {
	return "", nil
}

func (d *Driver) ClearConsoleLog(ctx context.Context, name string) error { return nil }

// OpenPTY opens a pty on the host: there is no container devpts to open it in.
func (d *Driver) OpenPTY(ctx context.Context, name string, uid, gid uint32) (*os.File, *os.File, error) {
	d.mu.Lock()
	st := d.running[name]
	d.mu.Unlock()
	if st != instances.StatusRunning {
		return nil, nil, fmt.Errorf("container %q: %w", name, instances.ErrNotRunning)
	}
	return pty.Open()
}

// Console attaches tty to nothing: the console process waits until it is
// signalled or ctx ends.
func (d *Driver) Console(ctx context.Context, name string, tty *os.File) (instances.Process, error) {
	d.mu.Lock()
	st := d.running[name]
	d.mu.Unlock()
	if st != instances.StatusRunning {
		return nil, fmt.Errorf("container %q: %w", name, instances.ErrNotRunning)
	}
	return &console{done: make(chan struct{})}, nil
}

type console struct {
	once sync.Once
	done chan struct{}
}

func (c *console) PID() int { return 2 }
func (c *console) Signal(os.Signal) error {
	c.once.Do(func() { close(c.done) })
	return nil
}
func (c *console) Wait(ctx context.Context) (int, error) {
	select {
	case <-c.done:
		return 0, nil
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

func (d *Driver) CheckLimits(cfg map[string]string) error {
	if d.CheckLimitsFunc != nil {
		return d.CheckLimitsFunc(cfg)
	}
	return nil
}

// UpdateLimits records cfg as a running container's limits; a stopped
// one is left alone.
func (d *Driver) UpdateLimits(ctx context.Context, name string, cfg map[string]string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.running[name]; !ok {
		return nil
	}
	if d.limits == nil {
		d.limits = map[string]map[string]string{}
	}
	d.limits[name] = maps.Clone(cfg)
	return nil
}

// Limits is the config UpdateLimits last applied to a running container.
func (d *Driver) Limits(name string) map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.limits[name]
}

// Logs implements instances.LogReader: a defined container has lxc.conf.
func (d *Driver) Logs(ctx context.Context, name string) ([]string, error) {
	if err := d.get(name); err != nil {
		return nil, err
	}
	return []string{"lxc.conf"}, nil
}

// OpenLog implements instances.LogReader with an empty temporary file.
func (d *Driver) OpenLog(ctx context.Context, name, file string) (*os.File, error) {
	if err := d.get(name); err != nil {
		return nil, err
	}
	if file != "lxc.conf" {
		return nil, fmt.Errorf("log %q: %w", file, instances.ErrNotFound)
	}
	f, err := os.CreateTemp("", "fake-log-")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}

// DeleteLog implements instances.LogReader.
func (d *Driver) DeleteLog(ctx context.Context, name, file string) error {
	if err := d.get(name); err != nil {
		return err
	}
	if file == "lxc.log" || file == "lxc.conf" {
		return instances.Invalidf("lxc.log and lxc.conf may not be deleted")
	}
	return fmt.Errorf("log %q: %w", file, instances.ErrNotFound)
}

// Metrics gives every running container the same small figures.
func (d *Driver) Metrics(ctx context.Context, names []string) map[string]instances.Metrics {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]instances.Metrics{}
	for _, n := range names {
		if _, ok := d.running[n]; !ok {
			continue
		}
		out[n] = instances.Metrics{
			CPU:         []instances.CPUTime{{CPU: "0", Mode: "user", Seconds: 1.5}, {CPU: "0", Mode: "system", Seconds: 0.5}},
			MemoryStat:  map[string]uint64{"active_anon": 4096},
			MemoryUsage: 8 << 20, MemoryLimit: 256 << 20,
			Network:   map[string]instances.NetCounters{"eth0": {RxBytes: 100, TxBytes: 200, RxPackets: 1, TxPackets: 2}},
			Processes: 3,
		}
	}
	return out
}

// AttachMount implements instances.MountHotplugger: it records m.
func (d *Driver) AttachMount(ctx context.Context, name string, m instances.Mount) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.running[name]; !ok {
		return fmt.Errorf("container %q: %w", name, instances.ErrNotRunning)
	}
	if d.FailAttach != nil {
		return d.FailAttach
	}
	if d.mounts == nil {
		d.mounts = map[string]map[string]instances.Mount{}
	}
	if d.mounts[name] == nil {
		d.mounts[name] = map[string]instances.Mount{}
	}
	d.mounts[name][m.Path] = m
	return nil
}

// DetachMount implements instances.MountHotplugger.
func (d *Driver) DetachMount(ctx context.Context, name, path string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.running[name]; !ok {
		return fmt.Errorf("container %q: %w", name, instances.ErrNotRunning)
	}
	delete(d.mounts[name], path)
	return nil
}

// Mounts are the disks hot-plugged into a running container, by path.
func (d *Driver) Mounts(name string) map[string]instances.Mount {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.mounts[name])
}
