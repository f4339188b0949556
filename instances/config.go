package instances

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Key describes one instance config key.
type Key struct {
	// Type is what the value is: bool, integer, string, size or cpuset.
	Type    string
	Default string
	// Live keys take effect on a running instance at once; the others at its next start.
	Live     bool
	Validate func(string) error
	Doc      string
}

// Keys is the registry of instance config keys lodge knows. Namespaces
// user.*, environment.*, image.* and raw.* are free-form (raw.lxc has its own
// entry); volatile.* is the daemon's own.
var Keys = map[string]Key{
	"boot.autostart": {Type: "bool", Live: true, Validate: isBool,
		Doc: "start the instance when lodged starts (unset: only if it was running when the host went down)"},
	"boot.autostart.delay":    {Type: "integer", Default: "0", Live: true, Validate: isUint, Doc: "seconds to wait after starting this instance before starting the next"},
	"boot.autostart.priority": {Type: "integer", Default: "0", Live: true, Validate: isInt, Doc: "autostart order: higher starts first"},
	"boot.stop.priority":      {Type: "integer", Default: "0", Live: true, Validate: isInt, Doc: "shutdown order on lodged shutdown: higher stops first"},
	"boot.host_shutdown_timeout": {Type: "integer", Default: "30", Live: true, Validate: isUint,
		Doc: "seconds to wait for a clean shutdown before killing the instance"},
	"cluster.evacuate": {Type: "string", Default: "auto", Live: true, Validate: oneOf("auto", "migrate", "stop"),
		Doc: "what evacuating its cluster member does: migrate (stop, move to another member, start there if it ran), stop (stop it where it is), auto (migrate)"},
	"limits.cpu": {Type: "string", Live: true, Validate: isCPUSet,
		Doc: "number of CPUs (2) or a set of CPUs (0-1,3) the instance may run on"},
	"limits.cpu.allowance": {Type: "string", Default: "100%", Live: true, Validate: isAllowance,
		Doc: "CPU time: a percentage is a soft share under contention (50%), a quota a hard cap (25ms/100ms)"},
	"limits.memory": {Type: "size", Live: true, Validate: isSizeOrPercent,
		Doc: "memory limit: bytes with a unit (512MiB, 1GB) or a percentage of the host's memory"},
	"limits.memory.enforce": {Type: "string", Default: "hard", Live: true, Validate: oneOf("hard", "soft"),
		Doc: "hard: the limit is a ceiling (OOM kill); soft: reclaimed first under host memory pressure"},
	"limits.memory.swap": {Type: "bool", Default: "true", Live: true, Validate: isBool,
		Doc: "whether the instance may swap (false: memory+swap capped at limits.memory)"},
	"limits.processes": {Type: "integer", Live: true, Validate: isUint, Doc: "maximum number of processes (and threads) in the instance"},
	"limits.disk.priority": {Type: "integer", Default: "5", Live: true, Validate: isRange(0, 10),
		Doc: "block I/O weight 0-10 under contention (needs the blkio weight controller)"},
	"security.privileged": {Type: "bool", Default: "false", Validate: isBool,
		Doc: "run without a user namespace: root inside is root on the host (changed while stopped: the root filesystem is re-shifted at the next start)"},
	"security.nesting": {Type: "bool", Default: "false", Validate: isBool, Doc: "allow containers (lodge, docker) inside this one"},
	"security.idmap.isolated": {Type: "bool", Default: "false", Validate: isBool,
		Doc: "give this instance a host id range of its own instead of the shared one (changed while stopped: re-shifted at the next start)"},
	"security.protection.shift": {Type: "bool", Default: "false", Live: true, Validate: isBool,
		Doc: "refuse to start the instance if its root filesystem would have to be re-shifted to another id map"},
	"raw.lxc": {Type: "string", Validate: func(string) error { return nil },
		Doc: "raw liblxc config lines appended to the generated config (checked by liblxc)"},
	// Scheduled snapshots (snapshot_keys.go).
	"snapshots.schedule": {Validate: validateSchedule, Live: true,
		Doc: "cron expression (or @hourly, @daily, @weekly, @monthly, @yearly; comma-separated) for automatic snapshots"},
	"snapshots.schedule.stopped": {Validate: isBool, Live: true, Doc: "also take scheduled snapshots of a stopped instance"},
	"snapshots.pattern":          {Validate: validatePattern, Live: true, Doc: "name of scheduled snapshots; %d is replaced by the next free number (default snap%d)"},
	"snapshots.expiry": {Validate: func(v string) error { _, err := ParseExpiry(v, time.Now()); return err }, Live: true,
		Doc: "when scheduled snapshots expire, e.g. 7d, 2H, 1w 3d (M minutes, H hours, d days, w weeks, m months, y years)"},
}

var freeNamespaces = []string{"user.", "environment.", "image.", "volatile.", "raw."}

// IsFreeKey reports whether k is in a free-form namespace.
func IsFreeKey(k string) bool {
	for _, ns := range freeNamespaces {
		if strings.HasPrefix(k, ns) && len(k) > len(ns) {
			return true
		}
	}
	return false
}

// IsLive reports whether a change of key k applies to a running instance
// at once; free-form keys (user.*, environment.*) are only read by lodged
// or at the next exec, so they count as live too, raw.* does not.
func IsLive(k string) bool {
	if def, ok := Keys[k]; ok {
		return def.Live
	}
	return !strings.HasPrefix(k, "raw.")
}

