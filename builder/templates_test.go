package builder

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lodge/images/templates"
	"lodge/instances"
)

// The cloud variant's templates, rendered by lodge's renderer, give what
// instances.NoCloudSeed says the seed is, for every way the keys can be set.
func TestCloudTemplatesRender(t *testing.T) {
	tpls := append([]imageTemplate{hostnameTemplate, hostsTemplate}, cloudInitTemplates...)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "metadata.yaml"), []byte(metadataYAML("x86_64", nil)+templatesYAML(tpls)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeTemplates(dir, tpls); err != nil {
		t.Fatal(err)
	}
	src, err := templates.OpenSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	owner := templates.Owner{UID: os.Getuid(), GID: os.Getgid()}
	configs := []map[string]string{
		nil,
		{"user.user-data": "#cloud-config\nusers: []\n", "user.vendor-data": "#cloud-config\na: 1",
			"user.network-config": "version: 2\nethernets: {}\n", "user.meta-data": "x: y\n"},
		{"cloud-init.user-data": "#cloud-config\nruncmd: [true]\n", "user.user-data": "#cloud-config\nignored: 1",
			"cloud-init.vendor-data": "#!/bin/sh\necho hi\n", "cloud-init.network-config": "version: 1\nconfig: []"},
		{"cloud-init.user-data": "", "user.user-data": "#cloud-config\nfallback: 1", "cloud-init.network-config": ""},
		{"cloud-init.user-data": "\n", "user.meta-data": ""},
	}
	for i, cfg := range configs {
		root := filepath.Join(t.TempDir(), "rootfs")
		os.MkdirAll(filepath.Join(root, "etc"), 0o755)
		inst := templates.Instance{Name: "vps1", Architecture: "x86_64", Config: cfg}
		res, err := templates.Apply(src, root, templates.Create, inst, owner)
		if err != nil || len(res) != 6 {
			t.Fatalf("config %d: %v %v", i, res, err)
		}
		for file, want := range instances.NoCloudSeed("vps1", cfg) {
			b, err := os.ReadFile(filepath.Join(root, "var/lib/cloud/seed/nocloud-net", file))
			if err != nil || string(b) != want {
				t.Errorf("config %d: %s = %q, want %q (%v)", i, file, b, want, err)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(root, "etc/hostname")); string(b) != "vps1\n" {
			t.Errorf("hostname %q", b)
		}
		if b, _ := os.ReadFile(filepath.Join(root, "etc/hosts")); !strings.Contains(string(b), "127.0.1.1\tvps1\n") {
			t.Errorf("hosts %q", b)
		}
	}
	// A rename re-renders hostname and hosts, not the seed.
	root := t.TempDir()
	res, err := templates.Apply(src, root, templates.Rename, templates.Instance{Name: "vps2"}, owner)
	if err != nil || len(res) != 2 || res[0].Target != "/etc/hostname" || res[1].Target != "/etc/hosts" {
		t.Errorf("rename: %v %v", res, err)
	}
}

func TestDebianOptions(t *testing.T) {
	for _, opt := range []Options{{Variant: "cloud"}, {Packages: []string{"vim", "g++", "libc6.1-dev"}}, {Variant: "default"}} {
		if err := checkDebianOptions(opt); err != nil {
			t.Errorf("%+v: %v", opt, err)
		}
	}
	for _, opt := range []Options{{Variant: "minimal"}, {Packages: []string{"vim,curl"}}, {Packages: []string{"--foo"}}, {Packages: []string{"Vim"}}, {Packages: []string{""}}} {
		if err := checkDebianOptions(opt); err == nil {
			t.Errorf("%+v accepted", opt)
		}
	}
	got := debianPackageSet(Options{Variant: "cloud", Packages: []string{"vim", "procps"}})
	if strings.Join(got, ",") != "ca-certificates,cloud-init,ifupdown,iproute2,iputils-ping,isc-dhcp-client,less,openssh-server,procps,python3-cffi-backend,systemd-sysv,vim" {
		t.Errorf("packages %v", got)
	}
	// The default image's cache key changes only with what the image
	// holds (last: the networking.service drop-in); variants and packages
	// change it.
	def := debianRecipe(Options{Release: "bookworm", Mirror: "http://deb.debian.org/debian/", Arch: "x86_64"})
	if def.key() != "753e773538a8d342" || def.name != "debian-bookworm" {
		t.Errorf("default recipe changed: %s %s", def.name, def.key())
	}
	def = debianRecipe(Options{Release: "bookworm", Mirror: "http://a/", Arch: "x86_64"})
	cloud := debianRecipe(Options{Release: "bookworm", Mirror: "http://a/", Arch: "x86_64", Variant: "cloud"})
	custom := debianRecipe(Options{Release: "bookworm", Mirror: "http://a/", Arch: "x86_64", Packages: []string{"vim"}})
	if cloud.key() == def.key() || custom.key() == def.key() || cloud.key() == custom.key() || cloud.name != "debian-bookworm-cloud" || len(def.templates) != 0 || len(cloud.templates) != 6 {
		t.Errorf("keys %s %s %s names %s %s", def.key(), cloud.key(), custom.key(), cloud.name, custom.name)
	}
	if _, err := Build(t.Context(), "busybox", Options{Variant: "cloud", CacheDir: t.TempDir()}); err == nil {
		t.Error("busybox with a variant")
	}
}

// A failed download is worth another run of debootstrap; anything else is
// not.
func TestMirrorHiccup(t *testing.T) {
	for _, c := range []struct {
		tail string
		want bool
	}{
		{"W: Couldn't download package adduser (ver 3.134 arch all)\nE: Couldn't download packages: adduser apt", true},
		{"E: Failed getting release file http://deb.debian.org/debian/dists/bookworm/Release", true},
		{"E: Couldn't find these debs: nosuchpackage", false},
		{"E: No such script: /usr/share/debootstrap/scripts/nosuch", false},
		{"tar: write error: No space left on device", false},
	} {
		if got := mirrorHiccup(fmt.Errorf("debootstrap: exit status 1: %s", c.tail)); got != c.want {
			t.Errorf("%q: %v, want %v", c.tail, got, c.want)
		}
	}
}
