package instances

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Key describes one instance config key.
type Key struct {
	Validate func(string) error
	// Live keys may change on a running instance; others apply at next start.
	Live bool
	Doc  string
}

// Keys is the registry of instance config keys lodge knows. Namespaces
// user.*, environment.*, image.* and raw.* are free-form; volatile.* is the
// daemon's own.
var Keys = map[string]Key{
	"boot.autostart":          {Validate: isBool, Live: true, Doc: "start the instance when lodged starts"},
	"boot.autostart.delay":    {Validate: isUint, Live: true, Doc: "seconds to wait after starting this instance before the next"},
	"boot.autostart.priority": {Validate: isInt, Live: true, Doc: "higher starts first"},
	"boot.stop.priority":      {Validate: isInt, Live: true, Doc: "higher stops first on lodged shutdown"},
	"boot.host_shutdown_timeout": {Validate: isUint, Live: true,
		Doc: "seconds to wait for a clean shutdown before killing the instance"},
	"limits.cpu":          {Validate: isCPUSet, Doc: "number of CPUs or a CPU set (0-1,3)"},
	"limits.memory":       {Validate: isSizeOrPercent, Doc: "memory limit in bytes (512MiB, 1GB) or percent of host"},
	"limits.processes":    {Validate: isUint, Doc: "maximum number of processes"},
	"security.privileged": {Validate: isBool, Doc: "run the container without a user namespace (root inside is root outside)"},
	"security.nesting":    {Validate: isBool, Doc: "allow containers inside this one"},
	"raw.lxc":             {Validate: func(string) error { return nil }, Doc: "raw liblxc config lines appended to the generated config"},
}

var freeNamespaces = []string{"user.", "environment.", "image.", "volatile.", "raw."}

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
		free := false
		for _, ns := range freeNamespaces {
			if strings.HasPrefix(k, ns) && len(k) > len(ns) {
				free = true
			}
		}
		if !free {
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
	return n * mult, nil
}
