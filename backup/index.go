// Package backup reads and writes instance backups in LXD 5.0's tarball
// layout, so that a backup made by LXD imports into lodge and one made by
// lodge imports into LXD:
//
//	backup/index.yaml                 Index: name, backend, pool, snapshots, config
//	backup/snapshots/NAME/rootfs/...  each snapshot, oldest first (not with instance_only)
//	backup/snapshots/NAME/{backup,metadata}.yaml
//	backup/container/rootfs/...       the instance's root filesystem
//	backup/container/backup.yaml      the instance's config (as in the index)
//	backup/container/metadata.yaml    the image metadata (templates/ beside it)
//
// or, for an optimized backup of a btrfs pool, backup/optimized_header.yaml,
// backup/snapshots/NAME.bin and backup/container.bin (btrfs send streams).
//
// The tarball is compressed with one of a fixed list of algorithms
// (Compressions); the reader detects which from the first bytes.
//
// Import is defensive: the index is read first and checked on its own
// (names, snapshots, type), then every entry is checked against it while
// it streams (layout, order, a backup.yaml that disagrees with the index,
// paths with "..", absolute paths, hard links out of their section, device
// nodes, sizes beyond the target's free space) and written below the
// directory of its section only, resolved by the kernel with openat2
// (RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_XDEV), never by joining
// strings. Owners are mapped from the ids the backup recorded on disk to
// the new instance's map as they are written.
package backup

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"lodge/api"
	"lodge/instances"
)

// ErrInvalid marks a backup refused for what it contains (a 400 for the
// API); errors.Is(err, ErrInvalid) holds for every such refusal.
var ErrInvalid = errors.New("invalid backup")

type invalidError struct{ msg string }

func (e invalidError) Error() string        { return e.msg }
func (e invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, a ...any) error {
	return invalidError{"backup: " + fmt.Sprintf(format, a...)}
}

// Index is backup/index.yaml (LXD's backup.Info).
type Index struct {
	Name      string   `yaml:"name"`
	Backend   string   `yaml:"backend"`
	Pool      string   `yaml:"pool"`
	Snapshots []string `yaml:"snapshots,omitempty"`
	// Optimized and OptimizedHeader are pointers as in LXD: older backups
	// lack them.
	Optimized       *bool   `yaml:"optimized,omitempty"`
	OptimizedHeader *bool   `yaml:"optimized_header,omitempty"`
	Type            string  `yaml:"type,omitempty"`
	Config          *Config `yaml:"config,omitempty"`
}

// IsOptimized tells whether the volumes are btrfs send streams.
func (ix *Index) IsOptimized() bool { return ix.Optimized != nil && *ix.Optimized }

// Config is backup.yaml, also embedded in the index (LXD's backup config).
type Config struct {
	Container       *api.Instance           `yaml:"container,omitempty"`
	Snapshots       []*api.InstanceSnapshot `yaml:"snapshots,omitempty"`
	Pool            *Pool                   `yaml:"pool,omitempty"`
	Profiles        []*Profile              `yaml:"profiles,omitempty"`
	Volume          *Volume                 `yaml:"volume,omitempty"`
	VolumeSnapshots []*VolumeSnapshot       `yaml:"volume_snapshots,omitempty"`
}

// Pool is the storage pool the backup was taken on.
type Pool struct {
	Config      map[string]string `yaml:"config"`
	Description string            `yaml:"description"`
	Name        string            `yaml:"name"`
	Driver      string            `yaml:"driver"`
	UsedBy      []string          `yaml:"used_by"`
	Status      string            `yaml:"status"`
	Locations   []string          `yaml:"locations"`
}

// Profile is a profile the instance used, for information only: import
// applies the profiles of the same names on the target.
type Profile struct {
	Config      map[string]string            `yaml:"config"`
	Description string                       `yaml:"description"`
	Devices     map[string]map[string]string `yaml:"devices"`
	Name        string                       `yaml:"name"`
	UsedBy      []string                     `yaml:"used_by"`
}

// Volume is the instance's storage volume.
type Volume struct {
	Config      map[string]string `yaml:"config"`
	Description string            `yaml:"description"`
	Name        string            `yaml:"name"`
	Type        string            `yaml:"type"`
	UsedBy      []string          `yaml:"used_by"`
	Location    string            `yaml:"location"`
	ContentType string            `yaml:"content_type"`
	Project     string            `yaml:"project"`
	CreatedAt   time.Time         `yaml:"created_at"`
}

// VolumeSnapshot is one snapshot's storage volume. LXD 5.0.2's import
// indexes this list by the snapshots' positions, so a backup with
// snapshots must carry one entry per snapshot.
type VolumeSnapshot struct {
	Description string            `yaml:"description"`
	ExpiresAt   *time.Time        `yaml:"expires_at"`
	Name        string            `yaml:"name"`
	Config      map[string]string `yaml:"config"`
	ContentType string            `yaml:"content_type"`
	CreatedAt   time.Time         `yaml:"created_at"`
}

// Limits on the YAML files in a backup: a config with a thousand snapshots
// is a few MiB.
const (
	maxIndexSize    = 16 << 20
	maxMetadataSize = 1 << 20
)

var snapNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ParseIndex decodes and checks an index.yaml on its own: everything the
// importer relies on before it has seen any other entry.
func ParseIndex(data []byte) (*Index, error) {
	if len(data) > maxIndexSize {
		return nil, invalidf("backup/index.yaml is %d bytes; the limit is %d", len(data), maxIndexSize)
	}
	var ix Index
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&ix); err != nil {
		return nil, invalidf("backup/index.yaml: %v", err)
	}
	if err := ix.Validate(); err != nil {
		return nil, err
	}
	return &ix, nil
}

// Validate checks an index: a container backup whose name, config and
// snapshot lists agree with one another.
func (ix *Index) Validate() error {
	switch ix.Type {
	case "", "container":
	case "virtual-machine":
		return invalidf("index.yaml: this is a virtual-machine backup; lodge runs containers only")
	default:
		return invalidf("index.yaml: unknown backup type %q (expected container)", ix.Type)
	}
	if err := instances.ValidateName(ix.Name); err != nil {
		return invalidf("index.yaml: %v", err)
	}
	if ix.Config == nil || ix.Config.Container == nil {
		return invalidf("index.yaml has no config.container (a backup made before LXD 4.0?); lodge needs the config in the index")
	}
	c := ix.Config.Container
	if c.Name != ix.Name {
		return invalidf("index.yaml names the instance %q but its config.container is %q", ix.Name, c.Name)
	}
	if c.Type != "" && c.Type != "container" {
		return invalidf("index.yaml: config.container.type is %q; lodge runs containers only", c.Type)
	}
	for k, v := range c.Config {
		if strings.ContainsAny(k, "\n\x00") || strings.Contains(v, "\x00") {
			return invalidf("index.yaml: config key %q has a newline or NUL byte", k)
		}
	}
	seen := map[string]bool{}
	for i, s := range ix.Snapshots {
		if !snapNameRE.MatchString(s) {
			return invalidf("index.yaml: snapshot name %q is not valid: use letters, digits, '.', '_' and '-', up to 63 characters", s)
		}
		if seen[s] {
			return invalidf("index.yaml lists snapshot %q twice", s)
		}
		seen[s] = true
		if i >= len(ix.Config.Snapshots) || ix.Config.Snapshots[i] == nil || ix.Config.Snapshots[i].Name != s {
			return invalidf("index.yaml: snapshots %v disagree with config.snapshots %v", ix.Snapshots, snapNames(ix.Config.Snapshots))
		}
	}
	// LXD writes config.snapshots also for an instance-only backup; then
	// the list of snapshots is empty and the config's are ignored.
	if len(ix.Snapshots) > 0 && len(ix.Config.Snapshots) != len(ix.Snapshots) {
		return invalidf("index.yaml: snapshots %v disagree with config.snapshots %v", ix.Snapshots, snapNames(ix.Config.Snapshots))
	}
	if ix.IsOptimized() && ix.Backend != "btrfs" {
		return invalidf("index.yaml: an optimized backup from a %q pool; lodge reads optimized backups of btrfs pools only (export it again without --optimized-storage)", ix.Backend)
	}
	return nil
}

func snapNames(ss []*api.InstanceSnapshot) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if s != nil {
			out = append(out, s.Name)
		}
	}
	return out
}

// SnapshotConfig returns the config of snapshot name, nil if the index has none.
func (ix *Index) SnapshotConfig(name string) *api.InstanceSnapshot {
	if ix.Config == nil {
		return nil
	}
	for _, s := range ix.Config.Snapshots {
		if s != nil && s.Name == name {
			return s
		}
	}
	return nil
}

// agrees tells whether a backup.yaml found in the tarball says what the
// index says about the instance: name, its own config apart from
// volatile keys, devices, profiles, ephemeral, and the snapshots. The
// instance is made from the index alone; a backup.yaml that says
// otherwise is a tarball built to confuse, and refused.
func (ix *Index) agrees(other *Config) error {
	a, b := ix.Config.Container, other.Container
	if b == nil {
		return invalidf("backup/container/backup.yaml has no container section, unlike backup/index.yaml")
	}
	var diffs []string
	if a.Name != b.Name {
		diffs = append(diffs, "name")
	}
	if !reflect.DeepEqual(nonVolatile(a.Config), nonVolatile(b.Config)) {
		diffs = append(diffs, "config")
	}
	if !equalDevices(a.Devices, b.Devices) {
		diffs = append(diffs, "devices")
	}
	if !reflect.DeepEqual(a.Profiles, b.Profiles) {
		diffs = append(diffs, "profiles")
	}
	if a.Ephemeral != b.Ephemeral {
		diffs = append(diffs, "ephemeral")
	}
	if len(ix.Snapshots) > 0 {
		want := snapNames(ix.Config.Snapshots)
		got := snapNames(other.Snapshots)
		sort.Strings(want)
		sort.Strings(got)
		if !reflect.DeepEqual(want, got) {
			diffs = append(diffs, "snapshots")
		}
	}
	if len(diffs) > 0 {
		return invalidf("backup/container/backup.yaml disagrees with backup/index.yaml (%s); refusing a backup whose two configs differ", strings.Join(diffs, ", "))
	}
	return nil
}

func nonVolatile(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !strings.HasPrefix(k, "volatile.") {
			out[k] = v
		}
	}
	return out
}

func equalDevices(a, b map[string]map[string]string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func yamlUnmarshal(b []byte, v any) error { return yaml.Unmarshal(b, v) }
