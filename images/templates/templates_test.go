package templates

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// image lays out an instance's copy of its image metadata: metadata.yaml
// and templates/NAME for each template text.
func image(t *testing.T, metadata string, tpls map[string]string) *Source {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "metadata.yaml"), []byte(metadata), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "templates"), 0o755)
	for name, text := range tpls {
		if err := os.WriteFile(filepath.Join(dir, "templates", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src, err := OpenSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func rootfs(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	for _, d := range []string{"etc", "var/lib"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	return dir
}

// owner is an owner the test may chown to.
func owner() Owner {
	if os.Geteuid() == 0 {
		return Owner{UID: 100000, GID: 100000}
	}
	return Owner{UID: os.Getuid(), GID: os.Getgid()}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var c1 = Instance{Name: "c1", Architecture: "x86_64", Config: map[string]string{
	"user.role": "web\n", "user.empty": "", "image.os": "debian",
}, Devices: map[string]map[string]string{"eth0": {"type": "nic", "hwaddr": "00:16:3e:00:00:01"}}}

func TestContext(t *testing.T) {
	text := `{{ trigger }}|{{ path }}|{{ instance.name }}|{{ container.name }}|{{ instance.type }}|` +
		`{{ instance.architecture }}|{{ container.privileged }}|{{ instance.ephemeral }}|` +
		`{{ devices.eth0.hwaddr }}|{{ properties.greeting }}|{{ config_get("user.role", "none") }}|` +
		`{{ config_get("user.unset", "dflt") }}|[{{ config_get("user.empty", "dflt") }}]|{% for k, v in config %}{% if k == "image.os" %}{{ v }}{% endif %}{% endfor %}|<&>`
	got, err := Render(text, Start, "/etc/motd", c1, map[string]string{"greeting": "hi"})
	if err != nil {
		t.Fatal(err)
	}
	// config_get trims trailing newlines, gives the default only for an
	// absent key (an empty value stays empty), and nothing is HTML-escaped.
	want := "start|/etc/motd|c1|c1|container|x86_64|false|false|00:16:3e:00:00:01|hi|web|dflt|[]|debian|<&>"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	priv := c1
	priv.Privileged, priv.Ephemeral = true, true
	if got, _ := Render("{{ instance.privileged }} {{ instance.ephemeral }}", Create, "/x", priv, nil); got != "true true" {
		t.Errorf("privileged, ephemeral: %q", got)
	}
	vm := c1
	vm.Type = "virtual-machine"
	if got, _ := Render("{{ instance.type }}[{{ instance.privileged }}]", Create, "/x", vm, nil); got != "virtual-machine[]" {
		t.Errorf("a VM has no privileged: %q", got)
	}
}

func TestRenderRefusesFileAccess(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("TOPSECRET"), 0o644)
	for _, text := range []string{
		`{% include "` + secret + `" %}`,
		`{% ssi "` + secret + `" %}`,
		`{% ssi "` + secret + `" parsed %}`,
		`{% extends "` + secret + `" %}`,
		`{% import "` + secret + `" x %}`,
	} {
		out, err := Render(text, Create, "/x", c1, nil)
		if err == nil || strings.Contains(out, "TOPSECRET") || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: rendered %q, err %v", text, out, err)
		}
	}
	if _, err := Render("{% if %}", Create, "/x", c1, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("a syntax error is an invalid template: %v", err)
	}
	big := `{% for a in "` + strings.Repeat("x", 200) + `" %}{% for b in "` + strings.Repeat("y", 200) + `" %}` +
		strings.Repeat("z", 500) + `{% endfor %}{% endfor %}`
	if _, err := Render(big, Create, "/x", c1, nil); err == nil || !strings.Contains(err.Error(), "over") {
		t.Errorf("output over the bound: %v", err)
	}
}

const meta = `architecture: x86_64
creation_date: 1
templates:
  /etc/hostname:
    when: [create, copy, rename]
    template: hostname.tpl
  /etc/hosts:
    when: [create]
    create_only: true
    template: hosts.tpl
  /var/lib/cloud/seed/nocloud-net/meta-data:
    when: [create, copy]
    template: meta.tpl
    properties:
      extra: "x: y"
  /etc/started:
    when: [start]
    template: started.tpl
`

var tpls = map[string]string{
	"hostname.tpl": "{{ container.name }}\n",
	"hosts.tpl":    "127.0.1.1\t{{ container.name }}\n",
	"meta.tpl":     "instance-id: {{ container.name }}\n{{ properties.extra }}\n",
	"started.tpl":  "{{ trigger }}\n",
}

func TestApplyTriggers(t *testing.T) {
	src := image(t, meta, tpls)
	root := rootfs(t)
	os.WriteFile(filepath.Join(root, "etc/hosts"), []byte("old hosts\n"), 0o600)
	res, err := Apply(src, root, Create, c1, owner())
	if err != nil {
		t.Fatal(err)
	}
	// create: hostname, meta-data (parents made), hosts skipped (create_only
	// and present), the start rule not run.
	if len(res) != 3 || res[0].Target != "/etc/hostname" || !res[0].Written || res[1].Target != "/etc/hosts" || res[1].Written {
		t.Errorf("results: %+v", res)
	}
	if got := read(t, filepath.Join(root, "etc/hostname")); got != "c1\n" {
		t.Errorf("hostname %q", got)
	}
	if got := read(t, filepath.Join(root, "etc/hosts")); got != "old hosts\n" {
		t.Errorf("create_only overwrote hosts: %q", got)
	}
	seed := filepath.Join(root, "var/lib/cloud/seed/nocloud-net/meta-data")
	if got := read(t, seed); got != "instance-id: c1\nx: y\n" {
		t.Errorf("meta-data %q", got)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/started")); err == nil {
		t.Error("a start rule ran on create")
	}
	// New files 0644 and new directories 0755, owned by the container's root.
	o := owner()
	for p, mode := range map[string]os.FileMode{seed: 0o644, filepath.Dir(seed): 0o755 | os.ModeDir, filepath.Join(root, "var/lib/cloud"): 0o755 | os.ModeDir} {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != mode || int(st.Uid) != o.UID || int(st.Gid) != o.GID {
			t.Errorf("%s: mode %v owner %d:%d, want %v %d:%d", p, fi.Mode(), st.Uid, st.Gid, mode, o.UID, o.GID)
		}
	}

	// rename renders only the rename rules; a new name.
	c2 := c1
	c2.Name = "c2"
	if _, err := Apply(src, root, Rename, c2, owner()); err != nil {
		t.Fatal(err)
	}
	if read(t, filepath.Join(root, "etc/hostname")) != "c2\n" || read(t, seed) != "instance-id: c1\nx: y\n" {
		t.Error("rename rendered the wrong rules")
	}
	// start.
	if _, err := Apply(src, root, Start, c2, owner()); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(root, "etc/started")); got != "start\n" {
		t.Errorf("start rule: %q", got)
	}
	// An existing file keeps its mode.
	os.Chmod(filepath.Join(root, "etc/hostname"), 0o640)
	if _, err := Apply(src, root, Copy, c1, owner()); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(root, "etc/hostname")); fi.Mode() != 0o640 {
		t.Errorf("existing file's mode: %v", fi.Mode())
	}
}

func TestApplyCreateOnlyMissing(t *testing.T) {
	src := image(t, meta, tpls)
	root := rootfs(t)
	if _, err := Apply(src, root, Create, c1, owner()); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(root, "etc/hosts")); got != "127.0.1.1\tc1\n" {
		t.Errorf("create_only writes a missing file: %q", got)
	}
}

