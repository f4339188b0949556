// Package templates renders an image's templates into an instance's root
// filesystem, as LXD does: metadata.yaml's templates: section names, for
// each target path in the instance, the triggers that render it (create,
// copy, start, rename), whether an existing file is left alone
// (create_only), the template file under templates/ and its properties.
// Templates are pongo2 (Django syntax) with LXD's context: trigger, path,
// instance and container (name, type, architecture, privileged,
// ephemeral), config, devices, properties and config_get(key, default).
//
// An image is not trusted: templates cannot read files (extends, import,
// include and ssi are banned), output is bounded, and every write goes
// through package files, resolved by the kernel inside the rootfs, so a
// target such as ../../etc/x or one below a symlink to a host path lands
// inside the instance, never outside it.
package templates

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/flosch/pongo2/v6"
	"gopkg.in/yaml.v3"

	"lodge/files"
)

// Triggers, as LXD names them.
const (
	Create = "create"
	Copy   = "copy"
	Start  = "start"
	Rename = "rename"
)

// ApplyKey is the config key an instance keeps a pending trigger in
// (LXD's volatile.apply_template): create, copy and rename are recorded
// when they happen and rendered at the next start, before init runs.
const ApplyKey = "volatile.apply_template"

// Pending returns the value ApplyKey should take when trigger happens to
// an instance whose key holds current: a pending trigger is never
// replaced, so a copy of a never-started instance still renders create.
func Pending(current, trigger string) string {
	if current != "" {
		return current
	}
	return trigger
}

// Rule is one entry of metadata.yaml's templates: section.
type Rule struct {
	When       []string          `yaml:"when"`
	CreateOnly bool              `yaml:"create_only"`
	Template   string            `yaml:"template"`
	Properties map[string]string `yaml:"properties"`
}

// Has tells whether the rule renders on trigger.
func (r Rule) Has(trigger string) bool {
	for _, w := range r.When {
		if w == trigger {
			return true
		}
	}
	return false
}

// ErrInvalid marks an image whose templates cannot be used.
var ErrInvalid = errors.New("invalid image template")

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Parse reads the templates: section of a metadata.yaml, keyed by the
// target path in the instance. Targets and template names are checked
// here; triggers other than LXD's four are kept but never match.
func Parse(metadata []byte) (map[string]Rule, error) {
	var md struct {
		Templates map[string]Rule `yaml:"templates"`
	}
	if err := yaml.Unmarshal(metadata, &md); err != nil {
		return nil, invalidf("metadata.yaml: %v", err)
	}
	for target, r := range md.Templates {
		if target == "" || strings.ContainsRune(target, 0) {
			return nil, invalidf("template target %q: not a path", target)
		}
		if path.Clean("/"+target) == "/" {
			return nil, invalidf("template target %q: the root directory", target)
		}
		if err := checkTemplateName(r.Template); err != nil {
			return nil, invalidf("template for %s: %v", target, err)
		}
	}
	return md.Templates, nil
}

// checkTemplateName accepts a relative path below templates/.
func checkTemplateName(name string) error {
	if name == "" {
		return errors.New("no template file named")
	}
	if strings.ContainsRune(name, 0) || strings.HasPrefix(name, "/") {
		return fmt.Errorf("template file %q: must be a relative path under templates/", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return fmt.Errorf("template file %q: leaves templates/", name)
		}
	}
	return nil
}

// Instance is what a template sees of the instance it renders for.
type Instance struct {
	Name         string
	Type         string // "container" (default) or "virtual-machine"
	Architecture string // LXD's name: x86_64, aarch64...
	Privileged   bool
	Ephemeral    bool
	// Config and Devices are the expanded config and devices.
	Config  map[string]string
	Devices map[string]map[string]string
}

// Owner is the host uid and gid of the instance's root, which new files
// and directories get (0, 0 for a privileged container).
type Owner struct{ UID, GID int }

// MaxOutput bounds what one template may render.
const MaxOutput = 16 << 20

// Source is an image's metadata.yaml and templates/ as an instance keeps
// them (images.ExtractMetadata writes such a directory).
type Source struct {
	dir  *files.Root
	path string
}

// OpenSource opens a directory holding metadata.yaml and templates/.
// Reads go through package files as well: a symlink there is not followed.
func OpenSource(dir string) (*Source, error) {
	r, err := files.Open(dir)
	if err != nil {
		return nil, err
	}
	return &Source{dir: r, path: dir}, nil
}

// Close releases the source.
func (s *Source) Close() error { return s.dir.Close() }

