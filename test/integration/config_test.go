package integration

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// stopLXCFS stops the lxcfs a test daemon started under its state dir.
func stopLXCFS(dir string) {
	mnt := filepath.Join(dir, "lxcfs")
	if b, err := os.ReadFile(mnt + ".pid"); err == nil {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 1 {
			syscall.Kill(pid, syscall.SIGTERM)
		}
	}
	unix.Unmount(mnt, unix.MNT_DETACH)
}

// memTotalMiB reads MemTotal from /proc/meminfo inside a container, which
// is what procps's free shows (busybox's free asks sysinfo(2) instead,
// which lxcfs cannot reach).
func memTotalMiB(t *testing.T, name string) int {
	t.Helper()
	out := lodge(t, "exec", name, "--", "cat", "/proc/meminfo")
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "MemTotal:" {
			n, _ := strconv.Atoi(f[1])
			return n / 1024
		}
	}
	t.Fatalf("no MemTotal in /proc/meminfo: %q", out)
	return 0
}

// Limits reach the container's cgroups, lxcfs shows them inside, and a
// change on a running container applies at once.
func TestLimits(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "launch", "busybox", "cf-lim", "-c", "limits.memory=128MiB", "-c", "limits.memory.swap=false",
		"-c", "limits.cpu=1", "-c", "limits.processes=50")
	t.Cleanup(func() { lodgeOut("delete", "-f", "cf-lim") })

	if got := memTotalMiB(t, "cf-lim"); got != 128 {
		t.Errorf("MemTotal inside a 128MiB container: %d MiB", got)
	}
	if out := lodge(t, "exec", "cf-lim", "--", "nproc"); strings.TrimSpace(out) != "1" {
		t.Errorf("nproc with limits.cpu=1: %q", out)
	}
	if out := lodge(t, "exec", "cf-lim", "--", "grep", "-c", "^processor", "/proc/cpuinfo"); strings.TrimSpace(out) != "1" {
		t.Errorf("processors in /proc/cpuinfo with limits.cpu=1: %q", out)
	}

	// 256 MiB held by a shell variable: the OOM killer takes the shell,
	// the container, lodged and the host carry on.
	out, err := lodgeOut("exec", "cf-lim", "--", "sh", "-c", `x=$(head -c 268435456 /dev/zero | tr '\0' a); echo survived ${#x}`)
	if err == nil || strings.Contains(out, "survived") {
		t.Fatalf("256 MiB in a 128 MiB container was not killed: %v %q", err, out)
	}
	if st, _ := instanceState(t, "cf-lim"); st != "Running" {
		t.Fatalf("container after the OOM kill: %s", st)
	}
	if out := lodge(t, "exec", "cf-lim", "--", "echo", "alive"); out != "alive\n" {
		t.Fatalf("exec after the OOM kill: %q", out)
	}

	// A bounded fork bomb: 100 background sleeps, at most 50 processes
	// (while it is at the limit, not even exec gets in).
	cmd := lodgeCmd("exec", "cf-lim", "--", "sh", "-c", `for i in $(seq 100); do sleep 600 & done; echo done`)
	b, _ := cmd.CombinedOutput()
	if !strings.Contains(string(b), "fork") && !strings.Contains(string(b), "Resource temporarily unavailable") {
		t.Errorf("100 processes under limits.processes=50: no fork failure in %q", b)
	}
	n := processes(t, "cf-lim")
	if n > 50 || n < 40 {
		t.Errorf("processes with limits.processes=50 after a fork bomb: %d", n)
	}
	// Only at the very limit is exec kept out: the bomb's own shell has
	// exited, which may have freed a slot.
	if _, err := lodgeOut("exec", "cf-lim", "--", "true"); err == nil && n >= 50 {
		t.Errorf("exec got in at the process limit")
	}
	// Raising the limit live lets exec in again to clean up.
	lodge(t, "config", "set", "cf-lim", "limits.processes", "200")
	lodge(t, "exec", "cf-lim", "--", "killall", "-9", "sleep")
	waitFor(t, "the sleeps to end", 20e9, func() bool { return processes(t, "cf-lim") < 10 })

	// lodge info reads usage from the cgroups; --resources shows the host.
	if out := lodge(t, "info", "cf-lim"); !strings.Contains(out, "Memory (peak): ") || !strings.Contains(out, "Processes: ") {
		t.Errorf("info:\n%s", out)
	}
	if out := lodge(t, "info", "--resources"); !strings.Contains(out, "CPU (") || !strings.Contains(out, "Memory:\n  Used: ") || !strings.Contains(out, "Disks:") {
		t.Errorf("info --resources:\n%s", out)
	}

	// Live: raise memory, lift the process limit, without a restart.
	_, pid := instanceState(t, "cf-lim")
	lodge(t, "config", "set", "cf-lim", "limits.memory", "256MiB")
	lodge(t, "config", "unset", "cf-lim", "limits.processes")
	if got := memTotalMiB(t, "cf-lim"); got != 256 {
		t.Errorf("MemTotal after a live change to 256MiB: %d MiB", got)
	}
	out = lodge(t, "exec", "cf-lim", "--", "sh", "-c", `for i in $(seq 80); do sleep 300 & done; echo done`)
	if !strings.Contains(out, "done") {
		t.Errorf("80 processes after lifting limits.processes: %q", out)
	}
	if n := processes(t, "cf-lim"); n < 80 {
		t.Errorf("processes after lifting the limit: %d", n)
	}
	lodgeOut("exec", "cf-lim", "--", "killall", "-9", "sleep")
	if _, pid2 := instanceState(t, "cf-lim"); pid2 != pid {
		t.Errorf("the container restarted for a live change: pid %d -> %d", pid, pid2)
	}
	// Bad values change nothing.
	if msg := lodgeFail(t, "config", "set", "cf-lim", "limits.cpu", "0-63"); !strings.Contains(msg, "not online") {
		t.Errorf("cpu set beyond the host: %q", msg)
	}
	if got := memTotalMiB(t, "cf-lim"); got != 256 {
		t.Errorf("MemTotal after refused changes: %d MiB", got)
	}
}

