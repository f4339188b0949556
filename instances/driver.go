// Package instances defines how lodge runs containers: the Driver interface
// that instances/lxc implements, the Spec a driver renders into a runtime
// config, and the registry of instance config keys.
package instances

import (
	"context"
	"os"
	"time"

	"lodge/errdefs"
)

// Sentinel errors of the error kinds (lodge/errdefs); drivers wrap them with %w.
var (
	ErrNotFound = errdefs.ErrNotFound
	ErrExists   = errdefs.ErrExists
	ErrInvalid  = errdefs.ErrInvalid
	// ErrBusy: the container is running where it must not be.
	ErrBusy = errdefs.New(errdefs.ErrConflict, "busy")
	// ErrNotRunning is returned by Exec and Stop on a container that is not running.
	ErrNotRunning = errdefs.New(errdefs.ErrInvalid, "not running")
)

// Status is a container's run state as liblxc reports it.
type Status string

const (
	StatusStopped  Status = "Stopped"
	StatusStarting Status = "Starting"
	StatusRunning  Status = "Running"
	StatusStopping Status = "Stopping"
	StatusFrozen   Status = "Frozen"
	StatusError    Status = "Error"
)

// NIC is a network interface for a container, already resolved to a host link.
type NIC struct {
	Name   string // name inside the container, e.g. eth0
	Type   string // veth, macvlan, routed, empty
	Link   string // host bridge or parent NIC (routed: the parent, unused by the driver)
	HWAddr string
	MTU    int
	// HostName is the host-side veth name, if fixed (required for routed).
	HostName string
	// IPv4 and IPv6 are a routed NIC's addresses: the driver puts them on
	// the interface inside with default routes through the link-local
	// gateways (169.254.0.1, fe80::1), and routes them to the host-side
	// veth, which answers for the gateways.
	IPv4, IPv6 []string
}

// IDMapEntry maps a range of container ids to host ids (unprivileged containers).
type IDMapEntry struct {
	IsUID, IsGID bool
	HostID       int64
	NSID         int64
	Range        int64
}

// Spec is everything a driver needs to define one container.
type Spec struct {
	Name   string
	Rootfs string // absolute path of the root filesystem directory
	// Init names the image's init ("systemd", "busybox" or "" for generic)
	// and chooses the halt signal.
	Init string
	// Config is the instance's expanded config; drivers read the keys they know (limits.*, raw.lxc).
	Config map[string]string
	NICs   []NIC
	// IDMap is empty for a privileged container.
	IDMap []IDMapEntry
	// Mounts are disk devices: host paths bind-mounted into the container.
	Mounts []Mount
}

// State is a container's live state, read from the runtime, never from the DB.
type State struct {
	Status     Status
	PID        int
	Processes  int64
	MemoryUsed int64
	// MemoryPeak and SwapUsed are read from the memory cgroup when it has them.
	MemoryPeak int64
	SwapUsed   int64
	CPUNanos   int64
	Interfaces map[string]Interface
}

// Interface is one network interface seen inside a container.
type Interface struct {
	HWAddr    string
	MTU       int
	Up        bool
	HostName  string
	Type      string
	Addresses []Address
	// Veth: the interface is a veth whose peer is on the host; a list
	// leaves its HostName to the caller (States).
	Veth bool
}

// Address is one address on an interface.
type Address struct {
	Family  string // inet, inet6
	Address string
	Prefix  int
	Scope   string // global, link, local
}

// ExecSpec describes a process to run inside a container.
type ExecSpec struct {
	Argv []string
	Env  []string // KEY=VALUE, the complete environment
	Cwd  string
	UID  uint32
	GID  uint32
	// Stdin, Stdout and Stderr are handed to the process; with a pty all three are the slave.
	Stdin, Stdout, Stderr *os.File
	// TTY makes the process a session leader with Stdin as its controlling terminal.
	TTY bool
}

// Process is a running exec.
type Process interface {
	// PID is the host pid of the process inside the container.
	PID() int
	// Signal delivers a signal to the process.
	Signal(sig os.Signal) error
	// Wait returns the exit code; 128+n for death by signal n.
	Wait(ctx context.Context) (int, error)
}