// Rules reads and parses metadata.yaml; an image without one, or without
// templates, has none.
func (s *Source) Rules() (map[string]Rule, error) {
	b, err := s.read("metadata.yaml", 1<<20)
	if errors.Is(err, files.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

func (s *Source) read(name string, limit int64) ([]byte, error) {
	f, _, err := s.dir.OpenFile(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, invalidf("%s is over %d bytes", name, limit)
	}
	return b, nil
}

// Template reads the text of a template file.
func (s *Source) Template(name string) (string, error) {
	if err := checkTemplateName(name); err != nil {
		return "", invalidf("%v", err)
	}
	b, err := s.read("templates/"+name, 1<<20)
	if err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	return string(b), nil
}

// Render renders one template text for target with LXD's context.
func Render(text, trigger, target string, inst Instance, props map[string]string) (out string, err error) {
	defer func() {
		// pongo2 panics on some malformed input; an image is not trusted.
		if p := recover(); p != nil {
			err = invalidf("template for %s: renderer failed: %v", target, p)
		}
	}()
	tpl, err := newSet().FromString("{% autoescape off %}" + text + "{% endautoescape %}")
	if err != nil {
		return "", invalidf("template for %s: %v", target, err)
	}
	var w capWriter
	if err := tpl.ExecuteWriterUnbuffered(Context(trigger, target, inst, props), &w); err != nil {
		return "", invalidf("template for %s: %v", target, err)
	}
	if w.over {
		return "", invalidf("template for %s renders over %d MiB", target, MaxOutput>>20)
	}
	return w.b.String(), nil
}

// Context is the template context LXD gives: instance and container are
// the same map, with booleans as "true"/"false".
func Context(trigger, target string, inst Instance, props map[string]string) pongo2.Context {
	typ := inst.Type
	if typ == "" {
		typ = "container"
	}
	meta := map[string]string{
		"name":         inst.Name,
		"type":         typ,
		"architecture": inst.Architecture,
		"ephemeral":    fmt.Sprint(inst.Ephemeral),
	}
	if typ == "container" {
		meta["privileged"] = fmt.Sprint(inst.Privileged)
	}
	cfg := inst.Config
	if cfg == nil {
		cfg = map[string]string{}
	}
	devs := inst.Devices
	if devs == nil {
		devs = map[string]map[string]string{}
	}
	if props == nil {
		props = map[string]string{}
	}
	configGet := func(key, def *pongo2.Value) *pongo2.Value {
		v, ok := cfg[key.String()]
		if !ok {
			return def
		}
		return pongo2.AsValue(strings.TrimRight(v, "\r\n"))
	}
	return pongo2.Context{
		"trigger":    trigger,
		"path":       target,
		"instance":   meta,
		"container":  meta,
		"config":     cfg,
		"devices":    devs,
		"properties": props,
		"config_get": configGet,
	}
}

// newSet is a template set whose templates cannot reach any file.
func newSet() *pongo2.TemplateSet {
	set := pongo2.NewSet("lodge-image-template", noLoader{})
	for _, tag := range []string{"extends", "import", "include", "ssi"} {
		_ = set.BanTag(tag)
	}
	return set
}

type noLoader struct{}

func (noLoader) Abs(base, name string) string { return name }
func (noLoader) Get(string) (io.Reader, error) {
	return nil, errors.New("image templates cannot load other files")
}

// capWriter keeps at most MaxOutput bytes (pongo2 ignores write errors, so
// the overflow is reported after the run).
type capWriter struct {
	b    bytes.Buffer
	over bool
}

func (w *capWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > MaxOutput {
		w.over = true
		return len(p), nil
	}
	return w.b.Write(p)
}

// Result says what Apply did with one rule.
type Result struct {
	Target  string
	Written bool // false: skipped (create_only and the target exists)
}

// Apply renders every rule of src that has trigger into the root
// filesystem at rootfs, in target order. A new file is 0644 and owned by
// owner, its missing parent directories 0755 and owned by owner; an
// existing regular file keeps its owner and mode; a symlink at the target
// is replaced, never followed; a directory there is an error. The first
// failure stops the run (LXD fails the start the same way).
func Apply(src *Source, rootfs, trigger string, inst Instance, owner Owner) ([]Result, error) {
	rules, err := src.Rules()
	if err != nil || len(rules) == 0 {
		return nil, err
	}
	root, err := files.Open(rootfs)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	targets := make([]string, 0, len(rules))
	for t, r := range rules {
		if r.Has(trigger) {
			targets = append(targets, t)
		}
	}
	sort.Strings(targets)
	var results []Result
	for _, target := range targets {
		r := rules[target]
		written, err := applyOne(src, root, trigger, target, r, inst, owner)
		if err != nil {
			return results, err
		}
		results = append(results, Result{Target: target, Written: written})
	}
	return results, nil
}

func applyOne(src *Source, root *files.Root, trigger, target string, r Rule, inst Instance, owner Owner) (bool, error) {
	clean := path.Clean("/" + target)
	opt := files.WriteOptions{UID: owner.UID, GID: owner.GID, Mode: 0o644}
	if in, err := root.Lstat(clean); err == nil {
		if r.CreateOnly {
			return false, nil
		}
		switch in.Type {
		case "directory":
			return false, invalidf("template target %s is a directory in the instance", target)
		case "file":
			opt = files.WriteOptions{UID: in.UID, GID: in.GID, Mode: in.Mode & 0o777}
		}
	} else if !errors.Is(err, files.ErrNotFound) {
		return false, fmt.Errorf("template target %s: %w", target, err)
	}
	text, err := src.Template(r.Template)
	if err != nil {
		return false, err
	}
	out, err := Render(text, trigger, target, inst, r.Properties)
	if err != nil {
		return false, err
	}
	if dir := path.Dir(clean); dir != "/" {
		if err := root.MkdirAll(dir, files.WriteOptions{UID: owner.UID, GID: owner.GID, Mode: 0o755}); err != nil {
			return false, fmt.Errorf("template target %s: %w", target, err)
		}
	}
	if err := root.WriteFile(clean, strings.NewReader(out), opt); err != nil {
		return false, fmt.Errorf("template target %s: %w", target, err)
	}
	return true, nil
}