func processes(t *testing.T, name string) int {
	t.Helper()
	code, env := apiDo(t, "GET", "/1.0/instances/"+name+"/state", "")
	if code != 200 {
		t.Fatalf("state: %d", code)
	}
	s := string(env.Metadata)
	i := strings.Index(s, `"processes":`)
	if i < 0 {
		t.Fatalf("no processes in %s", s)
	}
	s = s[i+len(`"processes":`):]
	j := strings.IndexAny(s, ",}")
	n, _ := strconv.Atoi(strings.TrimSpace(s[:j]))
	return n
}

// config edit round trip with a scripted $EDITOR: the first edit is invalid
// and comes back with the error on top; the second is applied.
func TestConfigEdit(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	lodge(t, "init", "busybox", "cf-ed")
	t.Cleanup(func() { lodgeOut("delete", "-f", "cf-ed") })

	dir := t.TempDir()
	editor := filepath.Join(dir, "editor")
	script := `#!/bin/sh
f="$1"
echo x >> "` + dir + `/calls"
if grep -q '^### Error: ' "$f"; then
	grep '^### Error: ' "$f" > "` + dir + `/error"
	sed -i 's/limits.processes: "-5"/limits.processes: "77"/' "$f"
else
	sed -i 's/^config:$/config:\n    limits.processes: "-5"\n    user.edited: "yes"/' "$f"
fi
`
	if err := os.WriteFile(editor, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := lodgeCmd("config", "edit", "cf-ed")
	cmd.Env = append(cmd.Env, "EDITOR="+editor)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("config edit: %v\n%s", err, out)
	}
	calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
	errLine, _ := os.ReadFile(filepath.Join(dir, "error"))
	if strings.Count(string(calls), "x") != 2 || !strings.Contains(string(errLine), "limits.processes") {
		t.Fatalf("editor calls %q, error shown %q", calls, errLine)
	}
	if got := lodge(t, "config", "get", "cf-ed", "limits.processes"); got != "77\n" {
		t.Fatalf("limits.processes after edit: %q", got)
	}
	if got := lodge(t, "config", "get", "cf-ed", "user.edited"); got != "yes\n" {
		t.Fatalf("user.edited after edit: %q", got)
	}

	// The registry: keys help, unknown and daemon-owned keys refused,
	// raw.lxc checked by liblxc.
	keys := lodge(t, "config", "keys")
	for _, want := range []string{"limits.memory", "boot.autostart.priority", "security.idmap.isolated", "user.*"} {
		if !strings.Contains(keys, want) {
			t.Errorf("config keys lacks %s", want)
		}
	}
	if msg := lodgeFail(t, "config", "set", "cf-ed", "limits.bogus", "1"); !strings.Contains(msg, "unknown key") {
		t.Errorf("unknown key: %q", msg)
	}
	if msg := lodgeFail(t, "config", "set", "cf-ed", "volatile.uuid", "x"); !strings.Contains(msg, "lodged's own") {
		t.Errorf("volatile write: %q", msg)
	}
	if msg := lodgeFail(t, "config", "set", "cf-ed", "raw.lxc", "lxc.bogus.key = 1"); !strings.Contains(msg, "liblxc refused") {
		t.Errorf("bad raw.lxc: %q", msg)
	}
	lodge(t, "config", "set", "cf-ed", "raw.lxc", "lxc.apparmor.profile = unconfined")
	if out := lodge(t, "config", "show", "cf-ed", "--expanded"); !strings.Contains(out, "lxc.apparmor.profile") || !strings.Contains(out, "root:") {
		t.Errorf("show --expanded:\n%s", out)
	}
}

