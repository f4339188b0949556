package builder

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const busyboxBin = "/bin/busybox"

const inittab = `::sysinit:/etc/init.d/rcS
::shutdown:/bin/umount -a -r
`

const rcS = `#!/bin/sh
# lodge busybox image: minimal boot.
# The runtime mounts /proc and /sys (with lxcfs files over /proc/meminfo
# and others); mounting them again would hide those.
[ -r /proc/self/stat ] || mount -t proc proc /proc 2>/dev/null
[ -d /sys/kernel ] || mount -t sysfs sysfs /sys 2>/dev/null
mount -t tmpfs tmpfs /run 2>/dev/null
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
	ip link set eth0 up
	udhcpc -i eth0 -b -q -s /etc/udhcpc.script >/dev/null 2>&1 &
fi
`

const udhcpcScript = `#!/bin/sh
# Applies a DHCP lease from udhcpc. IPv4 only: the kernel's link-local and
# SLAAC IPv6 addresses are not the lease's to remove.
case "$1" in
deconfig) ip -4 addr flush dev "$interface" ;;
bound|renew)
	ip -4 addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	[ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
	: >/etc/resolv.conf
	[ -n "$domain" ] && echo "search $domain" >>/etc/resolv.conf
	for s in $dns; do echo "nameserver $s" >>/etc/resolv.conf; done
	;;
esac
`

func busyboxVersion() string {
	out, err := exec.Command(busyboxBin).CombinedOutput()
	if err != nil && len(out) == 0 {
		return "unknown"
	}
	first := strings.SplitN(string(out), "\n", 2)[0]
	if f := strings.Fields(first); len(f) >= 2 {
		return strings.TrimPrefix(f[1], "v")
	}
	return "unknown"
}

func busyboxRecipe(opt Options) recipe {
	ver := busyboxVersion()
	fi, _ := os.Stat(busyboxBin)
	var size int64
	if fi != nil {
		size = fi.Size()
	}
	return recipe{
		name:  "busybox",
		parts: []string{ver, fmt.Sprint(size), inittab, rcS, udhcpcScript},
		props: map[string]string{"os": "busybox", "release": ver, "variant": "default", "architecture": opt.Arch,
			"description": "BusyBox " + ver + " (Debian busybox-static)", "lodge.init": "busybox"},
		build: buildBusybox,
	}
}

func buildBusybox(ctx context.Context, rootfs string) error {
	if _, err := os.Stat(busyboxBin); err != nil {
		return fmt.Errorf("%s not found: install Debian's busybox-static", busyboxBin)
	}
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc/init.d", "proc", "sys", "dev", "run", "root", "tmp", "var/log", "home"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777)
	os.Chmod(filepath.Join(rootfs, "root"), 0o700)
	data, err := os.ReadFile(busyboxBin)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), data, 0o755); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, busyboxBin, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("busybox --list-full: %w", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "bin/busybox" {
			continue
		}
		target, _ := filepath.Rel(filepath.Dir("/"+p), "/bin/busybox")
		link := filepath.Join(rootfs, p)
		os.MkdirAll(filepath.Dir(link), 0o755)
		if err := os.Symlink(target, link); err != nil && !os.IsExist(err) {
			return err
		}
	}
	files := map[string]struct {
		body string
		mode os.FileMode
	}{
		"etc/inittab":       {inittab, 0o644},
		"etc/init.d/rcS":    {rcS, 0o755},
		"etc/udhcpc.script": {udhcpcScript, 0o755},
		"etc/hostname":      {"busybox\n", 0o644},
		"etc/hosts":         {"127.0.0.1 localhost\n::1 localhost\n", 0o644},
		"etc/passwd":        {"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", 0o644},
		"etc/group":         {"root:x:0:\nnogroup:x:65534:\n", 0o644},
		"etc/shadow":        {"root:*:19000:0:99999:7:::\n", 0o600},
		"etc/resolv.conf":   {"", 0o644},
	}
	for name, f := range files {
		if err := os.WriteFile(filepath.Join(rootfs, name), []byte(f.body), f.mode); err != nil {
			return err
		}
	}
	return nil
}
