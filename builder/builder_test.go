package builder

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"lodge/images"
	"lodge/test/gate"
)

func TestMirrorFromList(t *testing.T) {
	tests := []struct{ text, want string }{
		{"deb http://deb.debian.org/debian bookworm main\n", "http://deb.debian.org/debian/"},
		{"# deb http://old/ x main\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian/ bookworm main contrib\n", "http://m.example/debian/"},
		{"deb http://security.debian.org/debian-security bookworm-security main\ndeb http://m2/debian bookworm main\n", "http://m2/debian/"},
		{"deb-src http://src/ bookworm main\n", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := mirrorFromList(tc.text); got != tc.want {
			t.Errorf("mirrorFromList(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestMirrorFromDeb822(t *testing.T) {
	tests := []struct{ text, want string }{
		{"Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n", "http://deb.debian.org/debian/"},
		{"Types: deb\n# comment\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n\nTypes: deb\nURIs: http://m/debian\nSuites: bookworm\n", "http://m/debian/"},
		{"Types: deb-src\nURIs: http://src/\nSuites: bookworm\n", ""},
		{"Enabled: no\nTypes: deb\nURIs: http://off/\nSuites: bookworm\n", ""},
	}
	for _, tc := range tests {
		if got := mirrorFromDeb822(tc.text); got != tc.want {
			t.Errorf("mirrorFromDeb822(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestRecipeKey(t *testing.T) {
	a := debianRecipe(Options{Release: "bookworm", Mirror: "http://a/", Arch: "x86_64"})
	b := debianRecipe(Options{Release: "bookworm", Mirror: "http://b/", Arch: "x86_64"})
	c := debianRecipe(Options{Release: "trixie", Mirror: "http://a/", Arch: "x86_64"})
	if a.key() == b.key() || a.key() == c.key() || a.key() != debianRecipe(Options{Release: "bookworm", Mirror: "http://a/", Arch: "x86_64"}).key() {
		t.Fatal("recipe key must change with mirror and release and only with them")
	}
}

// Builds the busybox image for real (seconds) and imports it into a store.
func TestBuildBusybox(t *testing.T) {
	gate.Integration(t, "builds an image with debootstrap and busybox")
	cache := t.TempDir()
	var log bytes.Buffer
	path, err := Build(context.Background(), "busybox", Options{CacheDir: cache, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	again, err := Build(context.Background(), "busybox", Options{CacheDir: cache, Log: &log})
	if err != nil || again != path || !strings.Contains(log.String(), "Using cached") {
		t.Fatalf("second build not cached: %v %s", err, log.String())
	}
	store, _ := images.NewStore(t.TempDir())
	f, _ := os.Open(path)
	defer f.Close()
	info, err := store.Import(context.Background(), f, "")
	if err != nil {
		t.Fatal(err)
	}
	if info.Metadata.Properties["os"] != "busybox" || info.Metadata.Properties["lodge.init"] != "busybox" {
		t.Fatalf("metadata: %+v", info.Metadata)
	}
	if ents, _ := os.ReadDir(cache); len(ents) != 1 {
		t.Fatalf("cache has leftovers: %v", ents)
	}
}

// Builds the debian cloud variant for real (minutes the first time; the
// cache in /var/cache/lodge/images, shared with the integration tests,
// makes later runs seconds) and checks what cloud-init and the template
// renderer will find in it.
func TestBuildDebianCloud(t *testing.T) {
	gate.Integration(t, "builds an image with debootstrap and busybox")
	var log bytes.Buffer
	path, err := Build(context.Background(), "debian", Options{Release: "bookworm", Variant: "cloud", Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	members := tarMembers(t, path)
	var md struct {
		Properties map[string]string `yaml:"properties"`
		Templates  map[string]struct {
			When       []string          `yaml:"when"`
			CreateOnly bool              `yaml:"create_only"`
			Template   string            `yaml:"template"`
			Properties map[string]string `yaml:"properties"`
		} `yaml:"templates"`
	}
	if err := yaml.Unmarshal([]byte(members["metadata.yaml"]), &md); err != nil {
		t.Fatalf("metadata.yaml: %v\n%s", err, members["metadata.yaml"])
	}
	if md.Properties["variant"] != "cloud" || md.Properties["os"] != "debian" || md.Properties["release"] != "bookworm" {
		t.Errorf("properties: %v", md.Properties)
	}
	want := map[string]string{
		"/etc/hostname": "hostname.tpl", "/etc/hosts": "hosts.tpl",
		"/var/lib/cloud/seed/nocloud-net/meta-data":      "cloud-init-meta.tpl",
		"/var/lib/cloud/seed/nocloud-net/user-data":      "cloud-init-user.tpl",
		"/var/lib/cloud/seed/nocloud-net/vendor-data":    "cloud-init-vendor.tpl",
		"/var/lib/cloud/seed/nocloud-net/network-config": "cloud-init-network.tpl",
	}
	if len(md.Templates) != len(want) {
		t.Errorf("templates: %v", md.Templates)
	}
	for target, file := range want {
		rule, ok := md.Templates[target]
		if !ok || rule.Template != file {
			t.Errorf("template for %s: %+v", target, rule)
			continue
		}
		if _, ok := members["templates/"+file]; !ok {
			t.Errorf("templates/%s is not in the tarball", file)
		}
		if !slices.Contains(rule.When, "create") || !slices.Contains(rule.When, "copy") || rule.CreateOnly {
			t.Errorf("%s: when %v create_only %v", target, rule.When, rule.CreateOnly)
		}
	}
	if md.Templates["/var/lib/cloud/seed/nocloud-net/user-data"].Properties["default"] != "#cloud-config\n{}" {
		t.Errorf("user-data default: %v", md.Templates["/var/lib/cloud/seed/nocloud-net/user-data"].Properties)
	}
	for _, f := range []string{"rootfs/usr/bin/cloud-init", "rootfs/usr/sbin/sshd", "rootfs/usr/bin/ssh-keygen",
		"rootfs/etc/systemd/system/lodge-ssh-keygen.service", "rootfs/usr/lib/python3/dist-packages/cloudinit/sources/DataSourceLXD.py"} {
		if _, ok := members[f]; !ok {
			t.Errorf("%s missing from the image", f)
		}
	}
	for m := range members {
		if strings.HasPrefix(m, "rootfs/etc/ssh/ssh_host_") {
			t.Errorf("the image ships SSH host key %s: every container would share it", m)
		}
	}
	if got := members["rootfs/etc/default/locale"]; got != "LANG=C.UTF-8\n" {
		t.Errorf("/etc/default/locale: %q (cloud-init's locale module fails without one)", got)
	}
	if got := members["rootfs/etc/network/interfaces"]; !strings.Contains(got, "source /etc/network/interfaces.d/*") || strings.Contains(got, "eth0") {
		t.Errorf("/etc/network/interfaces leaves eth0 to cloud-init? %q", got)
	}
	store, _ := images.NewStore(t.TempDir())
	f, _ := os.Open(path)
	defer f.Close()
	if _, err := store.Import(context.Background(), f, ""); err != nil {
		t.Fatal(err)
	}
}

// tarMembers lists a zstd tarball's members, with the text of small
// regular files outside usr/.
func tarMembers(t *testing.T, path string) map[string]string {
	t.Helper()
	out, err := exec.Command("tar", "--list", "--file", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	members := map[string]string{}
	for _, m := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		members[strings.TrimSuffix(strings.TrimPrefix(m, "./"), "/")] = ""
	}
	for _, m := range []string{"metadata.yaml", "rootfs/etc/network/interfaces", "rootfs/etc/default/locale"} {
		b, err := exec.Command("tar", "--extract", "--to-stdout", "--file", path, m).Output()
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		members[m] = string(b)
	}
	return members
}

// A unified image split as image servers publish it imports as a split
// image whose fingerprint is the SHA-256 of metadata then squashfs, and
// keeps its metadata and templates.
func TestSplitUnified(t *testing.T) {
	gate.Integration(t, "builds an image with debootstrap and busybox")
	unified, err := Build(context.Background(), "busybox", Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	meta, sq, err := SplitUnified(context.Background(), unified, dir, "bb")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "--list", "--file", meta).Output(); err != nil || strings.TrimSpace(string(out)) != "metadata.yaml" {
		t.Errorf("metadata tarball holds %q (%v)", out, err)
	}
	head := make([]byte, 4)
	f, _ := os.Open(sq)
	f.Read(head)
	f.Close()
	if string(head) != "hsqs" {
		t.Fatalf("%s is not squashfs: %q", sq, head)
	}
	mf, _ := os.Open(meta)
	defer mf.Close()
	rf, _ := os.Open(sq)
	defer rf.Close()
	store, _ := images.NewStore(t.TempDir())
	info, err := store.ImportSplit(context.Background(), mf, rf, "")
	if err != nil {
		t.Fatal(err)
	}
	if info.Metadata.Properties["os"] != "busybox" {
		t.Errorf("metadata: %+v", info.Metadata)
	}
	root := filepath.Join(t.TempDir(), "rootfs")
	if err := images.Unpack(context.Background(), store.Path(info.Fingerprint), root); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(root, "bin/busybox")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("unpacked squashfs: %v %v", fi, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("left in the directory: %v", ents)
	}
}