// Profiles: an instance's expanded config is its profiles then its own;
// changing a profile's limit reaches a running container at once.
func TestProfiles(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	t.Cleanup(func() {
		lodgeOut("delete", "-f", "cf-p1")
		for _, p := range []string{"cf-small", "cf-tiny", "cf-noroot"} {
			lodgeOut("profile", "delete", p)
		}
	})
	if out := lodge(t, "profile", "show", "default"); !strings.Contains(out, "pool: default") {
		t.Fatalf("default profile:\n%s", out)
	}
	lodge(t, "profile", "create", "cf-small")
	lodge(t, "profile", "set", "cf-small", "limits.memory=128MiB", "limits.processes=100")
	if msg := lodgeFail(t, "profile", "set", "cf-small", "limits.bogus", "1"); !strings.Contains(msg, "unknown key") {
		t.Errorf("unknown key in a profile: %q", msg)
	}
	lodge(t, "launch", "busybox", "cf-p1", "-p", "default", "-p", "cf-small", "-c", "user.x=1")
	if got := memTotalMiB(t, "cf-p1"); got != 128 {
		t.Errorf("MemTotal from the profile's limit: %d MiB", got)
	}
	if out := lodge(t, "profile", "list"); !strings.Contains(out, "cf-small") {
		t.Errorf("profile list:\n%s", out)
	}
	// A live profile change reaches the running container.
	lodge(t, "profile", "set", "cf-small", "limits.memory", "192MiB")
	if got := memTotalMiB(t, "cf-p1"); got != 192 {
		t.Errorf("MemTotal after the profile changed to 192MiB: %d MiB", got)
	}
	if out := lodge(t, "config", "show", "cf-p1", "--expanded"); !strings.Contains(out, "limits.memory: 192MiB") || !strings.Contains(out, "user.x") {
		t.Errorf("show --expanded:\n%s", out)
	}
	if got := lodge(t, "config", "get", "cf-p1", "limits.memory", "--expanded"); got != "192MiB\n" {
		t.Errorf("config get --expanded: %q", got)
	}
	// A change the host cannot apply is refused for the whole profile.
	if msg := lodgeFail(t, "profile", "set", "cf-small", "limits.cpu", "0-63"); !strings.Contains(msg, "not online") {
		t.Errorf("cpu set beyond the host in a profile: %q", msg)
	}
	if msg := lodgeFail(t, "profile", "delete", "cf-small"); !strings.Contains(msg, "cf-p1") {
		t.Errorf("deleting a profile in use: %q", msg)
	}
	lodge(t, "profile", "rename", "cf-small", "cf-tiny")
	if out := lodge(t, "config", "show", "cf-p1"); !strings.Contains(out, "cf-tiny") {
		t.Errorf("instance after the rename:\n%s", out)
	}
	lodge(t, "profile", "remove", "cf-p1", "cf-tiny")
	if got := memTotalMiB(t, "cf-p1"); got <= 192 {
		t.Errorf("MemTotal after the profile was removed: %d MiB", got)
	}
	lodge(t, "profile", "delete", "cf-tiny")
	if msg := lodgeFail(t, "profile", "delete", "default"); !strings.Contains(msg, "cannot be deleted") {
		t.Errorf("deleting default: %q", msg)
	}
	lodge(t, "profile", "copy", "default", "cf-noroot")
	lodge(t, "profile", "device", "remove", "cf-noroot", "root")
	if msg := lodgeFail(t, "init", "busybox", "cf-p2", "-p", "cf-noroot"); !strings.Contains(msg, "root disk") {
		t.Errorf("launch without a root disk: %q", msg)
	}
	if msg := lodgeFail(t, "init", "busybox", "cf-p2", "-p", "cf-nope"); !strings.Contains(msg, "not found") {
		t.Errorf("launch with a missing profile: %q", msg)
	}
}

