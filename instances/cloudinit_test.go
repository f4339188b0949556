package instances

import (
	"strings"
	"testing"
)

func TestCloudInitKeysValidate(t *testing.T) {
	tests := []struct {
		cfg  map[string]string
		want string // substring of the error, "" for ok
	}{
		{map[string]string{"cloud-init.user-data": "#cloud-config\nusers:\n  - name: alice\n"}, ""},
		{map[string]string{"cloud-init.user-data": "#cloud-config\n"}, ""},
		{map[string]string{"cloud-init.user-data": "#cloud-config"}, ""},
		{map[string]string{"cloud-init.user-data": "#!/bin/sh\necho hi\n"}, ""},
		{map[string]string{"cloud-init.user-data": ""}, ""},
		{map[string]string{"cloud-init.vendor-data": "#cloud-config\n{}"}, ""},
		{map[string]string{"cloud-init.user-data": "#cloud-config\nusers: [\n"}, `"cloud-init.user-data"`},
		{map[string]string{"cloud-init.user-data": "#cloud-config\n- a\n- b\n"}, "not a YAML mapping"},
		{map[string]string{"cloud-init.vendor-data": "#cloud-config\nfoo: : bar\n"}, `"cloud-init.vendor-data"`},
		{map[string]string{"cloud-init.network-config": "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n"}, ""},
		{map[string]string{"cloud-init.network-config": "version: [1\n"}, `"cloud-init.network-config"`},
		{map[string]string{"cloud-init.network-config": "just a string"}, "not a YAML mapping"},
		// The older user.* keys are free-form, as in LXD.
		{map[string]string{"user.user-data": "#cloud-config\n[", "user.network-config": "[", "user.meta-data": "x: y"}, ""},
		{map[string]string{"security.devlxd": "false", "security.devlxd.images": "true"}, ""},
		{map[string]string{"security.devlxd": "maybe"}, "expected true or false"},
		{map[string]string{"cloud-init.meta-data": "x"}, "unknown key"},
	}
	for _, tc := range tests {
		err := ValidateConfig(tc.cfg)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: unexpected error %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: error %v, want one containing %q", tc.cfg, err, tc.want)
		}
	}
	if Keys["security.devlxd"].Default != "true" || Keys["security.devlxd.images"].Default != "false" {
		t.Error("security.devlxd defaults differ from LXD's")
	}
}

func TestCloudInitValue(t *testing.T) {
	cfg := map[string]string{"cloud-init.user-data": "#cloud-config\na: 1", "user.user-data": "#cloud-config\nb: 2",
		"cloud-init.vendor-data": "", "user.vendor-data": "#cloud-config\nv: 1", "user.network-config": ""}
	if v, ok := CloudInitValue(cfg, "user-data"); !ok || v != "#cloud-config\na: 1" {
		t.Errorf("user-data: the cloud-init.* key must win: %q %v", v, ok)
	}
	if v, ok := CloudInitValue(cfg, "vendor-data"); !ok || v != "#cloud-config\nv: 1" {
		t.Errorf("vendor-data: an empty cloud-init.* key gives way to user.*: %q %v", v, ok)
	}
	if _, ok := CloudInitValue(cfg, "network-config"); ok {
		t.Error("network-config: empty keys are unset")
	}
}

func TestCloudInitID(t *testing.T) {
	if got := CloudInitID("c1", nil); got != "c1" {
		t.Errorf("without the key: %q", got)
	}
	id := NewCloudInitID()
	if got := CloudInitID("c1", map[string]string{CloudInitIDKey: id}); got != id {
		t.Errorf("with the key: %q", got)
	}
	if id == NewCloudInitID() || len(id) != 36 {
		t.Errorf("ids must be fresh UUIDs: %q", id)
	}
}

