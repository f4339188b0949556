package instances

import (
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

type dev = map[string]string

func TestValidateDevice(t *testing.T) {
	dir := t.TempDir()
	// t.TempDir's parent is 0700: a shift=true source must be below
	// searchable directories.
	private := dir
	open, err := os.MkdirTemp("", "lodge-devices-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(open) })
	os.Chmod(open, 0o755)
	tests := []struct {
		name string
		d    dev
		want string // substring of the error, "" for ok
	}{
		// nic
		{"eth0", dev{"type": "nic", "network": "lodgebr0"}, ""},
		{"eth0", dev{"type": "nic", "network": "lodgebr0", "name": "eth1", "hwaddr": "00:16:3e:01:02:03", "mtu": "1400",
			"host_name": "vethweb", "ipv4.address": "10.0.3.5"}, ""},
		{"eth0", dev{"type": "nic", "nictype": "bridged", "parent": "lo", "ipv4.address": "10.0.3.5", "host_name": "v1"}, ""},
		{"eth0", dev{"type": "nic", "nictype": "macvlan", "parent": "lo", "mtu": "9000"}, ""},
		{"eth0", dev{"type": "nic", "network": "br", "nosuch.key": "1"}, `key "nosuch.key" is not supported on nic devices (supported: host_name, hwaddr, ipv4.address, ipv6.address, limits.egress, limits.ingress, limits.max, mtu, name, network, nictype, parent, security.ipv4_filtering,`},
		{"eth0", dev{"type": "nic", "network": "br", "boot.priority": "1"}, "not supported yet"},
		{"eth0", dev{"type": "nic", "network": "br", "vlan": "10"}, "not supported yet"},
		{"eth0", dev{"type": "nic", "nictype": "p2p"}, "nictype=p2p is not supported yet"},
		{"eth0", dev{"type": "nic", "nictype": "physical", "parent": "lo"}, "nictype=physical is not supported yet"},
		{"eth0", dev{"type": "nic", "nictype": "ipvlan", "parent": "lo"}, "nictype=ipvlan is not supported yet"},
		{"eth0", dev{"type": "nic", "nictype": "sriov", "parent": "lo"}, "nictype=sriov is not supported yet"},
		{"eth0", dev{"type": "nic", "nictype": "wifi", "parent": "lo"}, `key "nictype": invalid value "wifi": expected one of bridged, macvlan`},
		{"eth0", dev{"type": "nic"}, "a nic needs network=NAME"},
		{"eth0", dev{"type": "nic", "nictype": "bridged"}, "nictype bridged needs parent="},
		{"eth0", dev{"type": "nic", "nictype": "bridged", "parent": "no-such-br0"}, `key "parent": invalid value "no-such-br0": no such host interface`},
		{"eth0", dev{"type": "nic", "network": "br", "parent": "lo"}, `key "parent" does not apply to NICs with network=`},
		{"eth0", dev{"type": "nic", "network": "br", "nictype": "bridged"}, "either network= or nictype="},
		{"eth0", dev{"type": "nic", "nictype": "macvlan", "parent": "lo", "host_name": "v1"}, `key "host_name" does not apply to nictype=macvlan NICs`},
		{"eth0", dev{"type": "nic", "nictype": "macvlan", "parent": "lo", "ipv4.address": "10.0.3.5"}, `"ipv4.address" does not apply`},
		{"eth0", dev{"type": "nic", "network": "br", "hwaddr": "nope"}, `key "hwaddr": invalid value "nope"`},
		{"eth0", dev{"type": "nic", "network": "br", "mtu": "67"}, `key "mtu": invalid value "67"`},
		{"eth0", dev{"type": "nic", "network": "br", "mtu": "x"}, `invalid value "x"`},
		{"eth0", dev{"type": "nic", "network": "br", "ipv4.address": "10.0.3"}, "expected an IPv4 address"},
		{"eth0", dev{"type": "nic", "network": "br", "ipv4.address": "fd42::5"}, "expected an IPv4 address"},
		{"eth0", dev{"type": "nic", "network": "br", "host_name": "a-name-longer-than-15"}, `key "host_name": invalid value`},
		{"eth0", dev{"type": "nic", "network": "br", "name": "eth 0"}, `key "name": invalid value`},
		// disk
		{"root", dev{"type": "disk", "path": "/", "pool": "default"}, ""},
		{"root", dev{"type": "disk", "path": "/", "pool": "default", "size": "20GiB"}, ""},
		{"root", dev{"type": "disk", "path": "/", "pool": "default", "size": "20gib"}, ""},
		{"root", dev{"type": "disk", "path": "/", "pool": "default", "size": "lots"}, `key "size": invalid value "lots"`},
		{"root", dev{"type": "disk", "path": "/", "pool": "default", "size": "0"}, `key "size": invalid value "0"`},
		{"d", dev{"type": "disk", "path": "/", "pool": "default"}, "only the root disk"},
		{"root", dev{"type": "disk", "path": "/", "source": "/tmp"}, `key "source" does not apply to the root disk`},
		{"d", dev{"type": "disk", "path": "/srv", "source": dir}, ""},
		{"d", dev{"type": "disk", "path": "/srv", "source": dir, "readonly": "true", "required": "false"}, ""},
		{"d", dev{"type": "disk", "path": "/srv/data", "pool": "default", "source": "data"}, ""},
		{"d", dev{"type": "disk", "path": "/srv", "source": dir, "size": "1GiB"}, `key "size" does not apply to disks other than the root disk`},
		{"d", dev{"type": "disk", "path": "/srv"}, "needs source="},
		{"d", dev{"type": "disk", "path": "srv", "source": dir}, `key "path": invalid value "srv"`},
		{"d", dev{"type": "disk", "path": "/s rv", "source": dir}, "blanks"},
		{"d", dev{"type": "disk", "path": "/srv", "source": "rel"}, "absolute host path"},
		{"d", dev{"type": "disk", "path": "/srv", "source": "/does/not/exist"}, `host path "/does/not/exist"`},
		{"d", dev{"type": "disk", "path": "/srv", "source": "/does/not/exist", "required": "false"}, ""},
		{"d", dev{"type": "disk", "path": "/srv", "source": dir, "readonly": "yes"}, `key "readonly": invalid value "yes"`},
		{"d", dev{"type": "disk", "path": "/srv", "source": open, "shift": "true"}, ""},
		{"d", dev{"type": "disk", "path": "/srv", "source": dir, "shift": "1"}, `key "shift": invalid value "1"`},
		{"d", dev{"type": "disk", "path": "/srv", "source": private, "shift": "true"}, "not searchable by others"},
		{"d", dev{"type": "disk", "path": "/srv", "source": dir, "limits.read": "10MB"}, "not supported yet"},
		{"d", dev{"type": "disk", "path": "/srv", "source": dir, "bogus": "1"}, `key "bogus" is not supported on disk devices (supported: path, pool, readonly, required, shift, size, source;`},
		// proxy
		{"web", dev{"type": "proxy", "listen": "tcp:0.0.0.0:8080", "connect": "tcp:127.0.0.1:80"}, ""},
		{"web", dev{"type": "proxy", "listen": "udp:[::]:53", "connect": "udp:127.0.0.1:53", "bind": "host"}, ""},
		{"web", dev{"type": "proxy", "listen": "tcp:0.0.0.0:8080", "connect": "udp:127.0.0.1:80"}, "same protocol"},
		{"web", dev{"type": "proxy", "listen": "tcp:0.0.0.0:8080", "connect": "tcp:127.0.0.1:80", "bind": "instance"}, "bind=instance is not supported yet"},
		{"web", dev{"type": "proxy", "listen": "tcp:0.0.0.0:8080", "connect": "tcp:127.0.0.1:80", "bind": "guest"}, `key "bind": invalid value "guest"`},
		{"web", dev{"type": "proxy", "listen": "tcp:0.0.0.0:8080", "connect": "tcp:127.0.0.1:80", "nat": "true"}, `key "nat" is not supported yet on proxy devices`},
		{"web", dev{"type": "proxy", "listen": "tcp:0.0.0.0:8080", "connect": "tcp:127.0.0.1:80", "bogus": "1"}, `key "bogus" is not supported on proxy devices (supported: bind, connect, listen;`},
		{"web", dev{"type": "proxy", "connect": "tcp:127.0.0.1:80"}, "needs listen= and connect="},
		{"web", dev{"type": "proxy", "listen": "tcp:example.com:80", "connect": "tcp:127.0.0.1:80"}, `key "listen": invalid value`},
		// types
		{"x", dev{"path": "/srv"}, "missing type="},
		{"x", dev{"type": "gpu"}, `device type "gpu" is not supported yet (lodge supports disk, nic, proxy)`},
		{"x", dev{"type": "unix-char"}, "not supported yet"},
		{"x", dev{"type": "none"}, "not supported yet"},
		{"x", dev{"type": "floppy"}, `unknown device type "floppy"`},
	}
	for _, tc := range tests {
		err := ValidateDevice(tc.name, tc.d, nil)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %v: %v", tc.name, tc.d, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s %v: got %v, want %q", tc.name, tc.d, err, tc.want)
		case err != nil && !errors.Is(err, ErrInvalid):
			t.Errorf("%s %v: %v does not wrap ErrInvalid", tc.name, tc.d, err)
		case err != nil && !strings.HasPrefix(err.Error(), `device "`+tc.name+`": `):
			t.Errorf("%s: %v does not name the device", tc.name, err)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("%s: %q is not one line", tc.name, err)
		}
	}
}