// rootRange reads root's subordinate uid start from /etc/subuid.
func rootRange(t *testing.T) int64 {
	t.Helper()
	b, _ := os.ReadFile("/etc/subuid")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Split(l, ":"); len(f) == 3 && f[0] == "root" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	t.Fatal("no root range in /etc/subuid (lodged writes one at start)")
	return 0
}

func hostOwner(t *testing.T, p string) (int64, int64) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Uid), int64(st.Gid)
}

// Containers are unprivileged by default: root inside is a subordinate id
// on the host, for files made inside, pushed through the API and over SFTP.
func TestUnprivileged(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	base := rootRange(t)
	for _, n := range []string{"cf-un", "cf-iso", "cf-priv"} {
		n := n
		t.Cleanup(func() { lodgeOut("delete", "-f", n) })
	}
	lodge(t, "launch", "busybox", "cf-un")
	rootfs := filepath.Join(stateDir, "storage-pools", "default", "containers", "cf-un", "rootfs")
	if got := strings.Fields(lodge(t, "exec", "cf-un", "--", "cat", "/proc/self/uid_map")); len(got) != 3 || got[0] != "0" || got[1] != strconv.FormatInt(base, 10) || got[2] != "65536" {
		t.Fatalf("uid_map inside: %q", got)
	}
	lodge(t, "exec", "cf-un", "--", "sh", "-c", "touch /root/made; chown 33:33 /root/made")
	if u, g := hostOwner(t, filepath.Join(rootfs, "root", "made")); u != base+33 || g != base+33 {
		t.Errorf("host owner of a file chowned to 33 inside: %d:%d", u, g)
	}
	if u, _ := hostOwner(t, filepath.Join(rootfs, "bin", "busybox")); u != base {
		t.Errorf("host owner of the image's /bin/busybox: %d", u)
	}
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, []byte("x"), 0o644)
	lodge(t, "file", "push", src, "cf-un/root/pushed")
	lodge(t, "file", "push", "--uid", "1000", "--gid", "1000", src, "cf-un/root/pushed1000")
	if u, g := hostOwner(t, filepath.Join(rootfs, "root", "pushed")); u != base || g != base {
		t.Errorf("host owner of a pushed file: %d:%d", u, g)
	}
	if u, g := hostOwner(t, filepath.Join(rootfs, "root", "pushed1000")); u != base+1000 || g != base+1000 {
		t.Errorf("host owner of a file pushed with --uid 1000: %d:%d", u, g)
	}
	if out := lodge(t, "exec", "cf-un", "--", "stat", "-c", "%u:%g", "/root/pushed1000"); out != "1000:1000\n" {
		t.Errorf("owner inside of a file pushed with --uid 1000: %q", out)
	}
	code, env := apiDo(t, "GET", "/1.0/instances/cf-un/files?path=/root", "")
	if code != 200 || !strings.Contains(string(env.Metadata), "pushed") {
		t.Errorf("list /root: %d %s", code, env.Metadata)
	}
	// Over SFTP (push -r): owners are shifted once the session ends.
	tree := t.TempDir()
	os.MkdirAll(filepath.Join(tree, "d", "e"), 0o755)
	os.WriteFile(filepath.Join(tree, "d", "e", "f"), []byte("y"), 0o644)
	lodge(t, "file", "push", "-r", filepath.Join(tree, "d"), "cf-un/root/")
	waitFor(t, "SFTP-made files to be shifted", 10e9, func() bool {
		u, _ := hostOwner(t, filepath.Join(rootfs, "root", "d", "e", "f"))
		return u == base
	})

	// An exec's terminal belongs to its user as the container sees it.
	cmd := lodgeCmd("exec", "cf-un", "--user", "1000", "--group", "1000", "--", "sh", "-c", "stat -c %u:%g $(tty)")
	ptmx, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	ttyOut, _ := io.ReadAll(ptmx)
	cmd.Wait()
	ptmx.Close()
	if !strings.Contains(string(ttyOut), "1000:1000") {
		t.Errorf("owner of the exec's pty inside: %q", ttyOut)
	}

	// Isolated: a range of its own; privileged: the identity.
	lodge(t, "launch", "busybox", "cf-iso", "-c", "security.idmap.isolated=true")
	got := strings.Fields(lodge(t, "exec", "cf-iso", "--", "cat", "/proc/self/uid_map"))
	if iso, _ := strconv.ParseInt(got[1], 10, 64); len(got) != 3 || iso < base+65536 {
		t.Errorf("isolated uid_map: %q", got)
	}
	lodge(t, "launch", "busybox", "cf-priv", "-c", "security.privileged=true")
	if got := strings.Fields(lodge(t, "exec", "cf-priv", "--", "cat", "/proc/self/uid_map")); len(got) != 3 || got[1] != "0" {
		t.Errorf("privileged uid_map: %q", got)
	}
	if u, _ := hostOwner(t, filepath.Join(stateDir, "storage-pools", "default", "containers", "cf-priv", "rootfs", "bin", "busybox")); u != 0 {
		t.Errorf("privileged rootfs owner: %d", u)
	}
	if msg := lodgeFail(t, "config", "set", "cf-un", "security.privileged", "true"); !strings.Contains(msg, "stop it first") {
		t.Errorf("making a running instance privileged: %q", msg)
	}
	// Stopped, it can change either way: the rootfs is re-shifted at the
	// next start, setuid bits and files made inside (33:33) kept.
	lodge(t, "stop", "cf-un", "--force")
	lodge(t, "config", "set", "cf-un", "security.privileged", "true")
	lodge(t, "start", "cf-un")
	if got := strings.Fields(lodge(t, "exec", "cf-un", "--", "cat", "/proc/self/uid_map")); len(got) != 3 || got[1] != "0" {
		t.Errorf("privileged now, uid_map: %q", got)
	}
	if u, _ := hostOwner(t, filepath.Join(rootfs, "root", "made")); u != 33 {
		t.Errorf("after the shift to privileged, /root/made is host uid %d, want 33", u)
	}
	if got := lodge(t, "exec", "cf-un", "--", "stat", "-c", "%u:%g", "/root/made"); got != "33:33\n" {
		t.Errorf("inside, /root/made: %q", got)
	}
	lodge(t, "stop", "cf-un", "--force")
	lodge(t, "config", "set", "cf-un", "security.privileged", "false")
	lodge(t, "config", "set", "cf-un", "security.idmap.isolated", "true")
	lodge(t, "start", "cf-un")
	isoBase, _ := strconv.ParseInt(strings.TrimSpace(lodge(t, "config", "get", "cf-un", "volatile.idmap.base")), 10, 64)
	if u, _ := hostOwner(t, filepath.Join(rootfs, "root", "made")); isoBase < base+65536 || u != isoBase+33 {
		t.Errorf("isolated now (base %d): /root/made is host uid %d", isoBase, u)
	}
	if got := lodge(t, "exec", "cf-un", "--", "stat", "-c", "%u:%g %a", "/root/made", "/bin/busybox"); got != "33:33 644\n0:0 755\n" {
		t.Errorf("inside, after two shifts: %q", got)
	}
	lodge(t, "stop", "cf-un", "--force")
	lodge(t, "config", "unset", "cf-un", "security.idmap.isolated")
	if got := lodge(t, "config", "get", "cf-un", "volatile.idmap.base"); got != "\n" {
		t.Errorf("the isolated range was not freed: %q", got)
	}
	lodge(t, "config", "set", "cf-un", "security.protection.shift", "true")
	if msg := lodgeFail(t, "start", "cf-un"); !strings.Contains(msg, "security.protection.shift") {
		t.Errorf("a start that would shift with security.protection.shift: %q", msg)
	}
	lodge(t, "config", "unset", "cf-un", "security.protection.shift")
	lodge(t, "start", "cf-un")
	if u, _ := hostOwner(t, filepath.Join(rootfs, "root", "made")); u != base+33 {
		t.Errorf("back in the shared map: /root/made is host uid %d, want %d", u, base+33)
	}
	if msg := lodgeFail(t, "config", "set", "cf-iso", "volatile.idmap.base", "1"); !strings.Contains(msg, "lodged's own") {
		t.Errorf("volatile write: %q", msg)
	}
}

