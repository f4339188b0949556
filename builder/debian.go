package builder

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// debianPackages go on top of debootstrap's minbase: an init, networking
// with a DHCP client on eth0, and what `lodge exec c -- bash` users expect.
var debianPackages = []string{"systemd-sysv", "iproute2", "ifupdown", "isc-dhcp-client", "iputils-ping", "procps", "less", "ca-certificates"}

// cloudPackages make the cloud variant: cloud-init (Debian 12's 22.4 reads
// both the NoCloud seed and the /dev/lxd guest API) and an SSH server for
// the users it creates. python3-cffi-backend is named because debootstrap
// does not resolve the virtual packages python3-cryptography depends on
// (python3-cffi-backend-api-min/max) and then fails to configure it.
var cloudPackages = []string{"cloud-init", "openssh-server", "python3-cffi-backend"}

// debPackageName is Debian policy's package name syntax.
var debPackageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// checkDebianOptions refuses a variant or package name debootstrap would
// misread (its --include is one comma-separated word).
func checkDebianOptions(opt Options) error {
	switch opt.Variant {
	case "", "default", "cloud":
	default:
		return fmt.Errorf("unknown debian variant %q: use default or cloud", opt.Variant)
	}
	for _, p := range opt.Packages {
		if !debPackageName.MatchString(p) {
			return fmt.Errorf("package %q: not a Debian package name (lowercase letters, digits, + - and .)", p)
		}
	}
	return nil
}

// debianPackageSet is what debootstrap installs on top of minbase for opt,
// sorted and without repeats.
func debianPackageSet(opt Options) []string {
	all := append([]string{}, debianPackages...)
	if opt.Variant == "cloud" {
		all = append(all, cloudPackages...)
	}
	all = append(all, opt.Packages...)
	sort.Strings(all)
	out := all[:0]
	for i, p := range all {
		if i == 0 || p != all[i-1] {
			out = append(out, p)
		}
	}
	return out
}

func debianRecipe(opt Options) recipe {
	pkgs := debianPackageSet(opt)
	name := "debian-" + opt.Release
	variant, desc := "systemd", "Debian "+opt.Release+" minbase + systemd"
	var tpls []imageTemplate
	if opt.Variant == "cloud" {
		name += "-cloud"
		variant, desc = "cloud", "Debian "+opt.Release+" minbase + systemd + cloud-init (cloud)"
		tpls = append([]imageTemplate{hostnameTemplate, hostsTemplate}, cloudInitTemplates...)
	}
	parts := append([]string{opt.Mirror, opt.Release, firstbootUnitsMasked, debianInterfaces, networkingStopDropIn}, debianPackages...)
	// Only what differs from the default image enters the key, so the
	// default image's cache stays valid.
	if opt.Variant == "cloud" || len(opt.Packages) > 0 {
		parts = append(parts, "variant="+opt.Variant, "packages="+strings.Join(pkgs, ","), cloudInterfaces, cloudLocale, sshKeygenUnit)
		parts = append(parts, templateParts(tpls)...)
	}
	if len(opt.Packages) > 0 {
		// Images with extra packages get a name of their own in the cache.
		name += "-custom"
		desc += " + " + strings.Join(opt.Packages, ", ")
	}
	return recipe{
		name:  name,
		parts: parts,
		props: map[string]string{"os": "debian", "release": opt.Release, "variant": variant, "architecture": debArch(opt.Arch),
			"description": desc, "lodge.init": "systemd"},
		build:     func(ctx context.Context, rootfs string) error { return buildDebian(ctx, opt, rootfs) },
		templates: tpls,
	}
}

// cloudInterfaces leaves eth0 to cloud-init, which writes its config
// (from network-config, or DHCP) under interfaces.d before networking starts.
const cloudInterfaces = "auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n"

// cloudLocale is the system locale of the cloud variant. Without one,
// cloud-init's locale module sets en_US.UTF-8, which minbase cannot
// generate (no locales package), and cloud-init ends in "status: error";
// C.UTF-8 is built into libc and needs no generation.
const cloudLocale = "LANG=C.UTF-8\n"

// sshKeygenUnit gives each container host keys of its own at first boot
// (the image ships none: every container would share them). cloud-init
// makes them too where it runs; whichever comes first wins.
const sshKeygenUnit = `[Unit]
Description=Generate SSH host keys missing on first boot
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
`

// Units that only make sense on real hardware or slow a container's boot.
const firstbootUnitsMasked = "systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket " +
	"systemd-modules-load.service sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount " +
	"systemd-remount-fs.service getty@tty1.service systemd-timesyncd.service"

// networkingStopDropIn keeps ifupdown from taking the interfaces down
// when the container shuts down: they go with its network namespace, and
// ifdown cost a stop over a second (dhclient -r waits about one before it
// sends its release) and about a third of the CPU of the guest's whole
// shutdown (ifdown, dhclient-script, run-parts and ifupdown's hooks),
// which is what bounds a host stopping 1,000 containers at once. A
// `systemctl restart networking` by the user still takes them down and up
// again: only a stop while the system is stopping skips it. ($$ is
// systemd's escape for $.)
const networkingStopDropIn = `[Service]
ExecStop=
ExecStop=/bin/sh -c '[ "$$(systemctl is-system-running)" = stopping ] || exec /sbin/ifdown -a --read-environment --exclude=lo'
`

// debianInterfaces brings eth0 up by DHCP at boot. "auto", not
// "allow-hotplug": no udev runs in a container, so a hotplug stanza is never
// raised. A container without eth0 only gets a failed ifup (fast).
const debianInterfaces = "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n"

