package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Debian package from `make deb`, built once per test run.
var (
	debOnce    sync.Once
	debDir     string
	debErr     error
	debVersion string
)

// builtDeb runs `make deb` with version (the release version when empty)
// into a directory shared by this run's package tests, and returns the
// package's path.
func builtDeb(t *testing.T, version string) string {
	t.Helper()
	debOnce.Do(func() {
		b, err := os.ReadFile(filepath.Join(repoRoot, "version", "VERSION"))
		if err != nil {
			debErr = err
			return
		}
		debVersion = strings.TrimSpace(string(b))
		debDir, debErr = os.MkdirTemp("", "lodge-it-debs-")
	})
	if debErr != nil {
		t.Fatal(debErr)
	}
	if version == "" {
		version = debVersion
	}
	deb := filepath.Join(debDir, "lodge_"+version+"_amd64.deb")
	if _, err := os.Stat(deb); err == nil {
		return deb
	}
	cmd := exec.Command("make", "deb", "VERSION="+version, "DEB_DIR="+debDir)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make deb VERSION=%s: %v\n%s", version, err, out)
	}
	return deb
}

func removeDebs() {
	if debDir != "" {
		os.RemoveAll(debDir)
	}
}

// The package is lintian-clean (errors and warnings), its units pass
// `systemd-analyze verify` as shipped (binaries, man pages named in
// Documentation=), and it ships the man pages and completions, with the
// version of version/VERSION in the control file and both binaries.
func TestPackageLintianAndUnits(t *testing.T) {
	needIntegration(t)
	deb := builtDeb(t, "")

	cmd := exec.Command("lintian", "--fail-on", "error,warning", deb)
	cmd.Dir = os.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lintian: %v\n%s", err, out)
	}

	root := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v %s", err, out)
	}
	if v, _ := exec.Command("dpkg-deb", "-f", deb, "Version").Output(); strings.TrimSpace(string(v)) != debVersion {
		t.Fatalf("package version %q, want %q", v, debVersion)
	}
	for _, b := range []string{"lodge", "lodged"} {
		out, err := exec.Command(filepath.Join(root, "usr/bin", b), "--version").Output()
		if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), " "+debVersion) {
			t.Fatalf("%s --version: %q %v, want version %s", b, out, err, debVersion)
		}
	}
	for _, f := range []string{"usr/share/man/man1/lodge-launch.1.gz", "usr/share/man/man1/lodged.1.gz",
		"usr/share/man/man1/lodged-shutdown.1.gz", "usr/share/bash-completion/completions/lodge",
		"usr/share/zsh/vendor-completions/_lodge", "usr/share/fish/vendor_completions.d/lodge.fish",
		"lib/systemd/system/lodged.service", "lib/systemd/system/lodge-containers.service"} {
		if st, err := os.Stat(filepath.Join(root, f)); err != nil || st.Size() == 0 {
			t.Errorf("package lacks %s: %v", f, err)
		}
	}

	// systemd-analyze verify checks a unit against a root: the targets it
	// names come from the host, the rest from the package. systemd need
	// not be PID 1 for it.
	units := filepath.Join(root, "lib/systemd/system")
	targets, _ := filepath.Glob("/lib/systemd/system/*.target")
	for _, tg := range targets {
		b, err := os.ReadFile(tg)
		if err == nil {
			os.WriteFile(filepath.Join(units, filepath.Base(tg)), b, 0o644)
		}
	}
	verify := func() (string, error) {
		cmd := exec.Command("systemd-analyze", "verify", "--root="+root, "lodged.service", "lodge-containers.service")
		cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(root, "usr/share/man"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(); err != nil || strings.Contains(out, "lodge") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The check has teeth: a unit whose ExecStart is missing fails it.
	svc := filepath.Join(units, "lodged.service")
	b, _ := os.ReadFile(svc)
	os.WriteFile(svc, []byte(strings.Replace(string(b), "ExecStart=/usr/bin/lodged", "ExecStart=/usr/bin/lodged-missing", 1)), 0o644)
	if out, err := verify(); err == nil {
		t.Fatalf("systemd-analyze verify passed a unit with a missing binary:\n%s", out)
	}
}

// Scripts for the nested host (a Debian 12 system container of the test
// lodged). This host's kernel has cpu and cpuacct as two cgroup v1
// hierarchies; systemd inside a container mounts them joined
// ("cpu,cpuacct"), which the kernel refuses, so the container has neither,
// and liblxc inside it fails ("Failed to open cpuacct"). cgfix mounts the
// missing hierarchies (a fresh tmpfs over /sys/fs/cgroup carrying the
// existing ones), before lodged at every boot. A host whose hierarchies
// systemd can mount (cgroup v2, or v1 with cpu,cpuacct joined) needs none
// of it.
const nestedCgfix = `#!/bin/sh
set -e
missing=""
for c in $(awk -F: '$2 != "" && $2 !~ /^name=/ {print $2}' /proc/self/cgroup | tr ',' ' '); do
	[ -d /sys/fs/cgroup/$c ] && [ ! -L /sys/fs/cgroup/$c ] && continue
	missing="$missing $c"
done
[ -n "$missing" ] || exit 0
old=$(mktemp -d /run/cgroup-old.XXXXXX)
kept=""
for d in /sys/fs/cgroup/*; do
	n=$(basename "$d")
	if [ -L "$d" ] || ! mountpoint -q "$d"; then continue; fi
	mkdir "$old/$n"
	mount --bind "$d" "$old/$n"
	kept="$kept $n"
done
mount -t tmpfs -o mode=755,nosuid,nodev,noexec tmpfs /sys/fs/cgroup
for n in $kept; do
	mkdir "/sys/fs/cgroup/$n"
	mount --bind "$old/$n" "/sys/fs/cgroup/$n"
	umount "$old/$n"
	rmdir "$old/$n"
done
rmdir "$old"
for c in $missing; do
	mkdir "/sys/fs/cgroup/$c"
	mount -t cgroup -o "$c,nosuid,nodev,noexec" cgroup "/sys/fs/cgroup/$c"
done
`

const nestedCgfixUnit = `[Unit]
Description=Mount the cgroup v1 hierarchies systemd could not (test host quirk)
Before=lodged.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -e /usr/local/sbin/cgfix

[Install]
WantedBy=multi-user.target
`

// The package on a Debian 12 host with systemd: a system container of the
// test lodged with security.nesting=true. Containers reach nothing outside
// this machine, so the package's dependencies are downloaded on the host
// (resolved against the container's own dpkg status) and pushed in.
// Install: lodged.service is active and said READY itself; a busybox
// container launched by the nested lodged runs, and keeps running (same
// PID, same dnsmasq and proxy helper) across `systemctl restart lodged`
// and the upgrade to a newer build; after the nested host's reboot, with
// boot.autostart=true, it runs again, having been stopped cleanly by
// lodge-containers.service at the shutdown. Purge removes the package's
// files and processes and keeps /var/lib/lodge.
func TestPackageNestedDebian(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "debian", "debian/12")
	ensureImage(t, "busybox", "busybox")
	deb1 := builtDeb(t, "")
	v2 := debVersion + "+t2"
	deb2 := builtDeb(t, v2)

	const host = "pkgnest"
	lodge(t, "launch", "debian/12", host, "-c", "security.nesting=true")
	t.Cleanup(func() { lodgeOut("delete", "-f", host) })
	in := func(script string) (string, error) {
		return lodgeOut("exec", host, "--", "sh", "-c", script)
	}
	must := func(script string) string {
		t.Helper()
		out, err := in(script)
		if err != nil {
			t.Fatalf("in %s: %s\n%v", host, script, err)
		}
		return out
	}
	waitBooted := func(what string) {
		t.Helper()
		waitFor(t, what, 60*time.Second, func() bool {
			out, _ := in("systemctl is-system-running")
			s := strings.TrimSpace(out)
			return s == "running" || s == "degraded"
		})
	}
	waitBooted("systemd in " + host)

	// The dependencies: what the package Depends on and the container
	// lacks, as .debs from the host's apt (never a network path for the
	// container).
	depends, err := exec.Command("dpkg-deb", "-f", deb1, "Depends").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range strings.Split(string(depends), ",") {
		if n := strings.Fields(strings.Split(d, "|")[0]); len(n) > 0 {
			names = append(names, n[0])
		}
	}
	work := t.TempDir()
	status := filepath.Join(work, "status")
	lodge(t, "file", "pull", host+"/var/lib/dpkg/status", status)
	debs := filepath.Join(work, "debs")
	os.MkdirAll(filepath.Join(debs, "partial"), 0o755)
	download := func() ([]byte, error) {
		args := append([]string{"install", "--download-only", "-y", "-q", "--no-install-recommends",
			"-o", "Dir::State::status=" + status, "-o", "Dir::Cache::archives=" + debs, "-o", "Debug::NoLocking=1"}, names...)
		return exec.Command("apt-get", args...).CombinedOutput()
	}
	if out, err := download(); err != nil {
		// A host whose package lists are missing or stale.
		exec.Command("apt-get", "update", "-qq").Run()
		if out, err = download(); err != nil {
			t.Fatalf("download the package's dependencies: %v\n%s", err, out)
		}
	} else {
		_ = out
	}
	os.RemoveAll(filepath.Join(debs, "partial"))
	if ds, _ := filepath.Glob(filepath.Join(debs, "*.deb")); len(ds) == 0 {
		t.Fatalf("no dependency downloaded for %v", names)
	}
	cgfix := filepath.Join(work, "cgfix")
	os.WriteFile(cgfix, []byte(nestedCgfix), 0o755)
	unit := filepath.Join(work, "cgfix.service")
	os.WriteFile(unit, []byte(nestedCgfixUnit), 0o644)
	image := filepath.Join(work, "busybox.tar")
	lodge(t, "image", "export", "busybox", image)
	lodge(t, "file", "push", "-r", "-p", debs, host+"/root/")
	lodge(t, "file", "push", cgfix, host+"/usr/local/sbin/cgfix")
	lodge(t, "file", "push", unit, host+"/etc/systemd/system/cgfix.service")
	lodge(t, "file", "push", deb1, deb2, host+"/root/")
	images, _ := filepath.Glob(image + "*")
	if len(images) != 1 {
		t.Fatalf("image export wrote %v", images)
	}
	lodge(t, "file", "push", images[0], host+"/root/busybox.tar")
	must("systemctl enable --now cgfix.service")

	// Install.
	start := time.Now()
	must("cd /root && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ./debs/*.deb ./" + filepath.Base(deb1))
	t.Logf("install with dependencies: %s", time.Since(start).Round(time.Millisecond))
	if out := must("systemctl is-active lodged.service lodge-containers.service"); out != "active\nactive\n" {
		t.Fatalf("after install: %q", out)
	}
	// READY=1 came from lodged itself, once it served (notify.go).
	if out := must("systemctl show -p StatusText --value lodged.service"); strings.TrimSpace(out) != "serving the API" {
		t.Fatalf("lodged's status text: %q", out)
	}
	if out := must("getent group lodge; stat -c %G /var/lib/lodge/unix.socket"); !strings.HasSuffix(out, "\nlodge\n") {
		t.Fatalf("group lodge and the socket's group: %q", out)
	}

	// A container of the nested lodged, with a proxy device (a forkproxy
	// helper) and on the nested lodged's bridge (dnsmasq).
	must("lodge image import /root/busybox.tar --alias busybox && lodge launch busybox b1 -c boot.autostart=true")
	must("lodge config device add b1 web proxy listen=tcp:127.0.0.1:18080 connect=tcp:127.0.0.1:80")
	type procs struct{ init, dnsmasq, proxy, lodged int }
	snapshot := func(when string) procs {
		t.Helper()
		var st struct {
			Status string `json:"status"`
			Pid    int    `json:"pid"`
		}
		out := must("lodge query /1.0/instances/b1/state")
		if err := json.Unmarshal([]byte(out), &st); err != nil || st.Status != "Running" || st.Pid <= 0 {
			t.Fatalf("b1 %s: %q %v", when, out, err)
		}
		pids := strings.Fields(must("for f in /var/lib/lodge/networks/lodgebr0/dnsmasq.pid /var/lib/lodge/devices/b1/proxy.web.pid; do cat $f; echo; done; systemctl show -p MainPID --value lodged.service"))
		if len(pids) != 3 {
			t.Fatalf("helper pids %s: %q", when, pids)
		}
		p := procs{init: st.Pid}
		p.dnsmasq, _ = strconv.Atoi(pids[0])
		p.proxy, _ = strconv.Atoi(pids[1])
		p.lodged, _ = strconv.Atoi(pids[2])
		// Each pid is a live process of its kind.
		for pid, comm := range map[int]string{p.dnsmasq: "dnsmasq", p.proxy: "lodged", p.lodged: "lodged"} {
			if got := strings.TrimSpace(must(fmt.Sprintf("cat /proc/%d/comm", pid))); got != comm {
				t.Fatalf("pid %d %s: %q, want %s", pid, when, got, comm)
			}
		}
		return p
	}
	before := snapshot("after launch")
	sameHelpers := func(after procs, when string) {
		t.Helper()
		if after.init != before.init || after.dnsmasq != before.dnsmasq || after.proxy != before.proxy {
			t.Fatalf("%s: container init, dnsmasq, proxy pids %d %d %d, before %d %d %d",
				when, after.init, after.dnsmasq, after.proxy, before.init, before.dnsmasq, before.proxy)
		}
		if after.lodged == before.lodged {
			t.Fatalf("%s: lodged was not restarted (pid %d)", when, after.lodged)
		}
	}

	// KillMode=process: a restart replaces lodged alone.
	must("systemctl restart lodged.service")
	after := snapshot("after systemctl restart lodged")
	sameHelpers(after, "systemctl restart lodged")
	before.lodged = after.lodged

	// Upgrade to a newer build: the same, and the new lodged serves.
	start = time.Now()
	must("cd /root && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ./" + filepath.Base(deb2))
	t.Logf("upgrade: %s", time.Since(start).Round(time.Millisecond))
	if out := must("lodge version"); !strings.Contains(out, "Server version: "+v2+"\n") {
		t.Fatalf("after the upgrade: %q", out)
	}
	if out := must("systemctl is-active lodged.service lodge-containers.service"); out != "active\nactive\n" {
		t.Fatalf("after upgrade: %q", out)
	}
	sameHelpers(snapshot("after the upgrade"), "upgrade")

	// The nested host reboots: lodge-containers.service stops b1 cleanly
	// through `lodged shutdown` before lodged goes; at boot lodged starts
	// it again (boot.autostart=true).
	must("truncate -s 0 /var/lib/lodge/lodged.log")
	start = time.Now()
	lodge(t, "restart", host)
	waitBooted("systemd in " + host + " after its reboot")
	waitFor(t, "b1 running again after the reboot", 60*time.Second, func() bool {
		out, _ := in("lodge list --format csv -c ns")
		return strings.TrimSpace(out) == "b1,RUNNING"
	})
	t.Logf("reboot until b1 runs again: %s", time.Since(start).Round(time.Millisecond))
	if log := must("cat /var/lib/lodge/lodged.log"); !regexp.MustCompile(`"msg":"shutting down","stop_instances":true`).MatchString(log) {
		t.Fatalf("lodged did not stop the instances at the nested host's shutdown:\n%s", log)
	}

	// Purge: containers stopped (a monitor is a lodged process), lodged and its helpers gone, the
	// package's files and enablement gone, the state kept.
	must("DEBIAN_FRONTEND=noninteractive apt-get purge -y -q lodge")
	out := must(`dpkg-query -W -f='${Status}' lodge 2>&1; echo; ls /usr/bin/lodge /usr/bin/lodged /lib/systemd/system/lodged.service /etc/systemd/system/multi-user.target.wants/lodged.service 2>&1 | grep -vc "No such file"; pgrep -c -x lodged; pgrep -c -x dnsmasq; ls -d /var/lib/lodge/containers/b1 /var/lib/lodge/database`)
	want := "\n0\n0\n0\n/var/lib/lodge/containers/b1\n/var/lib/lodge/database\n"
	if !strings.HasSuffix(out, want) || strings.Contains(out, "install ok") {
		t.Fatalf("after purge (status; files left; processes left; state kept): %q, want ...%q", out, want)
	}
}

