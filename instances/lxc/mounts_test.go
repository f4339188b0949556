package lxc

import (
	"strings"
	"testing"

	"lodge/instances"
)

func TestMountEntry(t *testing.T) {
	got, err := mountEntry(instances.Mount{Source: "/srv/share/", Path: "/mnt/share", ReadOnly: true})
	if err != nil || got != "/srv/share mnt/share none bind,create=dir,ro 0 0" {
		t.Fatalf("%q %v", got, err)
	}
	got, _ = mountEntry(instances.Mount{Source: "/etc/hosts", Path: "/etc/hosts.host", IsFile: true})
	if got != "/etc/hosts etc/hosts.host none bind,create=file 0 0" {
		t.Fatalf("%q", got)
	}
	got, _ = mountEntry(instances.Mount{Source: "/srv/share", Path: "/mnt/share", Shift: true})
	if got != "/srv/share mnt/share none bind,create=dir,idmap=container 0 0" {
		t.Fatalf("shifted: %q", got)
	}
	for _, bad := range []instances.Mount{{Source: "rel", Path: "/x"}, {Source: "/x", Path: "/"}, {Source: "/a b", Path: "/x"}} {
		if _, err := mountEntry(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	cfg, err := RenderConfig("/var/lib/lodge/containers", instances.Spec{Name: "c1", Rootfs: "/r", Mounts: []instances.Mount{{Source: "/srv", Path: "/srv"}}})
	if err != nil || !strings.Contains(cfg, "lxc.mount.entry = /srv srv none bind,create=dir 0 0\n") {
		t.Fatalf("render: %v\n%s", err, cfg)
	}
}