// Keys stored before lodge refused them keep working: a write checks only
// what it changes, and a device taken from a profile brings its keys along.
func TestValidateDeviceWrittenBefore(t *testing.T) {
	old := dev{"type": "nic", "network": "br", "vlan": "10"}
	tests := []struct {
		what       string
		d, prev    dev
		wantRefuse string
	}{
		{"unchanged", old, old, ""},
		{"another key changed", with(old, "mtu", "1400"), old, ""},
		{"a new refused key", with(old, "boot.priority", "1"), old, `"boot.priority" is not supported yet`},
		{"a new unknown key", with(old, "nosuch.key", "1"), old, `"nosuch.key" is not supported on nic devices`},
		{"a bad value next to it", with(old, "mtu", "1"), old, `key "mtu"`},
		{"a new device", old, nil, "not supported yet"},
		// The kind changed: every key is checked again for the new kind.
		{"kind changed", dev{"type": "nic", "nictype": "macvlan", "parent": "lo", "host_name": "v1"},
			dev{"type": "nic", "network": "br", "host_name": "v1"}, `"host_name" does not apply to nictype=macvlan`},
		// Overriding a profile's device (prev is the expanded device).
		{"profile device overridden", with(old, "name", "eth9"), old, ""},
		// A parent that went away is not checked again if unchanged.
		{"parent gone", dev{"type": "nic", "nictype": "bridged", "parent": "gone0", "mtu": "1400"},
			dev{"type": "nic", "nictype": "bridged", "parent": "gone0"}, ""},
		{"proxy key", dev{"type": "proxy", "listen": "tcp:0.0.0.0:80", "connect": "tcp:127.0.0.1:80", "nat": "true", "bind": "host"},
			dev{"type": "proxy", "listen": "tcp:0.0.0.0:80", "connect": "tcp:127.0.0.1:80", "nat": "true"}, ""},
	}
	for _, tc := range tests {
		err := ValidateDevice("eth0", tc.d, tc.prev)
		if tc.wantRefuse == "" && err != nil || tc.wantRefuse != "" && (err == nil || !strings.Contains(err.Error(), tc.wantRefuse)) {
			t.Errorf("%s: got %v, want %q", tc.what, err, tc.wantRefuse)
		}
	}
	// ValidateDevices pairs devices with prev by name.
	err := ValidateDevices(map[string]map[string]string{"eth0": old, "eth1": old}, map[string]map[string]string{"eth0": old})
	if err == nil || !strings.Contains(err.Error(), `device "eth1"`) {
		t.Fatalf("eth1 is new: %v", err)
	}
}