// debootstrapAttempts bounds the runs of debootstrap for one image. A
// mirror sometimes fails a download or two of a hundred, which fails the
// whole run; a run again into the same target fetches what is missing (the
// packages it has are validated, not downloaded again).
const debootstrapAttempts = 3

// mirrorHiccup tells a failed download (worth another run) from any other
// debootstrap failure (a bad package name, a full disk), from its error.
func mirrorHiccup(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Couldn't download") || strings.Contains(msg, "Failed getting release file") ||
		strings.Contains(msg, "Couldn't retrieve")
}

func buildDebian(ctx context.Context, opt Options, rootfs string) error {
	pkgs := debianPackageSet(opt)
	args := []string{"--variant=minbase", "--arch=" + debArch(opt.Arch), "--include=" + strings.Join(pkgs, ","),
		opt.Release, rootfs, opt.Mirror}
	fmt.Fprintf(opt.Log, "debootstrap %s\n", strings.Join(args, " "))
	for attempt := 1; ; attempt++ {
		err := run(ctx, opt.Log, "debootstrap", args...)
		if err == nil {
			break
		}
		if attempt == debootstrapAttempts || !mirrorHiccup(err) {
			return err
		}
		fmt.Fprintf(opt.Log, "debootstrap: the mirror did not serve every package; trying again (attempt %d of %d)\n", attempt+1, debootstrapAttempts)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 5 * time.Second):
		}
	}
	files := map[string]string{
		"etc/hostname":           "debian\n",
		"etc/hosts":              "127.0.0.1 localhost\n127.0.1.1 debian\n::1 localhost ip6-localhost ip6-loopback\n",
		"etc/network/interfaces": debianInterfaces,
		"etc/systemd/system/networking.service.d/lodge-container.conf": networkingStopDropIn,
		"etc/apt/sources.list": fmt.Sprintf("deb %s %s main\n", opt.Mirror, opt.Release),
	}
	if opt.Variant == "cloud" {
		files["etc/network/interfaces"] = cloudInterfaces
		files["etc/default/locale"] = cloudLocale
	}
	hasSSH := false
	for _, p := range pkgs {
		hasSSH = hasSSH || p == "openssh-server"
	}
	if hasSSH {
		keys, _ := filepath.Glob(filepath.Join(rootfs, "etc/ssh/ssh_host_*"))
		for _, k := range keys {
			if err := os.Remove(k); err != nil {
				return err
			}
		}
		files["etc/systemd/system/lodge-ssh-keygen.service"] = sshKeygenUnit
	}
	for name, body := range files {
		p := filepath.Join(rootfs, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return err
		}
	}
	if hasSSH {
		wants := filepath.Join(rootfs, "etc/systemd/system/multi-user.target.wants")
		os.MkdirAll(wants, 0o755)
		if err := os.Symlink("/etc/systemd/system/lodge-ssh-keygen.service", filepath.Join(wants, "lodge-ssh-keygen.service")); err != nil {
			return err
		}
	}
	for _, unit := range strings.Fields(firstbootUnitsMasked) {
		link := filepath.Join(rootfs, "etc/systemd/system", unit)
		os.Remove(link)
		if err := os.Symlink("/dev/null", link); err != nil {
			return err
		}
	}
	// A fresh machine-id on first boot for each container.
	os.WriteFile(filepath.Join(rootfs, "etc/machine-id"), nil, 0o444)
	os.Remove(filepath.Join(rootfs, "var/lib/dbus/machine-id"))
	for _, d := range []string{"var/cache/apt/archives", "var/lib/apt/lists"} {
		ents, _ := os.ReadDir(filepath.Join(rootfs, d))
		for _, e := range ents {
			if !e.IsDir() {
				os.Remove(filepath.Join(rootfs, d, e.Name()))
			}
		}
	}
	return nil
}

// HostMirror returns the Debian mirror the host's apt uses (main component,
// not the security archive), read from sources.list and sources.list.d.
func HostMirror() (string, error) {
	var files []string
	files = append(files, "/etc/apt/sources.list")
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	sort.Strings(more)
	files = append(files, more...)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var m string
		switch {
		case strings.HasSuffix(f, ".sources"):
			m = mirrorFromDeb822(string(data))
		case strings.HasSuffix(f, ".list") || f == "/etc/apt/sources.list":
			m = mirrorFromList(string(data))
		}
		if m != "" {
			return m, nil
		}
	}
	return "", fmt.Errorf("no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d; pass one with --mirror")
}

func isSecurity(uri, suite string) bool {
	return strings.Contains(uri, "security") || strings.HasSuffix(suite, "-security")
}

// mirrorFromList parses one-line-style sources ("deb [opts] URI suite comp...").
func mirrorFromList(text string) string {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "#"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) < 2 || isSecurity(f[0], f[1]) {
			continue
		}
		return strings.TrimSuffix(f[0], "/") + "/"
	}
	return ""
}

// mirrorFromDeb822 parses deb822 .sources stanzas.
func mirrorFromDeb822(text string) string {
	for _, stanza := range strings.Split(text, "\n\n") {
		fields := map[string]string{}
		for _, line := range strings.Split(stanza, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if ok {
				fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
		if fields["enabled"] == "no" || !strings.Contains(" "+fields["types"]+" ", " deb ") {
			continue
		}
		uris, suites := strings.Fields(fields["uris"]), strings.Fields(fields["suites"])
		if len(uris) == 0 || len(suites) == 0 || isSecurity(uris[0], suites[0]) {
			continue
		}
		return strings.TrimSuffix(uris[0], "/") + "/"
	}
	return ""
}
