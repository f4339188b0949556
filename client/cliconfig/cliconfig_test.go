package cliconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultsAndRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.DefaultRemote != "local" || c.Remotes["images"].Addr != "https://images.linuxcontainers.org" ||
		c.Remotes["ubuntu"].Protocol != "simplestreams" || c.Remotes["ubuntu-daily"].Addr != "https://cloud-images.ubuntu.com/daily" {
		t.Fatalf("defaults: %+v", c)
	}
	c.Remotes["mirror"] = Remote{Addr: "http://127.0.0.1:1", Protocol: "simplestreams", Public: true}
	delete(c.Remotes, "images")
	c.DefaultRemote = "mirror"
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "config.yml"))
	if !strings.Contains(string(b), "default-remote: mirror") || strings.Contains(string(b), "ubuntu") || !strings.Contains(string(b), "addr: http://127.0.0.1:1") {
		t.Fatalf("file:\n%s", b)
	}
	c2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c2.Remotes["images"]; ok {
		t.Error("a removed images: came back")
	}
	if c2.Remotes["mirror"].Addr != "http://127.0.0.1:1" || c2.DefaultRemote != "mirror" || !c2.Remotes["ubuntu"].Static {
		t.Fatalf("reloaded: %+v", c2)
	}
}

func TestParseRef(t *testing.T) {
	c, _ := Load(t.TempDir())
	c.Remotes["hostb"] = Remote{Addr: "https://127.0.0.1:8443", Protocol: "lxd"}
	for _, tc := range []struct{ in, remote, name string }{
		{"images:debian/12", "images", "debian/12"},
		{"debian/12", "local", "debian/12"},
		{":c1", "local", "c1"},
		{"local:c1", "local", "c1"},
		{"ubuntu:18.04", "ubuntu", "18.04"},
		{"hostb:c1", "hostb", "c1"},
		{"hostb:", "hostb", ""},
		{"hostb:c1/tmp/a:b", "hostb", "c1/tmp/a:b"},
		// A path whose file name has a colon is not a remote.
		{"c1/tmp/a:b", "local", "c1/tmp/a:b"},
	} {
		r, err := c.ParseRef(tc.in)
		if err != nil || r.Remote != tc.remote || r.Name != tc.name {
			t.Errorf("%s: %+v %v", tc.in, r, err)
		}
	}
	if _, err := c.ParseRef("nope:x"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown remote: %v", err)
	}
	// The default remote is what an argument without a prefix means.
	c.DefaultRemote = "hostb"
	if r, _ := c.ParseRef("c1"); r.Remote != "hostb" {
		t.Errorf("default remote: %+v", r)
	}
	for in, want := range map[string]bool{"hostb:": true, "local:": true, ":": true, "hostb:c1": false, "c1": false, "nope:": false} {
		if got := c.IsRemoteArg(in); got != want {
			t.Errorf("IsRemoteArg(%q) = %v", in, got)
		}
	}
}

func TestConnectRefusesImageServers(t *testing.T) {
	c, _ := Load(t.TempDir())
	if _, err := c.Connect("images"); err == nil || !strings.Contains(err.Error(), "image server") {
		t.Fatalf("connect to an image server: %v", err)
	}
	if _, err := c.Connect("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("connect to an unknown remote: %v", err)
	}
}

func TestBadFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.yml"), []byte("remotes: [\n"), 0o600)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "config.yml") {
		t.Fatalf("%v", err)
	}
}