type startedAt struct {
	Status     string    `json:"status"`
	LastUsedAt time.Time `json:"last_used_at"`
}

func instanceInfo(t *testing.T, name string) startedAt {
	t.Helper()
	code, env := apiDo(t, "GET", "/1.0/instances/"+name, "")
	if code != 200 {
		t.Fatalf("GET %s: %d %s", name, code, env.Error)
	}
	var out startedAt
	json.Unmarshal(env.Metadata, &out)
	return out
}

// A host reboot: lodged stops, every container dies behind its back, lodged
// starts. boot.autostart=true ones come up in priority order with their
// delays, never-set ones that were running come back, boot.autostart=false
// ones and ones a user stopped stay down.
func TestAutostartAfterReboot(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	names := []string{"cf-a1", "cf-a2", "cf-a3", "cf-a4", "cf-a5"}
	for _, n := range names {
		n := n
		t.Cleanup(func() { lodgeOut("delete", "-f", n) })
		lodge(t, "launch", "busybox", n)
	}
	lodge(t, "config", "set", "cf-a1", "boot.autostart=true", "boot.autostart.priority=10", "boot.autostart.delay=2")
	lodge(t, "config", "set", "cf-a2", "boot.autostart=true", "boot.autostart.priority=5")
	lodge(t, "config", "set", "cf-a4", "boot.autostart=false")
	lodge(t, "stop", "cf-a5")
	if got := lodge(t, "config", "get", "cf-a3", "volatile.last_state.power"); got != "RUNNING\n" {
		t.Fatalf("last_state of a running instance: %q", got)
	}

	stopDaemon(syscall.SIGTERM)
	for _, n := range names[:4] {
		out, err := exec.Command("lxc-stop", "-P", filepath.Join(stateDir, "containers"), "-n", n, "-k").CombinedOutput()
		if err != nil {
			t.Fatalf("lxc-stop %s: %v %s", n, err, out)
		}
	}
	reboot := time.Now()
	if err := startDaemon(); err != nil {
		t.Fatal(err)
	}
	// Running, and recorded as started since the reboot.
	waitFor(t, "autostart", 30e9, func() bool {
		for _, n := range names[:3] {
			if in := instanceInfo(t, n); in.Status != "Running" || in.LastUsedAt.Before(reboot) {
				return false
			}
		}
		return true
	})
	for _, n := range []string{"cf-a4", "cf-a5"} {
		if st, _ := instanceState(t, n); st != "Stopped" {
			t.Errorf("%s after the reboot: %s", n, st)
		}
	}
	a1, a2, a3 := instanceInfo(t, "cf-a1"), instanceInfo(t, "cf-a2"), instanceInfo(t, "cf-a3")
	if gap := a2.LastUsedAt.Sub(a1.LastUsedAt); gap < 2*time.Second {
		t.Errorf("cf-a2 (priority 5) started %s after cf-a1 (priority 10, delay 2s)", gap)
	}
	if !a3.LastUsedAt.After(a2.LastUsedAt) {
		t.Errorf("cf-a3 (no priority) started before cf-a2: %s vs %s", a3.LastUsedAt, a2.LastUsedAt)
	}
}