// make install PREFIX=... lays out the same files for a source install,
// with the units' paths pointing into PREFIX.
func TestMakeInstall(t *testing.T) {
	needIntegration(t)
	dest := t.TempDir()
	cmd := exec.Command("make", "install", "DESTDIR="+dest, "PREFIX=/usr/local")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	root := filepath.Join(dest, "usr/local")
	for _, f := range []string{"bin/lodge", "bin/lodged", "share/man/man1/lodge-launch.1.gz", "share/man/man1/lodged.1.gz",
		"share/bash-completion/completions/lodge", "share/zsh/vendor-completions/_lodged", "share/fish/vendor_completions.d/lodge.fish"} {
		if st, err := os.Stat(filepath.Join(root, f)); err != nil || st.Size() == 0 {
			t.Errorf("make install left no %s: %v", f, err)
		}
	}
	unit, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/lodged.service"))
	if err != nil || !strings.Contains(string(unit), "\nExecStart=/usr/local/bin/lodged --group lodge\n") {
		t.Fatalf("lodged.service of a source install: %v\n%s", err, unit)
	}
	if out, err := exec.Command(filepath.Join(root, "bin/lodge"), "completion", "bash").Output(); err != nil || !strings.Contains(string(out), "__start_lodge") {
		t.Fatalf("lodge completion bash: %v", err)
	}
}