// Driver runs containers. All methods are safe for concurrent use on
// different names; the server serialises operations on one name. The
// fake (instances/fake) implements all of it, so the daemon's tests run
// the paths lodged runs.
type Driver interface {
	// Define writes (or rewrites) the runtime config for spec.Name.
	Define(ctx context.Context, spec Spec) error
	// Start boots the container's init and returns once the runtime reports it running.
	// The container must keep running when the daemon exits.
	Start(ctx context.Context, name string) error
	// Stop asks init to shut down, waits up to timeout, then kills; force kills at once.
	Stop(ctx context.Context, name string, timeout time.Duration, force bool) error
	Freeze(ctx context.Context, name string) error
	Unfreeze(ctx context.Context, name string) error
	// Delete removes the runtime config and logs of a stopped container (not its rootfs).
	Delete(ctx context.Context, name string) error
	State(ctx context.Context, name string) (State, error)
	// Status tells a container's run status more cheaply than a full
	// State (no cgroup or network reads), for hot paths such as exec.
	Status(ctx context.Context, name string) (Status, error)
	// States reads many states faster than one State call each (list
	// with thousands of instances); a name the runtime does not know is
	// left out. A veth's HostName may be left empty (Interface.Veth).
	States(ctx context.Context, names []string) map[string]State
	// Statuses tells many run statuses at once without the resource and
	// network reads of States (a list filtered or sorted by status reads
	// every status, but full state only for the rows it shows); a name
	// the runtime does not know is left out.
	Statuses(ctx context.Context, names []string) map[string]Status
	// List names the containers the runtime knows, for recovery after a restart.
	List(ctx context.Context) ([]string, error)
	Exec(ctx context.Context, name string, spec ExecSpec) (Process, error)
	// OpenPTY allocates a pseudo-terminal inside the container's own
	// devpts, so that the process sees its terminal as /dev/pts/N there
	// (tty(1), ttyname(3) work). uid and gid own the slave.
	OpenPTY(ctx context.Context, name string, uid, gid uint32) (master, slave *os.File, err error)
	// Console connects tty (the slave side of a pty the caller owns) to the
	// container's /dev/console until the returned process is signalled or
	// the container stops.
	Console(ctx context.Context, name string, tty *os.File) (Process, error)
	// ConsoleLog returns the tail of the container's console/boot log (for errors on failed starts).
	ConsoleLog(ctx context.Context, name string, maxBytes int) (string, error)
	// ClearConsoleLog empties the console log.
	ClearConsoleLog(ctx context.Context, name string) error
	// CheckLimits tells whether the limits in cfg (an expanded config) can be
	// applied on this host.
	CheckLimits(cfg map[string]string) error
	// UpdateLimits applies the limits in cfg to the running container,
	// lifting those cfg no longer sets; a stopped container is left alone.
	UpdateLimits(ctx context.Context, name string, cfg map[string]string) error
	// Metrics reads many running containers' usage at once (/1.0/metrics).
	MetricsReader
	// LogReader serves the logs API.
	LogReader
	// MountHotplugger adds and removes disks on running containers.
	MountHotplugger
}

// Invalidf returns a validation error whose message is complete as it is
// (errors.Is(err, ErrInvalid) is true).
func Invalidf(format string, a ...any) error { return errdefs.Invalidf(format, a...) }

// LogReader is implemented by drivers that keep per-container log files,
// for LXD's logs API (GET /1.0/instances/{name}/logs[/{file}], DELETE).
// Files are named as LXD 5.0 names them: lxc.log (liblxc's log) and
// lxc.conf (the runtime config liblxc was given); the console log has an
// API of its own (ConsoleLog, Consoler.ClearConsoleLog).
type LogReader interface {
	// Logs names the container's log files that exist, sorted.
	Logs(ctx context.Context, name string) ([]string, error)
	// OpenLog opens one of them for reading; an unknown or missing file
	// is ErrNotFound.
	OpenLog(ctx context.Context, name, file string) (*os.File, error)
	// DeleteLog removes one; lxc.log and lxc.conf are refused with
	// ErrInvalid, as in LXD.
	DeleteLog(ctx context.Context, name, file string) error
}

// MountHotplugger is implemented by drivers that can add and remove disk
// mounts in a running container (LXD's disk device hotplug).
type MountHotplugger interface {
	// AttachMount mounts m inside the running container, creating its
	// mount point (owned by the container's root) if missing.
	AttachMount(ctx context.Context, name string, m Mount) error
	// DetachMount unmounts path inside the running container; a path
	// with nothing mounted is not an error.
	DetachMount(ctx context.Context, name, path string) error
}