func TestNoTemplates(t *testing.T) {
	root := rootfs(t)
	for name, src := range map[string]*Source{
		"no templates section": image(t, "architecture: x86_64\n", nil),
		"no metadata.yaml":     func() *Source { s, _ := OpenSource(t.TempDir()); return s }(),
	} {
		res, err := Apply(src, root, Create, c1, owner())
		if err != nil || len(res) != 0 {
			t.Errorf("%s: %v %v", name, res, err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "etc")); len(ents) != 0 {
		t.Errorf("wrote %v", ents)
	}
}

// A hostile image: targets with .., a target below a symlink to a host
// directory, a target that is a symlink to a host file, and a template file
// that is a symlink to a host file. Nothing outside the rootfs is written
// or read.
func TestApplyHostile(t *testing.T) {
	host := t.TempDir()
	victim := filepath.Join(host, "victim")
	os.WriteFile(victim, []byte("host file\n"), 0o644)
	hostDir := filepath.Join(host, "hostdir")
	os.Mkdir(hostDir, 0o755)
	hostSecret := filepath.Join(host, "secret")
	os.WriteFile(hostSecret, []byte("TOPSECRET"), 0o600)

	root := rootfs(t)
	// /etc/hostname -> the host's victim; /var/lib/cloud -> a host directory.
	os.Symlink(victim, filepath.Join(root, "etc/hostname"))
	os.Symlink(hostDir, filepath.Join(root, "var/lib/cloud"))
	// The same path inside the rootfs, where the kernel resolves the link.
	os.MkdirAll(filepath.Join(root, hostDir), 0o755)
	up := strings.Repeat("../", 12)
	md := `templates:
  /etc/hostname:
    when: [create]
    template: t.tpl
  ` + up + `etc/x:
    when: [create]
    template: t.tpl
  ../../` + filepath.Base(host) + `/escaped:
    when: [create]
    template: t.tpl
  /var/lib/cloud/seed/nocloud-net/user-data:
    when: [create]
    template: t.tpl
`
	src := image(t, md, map[string]string{"t.tpl": "{{ container.name }}\n"})
	if _, err := Apply(src, root, Create, c1, owner()); err != nil {
		t.Fatal(err)
	}
	if got := read(t, victim); got != "host file\n" {
		t.Errorf("the host file behind a symlink was written: %q", got)
	}
	if ents, _ := os.ReadDir(hostDir); len(ents) != 0 {
		t.Errorf("the host directory behind a symlink was written: %v", ents)
	}
	if _, err := os.Lstat(filepath.Join(host, "escaped")); err == nil {
		t.Error("../ left the rootfs")
	}
	// Each landed inside: the symlink was replaced by a file, .. stopped at
	// the root, the symlinked directory resolved inside the rootfs.
	if fi, err := os.Lstat(filepath.Join(root, "etc/hostname")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("/etc/hostname in the rootfs: %v %v", fi, err)
	}
	for _, p := range []string{"etc/x", filepath.Base(host) + "/escaped", strings.TrimPrefix(hostDir, "/") + "/seed/nocloud-net/user-data"} {
		if got := read(t, filepath.Join(root, p)); got != "c1\n" {
			t.Errorf("%s in the rootfs: %q", p, got)
		}
	}

	// A template file that is a symlink to a host file is not read.
	src2 := image(t, "templates:\n  /etc/leak:\n    when: [create]\n    template: link.tpl\n", nil)
	os.Symlink(hostSecret, templatePath(t, src2))
	if _, err := Apply(src2, root, Create, c1, owner()); err == nil {
		t.Error("a symlinked template was accepted")
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc/leak")); err == nil {
		t.Errorf("leaked: %q", b)
	}
	// Below a symlink to a host directory that has no twin in the rootfs,
	// the write fails; the host directory stays empty.
	hostDir2 := filepath.Join(host, "hostdir2")
	os.Mkdir(hostDir2, 0o755)
	os.Symlink(hostDir2, filepath.Join(root, "var/lib/dangling"))
	src4 := image(t, "templates:\n  /var/lib/dangling/x:\n    when: [create]\n    template: t.tpl\n", map[string]string{"t.tpl": "x"})
	if _, err := Apply(src4, root, Create, c1, owner()); err == nil {
		t.Error("a write below a dangling symlink succeeded")
	}
	if ents, _ := os.ReadDir(hostDir2); len(ents) != 0 {
		t.Errorf("the host directory behind a dangling symlink was written: %v", ents)
	}
	// A template name with .. is refused when parsed.
	if _, err := Parse([]byte("templates:\n  /etc/x:\n    when: [create]\n    template: ../../secret\n")); !errors.Is(err, ErrInvalid) {
		t.Errorf("template ../../secret: %v", err)
	}
	// A directory target is an error, not a replaced directory.
	src3 := image(t, "templates:\n  /etc:\n    when: [create]\n    template: t.tpl\n", map[string]string{"t.tpl": "x"})
	if _, err := Apply(src3, root, Create, c1, owner()); err == nil {
		t.Error("a directory target was accepted")
	}
}

// templatePath is where src keeps templates/link.tpl (the tests' sources
// are directories made by image).
func templatePath(t *testing.T, src *Source) string {
	t.Helper()
	return filepath.Join(src.path, "templates", "link.tpl")
}

func TestPending(t *testing.T) {
	if Pending("", Create) != Create || Pending(Create, Copy) != Create || Pending("", Rename) != Rename || Pending(Copy, Rename) != Copy {
		t.Error("a pending trigger must be kept, an empty one set")
	}
}

func TestParse(t *testing.T) {
	rules, err := Parse([]byte(meta))
	if err != nil {
		t.Fatal(err)
	}
	r := rules["/etc/hosts"]
	if !r.CreateOnly || r.Template != "hosts.tpl" || !r.Has(Create) || r.Has(Copy) {
		t.Errorf("rule: %+v", r)
	}
	for _, bad := range []string{
		"templates:\n  /etc/x:\n    when: [create]\n",
		"templates:\n  /:\n    when: [create]\n    template: a\n",
		"templates:\n  /etc/x:\n    template: /etc/passwd\n",
		"templates: [1, 2]\n",
	} {
		if _, err := Parse([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