// lodged shutdown stops running instances by boot.stop.priority and
// remembers them: they come back at the next start.
func TestShutdownRemembers(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	for _, n := range []string{"cf-s1", "cf-s2"} {
		n := n
		t.Cleanup(func() { lodgeOut("delete", "-f", n) })
		lodge(t, "launch", "busybox", n)
	}
	lodge(t, "config", "set", "cf-s2", "boot.stop.priority=10")
	lodge(t, "stop", "cf-s1")
	lodge(t, "start", "cf-s1")
	stopDaemonShutdown(t)
	for _, n := range []string{"cf-s1", "cf-s2"} {
		out, _ := exec.Command("lxc-info", "-P", filepath.Join(stateDir, "containers"), "-n", n, "-s").CombinedOutput()
		if !strings.Contains(string(out), "STOPPED") {
			t.Fatalf("%s after lodged shutdown: %s", n, out)
		}
	}
	if err := startDaemon(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "instances running before the shutdown to come back", 30e9, func() bool {
		a, _ := instanceState(t, "cf-s1")
		b, _ := instanceState(t, "cf-s2")
		return a == "Running" && b == "Running"
	})

	// SIGPWR (the host going down) does the same as lodged shutdown.
	_, pid := instanceState(t, "cf-s1")
	daemon.Process.Signal(syscall.SIGPWR)
	daemon.Wait()
	daemon = nil
	if syscall.Kill(pid, 0) == nil {
		t.Fatalf("cf-s1 (pid %d) still runs after SIGPWR to lodged", pid)
	}
	if err := startDaemon(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "instances to come back after SIGPWR", 30e9, func() bool {
		a, _ := instanceState(t, "cf-s1")
		return a == "Running"
	})
}