func with(d dev, k, v string) dev {
	c := maps.Clone(d)
	c[k] = v
	return c
}

// The registry is complete: every key documented and validated, kinds
// named by their type, and no key both supported and "not yet".
func TestDeviceRegistry(t *testing.T) {
	if got := DeviceTypeNames(); !slices.Equal(got, []string{"disk", "nic", "proxy"}) {
		t.Fatalf("types: %v", got)
	}
	for typ, dt := range Devices {
		kinds := map[string]bool{}
		for _, k := range dt.Kinds {
			kinds[k.Name] = true
		}
		for name, k := range dt.Keys {
			if (k.Validate == nil) == (k.Values == nil) || k.Doc == "" || k.Type == "" {
				t.Errorf("%s %s: validator, doc and type are required", typ, name)
			}
			for _, kd := range k.Kinds {
				if !kinds[kd] {
					t.Errorf("%s %s: kind %q is not one of %s's", typ, name, kd, typ)
				}
			}
			if slices.Contains(dt.NotYet, name) {
				t.Errorf("%s %s: both supported and not yet", typ, name)
			}
		}
		for k, vals := range dt.NotYetValues {
			for _, v := range vals {
				if slices.Contains(dt.Keys[k].Values, v) {
					t.Errorf("%s %s=%s: both accepted and not yet", typ, k, v)
				}
			}
		}
		if slices.Contains(DeviceTypesNotYet, typ) {
			t.Errorf("%s: both supported and not yet", typ)
		}
	}
}