func TestNeedsNewCloudInitID(t *testing.T) {
	nic := func(name string) map[string]string {
		d := map[string]string{"type": "nic", "network": "lodgebr0"}
		if name != "" {
			d["name"] = name
		}
		return d
	}
	base := map[string]string{"user.user-data": "#cloud-config\n{}", "limits.cpu": "1", "user.meta-data": "a: b"}
	devs := map[string]map[string]string{"eth0": nic(""), "root": {"type": "disk", "path": "/", "pool": "default"}}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		if v == "\x00" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name    string
		cfg     map[string]string
		devs    map[string]map[string]string
		changed bool
	}{
		{"nothing", with("limits.cpu", "1"), devs, false},
		{"another key", with("limits.cpu", "2"), devs, false},
		{"user.meta-data (LXD does not reset for it)", with("user.meta-data", "c: d"), devs, false},
		{"user.user-data", with("user.user-data", "#cloud-config\nx: 1"), devs, true},
		{"user.user-data removed", with("user.user-data", "\x00"), devs, true},
		{"cloud-init.user-data set", with("cloud-init.user-data", "#cloud-config\n{}"), devs, true},
		{"cloud-init.vendor-data set empty", with("cloud-init.vendor-data", ""), devs, true},
		{"cloud-init.network-config", with("cloud-init.network-config", "version: 2"), devs, true},
		{"user.network-config", with("user.network-config", "version: 1"), devs, true},
		{"user.vendor-data", with("user.vendor-data", "x"), devs, true},
		{"NIC renamed inside", base, map[string]map[string]string{"eth0": nic("eth1"), "root": devs["root"]}, true},
		{"NIC added", base, map[string]map[string]string{"eth0": nic(""), "eth1": nic(""), "root": devs["root"]}, true},
		{"NIC device renamed, same name inside", base, map[string]map[string]string{"net": nic("eth0"), "root": devs["root"]}, false},
		{"disk changed", base, map[string]map[string]string{"eth0": nic(""), "root": {"type": "disk", "path": "/", "pool": "other"}}, false},
	}
	for _, tc := range tests {
		if got := NeedsNewCloudInitID(base, tc.cfg, devs, tc.devs); got != tc.changed {
			t.Errorf("%s: NeedsNewCloudInitID = %v, want %v", tc.name, got, tc.changed)
		}
	}
}

func TestNoCloudSeed(t *testing.T) {
	seed := NoCloudSeed("vps1", nil)
	want := map[string]string{
		"meta-data":      "instance-id: vps1\nlocal-hostname: vps1\n\n",
		"user-data":      "#cloud-config\n{}\n",
		"vendor-data":    "#cloud-config\n{}\n",
		"network-config": "version: 1\nconfig:\n  - type: physical\n    name: eth0\n    subnets:\n      - type: dhcp\n        control: auto\n",
	}
	for k, v := range want {
		if seed[k] != v {
			t.Errorf("empty config, %s = %q, want %q", k, seed[k], v)
		}
	}
	seed = NoCloudSeed("vps2", map[string]string{
		"cloud-init.user-data": "#cloud-config\nusers: []\n\n", "user.user-data": "#cloud-config\nignored: true",
		"user.vendor-data": "#cloud-config\nv: 1", "user.meta-data": "public-keys: x\n",
		"cloud-init.network-config": "version: 2\n", "volatile.cloud-init.instance-id": "u-u-i-d",
	})
	want = map[string]string{
		"meta-data":      "instance-id: vps2\nlocal-hostname: vps2\npublic-keys: x\n",
		"user-data":      "#cloud-config\nusers: []\n",
		"vendor-data":    "#cloud-config\nv: 1\n",
		"network-config": "version: 2\n",
	}
	for k, v := range want {
		if seed[k] != v {
			t.Errorf("%s = %q, want %q", k, seed[k], v)
		}
	}
}

func TestDevLXDMetaData(t *testing.T) {
	got := DevLXDMetaData("c1", map[string]string{CloudInitIDKey: "1234", "user.meta-data": "foo: bar\n"})
	if want := "#cloud-config\ninstance-id: 1234\nlocal-hostname: c1\nfoo: bar\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := DevLXDMetaData("c1", nil); got != "#cloud-config\ninstance-id: c1\nlocal-hostname: c1\n" {
		t.Errorf("without id and meta-data: %q", got)
	}
}
