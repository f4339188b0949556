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

func TestParseRemote(t *testing.T) {
	c, _ := Load(t.TempDir())
	for in, want := range map[string][2]string{
		"images:debian/12": {"images", "debian/12"},
		"debian/12":        {"local", "debian/12"},
		":c1":              {"local", "c1"},
		"local:c1":         {"local", "c1"},
		"ubuntu:18.04":     {"ubuntu", "18.04"},
	} {
		r, rest, err := c.ParseRemote(in)
		if err != nil || r != want[0] || rest != want[1] {
			t.Errorf("%s: %s %s %v", in, r, rest, err)
		}
	}
	if _, _, err := c.ParseRemote("nope:x"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown remote: %v", err)
	}
}

func TestBadFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.yml"), []byte("remotes: [\n"), 0o600)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "config.yml") {
		t.Fatalf("%v", err)
	}
}