// In a Debian container (procps's free and coreutils's nproc read the
// lxcfs files), free -m shows the memory limit and nproc the CPU limit,
// and systemd runs unprivileged.
func TestDebianLimits(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "debian", "debian/12")
	lodge(t, "launch", "debian/12", "cf-deb", "-c", "limits.memory=128MiB", "-c", "limits.cpu=1")
	t.Cleanup(func() { lodgeOut("delete", "-f", "cf-deb") })
	out := lodge(t, "exec", "cf-deb", "--", "free", "-m")
	if f := strings.Fields(strings.Split(out, "\n")[1]); len(f) < 2 || f[0] != "Mem:" || f[1] != "128" {
		t.Errorf("free -m in a 128MiB container:\n%s", out)
	}
	if out := lodge(t, "exec", "cf-deb", "--", "nproc"); out != "1\n" {
		t.Errorf("nproc with limits.cpu=1: %q", out)
	}
	if out := lodge(t, "exec", "cf-deb", "--", "cat", "/proc/1/comm"); out != "systemd\n" {
		t.Errorf("init: %q", out)
	}
	if out := lodge(t, "exec", "cf-deb", "--", "cat", "/proc/self/uid_map"); strings.Fields(out)[1] == "0" {
		t.Errorf("Debian container is privileged: %q", out)
	}
}

