package lxc

import (
	"strings"
	"testing"

	"lodge/instances"
)

func TestRenderConfig(t *testing.T) {
	tests := []struct {
		name    string
		spec    instances.Spec
		want    []string
		notWant []string
		err     string
	}{
		{
			name: "systemd, no nic",
			spec: instances.Spec{Name: "c1", Rootfs: "/p/c1/rootfs", Init: "systemd"},
			want: []string{"lxc.uts.name = c1\n", "lxc.rootfs.path = dir:/p/c1/rootfs\n", "lxc.signal.halt = SIGRTMIN+3\n",
				"lxc.net.0.type = empty\n", "lxc.console.logfile = /var/lib/lodge/containers/c1/console.log\n", "lxc.init.cmd = /sbin/init\n"},
			notWant: []string{"userns.conf", "lxc.idmap"},
		},
		{
			name: "busybox halts on SIGUSR2",
			spec: instances.Spec{Name: "b", Rootfs: "/r", Init: "busybox"},
			want: []string{"lxc.signal.halt = SIGUSR2\n"},
		},
		{
			name: "unknown init gets SIGPWR",
			spec: instances.Spec{Name: "b", Rootfs: "/r"},
			want: []string{"lxc.signal.halt = SIGPWR\n"},
		},
		{
			name: "bridged and macvlan nics",
			spec: instances.Spec{Name: "n", Rootfs: "/r", NICs: []instances.NIC{
				{Name: "eth0", Type: "veth", Link: "br0", HWAddr: "00:16:3e:00:00:01", MTU: 1400},
				{Name: "eth1", Type: "macvlan", Link: "eno1"},
			}},
			want: []string{"lxc.net.0.type = veth\n", "lxc.net.0.link = br0\n", "lxc.net.0.hwaddr = 00:16:3e:00:00:01\n", "lxc.net.0.mtu = 1400\n",
				"lxc.net.1.type = macvlan\n", "lxc.net.1.link = eno1\n", "lxc.net.1.name = eth1\n"},
			notWant: []string{"type = empty"},
		},
		{
			name: "idmap and raw.lxc",
			spec: instances.Spec{Name: "u", Rootfs: "/r", Config: map[string]string{"raw.lxc": "lxc.apparmor.profile = unconfined"},
				IDMap: []instances.IDMapEntry{{IsUID: true, IsGID: true, HostID: 100000, Range: 65536}}},
			want: []string{"userns.conf", "lxc.idmap = u 0 100000 65536\n", "lxc.idmap = g 0 100000 65536\n", "lxc.apparmor.profile = unconfined\n"},
		},
		{
			name: "routed nic: liblxc's router mode with LXD's gateways",
			spec: instances.Spec{Name: "r", Rootfs: "/r", NICs: []instances.NIC{
				{Name: "eth0", Type: "routed", Link: "eno1", HostName: "vethr1", HWAddr: "00:16:3e:00:00:02",
					IPv4: []string{"198.51.100.10", "198.51.100.11"}, IPv6: []string{"2001:db8::10"}},
			}},
			want: []string{"lxc.net.0.type = veth\n", "lxc.net.0.veth.mode = router\n", "lxc.net.0.veth.pair = vethr1\n",
				"lxc.net.0.ipv4.address = 198.51.100.10/32 0.0.0.0\n", "lxc.net.0.ipv4.address = 198.51.100.11/32 0.0.0.0\n",
				"lxc.net.0.ipv4.gateway = 169.254.0.1\n", "lxc.net.0.ipv6.address = 2001:db8::10/128\n", "lxc.net.0.ipv6.gateway = fe80::1\n",
				"lxc.net.0.name = eth0\n", "lxc.net.0.hwaddr = 00:16:3e:00:00:02\n"},
			notWant: []string{"lxc.net.0.link"},
		},
		{name: "routed without a host name", spec: instances.Spec{Name: "x", Rootfs: "/r", NICs: []instances.NIC{{Name: "eth0", Type: "routed", IPv4: []string{"198.51.100.10"}}}}, err: "host-side"},
		{name: "routed with a bad address", spec: instances.Spec{Name: "x", Rootfs: "/r", NICs: []instances.NIC{{Name: "eth0", Type: "routed", HostName: "v", IPv4: []string{"2001:db8::1"}}}}, err: "not an IPv4"},
		{name: "relative rootfs", spec: instances.Spec{Name: "x", Rootfs: "r"}, err: "absolute"},
		{name: "bad nic type", spec: instances.Spec{Name: "x", Rootfs: "/r", NICs: []instances.NIC{{Name: "eth0", Type: "phys"}}}, err: "unsupported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RenderConfig("/var/lib/lodge/containers", tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("config lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("config has %q:\n%s", w, got)
				}
			}
		})
	}
}

// The lxcfs package's hooks from common.conf.d are cleared after the
// includes that bring them, and before raw.lxc, whose hooks stay.
func TestRenderConfigClearsIncludedHooks(t *testing.T) {
	got, err := RenderConfig("/l", instances.Spec{Name: "h", Rootfs: "/r", Config: map[string]string{"raw.lxc": "lxc.hook.post-stop = /usr/local/bin/mine"},
		IDMap: []instances.IDMapEntry{{IsUID: true, IsGID: true, HostID: 100000, Range: 65536}}})
	if err != nil {
		t.Fatal(err)
	}
	userns := strings.Index(got, "userns.conf\n")
	clearMount := strings.Index(got, "lxc.hook.mount = \n")
	clearStop := strings.Index(got, "lxc.hook.post-stop = \n")
	raw := strings.Index(got, "lxc.hook.post-stop = /usr/local/bin/mine")
	if userns < 0 || clearMount < userns || clearStop < userns || raw < clearStop {
		t.Errorf("hooks not cleared between the includes and raw.lxc:\n%s", got)
	}
}

func TestStartHint(t *testing.T) {
	for log, want := range map[string]string{
		`ERROR conf - mount_entry:2446 - Permission denied - Failed to mount "/tmp/x" on "/usr/lib/lxc/rootfs/mnt"`: "unprivileged",
		"ERROR start - Failed to exec \"/sbin/init\"":                                                               "",
	} {
		if got := startHint(log); want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("startHint(%q) = %q, want it to mention %q", log, got, want)
		}
	}
}

func TestStopHookLine(t *testing.T) {
	tests := []struct {
		argv []string
		want string
	}{
		{[]string{"/usr/bin/lodged", "callhook", "/var/lib/lodge/unix.socket"},
			"lxc.hook.post-stop = /usr/bin/lodged callhook /var/lib/lodge/unix.socket c1\n"},
		// liblxc strips quotes that open and close the value: the bare name
		// last keeps a quoted first word intact.
		{[]string{"/opt/my lodge/lodged", "callhook", "/srv/it's/unix.socket"},
			`lxc.hook.post-stop = '/opt/my lodge/lodged' callhook '/srv/it'\''s/unix.socket' c1` + "\n"},
	}
	for _, tt := range tests {
		if got := stopHookLine(tt.argv, "c1"); got != tt.want {
			t.Errorf("stopHookLine(%q) =\n%s want\n%s", tt.argv, got, tt.want)
		}
	}
}