// ValidateConfig checks every key and value against the registry.
func ValidateConfig(cfg map[string]string) error {
	names := make([]string, 0, len(cfg))
	for k := range cfg {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := cfg[k]
		if def, ok := Keys[k]; ok {
			if err := def.Validate(v); err != nil {
				return Invalidf("config key %q: invalid value %q: %v", k, v, err)
			}
			continue
		}
		if !IsFreeKey(k) {
			return Invalidf("config key %q: unknown key (free-form keys go under user.* or environment.*)", k)
		}
		if strings.HasPrefix(k, "environment.") && strings.ContainsAny(k[len("environment."):], "= \t\n") {
			return Invalidf("config key %q: environment variable names cannot contain '=' or spaces", k)
		}
	}
	return nil
}

var nameRE = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

// ValidateName checks an instance name: a DNS label of 1-63 letters, digits
// and hyphens, starting with a letter and not ending with a hyphen.
func ValidateName(name string) error {
	switch {
	case name == "":
		return Invalidf("instance name is empty")
	case len(name) > 63:
		return Invalidf("instance name %q is %d characters long; the limit is 63", name, len(name))
	case !nameRE.MatchString(name):
		return Invalidf("instance name %q is not valid: use letters, digits and hyphens, start with a letter and do not end with a hyphen", name)
	}
	return nil
}

func isBool(v string) error {
	switch strings.ToLower(v) {
	case "true", "false", "1", "0", "yes", "no", "on", "off", "":
		return nil
	}
	return fmt.Errorf("expected true or false")
}

// IsTrue interprets a boolean config value.
func IsTrue(v string) bool {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true
	}
	return false
}

func isInt(v string) error {
	if v == "" {
		return nil
	}
	_, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return fmt.Errorf("expected an integer")
	}
	return nil
}

func isUint(v string) error {
	if v == "" {
		return nil
	}
	_, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return fmt.Errorf("expected a non-negative integer")
	}
	return nil
}

var cpuSetRE = regexp.MustCompile(`^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$`)

func isCPUSet(v string) error {
	if v == "" || cpuSetRE.MatchString(v) {
		return nil
	}
	return fmt.Errorf("expected a CPU count (2) or set (0-1,3)")
}

func isSizeOrPercent(v string) error {
	if v == "" {
		return nil
	}
	if strings.HasSuffix(v, "%") {
		n, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		if err != nil || n <= 0 || n > 100 {
			return fmt.Errorf("expected a percentage between 0 and 100")
		}
		return nil
	}
	_, err := ParseSize(v)
	return err
}

var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"kB": 1000, "MB": 1000 * 1000, "GB": 1000 * 1000 * 1000, "TB": 1000 * 1000 * 1000 * 1000,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
}

// ParseSize parses sizes like 512MiB, 1GB or 4096 into bytes.
func ParseSize(v string) (int64, error) {
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("expected a size such as 512MiB or 2GB")
	}
	n, err := strconv.ParseInt(v[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q out of range", v)
	}
	mult, ok := sizeUnits[v[i:]]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q (use B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)", v[i:])
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q out of range", v)
	}
	return n * mult, nil
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		if v == "" {
			return nil
		}
		for _, ok := range vals {
			if v == ok {
				return nil
			}
		}
		return fmt.Errorf("expected one of %s", strings.Join(vals, ", "))
	}
}

func isRange(lo, hi int64) func(string) error {
	return func(v string) error {
		if v == "" {
			return nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("expected an integer from %d to %d", lo, hi)
		}
		return nil
	}
}

// ParseAllowance reads limits.cpu.allowance: a percentage (soft share) or a
// quota "25ms/100ms" (hard cap); exactly one of pct or quota/period is set.
func ParseAllowance(v string) (pct float64, quota, period time.Duration, err error) {
	if p, ok := strings.CutSuffix(v, "%"); ok {
		pct, err = strconv.ParseFloat(p, 64)
		if err != nil || pct <= 0 || pct > 100 {
			return 0, 0, 0, fmt.Errorf("expected a percentage between 0 and 100")
		}
		return pct, 0, 0, nil
	}
	q, per, ok := strings.Cut(v, "/")
	if ok {
		quota, err = time.ParseDuration(q)
		if err == nil {
			period, err = time.ParseDuration(per)
		}
		if err == nil && quota >= time.Millisecond && period >= time.Millisecond && period <= time.Second {
			return 0, quota, period, nil
		}
	}
	return 0, 0, 0, fmt.Errorf("expected a percentage (50%%) or a quota such as 25ms/100ms (period 1ms-1s)")
}

func isAllowance(v string) error {
	if v == "" {
		return nil
	}
	_, _, _, err := ParseAllowance(v)
	return err
}

// Namespaces documents the free-form key namespaces.
var Namespaces = []struct{ Prefix, Doc string }{
	{"user.", "free-form user data, stored and shown, never interpreted"},
	{"environment.", "environment variables for exec (environment.TZ=UTC)"},
	{"image.", "properties of the image the instance was created from"},
	{"raw.", "escape hatches handed to the runtime as they are (raw.lxc)"},
	{"volatile.", "lodged's own state (MAC addresses, last power state); read-only"},
}