// The hosting keys (filtering, isolation, limits, IPv6 reservations,
// routed NICs) validate as LXD's do.
func TestHostingNICKeys(t *testing.T) {
	tests := []struct {
		d    dev
		want string
	}{
		{dev{"type": "nic", "network": "br", "security.mac_filtering": "true", "security.ipv4_filtering": "true", "security.ipv6_filtering": "false",
			"security.port_isolation": "true", "limits.ingress": "50Mbit", "limits.egress": "20Mbit", "ipv6.address": "fd42::5"}, ""},
		{dev{"type": "nic", "nictype": "bridged", "parent": "lo", "limits.max": "1Gibit"}, ""},
		{dev{"type": "nic", "network": "br", "security.ipv4_filtering": "true", "ipv4.address": "none"}, ""},
		{dev{"type": "nic", "network": "br", "ipv4.address": "none"}, "needs security.ipv4_filtering=true"},
		{dev{"type": "nic", "network": "br", "security.mac_filtering": "yes"}, `key "security.mac_filtering": invalid value "yes"`},
		{dev{"type": "nic", "network": "br", "limits.ingress": "50MB"}, `key "limits.ingress": invalid value "50MB"`},
		{dev{"type": "nic", "network": "br", "ipv4.address": "10.0.0.5,10.0.0.6"}, "lists are for nictype=routed"},
		{dev{"type": "nic", "network": "br", "ipv6.address": "10.0.0.5"}, "expected an IPv6 address"},
		{dev{"type": "nic", "nictype": "macvlan", "parent": "lo", "limits.egress": "1Mbit"}, `"limits.egress" does not apply to nictype=macvlan NICs`},
		{dev{"type": "nic", "nictype": "macvlan", "parent": "lo", "security.mac_filtering": "true"}, "does not apply"},
		{dev{"type": "nic", "nictype": "routed", "ipv4.address": "198.51.100.10, 198.51.100.11", "ipv6.address": "2001:db8::10",
			"parent": "lo", "limits.max": "100Mbit", "host_name": "vethr1", "hwaddr": "00:16:3e:00:00:09", "mtu": "1400"}, ""},
		{dev{"type": "nic", "nictype": "routed", "ipv6.address": "2001:db8::10"}, ""},
		{dev{"type": "nic", "nictype": "routed"}, "a routed NIC needs ipv4.address or ipv6.address"},
		{dev{"type": "nic", "nictype": "routed", "ipv4.address": "198.51.100.10", "security.ipv4_filtering": "true"}, `does not apply to nictype=routed NICs`},
		{dev{"type": "nic", "nictype": "routed", "ipv4.address": "none"}, "needs security.ipv4_filtering"},
	}
	for _, tc := range tests {
		err := ValidateDevice("eth0", tc.d, nil)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: err = %v, want %q", tc.d, err, tc.want)
		}
	}
}