// limits.cpu counts are spread over the host's CPUs: two one-CPU
// containers on a host with two or more CPUs do not share one.
func TestCPUBalance(t *testing.T) {
	needIntegration(t)
	ensureImage(t, "busybox", "busybox")
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs")
	}
	var sets []string
	for _, n := range []string{"cf-c1", "cf-c2"} {
		n := n
		t.Cleanup(func() { lodgeOut("delete", "-f", n) })
		lodge(t, "launch", "busybox", n, "-c", "limits.cpu=1")
		out := lodge(t, "exec", n, "--", "grep", "Cpus_allowed_list", "/proc/self/status")
		sets = append(sets, strings.TrimSpace(strings.TrimPrefix(out, "Cpus_allowed_list:")))
	}
	if sets[0] == sets[1] {
		t.Errorf("two limits.cpu=1 containers pinned to the same CPU: %v", sets)
	}
	// A live change keeps a container where it is when the count is unchanged.
	lodge(t, "config", "set", "cf-c2", "limits.memory", "200MiB")
	out := lodge(t, "exec", "cf-c2", "--", "grep", "Cpus_allowed_list", "/proc/self/status")
	if got := strings.TrimSpace(strings.TrimPrefix(out, "Cpus_allowed_list:")); got != sets[1] {
		t.Errorf("cf-c2 moved from CPU %s to %s by an unrelated change", sets[1], got)
	}
}

// Debian's LXD client drives profiles, limits and resources on lodged.
func TestUpstreamProfilesAndResources(t *testing.T) {
	needIntegration(t)
	lxcBin, err := exec.LookPath("lxc")
	if err != nil {
		t.Skip("Debian's lxd-client is not installed (make deps installs it)")
	}
	ensureImage(t, "busybox", "busybox")
	home := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(lxcBin, args...)
		cmd.Env = append(os.Environ(), "LXD_DIR="+stateDir, "HOME="+home)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("lxc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Cleanup(func() {
		lodgeOut("delete", "-f", "cf-up")
		lodgeOut("profile", "delete", "cf-upp")
	})
	run("profile", "create", "cf-upp")
	run("profile", "set", "cf-upp", "limits.memory", "160MiB")
	if out := run("profile", "show", "cf-upp"); !strings.Contains(out, "limits.memory: 160MiB") {
		t.Errorf("lxc profile show:\n%s", out)
	}
	run("launch", "busybox", "cf-up", "-p", "default", "-p", "cf-upp")
	if got := memTotalMiB(t, "cf-up"); got != 160 {
		t.Errorf("MemTotal from a profile set by lxc: %d MiB", got)
	}
	run("config", "set", "cf-up", "limits.memory", "176MiB")
	if got := memTotalMiB(t, "cf-up"); got != 176 {
		t.Errorf("MemTotal after lxc config set: %d MiB", got)
	}
	if out := run("profile", "list"); !strings.Contains(out, "cf-upp") {
		t.Errorf("lxc profile list:\n%s", out)
	}
	if out := run("info", "--resources"); !strings.Contains(out, "Memory:") || !strings.Contains(out, "CPU") {
		t.Errorf("lxc info --resources:\n%s", out)
	}
}
