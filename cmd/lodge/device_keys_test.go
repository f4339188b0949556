package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"lodge/api"
)

// A slice of what lodged serves at /1.0/metadata/configuration.
var testMD = &api.ConfigMetadata{
	Devices: map[string]api.DeviceEntity{
		"nic": {ShortDesc: "a network interface", Keys: []api.ConfigKey{
			{Name: "network", Type: "string", LiveUpdate: true, ShortDesc: "the managed network", AppliesTo: []string{"network"}},
			{Name: "host_name", Type: "string", Default: "vethX", ShortDesc: "the host side", AppliesTo: []string{"bridged", "network"}},
			{Name: "nictype", Type: "string", ShortDesc: "bridged or macvlan"},
			{Name: "parent", Type: "string", ShortDesc: "the host NIC", AppliesTo: []string{"bridged", "macvlan"}},
		},
			Kinds:        []api.DeviceKindDoc{{Name: "bridged", ShortDesc: "nictype=bridged"}},
			NotYet:       []string{"security.ipv4_filtering", "limits.egress"},
			NotYetValues: map[string][]string{"nictype": {"routed"}}},
		"proxy": {ShortDesc: "a port forward", Keys: []api.ConfigKey{{Name: "listen", Type: "string", ShortDesc: "host address"}}},
	},
	DeviceTypesNotYet: []string{"gpu"},
}

func TestRefusedDeviceKeys(t *testing.T) {
	tests := []struct {
		d    map[string]string
		want []string
	}{
		{map[string]string{"type": "nic", "network": "br"}, nil},
		{map[string]string{"type": "nic", "network": "br", "security.ipv4_filtering": "true", "nosuch": "1"}, []string{"nosuch", "security.ipv4_filtering"}},
		{map[string]string{"type": "nic", "nictype": "macvlan", "parent": "eth0", "host_name": "v1"}, []string{"host_name"}},
		{map[string]string{"type": "gpu", "x": "1"}, nil},
	}
	for _, tc := range tests {
		got := refusedDeviceKeys(testMD, tc.d)
		if keys := sortedKeys(got); len(keys)+len(tc.want) > 0 && !reflect.DeepEqual(keys, tc.want) {
			t.Errorf("%v: %v, want %v", tc.d, got, tc.want)
		}
	}
	if refusedDeviceKeys(nil, map[string]string{"type": "nic", "x": "1"}) != nil {
		t.Error("no metadata (an LXD server): nothing is marked")
	}
}

// config show marks refused keys with a comment and stays the same YAML.
func TestWriteYAMLMarked(t *testing.T) {
	put := editable{api.InstancePut{Config: map[string]string{"user.a": "b"}, Profiles: []string{"default"}, Devices: map[string]map[string]string{
		"eth0": {"type": "nic", "network": "br", "security.ipv4_filtering": "true"},
		"web":  {"type": "proxy", "listen": "tcp:0.0.0.0:80"},
	}}, "c1"}
	var b bytes.Buffer
	if err := writeYAMLMarked(&b, put, testMD); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, `security.ipv4_filtering: "true" # not supported yet by lodge: stored, not enforced`) || strings.Count(out, "#") != 1 {
		t.Fatalf("marks:\n%s", out)
	}
	var plain bytes.Buffer
	writeYAML(&plain, put)
	var a, c any
	if err := yaml.Unmarshal(b.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	yaml.Unmarshal(plain.Bytes(), &c)
	if !reflect.DeepEqual(a, c) {
		t.Fatalf("marked YAML differs from the plain one:\n%s\n%s", out, plain.String())
	}
	b.Reset()
	writeYAMLMarked(&b, put, nil)
	if b.String() != plain.String() {
		t.Fatalf("without metadata:\n%s", b.String())
	}
	b.Reset()
	writeDevicesMarked(&b, put.Devices, testMD)
	if !strings.Contains(b.String(), "\n    security.ipv4_filtering: \"true\" # not supported yet") {
		t.Fatalf("devices:\n%s", b.String())
	}
}

func TestPrintDeviceKeys(t *testing.T) {
	var b bytes.Buffer
	if err := printDeviceKeys(&b, *testMD, "nic"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"KEY", "APPLIES TO", "host_name", "bridged,network", "vethX", "Not supported yet (refused): limits.egress, nictype=routed, security.ipv4_filtering"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	for typ, want := range map[string]string{"gpu": `device type "gpu" is not supported yet (lodged supports nic, proxy)`, "floppy": `unknown device type "floppy"`} {
		if err := printDeviceKeys(&b, *testMD, typ); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", typ, err)
		}
	}
	if err := printDeviceKeys(&b, api.ConfigMetadata{}, "nic"); err == nil {
		t.Error("a server without device metadata")
	}
}
